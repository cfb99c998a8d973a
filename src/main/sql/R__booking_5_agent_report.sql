-- Demand seen by squeue (R__booking_1_shares.sql): p_pending = [{job_id, account, license
-- ("product.feature@type"), quantity}] of p_cluster's pending jobs, read at p_seen. Their demand
-- rows are refreshed (pending_at = p_now); rows of the cluster's jobs squeue no longer lists
-- go, unless refused after squeue looked (that refusal is newer than this list). Licenses the
-- cluster has no feature for are not demand License Manager can serve: left out.
CREATE OR REPLACE FUNCTION lm.apply_pending(p_cluster text, p_pending jsonb, p_seen timestamptz, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS lm_pending (feature_id bigint, slurm_job_id text, account text, quantity bigint) ON COMMIT DROP;
    TRUNCATE lm_pending;
    INSERT INTO lm_pending
    SELECT f.id, x.job_id, min(x.account), sum(x.quantity)
    FROM jsonb_to_recordset(p_pending) AS x(job_id text, account text, license text, quantity bigint)
    JOIN (SELECT g.id, p.name || '.' || g.name || '@' || c.type AS license
          FROM lm.features g JOIN lm.products p ON p.id = g.product_id JOIN lm.configurations c ON c.id = g.config_id
          WHERE c.cluster_client_id = p_cluster) f ON f.license = x.license
    WHERE x.quantity > 0 AND x.job_id ~ '^[0-9]{1,20}$'
    GROUP BY 1, 2;

    DELETE FROM lm.demand d
    USING lm.features g JOIN lm.configurations c ON c.id = g.config_id
    WHERE d.feature_id = g.id AND c.cluster_client_id = p_cluster
      AND (d.refused_at IS NULL OR d.refused_at < p_seen)
      AND NOT EXISTS (SELECT 1 FROM lm_pending n WHERE n.feature_id = d.feature_id AND n.slurm_job_id = d.slurm_job_id);

    INSERT INTO lm.demand (feature_id, slurm_job_id, account, quantity, pending_at)
    SELECT feature_id, slurm_job_id, account, quantity, p_now FROM lm_pending
    ON CONFLICT (feature_id, slurm_job_id) DO UPDATE
        SET account = excluded.account, quantity = excluded.quantity, pending_at = excluded.pending_at;
END
$$;

-- Appends the distribution of every pool p_cluster uses to the distribution log (one row per
-- owner, see lm.pool_shares; free is the pool's available), and drops entries older than
-- lm.settings.distribution_log_days. Called by every agent pass: the log is what an admin reads
-- to see how the pools were shared over time, and what the pass saw when it planned. Costs one
-- lm.pool_shares per pool: 1,000 pools took 0.7-1.3 s on the 2-core test machine under a load
-- of 13 (lm.pool_state for the same pools: 0.1-0.2 s), measured 2026-11-27; a set-based
-- pool_shares over all of a cluster's pools would be the next step if that shows in make bench.
CREATE OR REPLACE FUNCTION lm.log_distribution(p_cluster text, p_now timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lm.distribution_entries (at, pool_id, product_feature, cluster_client_id, account, share, entitled,
                                         in_use, free, demand)
    SELECT p_now, q.pool_id, q.product_feature, s.cluster_client_id, s.account, s.share, s.entitled, s.in_use,
           s.available, s.demand
    FROM (SELECT DISTINCT f.pool_id, pr.name || '.' || f.name AS product_feature
          FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id JOIN lm.products pr ON pr.id = f.product_id
          WHERE c.cluster_client_id = p_cluster AND f.pool_id IS NOT NULL) q
    CROSS JOIN LATERAL lm.pool_shares(q.pool_id, p_now) s;
    DELETE FROM lm.distribution_entries
    WHERE at < p_now - make_interval(days => (SELECT distribution_log_days FROM lm.settings));
$$;

-- One lm-agent pass, applied in one transaction (see POST /lm/agent/report in lm-server(8)):
--   {"interval": s, "features": [usage items, see apply_usage; each may carry "queued": n, the
--    licenses the server's queue waits for], "failed": ["product.feature"],
--    "slurm": {"licenses": [{license, total, used}], "job_ids": [n, ...], "nodes": ["node01", ...], "squeue_age_ms": n,
--              "pending": [{job_id, account, license, quantity}]}}
-- (pending: the licenses pending jobs ask for, their owners' demand, see lm.apply_pending)
-- (a usage item may carry "expires_at": "2026-12-31" and "expiring": n, the nearest expiry the
-- license server prints and how many licenses expire then; absent: none printed, see lm.apply_expiry)
-- (nodes: the cluster's node names, short and lower case; checkouts on other hosts release
-- nothing, see lm.apply_usage)
-- and returns the plan: {"reservations": [{license, count, held}], "stale": [...], "held": [...],
--   "released_checkouts": n, "expired": n, "ended_jobs": n}.
-- Jobs of the cluster that squeue no longer lists have ended (their epilog may have been lost)
-- and are released — but only those booked before squeue ran: a prolog that booked after the
-- agent read squeue must not lose its booking to this pass. squeue_age_ms (with 5 s to spare)
-- is measured by the agent before it gzips, uploads and waits for lm-server, so it is not
-- trusted alone: only jobs booked before the cluster's previous report was applied can end
-- (lm.report_fences; the agent's next squeue runs after that on the database's clock). A job
-- booked since waits one more pass. The first report of a cluster has only the age to go by.
-- (Two agents of one cluster running at once could still move the fence past a pass's squeue;
-- lm-agent's systemd timer runs one pass at a time.)
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
    -- the sweep first: a job that has ended no longer claims the checkouts it had (lm.apply_usage)
    IF p_report ? 'slurm' AND p_report->'slurm' ? 'job_ids' THEN
        -- An anti-join over the bare ids, run as a Hash Anti Join (it spills to batches past
        -- work_mem): 0.18-0.22 s for 150,000 listed ids and 2,000-50,000 booked jobs on PG 15,
        -- where NOT IN over jsonb_array_elements of {slurm_job_id, state} objects took 0.85-1.0 s
        -- (a hashed SubPlan, held in memory whatever work_mem says). NOT EXISTS also cannot be
        -- turned into "end nothing" by a null in the list, as NOT IN would be.
        PERFORM lm.ending_jobs('ended', p_now);
        WITH d AS (
            DELETE FROM lm.jobs j
            WHERE j.cluster_client_id = p_cluster
              AND j.created_at < p_now - make_interval(secs => 5 + coalesce((p_report->'slurm'->>'squeue_age_ms')::numeric, 0) / 1000)
              AND j.created_at < coalesce((SELECT r.applied_at FROM lm.report_fences r WHERE r.cluster_client_id = p_cluster), 'infinity')
              AND NOT EXISTS (SELECT FROM jsonb_array_elements_text(p_report->'slurm'->'job_ids') AS listed(id)
                              WHERE listed.id = j.slurm_job_id)
            RETURNING 1)
        SELECT count(*) INTO v_ended FROM d;
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


    IF p_report ? 'slurm' THEN
        INSERT INTO lm.report_fences AS r (cluster_client_id, applied_at) VALUES (p_cluster, p_now)
        ON CONFLICT (cluster_client_id) DO UPDATE SET applied_at = greatest(r.applied_at, excluded.applied_at);
    END IF;

    IF p_report ? 'slurm' AND jsonb_typeof(p_report->'slurm'->'pending') = 'array' THEN
        PERFORM lm.apply_pending(p_cluster, p_report->'slurm'->'pending',
            p_now - make_interval(secs => coalesce((p_report->'slurm'->>'squeue_age_ms')::numeric, 0) / 1000), p_now);
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

    PERFORM lm.record_usage(p_cluster, p_report, p_now);
    -- stale and held as the pass's samples have them: lm.record_usage has just stored
    -- lm.pool_state of every pool of the cluster at p_now (a second call per pool cost 0.17 s
    -- at 1,000 pools); a feature without a pool has neither sample nor state
    SELECT coalesce(json_agg(p.name || '.' || f.name ORDER BY p.name, f.name) FILTER (WHERE st.stale), '[]'),
           coalesce(json_agg(p.name || '.' || f.name ORDER BY p.name, f.name) FILTER (WHERE st.held), '[]')
    INTO v_stale, v_held
    FROM lm.features f
    JOIN lm.products p ON p.id = f.product_id
    JOIN lm.configurations c ON c.id = f.config_id
    JOIN lm.usage_samples st ON st.pool_id = f.pool_id AND st.at = p_now
    WHERE c.cluster_client_id = p_cluster;

    PERFORM lm.log_distribution(p_cluster, p_now);

    RETURN json_build_object('reservations', v_plan, 'stale', v_stale, 'held', v_held,
                             'released_checkouts', v_released, 'expired', v_expired, 'ended_jobs', v_ended);
END
$$;
