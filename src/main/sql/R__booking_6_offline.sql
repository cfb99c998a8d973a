-- Offline operation (issue 11 part 4; lm-prolog(8), OFFLINE OPERATION): what each cluster's
-- prolog may book while lm-server is unreachable (its budget, a lease lm-server remembers), and
-- the replay of the ledger the prolog kept meanwhile. Time is a parameter (p_now), as everywhere.
--
-- The bound (issue 19; README "Offline operation"): what a cluster's prologs hold offline
-- without lm-server knowing is at most its lease (the larger of its last two budgets, see
-- lm.budget_leases). lm.pool_state leaves that free for online admission once the cluster has
-- been silent for three agent intervals (no agent report, replay or budget: lm.touch_leases),
-- until it is heard from again (its ledger is replayed first thing in its agent's pass) or the
-- lease has expired and grace_time passed. So a pool is overbooked by at most the sum of its
-- clusters' leases, and online admission adds to that only within three intervals (and one pass)
-- of a cluster's last contact.

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

-- When p_cluster, heard from at p_at, counts as silent: three of its agent intervals later (the
-- interval its agent last reported; 60 s, lm-agent's default, before the first report).
CREATE OR REPLACE FUNCTION lm.silent_at(p_cluster text, p_at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT p_at + make_interval(secs => 3 * coalesce((SELECT s.interval FROM lm.cluster_statuses s
                                                      WHERE s.cluster_client_id = p_cluster), 60))
$$;

-- Records the budget just handed to p_cluster as its lease, per pool (a cluster with several
-- names in a pool: their sum). The lease replaced becomes prior_budget: a prolog may have booked
-- against the old budget_file after the agent's replay and before its new budget_file (the next
-- replay brings those entries). Leases of pools the budget no longer names stay until they end.
-- Takes no pool lock: a new lease belongs to a cluster heard from just now, which online
-- admission does not leave anything for until three intervals from now.
CREATE OR REPLACE FUNCTION lm.lease_budget(p_cluster text, p_budget jsonb, p_now timestamptz, p_expires timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lm.budget_leases AS l (cluster_client_id, pool_id, budget, prior_budget, made_at, expires_at, held_until, silent_at)
    SELECT p_cluster, b.pool_id, sum(b.budget), 0, p_now, p_expires,
           p_expires + make_interval(secs => (SELECT max(c.grace_time) FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                                              WHERE c.cluster_client_id = p_cluster AND f.pool_id = b.pool_id)),
           lm.silent_at(p_cluster, p_now)
    FROM jsonb_to_recordset(p_budget) AS b(pool_id bigint, budget bigint)
    GROUP BY b.pool_id
    ON CONFLICT (cluster_client_id, pool_id) DO UPDATE
        SET prior_budget = CASE WHEN l.held_until > excluded.made_at THEN l.budget ELSE 0 END,
            budget = excluded.budget, made_at = excluded.made_at, expires_at = excluded.expires_at,
            held_until = excluded.held_until, silent_at = greatest(l.silent_at, excluded.silent_at)
$$;

-- p_cluster was heard from at p_at (an agent report, a ledger replay): its leases are not left
-- free for three more intervals. Only ever moves silent_at later, which only makes more
-- available; no pool lock (as a release, it can only make an admission refuse what a moment
-- later would fit).
CREATE OR REPLACE FUNCTION lm.touch_leases(p_cluster text, p_at timestamptz)
RETURNS void LANGUAGE sql AS $$
    UPDATE lm.budget_leases SET silent_at = lm.silent_at(p_cluster, p_at)
    WHERE cluster_client_id = p_cluster AND silent_at < lm.silent_at(p_cluster, p_at)
$$;

-- An agent report (lm.apply_agent_report writes lm.cluster_statuses) is contact.
CREATE OR REPLACE FUNCTION lm.cluster_heard()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lm.touch_leases(NEW.cluster_client_id, NEW.last_reported);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS cluster_statuses_leases ON lm.cluster_statuses;
CREATE TRIGGER cluster_statuses_leases AFTER INSERT OR UPDATE OF last_reported, interval ON lm.cluster_statuses
    FOR EACH ROW EXECUTE FUNCTION lm.cluster_heard();

-- The budget as GET /lm/budget answers it, recorded as the cluster's lease (lm.lease_budget; a
-- GET that writes: what lm-server handed out is what it must count, whoever asked):
-- expires_at is when the prolog must stop booking against it (made_at + offline_max_age), which
-- lm-agent writes into budget_file as expires_at_epoch.
CREATE OR REPLACE FUNCTION lm.budget_json(p_cluster text, p_now timestamptz DEFAULT now())
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    v_budget jsonb;
    v_expires timestamptz := p_now + make_interval(secs => (SELECT offline_max_age FROM lm.settings));
BEGIN
    -- the agent asking is contact, like its report just before
    PERFORM lm.touch_leases(p_cluster, p_now);
    SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.license), '[]') INTO v_budget FROM lm.cluster_budget(p_cluster, p_now) b;
    PERFORM lm.lease_budget(p_cluster, v_budget, p_now, v_expires);
    RETURN json_build_object('cluster_client_id', p_cluster, 'made_at', p_now, 'expires_at', v_expires,
        'licenses', (SELECT coalesce(json_agg(json_build_object('license', b.license, 'product_feature', b.product_feature,
                                  'pool_id', b.pool_id, 'free', b.free, 'weight', b.weight, 'pool_weight', b.pool_weight,
                                  'budget', b.budget) ORDER BY b.license), '[]')
                     FROM jsonb_to_recordset(v_budget) AS b(license text, product_feature text, pool_id bigint, free bigint,
                                                            weight bigint, pool_weight bigint, budget bigint)));
