-- Offline operation (issue 11 part 4; lm-prolog(8), OFFLINE OPERATION): what each cluster's
-- prolog may book while lm-server is unreachable (its budget), and the replay of the ledger the
-- prolog kept meanwhile. Time is a parameter (p_now), as everywhere.

-- The offline budget of one cluster: per Slurm license ("product.feature@type") of its features,
-- how many licenses its jobs may book without asking. Each pool's free licenses (its true
-- available clamped at 0; none at all when the pool is stale or held, since nothing is then known
-- to be free) are split among the clusters of the pool by weight, rounding down, so that the
-- budgets of all clusters of a pool never add up to more than it has free, whichever of them
-- book offline at the same time. The weight is in one place, the `weights` CTE: each cluster's
-- share of the pool (features.share, lm-server(8) SHARES; 0 gets no budget), and a cluster's
-- budget never takes it past its max_use (what its jobs hold now counted).
-- A Slurm license name of a cluster stands for its oldest feature of that name (as in
-- lm.find_feature and lm.plan_reservations); a cluster with several names in one pool splits
-- its part among them. Reads only, no lock: the budget is a snapshot, and a booking committed
-- just after it is in the next pass's budget.
CREATE OR REPLACE FUNCTION lm.cluster_budget(p_cluster text, p_now timestamptz DEFAULT now())
RETURNS TABLE (license text, product_feature text, pool_id bigint, free bigint, weight bigint,
               pool_weight bigint, budget bigint)
LANGUAGE sql STABLE AS $$
    WITH weights AS (     -- THE weighting of the split: the cluster's share of the pool
        SELECT f.pool_id, c.cluster_client_id, max(f.share)::bigint AS weight
        FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
        GROUP BY f.pool_id, c.cluster_client_id
    ), pool_weights AS (
        SELECT w.pool_id, sum(w.weight)::bigint AS pool_weight FROM weights w GROUP BY w.pool_id
    ), names AS (       -- the cluster's Slurm licenses, each the oldest feature of its name
        SELECT DISTINCT ON (1) p.name || '.' || f.name || '@' || c.type AS license,
               p.name || '.' || f.name AS product_feature, f.pool_id
        FROM lm.features f
        JOIN lm.products p ON p.id = f.product_id
        JOIN lm.configurations c ON c.id = f.config_id
        WHERE c.cluster_client_id = p_cluster
        ORDER BY 1, f.id
    ), mine AS (
        SELECT n.*, count(*) OVER (PARTITION BY n.pool_id) AS names_in_pool FROM names n
    )
    SELECT m.license, m.product_feature, m.pool_id, fr.free, w.weight, pw.pool_weight,
           least(CASE WHEN pw.pool_weight > 0 THEN fr.free * w.weight / pw.pool_weight / m.names_in_pool ELSE 0 END,
                 greatest(lim.room, 0) / m.names_in_pool)
    FROM mine m
    JOIN weights w ON w.pool_id = m.pool_id AND w.cluster_client_id = p_cluster
    JOIN pool_weights pw ON pw.pool_id = m.pool_id
    -- a pool's id is its smallest feature's id (lm.assign_pools)
    CROSS JOIN LATERAL (SELECT CASE WHEN s.stale OR s.held THEN 0 ELSE greatest(s.available, 0) END AS free
                        FROM lm.pool_state(m.pool_id, p_now) s) fr
    -- what max_use leaves the cluster (no limit: no cap)
    CROSS JOIN LATERAL (SELECT coalesce(min(e.max_use - e.in_use), fr.free) AS room
                        FROM lm.cluster_entitlements(m.pool_id, p_now) e
                        WHERE e.cluster_client_id = p_cluster AND e.max_use IS NOT NULL) lim
    ORDER BY m.license
$$;

-- The budget as GET /lm/budget answers it.
CREATE OR REPLACE FUNCTION lm.budget_json(p_cluster text, p_now timestamptz DEFAULT now())
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('cluster_client_id', p_cluster, 'made_at', p_now,
        'licenses', coalesce((SELECT json_agg(json_build_object('license', b.license, 'product_feature', b.product_feature,
                                  'pool_id', b.pool_id, 'free', b.free, 'weight', b.weight, 'pool_weight', b.pool_weight,
                                  'budget', b.budget) ORDER BY b.license)
                              FROM lm.cluster_budget(p_cluster, p_now) b), '[]'))
$$;

