-- One lm-agent pass, applied in one transaction (see POST /lm/agent/report in lm-server(8)):
--   {"interval": s, "features": [usage items, see apply_usage], "failed": ["product.feature"],
--    "slurm": {"licenses": [{license, total, used}], "job_ids": [n, ...], "nodes": ["node01", ...], "squeue_age_ms": n}}
-- (a usage item may carry "expires_at": "2026-12-31" and "expiring": n, the nearest expiry the
-- license server prints and how many licenses expire then; absent: none printed, see lm.apply_expiry)
-- (nodes: the cluster's node names, short and lower case; checkouts on other hosts release
-- nothing, see lm.apply_usage)
-- and returns the plan: {"reservations": [{license, count, held}], "stale": [...], "held": [...],
--   "released_checkouts": n, "expired": n, "ended_jobs": n}.
-- Jobs of the cluster that squeue no longer lists have ended (their epilog may have been lost)
-- and are released — but only those booked before squeue ran, with 5 s to spare: a prolog that
-- booked after the agent read squeue must not lose its booking to this pass.
CREATE OR REPLACE FUNCTION lm.apply_agent_report(p_cluster text, p_report jsonb, p_now timestamptz DEFAULT now())
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    v_released integer;
    v_expired integer;
    v_ended integer := 0;
    v_unknown text;
    v_plan json := '[]';
    v_failed bigint[];
    v_stale json;
    v_held json;
    v_nodes text[];
    v_pooled bigint[];
BEGIN
    -- every pool of the cluster, in id order, before anything else: the steps below touch
    -- different subsets, and taking them piecemeal could deadlock with an admission. Nothing
    -- below locks a pool or counter outside this set (expiry is limited to it; a job books
    -- only its own cluster's features, see lm.book_feature), so the order holds.
    PERFORM lm.lock_pools(ARRAY(SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                                WHERE c.cluster_client_id = p_cluster));
    v_pooled := ARRAY(SELECT g.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                      JOIN lm.features g ON g.pool_id = f.pool_id WHERE c.cluster_client_id = p_cluster);
    IF jsonb_typeof(p_report->'slurm'->'nodes') = 'array' THEN
        v_nodes := ARRAY(SELECT lower(split_part(x, '.', 1)) FROM jsonb_array_elements_text(p_report->'slurm'->'nodes') x);
    END IF;
    v_released := lm.apply_usage(p_cluster, coalesce(p_report->'features', '[]'), p_now, v_nodes);
    PERFORM lm.apply_expiry(p_cluster, coalesce(p_report->'features', '[]'));

    SELECT array_agg(lm.find_feature(p_cluster, x)), string_agg(x, ', ') FILTER (WHERE lm.find_feature(p_cluster, x) IS NULL)
    INTO v_failed, v_unknown
    FROM jsonb_array_elements_text(coalesce(p_report->'failed', '[]')) x;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'Feature not found.' USING ERRCODE = 'LM002',
            DETAIL = 'not features of cluster ' || p_cluster || ': ' || v_unknown;
    END IF;
    -- last good total/used stay; only the failure is recorded
    UPDATE lm.features SET failed_at = p_now WHERE id = ANY (v_failed);

    v_expired := lm.expire_bookings(p_now, v_pooled);

    IF p_report ? 'slurm' AND p_report->'slurm' ? 'job_ids' THEN
        -- An anti-join over the bare ids, run as a Hash Anti Join (it spills to batches past
        -- work_mem): 0.18-0.22 s for 150,000 listed ids and 2,000-50,000 booked jobs on PG 15,
        -- where NOT IN over jsonb_array_elements of {slurm_job_id, state} objects took 0.85-1.0 s
        -- (a hashed SubPlan, held in memory whatever work_mem says). NOT EXISTS also cannot be
        -- turned into "end nothing" by a null in the list, as NOT IN would be.
        WITH d AS (
            DELETE FROM lm.jobs j
            WHERE j.cluster_client_id = p_cluster
              AND j.created_at < p_now - make_interval(secs => 5 + coalesce((p_report->'slurm'->>'squeue_age_ms')::numeric, 0) / 1000)
              AND NOT EXISTS (SELECT FROM jsonb_array_elements_text(p_report->'slurm'->'job_ids') AS listed(id)
                              WHERE listed.id = j.slurm_job_id)
            RETURNING 1)
        SELECT count(*) INTO v_ended FROM d;
    END IF;

    IF p_report ? 'interval' THEN
        INSERT INTO lm.cluster_statuses (cluster_client_id, interval, last_reported)
        VALUES (p_cluster, (p_report->>'interval')::integer, p_now)
        ON CONFLICT (cluster_client_id) DO UPDATE SET interval = excluded.interval, last_reported = excluded.last_reported;
    END IF;

    IF p_report ? 'slurm' AND p_report->'slurm' ? 'licenses' THEN
        SELECT coalesce(json_agg(json_build_object('license', r.license, 'count', r.reservation, 'held', r.held)
                                 ORDER BY r.license), '[]')
        INTO v_plan FROM lm.plan_reservations(p_cluster, p_report->'slurm'->'licenses', p_now) r;
    END IF;

    SELECT coalesce(json_agg(p.name || '.' || f.name ORDER BY p.name, f.name) FILTER (WHERE st.stale), '[]'),
           coalesce(json_agg(p.name || '.' || f.name ORDER BY p.name, f.name) FILTER (WHERE st.held), '[]')
    INTO v_stale, v_held
    FROM lm.features f
    JOIN lm.products p ON p.id = f.product_id
    JOIN lm.configurations c ON c.id = f.config_id
    CROSS JOIN LATERAL lm.pool_state(f.id, p_now) st
    WHERE c.cluster_client_id = p_cluster;

    RETURN json_build_object('reservations', v_plan, 'stale', v_stale, 'held', v_held,
                             'released_checkouts', v_released, 'expired', v_expired, 'ended_jobs', v_ended);
END
$$;