END
$$;

-- The leases, as an admin reads them: per cluster and pool, the budget, when it ends, and
-- whether online admission leaves it free now (the cluster is silent).
CREATE OR REPLACE VIEW lm.offline_leases AS
SELECT l.cluster_client_id, l.pool_id, l.budget, l.prior_budget, l.made_at, l.expires_at, l.held_until, l.silent_at,
       l.silent_at <= now() AND l.held_until > now() AS left_free
FROM lm.budget_leases l;

-- Counts one rejected ledger entry (GET /lm/metrics, lm_offline_entries_rejected_total).
CREATE OR REPLACE FUNCTION lm.count_rejected(p_cluster text, p_reason text, p_now timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lm.offline_rejections AS r (cluster_client_id, reason, entries, last_at) VALUES (p_cluster, p_reason, 1, p_now)
    ON CONFLICT (cluster_client_id, reason) DO UPDATE SET entries = r.entries + 1, last_at = excluded.last_at
$$;

-- Replays one cluster's offline ledger (POST /lm/agent/offline), entries in ledger order:
--   {"id", "op": "book", "time": epoch s, "run", "slurm_job_id", "username", "lead_host", "account",
--    "bookings": [{"product_feature", "quantity"}]}
--   {"id", "op": "release", "time": epoch s, "run", "slurm_job_id"}
-- (run: SLURM_JOB_RESTART_COUNT, account: the job's Slurm account, both absent from ledgers of
-- an lm-prolog from before them; lm.booking.Offline has checked the fields, and sends an entry
-- it could not read as {"id", "slurm_job_id", "op", "invalid": why}). Returns
-- {"entries": [{id, slurm_job_id, op, result, detail}] in the same order,
--  "overbooked": [{product_feature, available}]}.
-- Checked on arrival, else rejected (result "rejected", detail why), counted
-- (lm.offline_rejections) and never recorded: an entry's time within offline_max_age of p_now
-- (the prolog books only against a budget that young), and a booking's quantity per pool within
-- the cluster's lease there (what budget_file allowed; no lease, nothing).
-- Decided by identity and order, never by comparing the controller's clock with the database's:
-- the entries in ledger order (the same second included), and a job's run. A release of run r
-- ends the job if the job's run is r, or either run is unknown (NULL: an old caller); a later
-- run booked meanwhile stays ("superseded"). A booking of run r replaces an earlier run of the
-- job (or one of unknown run), is "superseded" by a later run, and leaves the same run booked
-- online as it is ("already_booked": the prolog timed out after lm-server had admitted it).
-- A booking is recorded whatever the pool has free now — the job runs already — flagged
-- offline, with the job's run and account, created at the entry's time (the job's start; never
-- after p_now) and holding for the configuration's grace time from p_now (it has been counted
-- nowhere until now). Each entry is applied once per (cluster, job, entry id): a second replay of
-- it answers its first result. A replay is contact: the cluster's leases are not left free for
-- three more intervals (lm.touch_leases).
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
    v_run integer;
    v_result text;
    v_detail text;
    v_job bigint;
    v_job_run integer;
    v_results jsonb := '[]';
    v_wanted jsonb;
    v_over text;
    v_max_age integer := (SELECT offline_max_age FROM lm.settings);
    v_overbooked json;
