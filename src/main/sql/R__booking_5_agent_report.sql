-- Demand seen by squeue (R__booking_1_shares.sql): p_pending = [{job_id, account, license
-- ("product.feature@type"), quantity}] of p_cluster's pending jobs, as rows of the cluster's
-- features (one per feature and job). Licenses the cluster has no feature for are not demand
-- License Manager can serve: left out.
CREATE OR REPLACE FUNCTION lm.pending_demand(p_cluster text, p_pending jsonb)
RETURNS TABLE (feature_id bigint, slurm_job_id text, account text, quantity bigint) LANGUAGE sql STABLE AS $$
    SELECT f.id, x.job_id, min(x.account), sum(x.quantity)::bigint
    FROM jsonb_to_recordset(p_pending) AS x(job_id text, account text, license text, quantity bigint)
    JOIN (SELECT g.id, p.name || '.' || g.name || '@' || c.type AS license
          FROM lm.features g JOIN lm.products p ON p.id = g.product_id JOIN lm.configurations c ON c.id = g.config_id
          WHERE c.cluster_client_id = p_cluster) f ON f.license = x.license
    WHERE x.quantity > 0 AND x.job_id ~ '^[0-9]{1,20}$'
    GROUP BY 1, 2
$$;

-- The demand of features p_features as squeue saw it at p_seen: p_demand = [{feature_id,
-- slurm_job_id, account, quantity}] (lm.pending_demand's rows of these features). Their rows are
-- refreshed (pending_at = p_now); rows of these features that squeue no longer lists go, unless
-- refused after squeue looked (that refusal is newer than this list). The caller holds the
-- features' pools (an admission deletes its job's demand rows under them: taking demand rows
-- without the pool could deadlock with it).
DROP FUNCTION IF EXISTS lm.apply_pending(text, jsonb, timestamptz, timestamptz);
CREATE OR REPLACE FUNCTION lm.apply_pending(p_features bigint[], p_demand jsonb, p_seen timestamptz, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM lm.demand d
    WHERE d.feature_id = ANY (p_features)
      AND (d.refused_at IS NULL OR d.refused_at < p_seen)
      AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset(p_demand) AS n(feature_id bigint, slurm_job_id text)
                      WHERE n.feature_id = d.feature_id AND n.slurm_job_id = d.slurm_job_id);
    INSERT INTO lm.demand (feature_id, slurm_job_id, account, quantity, pending_at)
    SELECT n.feature_id, n.slurm_job_id, n.account, n.quantity, p_now
    FROM jsonb_to_recordset(p_demand) AS n(feature_id bigint, slurm_job_id text, account text, quantity bigint)
    WHERE n.feature_id = ANY (p_features)
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

-- Each transaction of lm.run_agent_report that holds pools: named in application_name (so
-- pg_stat_activity shows which part of a report holds what) and committed without waiting for
-- its WAL to reach the disk (synchronous_commit off, for this transaction only). Its locks go at
-- once instead of after a flush: the flush took most of a one-pool transaction's hold, and a
-- thousand of them made a report slower than its route's timeout. Nothing acknowledged is lost:
-- the report's last transaction commits synchronously, which flushes the WAL written before it,
-- so by the time the agent has its answer every step is on disk; and any admission that saw one
-- of these commits (a release) flushes it with its own commit record, which comes later in the
-- WAL. A crash before then leaves the database as if those steps had not run yet, and the next
-- pass, which reads the servers and squeue again, does them.
CREATE OR REPLACE FUNCTION lm.report_locked_step()
RETURNS void LANGUAGE sql AS $$
    SELECT set_config('application_name', 'lm agent report: locked', true),
           set_config('synchronous_commit', 'off', true),
           set_config('plan_cache_mode', 'force_generic_plan', true)
$$;