-- Replays one cluster's offline ledger (POST /lm/agent/offline), entries in ledger order:
--   {"id", "op": "book", "time": epoch s, "slurm_job_id", "username", "lead_host",
--    "bookings": [{"product_feature", "quantity"}]}
--   {"id", "op": "release", "time": epoch s, "slurm_job_id"}
-- (lm.booking.Offline has checked the fields; it answers an unreadable entry itself). Returns
-- {"entries": [{id, slurm_job_id, op, result, detail}] in the same order,
--  "overbooked": [{product_feature, available}]}.
-- A booking is recorded whatever the pool has free now — the job runs already — flagged
-- offline, created at the entry's time (the job's start) and holding for the configuration's
-- grace time from now (it has been counted nowhere until now). A release ends the job if it was
-- booked at or before the release was written; a job booked later (online, once lm-server was
-- back) is a later run of it and stays ("superseded"), as does a job booked online after an
-- offline booking's time. Each entry is applied once per (cluster, job, entry id): a second
-- replay of it answers its first result ("duplicate" is not a state: the ledger is unchanged).
-- Acts on the caller's cluster only: jobs are looked up and created with p_cluster, licenses
-- found among its features (lm.find_feature).
-- Locks every pool of the cluster in id order first (as lm.apply_agent_report: the entries touch
-- any of them, and taking them piecemeal could deadlock with an admission).
CREATE OR REPLACE FUNCTION lm.replay_offline(p_cluster text, p_entries jsonb, p_now timestamptz DEFAULT now())
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    v_job_id text;
    v_entry text;
    v_op text;
    v_time timestamptz;
    v_result text;
    v_job bigint;
    v_created timestamptz;
    v_results jsonb := '[]';
    v_wanted jsonb;
    v_overbooked json;
BEGIN
    PERFORM lm.lock_pools(ARRAY(SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                                WHERE c.cluster_client_id = p_cluster));
    FOR e IN SELECT x FROM jsonb_array_elements(p_entries) x LOOP
        v_entry := e->>'id';
        v_job_id := e->>'slurm_job_id';
        v_op := e->>'op';
        v_time := to_timestamp((e->>'time')::double precision);
        SELECT o.result INTO v_result FROM lm.offline_entries o
        WHERE o.cluster_client_id = p_cluster AND o.slurm_job_id = v_job_id AND o.entry_id = v_entry;
        IF NOT FOUND THEN
            SELECT j.id, j.created_at INTO v_job, v_created FROM lm.jobs j
            WHERE j.cluster_client_id = p_cluster AND j.slurm_job_id = v_job_id;
            IF v_op = 'release' THEN
                IF v_job IS NULL THEN
                    v_result := 'no_job';
                ELSIF v_created > v_time THEN
                    v_result := 'superseded';
                ELSE
                    PERFORM lm.ending_jobs('offline', v_time);
                    DELETE FROM lm.jobs WHERE id = v_job;
                    v_result := 'released';
                END IF;
            ELSIF v_job IS NOT NULL AND v_created > v_time THEN
                v_result := 'superseded';
            ELSE
                SELECT jsonb_agg(jsonb_build_object('feature_id', r.id, 'quantity', w.quantity, 'grace', c.grace_time))
                INTO v_wanted
                FROM (SELECT b.product_feature, sum(b.quantity)::bigint AS quantity
                      FROM jsonb_to_recordset(e->'bookings') AS b(product_feature text, quantity bigint)
                      GROUP BY b.product_feature) w
                CROSS JOIN LATERAL (SELECT lm.find_feature(p_cluster, w.product_feature) AS id) r
                JOIN lm.features f ON f.id = r.id
                JOIN lm.configurations c ON c.id = f.config_id;
                IF v_job IS NOT NULL THEN
                    -- an earlier run of the job (requeued), or its online booking just before the
                    -- prolog went offline: this entry is the newer state
                    PERFORM lm.ending_jobs('requeue', v_time);
                    DELETE FROM lm.jobs WHERE id = v_job;
                END IF;
                IF v_wanted IS NULL THEN
                    -- none of its licenses is this cluster's any more (deleted meanwhile)
                    v_result := 'unknown_license';
                ELSE
                    WITH j AS (
                        INSERT INTO lm.jobs (slurm_job_id, cluster_client_id, username, lead_host, created_at)
                        VALUES (v_job_id, p_cluster, e->>'username', e->>'lead_host', v_time)
                        RETURNING id
                    )
                    INSERT INTO lm.bookings (job_id, feature_id, quantity, created_at, expires_at, offline)
                    SELECT j.id, w.feature_id, w.quantity, v_time,
                           greatest(p_now, v_time) + make_interval(secs => w.grace), true
                    FROM j, jsonb_to_recordset(v_wanted) AS w(feature_id bigint, quantity bigint, grace integer);
                    v_result := 'booked';
                END IF;
            END IF;
            INSERT INTO lm.offline_entries (cluster_client_id, slurm_job_id, entry_id, op, made_at, applied_at, result)
            VALUES (p_cluster, v_job_id, v_entry, v_op, v_time, p_now, v_result);
        END IF;
        v_results := v_results || jsonb_build_object('id', v_entry, 'slurm_job_id', v_job_id, 'op', v_op, 'result', v_result,
                                                      'detail', NULL);
    END LOOP;

    DELETE FROM lm.offline_entries WHERE applied_at < p_now - interval '7 days';

    SELECT coalesce(json_agg(json_build_object('product_feature', p.name || '.' || f.name, 'available', st.available)
                             ORDER BY p.name, f.name), '[]')
    INTO v_overbooked
    FROM (SELECT DISTINCT ON (f.pool_id) f.* FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
          WHERE c.cluster_client_id = p_cluster ORDER BY f.pool_id, f.id) f
    JOIN lm.products p ON p.id = f.product_id
    CROSS JOIN LATERAL lm.pool_state(f.id, p_now) st
    WHERE st.available < 0;

    RETURN json_build_object('entries', v_results, 'overbooked', v_overbooked);
END
$$;
