-- License-server usage: counts and the checkouts that release bookings.

-- Applies a license-server usage report of one cluster:
-- [{product_feature, total, used, checkouts: [{user, host, quantity}]}].
-- Sets total/used of the cluster's features, then releases the bookings whose job has checked
-- its licenses out: same user, same short lead host (license servers print either form), in
-- booking order while the user's checked-out quantity on that host covers them. From then on
-- `used` counts those licenses, so they are not counted twice.
-- Each checked-out license releases at most one booked license, once, for as long as it lasts:
-- the bookings already released by a checkout whose job still runs are the memory of what the
-- checkouts cover (a job's end deletes them, and its checkout ends with it), so the same report
-- twice releases nothing more, and only the part of a user's checkouts on a host beyond what
-- is covered may release more. The memory is per pool, user and short host over every cluster:
-- clusters sharing a license server see the same checkouts.
-- Only bookings of jobs of the reporting cluster are released (another cluster's node may have
-- the same short name), and with p_nodes (the cluster's node names, short and lower case, from
-- Slurm) only checkouts on those hosts count; without it, the cluster's own bookings are all
-- that limits the match (documented in lm-server(8)).
-- Unknown features refuse the whole report (LM002), like PUT /features/bulk. Locks the pools
-- first (same order as admission).
DROP FUNCTION IF EXISTS lm.apply_usage(text, jsonb, timestamptz);
CREATE OR REPLACE FUNCTION lm.apply_usage(p_cluster text, p_report jsonb, p_now timestamptz DEFAULT now(),
                                          p_nodes text[] DEFAULT NULL)
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

    WITH item AS (
        SELECT f.pool_id, lower(c."user") AS usr, lower(split_part(c.host, '.', 1)) AS host, sum(c.quantity) AS quantity
        FROM jsonb_array_elements(v_items) x
        JOIN lm.features f ON f.id = (x->>'feature_id')::bigint
        CROSS JOIN LATERAL jsonb_to_recordset(coalesce(x->'checkouts', '[]')) AS c("user" text, host text, quantity bigint)
        WHERE p_nodes IS NULL OR lower(split_part(c.host, '.', 1)) = ANY (p_nodes)
        GROUP BY x, f.pool_id, 2, 3
    ), co AS (
        -- two features of the cluster in one pool read the same server: its checkouts count once
        SELECT pool_id, usr, host, max(quantity) AS quantity FROM item GROUP BY 1, 2, 3
    ), uncovered AS (
        SELECT co.pool_id, co.usr, co.host,
               co.quantity - least(co.quantity, coalesce((
                   SELECT sum(b.quantity) FROM lm.features g
                   JOIN lm.bookings b ON b.feature_id = g.id AND b.released_reason = 'checkout'
                   JOIN lm.jobs j ON j.id = b.job_id
                   WHERE g.pool_id = co.pool_id AND lower(j.username) = co.usr
                     AND lower(split_part(j.lead_host, '.', 1)) = co.host), 0)) AS quantity
        FROM co
    ), candidates AS (
        SELECT bk.id, u.quantity AS covered,
               sum(bk.quantity) OVER (PARTITION BY u.pool_id, u.usr, u.host ORDER BY bk.created_at, bk.id) AS needed
        FROM uncovered u
        JOIN lm.features g ON g.pool_id = u.pool_id
        JOIN lm.bookings bk ON bk.feature_id = g.id AND bk.released_at IS NULL AND bk.expires_at > p_now
        JOIN lm.jobs j ON j.id = bk.job_id AND j.cluster_client_id = p_cluster
                      AND lower(j.username) = u.usr AND lower(split_part(j.lead_host, '.', 1)) = u.host
        WHERE u.quantity > 0
    )
    UPDATE lm.bookings bk SET released_at = p_now, released_reason = 'checkout'
    FROM candidates c
    WHERE bk.id = c.id AND c.needed <= c.covered;
    GET DIAGNOSTICS v_released = ROW_COUNT;
    RETURN v_released;
END
$$;