BEGIN
    PERFORM lm.lock_pools(ARRAY(SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                                WHERE c.cluster_client_id = p_cluster));
    PERFORM lm.touch_leases(p_cluster, p_now);
    FOR e IN SELECT x FROM jsonb_array_elements(p_entries) x LOOP
        v_entry := e->>'id';
        v_job_id := e->>'slurm_job_id';
        v_op := e->>'op';
        v_detail := NULL;
        IF e ? 'invalid' THEN
            -- unreadable: no identity to remember it by; lm-agent sets the line aside
            PERFORM lm.count_rejected(p_cluster, 'invalid', p_now);
            v_results := v_results || jsonb_build_object('id', v_entry, 'slurm_job_id', v_job_id, 'op', v_op,
                                                          'result', 'invalid', 'detail', e->>'invalid');
            CONTINUE;
        END IF;
        v_time := to_timestamp((e->>'time')::double precision);
        v_run := (e->>'run')::integer;
        SELECT o.result, o.detail INTO v_result, v_detail FROM lm.offline_entries o
        WHERE o.cluster_client_id = p_cluster AND o.slurm_job_id = v_job_id AND o.entry_id = v_entry;
        IF NOT FOUND THEN
            v_wanted := NULL;
            IF v_op = 'book' THEN
                SELECT jsonb_agg(jsonb_build_object('feature_id', r.id, 'pool_id', f.pool_id, 'quantity', w.quantity, 'grace', c.grace_time))
                INTO v_wanted
                FROM (SELECT b.product_feature, sum(b.quantity)::numeric AS quantity
                      FROM jsonb_to_recordset(e->'bookings') AS b(product_feature text, quantity numeric)
                      GROUP BY b.product_feature) w
                CROSS JOIN LATERAL (SELECT lm.find_feature(p_cluster, w.product_feature) AS id) r
                JOIN lm.features f ON f.id = r.id
                JOIN lm.configurations c ON c.id = f.config_id;
                -- per pool, what the entry books against what the lease allowed
                SELECT string_agg(format('%s licenses of pool %s, the lease allowed %s', w.quantity, w.pool_id, coalesce(l.allowed, 0)), '; ')
                INTO v_over
                FROM (SELECT x.pool_id, sum(x.quantity) AS quantity
                      FROM jsonb_to_recordset(v_wanted) AS x(pool_id bigint, quantity numeric) GROUP BY x.pool_id) w
                LEFT JOIN (SELECT l.pool_id, greatest(l.budget, l.prior_budget) AS allowed FROM lm.budget_leases l
                           WHERE l.cluster_client_id = p_cluster) l ON l.pool_id = w.pool_id
                WHERE w.quantity > coalesce(l.allowed, 0);
            END IF;
            IF abs(extract(epoch FROM p_now) - (e->>'time')::numeric) > v_max_age THEN
                v_result := 'rejected';
                v_detail := format('time %s is more than offline_max_age (%s s) from lm-server''s %s', e->>'time', v_max_age,
                                   floor(extract(epoch FROM p_now)));
                PERFORM lm.count_rejected(p_cluster, 'time', p_now);
            ELSIF v_over IS NOT NULL THEN
                v_result := 'rejected';
                v_detail := 'beyond the cluster''s offline budget: ' || v_over;
                PERFORM lm.count_rejected(p_cluster, 'quantity', p_now);
            ELSE
                SELECT j.id, j.run INTO v_job, v_job_run FROM lm.jobs j
                WHERE j.cluster_client_id = p_cluster AND j.slurm_job_id = v_job_id;
                IF v_op = 'release' THEN
                    IF v_job IS NULL THEN
                        v_result := 'no_job';
                    ELSIF v_job_run <> v_run THEN
                        v_result := 'superseded';
                    ELSE
                        PERFORM lm.ending_jobs('offline', least(v_time, p_now));
                        DELETE FROM lm.jobs WHERE id = v_job;
                        v_result := 'released';
                    END IF;
                ELSIF v_job_run > v_run THEN
                    v_result := 'superseded';
                ELSIF v_job_run = v_run THEN
                    v_result := 'already_booked';
                ELSE
                    IF v_job IS NOT NULL THEN
                        -- an earlier run of the job (requeued), or one of unknown run: this
                        -- entry is the newer state
                        PERFORM lm.ending_jobs('requeue', least(v_time, p_now));
                        DELETE FROM lm.jobs WHERE id = v_job;
                    END IF;
                    IF v_wanted IS NULL THEN
                        -- none of its licenses is this cluster's any more (deleted meanwhile)
                        v_result := 'unknown_license';
                    ELSE
                        WITH j AS (
                            INSERT INTO lm.jobs (slurm_job_id, cluster_client_id, username, lead_host, created_at, run, account)
                            VALUES (v_job_id, p_cluster, e->>'username', e->>'lead_host', least(v_time, p_now), v_run, e->>'account')
                            RETURNING id, account
                        )
                        INSERT INTO lm.bookings (job_id, feature_id, quantity, created_at, expires_at, offline, account)
                        SELECT j.id, w.feature_id, w.quantity, least(v_time, p_now), p_now + make_interval(secs => w.grace), true, j.account
                        FROM j, jsonb_to_recordset(v_wanted) AS w(feature_id bigint, quantity bigint, grace integer);
                        v_result := 'booked';
                    END IF;
                END IF;
            END IF;
            INSERT INTO lm.offline_entries (cluster_client_id, slurm_job_id, entry_id, op, made_at, applied_at, result, detail)
            VALUES (p_cluster, v_job_id, v_entry, v_op, CASE WHEN v_result = 'rejected' THEN p_now ELSE v_time END, p_now, v_result, v_detail);
        END IF;
        v_results := v_results || jsonb_build_object('id', v_entry, 'slurm_job_id', v_job_id, 'op', v_op, 'result', v_result,
                                                      'detail', v_detail);
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
