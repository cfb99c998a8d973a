-- License expiry, as lm-agent reads it from the status tools (V13__expiry.sql).

-- Sets the expiry of the reported features from an agent report's usage items
-- ([{product_feature, expires_at, expiring, ...}]; lm.apply_usage has checked that each names a
-- feature of p_cluster and locked their pools): an item without expires_at clears it, since the
-- server printed none. Rows already right are not rewritten. The ids are looked up once per item
-- (MATERIALIZED): as a join condition, find_feature would run once per feature and item.
CREATE OR REPLACE FUNCTION lm.apply_expiry(p_cluster text, p_items jsonb)
RETURNS void LANGUAGE sql AS $$
    WITH item AS MATERIALIZED (
        SELECT lm.find_feature(p_cluster, x->>'product_feature') AS id,
               (x->>'expires_at')::date AS expires_at, (x->>'expiring')::bigint AS expiring
        FROM jsonb_array_elements(p_items) x)
    UPDATE lm.features f SET expires_at = i.expires_at, expiring = i.expiring
    FROM item i
    WHERE f.id = i.id AND (f.expires_at, f.expiring) IS DISTINCT FROM (i.expires_at, i.expiring)
$$;
