-- License-server usage: counts and the checkouts that release bookings.

-- Applies a license-server usage report of one cluster:
-- [{product_feature, total, used, checkouts: [{user, host, quantity}]}].
-- Sets total/used of the cluster's features, then releases the bookings whose job has checked
-- its licenses out: same user, same short lead host (license servers print either form), in
-- booking order while the user's checked-out quantity on that host covers them. From then on
-- `used` counts those licenses, so they are not counted twice. Unknown features refuse the
-- whole report (LM002), like PUT /features/bulk. Locks the pools first (same order as admission).
CREATE OR REPLACE FUNCTION lm.apply_usage(p_cluster text, p_report jsonb, p_now timestamptz DEFAULT now())
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_items jsonb;
    v_unknown text;
    v_released integer;
BEGIN
    SELECT jsonb_agg(x || jsonb_build_object('feature_id', lm.find_feature(p_cluster, x->>'product_feature')))
    INTO v_items FROM jsonb_array_elements(p_report) x;
    v_items := coalesce(v_items, '[]');

    SELECT string_agg(x->>'product_feature', ', ') INTO v_unknown
    FROM jsonb_array_elements(v_items) x WHERE x->>'feature_id' IS NULL;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'Feature not found.' USING ERRCODE = 'LM002',
            DETAIL = 'not features of cluster ' || p_cluster || ': ' || v_unknown;
    END IF;

    PERFORM lm.lock_pools(ARRAY(SELECT (x->>'feature_id')::bigint FROM jsonb_array_elements(v_items) x));

    UPDATE lm.features f SET total = (x->>'total')::bigint, used = (x->>'used')::bigint, reported_at = p_now,
                             failed_at = NULL
    FROM jsonb_array_elements(v_items) x
    WHERE f.id = (x->>'feature_id')::bigint;

    WITH co AS (
        SELECT pm AS feature_id, lower(c."user") AS usr, lower(split_part(c.host, '.', 1)) AS host, sum(c.quantity) AS quantity
        FROM jsonb_array_elements(v_items) x
        CROSS JOIN LATERAL jsonb_to_recordset(coalesce(x->'checkouts', '[]')) AS c("user" text, host text, quantity bigint)
        CROSS JOIN LATERAL (SELECT g.id FROM lm.features f JOIN lm.features g ON g.pool_id = f.pool_id
                            WHERE f.id = (x->>'feature_id')::bigint) AS pm(pm)
        GROUP BY 1, 2, 3
    ), candidates AS (
        SELECT bk.id, co.quantity AS covered,
               sum(bk.quantity) OVER (PARTITION BY co.feature_id, co.usr, co.host ORDER BY bk.created_at, bk.id) AS needed
        FROM co
        JOIN lm.bookings bk ON bk.feature_id = co.feature_id AND bk.released_at IS NULL AND bk.expires_at > p_now
        JOIN lm.jobs j ON j.id = bk.job_id
                      AND lower(j.username) = co.usr AND lower(split_part(j.lead_host, '.', 1)) = co.host
    )
    UPDATE lm.bookings bk SET released_at = p_now, released_reason = 'checkout'
    FROM candidates c
    WHERE bk.id = c.id AND c.needed <= c.covered;
    GET DIAGNOSTICS v_released = ROW_COUNT;
    RETURN v_released;
END
$$;