-- One lm-agent pass (see POST /lm/agent/report in lm-server(8)):
--   {"interval": s, "features": [usage items, see apply_usage; each may carry "queued": n, the
--    licenses the server's queue waits for], "failed": ["product.feature"],
--    "slurm": {"licenses": [{license, total, used}], "job_ids": [n, ...], "nodes": ["node01", ...], "squeue_age_ms": n,
--              "pending": [{job_id, account, license, quantity}]}}
-- (pending: the licenses pending jobs ask for, their owners' demand, see lm.apply_pending)
-- (a usage item may carry "expires_at": "2026-12-31" and "expiring": n, the nearest expiry the
-- license server prints and how many licenses expire then; absent: none printed, see lm.apply_expiry)
-- (nodes: the cluster's node names, short and lower case; checkouts on other hosts release
-- nothing, see lm.apply_usage)
-- and p_answer is the plan: {"reservations": [{license, count, held}], "stale": [...], "held": [...],
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
--
-- No admission waits behind a report for longer than a few admissions take (issue 19). With
-- p_commit, the pass is several short transactions, each holding only the pools it changes:
--   1. (no lock) unknown features refuse the whole report (LM002) before anything is written;
--      which jobs have ended, and the report's items, failures and demand grouped by pool;
--   2. the ended jobs, p_batch at a time: their pools' counters (an end only releases), then
--      the jobs go — before any checkout is matched: an ended job claims no checkout;
--   3. the cluster's pools in ascending id, p_batch at a time: readings, checkouts and the
--      bookings they release (lm.apply_usage), failures, expiry and demand of those pools,
--      under their locks (the counters only where nothing is read or failed: only releases);
--   4. (no pool lock) expiry dates, the fence, the cluster's status; then, under the usage
--      history's own lock (two clusters' passes on one pool would otherwise both replace its
--      checkouts), the plan (lm.plan_reservations), the samples (lm.record_usage), stale and
--      held as these samples have them, and the distribution log.
-- Each transaction takes its locks in one ascending lm.lock_pools and nothing outside them, so
-- the order of R__booking_1_pools.sql holds. At 150,000 jobs and 1,000 pools (make bench,
-- lm.bench.only=agent, 2026-12-07, load 5-15) the pass held all its pools for 5-10 s as one
-- transaction, and admissions gave up at lock_timeout; ten pools per transaction (p_batch, from
-- lm.booking.AgentReport) hold them for 27-40 ms at the longest, 4-6 ms as a median (README,
-- Performance); 29 ms and 5 ms on 2026-12-08 (load 3), with generic plans and no WAL flush per
-- step (lm.report_locked_step), which also took the pass from 6 s to 4.5 s. A pass cut short (a crash between steps) has applied whole steps: the next pass
-- reads the servers and squeue again and finishes the work. Each transaction names its step in
-- application_name ("lm agent report: locked" or "lm agent report: history"), so
-- pg_stat_activity shows which part of a report holds what.
-- Without p_commit (lm.apply_agent_report: tests, the dry run) it is one transaction that takes
-- every pool of the cluster first (the steps take different subsets, and taking them piecemeal
-- in one transaction would break the order), as the whole pass used to.
CREATE OR REPLACE PROCEDURE lm.run_agent_report(p_cluster text, p_report jsonb, p_now timestamptz, p_commit boolean,
                                                p_batch integer, INOUT p_answer json DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    v_items jsonb;
    v_unknown text;
    v_by_pool jsonb;
    v_failed jsonb;
    v_demand jsonb;
    v_pools bigint[];
    v_expiring bigint[];
    v_ended bigint[];
    v_batch bigint[];
    v_features bigint[];
    v_read boolean;
    v_nodes text[];
    v_released integer := 0;
    v_expired integer := 0;
    v_ended_count integer := 0;
    v_n integer;
    v_plan json := '[]';
    v_stale json;
    v_held json;
    v_seen timestamptz := p_now - make_interval(secs => coalesce((p_report->'slurm'->>'squeue_age_ms')::numeric, 0) / 1000);
    v_pending boolean := p_report ? 'slurm' AND jsonb_typeof(p_report->'slurm'->'pending') = 'array';
BEGIN
    IF NOT p_commit THEN
        PERFORM set_config('application_name', 'lm agent report: locked', true);
        PERFORM lm.lock_pools(ARRAY(SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                                    WHERE c.cluster_client_id = p_cluster));
    END IF;

    -- 1. without locks
    SELECT coalesce(jsonb_agg(x || jsonb_build_object('feature_id', lm.find_feature(p_cluster, x->>'product_feature'))), '[]')
    INTO v_items FROM jsonb_array_elements(coalesce(p_report->'features', '[]')) x;
    SELECT string_agg(n, ', ') INTO v_unknown
    FROM (SELECT x->>'product_feature' AS n FROM jsonb_array_elements(v_items) x WHERE x->>'feature_id' IS NULL
          UNION ALL
          SELECT x FROM jsonb_array_elements_text(coalesce(p_report->'failed', '[]')) x WHERE lm.find_feature(p_cluster, x) IS NULL) u;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'Feature not found.' USING ERRCODE = 'LM002',
            DETAIL = 'not features of cluster ' || p_cluster || ': ' || v_unknown;
    END IF;
    IF jsonb_typeof(p_report->'slurm'->'nodes') = 'array' THEN
        v_nodes := ARRAY(SELECT lower(split_part(x, '.', 1)) FROM jsonb_array_elements_text(p_report->'slurm'->'nodes') x);
    END IF;
    -- by pool id (0: a feature without a pool, which has nothing to lock)
    SELECT jsonb_object_agg(g.pool, g.items) INTO v_by_pool
    FROM (SELECT coalesce(f.pool_id, 0)::text AS pool, jsonb_agg(x) AS items
          FROM jsonb_array_elements(v_items) x JOIN lm.features f ON f.id = (x->>'feature_id')::bigint GROUP BY 1) g;
    SELECT jsonb_object_agg(g.pool, g.ids) INTO v_failed
    FROM (SELECT coalesce(f.pool_id, 0)::text AS pool, jsonb_agg(f.id) AS ids
          FROM jsonb_array_elements_text(coalesce(p_report->'failed', '[]')) x
          JOIN lm.features f ON f.id = lm.find_feature(p_cluster, x) GROUP BY 1) g;
    IF v_pending THEN
        SELECT jsonb_object_agg(g.pool, g.rows) INTO v_demand
        FROM (SELECT coalesce(f.pool_id, 0)::text AS pool, jsonb_agg(to_jsonb(d)) AS rows
              FROM lm.pending_demand(p_cluster, p_report->'slurm'->'pending') d JOIN lm.features f ON f.id = d.feature_id
              GROUP BY 1) g;
    END IF;
    v_pools := ARRAY(SELECT DISTINCT coalesce(f.pool_id, 0) FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                     WHERE c.cluster_client_id = p_cluster ORDER BY 1);
    -- pools with bookings past their grace now (bookings_expiring): the others have nothing to
    -- expire, and looking in each pool's own transaction cost more than the rest of its work
    v_expiring := ARRAY(SELECT DISTINCT f.pool_id FROM lm.bookings b JOIN lm.features f ON f.id = b.feature_id
                        WHERE b.released_at IS NULL AND b.expires_at <= p_now AND f.pool_id = ANY (v_pools));
    IF p_report ? 'slurm' AND p_report->'slurm' ? 'job_ids' THEN
        -- An anti-join over the bare ids, run as a Hash Anti Join (it spills to batches past
        -- work_mem): 0.18-0.22 s for 150,000 listed ids and 2,000-50,000 booked jobs on PG 15,
        -- where NOT IN over jsonb_array_elements of {slurm_job_id, state} objects took 0.85-1.0 s
        -- (a hashed SubPlan, held in memory whatever work_mem says). NOT EXISTS also cannot be
        -- turned into "end nothing" by a null in the list, as NOT IN would be. A job requeued
        -- since is a new row (lm.book_job): ending this id leaves the new run alone.
        v_ended := ARRAY(
            SELECT j.id FROM lm.jobs j
            WHERE j.cluster_client_id = p_cluster
              AND j.created_at < p_now - make_interval(secs => 5 + coalesce((p_report->'slurm'->>'squeue_age_ms')::numeric, 0) / 1000)
              AND j.created_at < coalesce((SELECT r.applied_at FROM lm.report_fences r WHERE r.cluster_client_id = p_cluster), 'infinity')
              AND NOT EXISTS (SELECT FROM jsonb_array_elements_text(p_report->'slurm'->'job_ids') AS listed(id)
                              WHERE listed.id = j.slurm_job_id)
            ORDER BY j.id);
    END IF;
    IF p_commit THEN
        COMMIT;
    END IF;

    -- 2. the ended jobs
    FOR i IN 1 .. coalesce(array_length(v_ended, 1), 0) BY p_batch LOOP
        IF p_commit THEN
            PERFORM lm.report_locked_step();
        END IF;
        v_batch := v_ended[i : i + p_batch - 1];
        PERFORM lm.lock_pools(ARRAY(SELECT b.feature_id FROM lm.bookings b WHERE b.job_id = ANY (v_batch) AND b.released_at IS NULL), true);
        PERFORM lm.ending_jobs('ended', p_now);
        DELETE FROM lm.jobs j WHERE j.id = ANY (v_batch);
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_ended_count := v_ended_count + v_n;
        IF p_commit THEN
            COMMIT;
        END IF;
    END LOOP;

    -- 3. the pools
    FOR i IN 1 .. coalesce(array_length(v_pools, 1), 0) BY p_batch LOOP
        IF p_commit THEN
            PERFORM lm.report_locked_step();
        END IF;
        v_batch := v_pools[i : i + p_batch - 1];
        v_items := coalesce((SELECT jsonb_agg(x) FROM unnest(v_batch) p, jsonb_array_elements(v_by_pool->p::text) x), '[]');
        v_read := jsonb_array_length(v_items) > 0 OR EXISTS (SELECT 1 FROM unnest(v_batch) p WHERE v_failed ? p::text);
        -- every member of these pools, other clusters' too: expiry releases theirs as well
        v_features := ARRAY(SELECT f.id FROM lm.features f WHERE f.pool_id = ANY (v_batch)
                            UNION ALL
                            SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                            WHERE 0 = ANY (v_batch) AND f.pool_id IS NULL AND c.cluster_client_id = p_cluster);
        PERFORM lm.lock_pools(v_features, NOT v_read);
        IF jsonb_array_length(v_items) > 0 THEN
            v_released := v_released + lm.apply_usage(p_cluster, v_items, p_now, v_nodes);
        END IF;
        -- last good total/used stay; only the failure is recorded
        UPDATE lm.features SET failed_at = p_now
        WHERE id IN (SELECT x::bigint FROM unnest(v_batch) p, jsonb_array_elements_text(v_failed->p::text) x);
        IF v_batch && v_expiring THEN
            v_expired := v_expired + lm.expire_bookings(p_now, v_features);
        END IF;
        IF v_pending THEN
            PERFORM lm.apply_pending(
                ARRAY(SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                      WHERE f.id = ANY (v_features) AND c.cluster_client_id = p_cluster),
                coalesce((SELECT jsonb_agg(x) FROM unnest(v_batch) p, jsonb_array_elements(v_demand->p::text) x), '[]'),
                v_seen, p_now);
        END IF;
        IF p_commit THEN
            COMMIT;
        END IF;
    END LOOP;

    -- 4. no pool lock (expiry dates are not read by admission)
    IF p_commit THEN
        PERFORM set_config('application_name', 'lm agent report: history', true);
    END IF;
    PERFORM lm.apply_expiry(p_cluster, coalesce(p_report->'features', '[]'));
    IF p_report ? 'slurm' THEN
        INSERT INTO lm.report_fences AS r (cluster_client_id, applied_at) VALUES (p_cluster, p_now)
        ON CONFLICT (cluster_client_id) DO UPDATE SET applied_at = greatest(r.applied_at, excluded.applied_at);
    END IF;
    IF p_report ? 'interval' THEN
        INSERT INTO lm.cluster_statuses (cluster_client_id, interval, last_reported)
        VALUES (p_cluster, (p_report->>'interval')::integer, p_now)
        ON CONFLICT (cluster_client_id) DO UPDATE SET interval = excluded.interval, last_reported = excluded.last_reported;
    END IF;
    -- last: its holder then waits for nothing but history rows, which only holders write
    PERFORM pg_advisory_xact_lock(hashtext('lm.usage_history'));

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

    p_answer := json_build_object('reservations', v_plan, 'stale', v_stale, 'held', v_held,
                                  'released_checkouts', v_released, 'expired', v_expired, 'ended_jobs', v_ended_count);
    IF p_commit THEN
        COMMIT;
    END IF;
END
$$;

-- The pass of lm.run_agent_report as one transaction (every pool of the cluster locked first),
-- its answer returned: what tests call, and POST /lm/agent/report/dry_run, which rolls it back.
CREATE OR REPLACE FUNCTION lm.apply_agent_report(p_cluster text, p_report jsonb, p_now timestamptz DEFAULT now())
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    v_answer json;
BEGIN
    CALL lm.run_agent_report(p_cluster, p_report, p_now, false, 1000, v_answer);
    RETURN v_answer;
END
$$;
