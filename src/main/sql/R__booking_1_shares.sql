-- Fair shares of a pool (issue 11; the model is LSF License Scheduler's project shares).
-- Owners of a pool: each cluster (its feature of the pool: features.share, features.max_use)
-- and, inside a cluster that has project shares (lm.project_shares), each account with a row of
-- its own plus '*', the accounts without one (and jobs without an account), as one owner — with
-- the share and max_use of a '*' row when there is one, else share 1 and no limit.
--   in_use:   what the owner's jobs hold (booked, or checked out by the job itself)
--   demand:   what its pending jobs ask for (lm.demand: seen by squeue or refused, within the
--             demand window; the request being decided counts too)
--   usable:   what the cluster side can use = available + Σ in_use (outside usage and the
--             reserved licenses are not ours to share)
--   entitled: the cluster's share of usable among the clusters that have demand or hold
--             licenses, then the account's share of its cluster's entitlement among its active
--             accounts; capped by max_use (the excess is not given to others: they can still
--             borrow it, being idle)
--   waiting:  unmet demand up to the entitlement, of an owner below it
-- The rule (lm.check_shares): an owner may use the whole pool while nobody else waits (lending);
-- a request that takes its owner above its entitlement is refused while granting it would leave
-- less free than others below theirs are waiting for (reclaim, without preemption: held licenses
-- are never taken back); and no owner ever holds more than its max_use.

-- The demand window of p_cluster's owners, in seconds: lm.conf's demand_window, else twice the
-- agent interval the cluster reported (lm.cluster_statuses), else 120.
CREATE OR REPLACE FUNCTION lm.demand_window(p_cluster text)
RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT demand_window FROM lm.settings),
                    (SELECT 2 * interval FROM lm.cluster_statuses WHERE cluster_client_id = p_cluster),
                    120)
$$;

-- Every owner of pool p_pool at p_now, a row per cluster (account NULL) and, for clusters with
-- project shares, a row per account owner; leaf: the owners the rule compares (accounts where
-- the cluster has project shares, else the cluster). p_feature/p_account/p_quantity/p_job: a
-- request being decided, counted as demand of its owner instead of the job's own demand rows.
-- Reads the pool's owner counters, its live demand rows and its expired unreleased bookings
-- (a tiny range, see lm.pool_state): never the pool's bookings as a whole.
CREATE OR REPLACE FUNCTION lm.pool_shares(p_pool bigint, p_now timestamptz DEFAULT now(), p_feature bigint DEFAULT NULL,
                                          p_account text DEFAULT NULL, p_quantity bigint DEFAULT 0, p_job text DEFAULT NULL)
RETURNS SETOF lm.owner_row
LANGUAGE plpgsql STABLE
-- generic plans and no seqscan: see lm.pool_state
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_available bigint;
BEGIN
    SELECT s.available INTO v_available FROM lm.pool_state(p_pool, p_now) s;
    RETURN QUERY
    WITH f AS (
        SELECT g.id, c.cluster_client_id AS cluster, g.share, g.max_use,
               EXISTS (SELECT 1 FROM lm.project_shares ps WHERE ps.feature_id = g.id) AS projects,
               lm.demand_window(c.cluster_client_id) AS window
        FROM lm.features g JOIN lm.configurations c ON c.id = g.config_id
        WHERE g.pool_id = p_pool
    ), raw AS (
        -- (feature, job account) with what it holds and asks for
        SELECT o.feature_id AS fid, o.account AS acc, o.held AS held, 0::bigint AS dem
        FROM lm.owner_counts o WHERE o.feature_id IN (SELECT id FROM f) AND o.held > 0
        UNION ALL
        SELECT b.feature_id, coalesce(b.account, ''), -b.quantity, 0
        FROM lm.bookings b
        WHERE b.released_at IS NULL AND b.expires_at <= p_now AND b.feature_id IN (SELECT id FROM f)
        UNION ALL
        SELECT d.feature_id, coalesce(d.account, ''), 0, d.quantity
        FROM lm.demand d JOIN f ON f.id = d.feature_id
        WHERE greatest(d.pending_at, d.refused_at) > p_now - make_interval(secs => f.window)
          AND (p_job IS NULL OR d.feature_id <> p_feature OR d.slurm_job_id <> p_job)
        UNION ALL
        SELECT p_feature, coalesce(p_account, ''), 0, p_quantity WHERE p_feature IS NOT NULL AND p_quantity > 0
    ), owned AS (
        -- accounts mapped to their owner: the account's own row, else '*'
        SELECT r.fid, CASE WHEN f.projects THEN coalesce(ps.account, '*') END AS acc, sum(r.held)::bigint AS held, sum(r.dem)::bigint AS dem
        FROM raw r JOIN f ON f.id = r.fid
        LEFT JOIN lm.project_shares ps ON f.projects AND ps.feature_id = r.fid AND ps.account = r.acc
        GROUP BY 1, 2
    ), leaves AS (
        -- every owner that is a leaf: a cluster without projects, or an account (rows of its own and '*')
        SELECT f.id AS fid, NULL::text AS acc, f.share, f.max_use FROM f WHERE NOT f.projects
        UNION ALL
        SELECT f.id, ps.account, ps.share, ps.max_use FROM f JOIN lm.project_shares ps ON ps.feature_id = f.id
        UNION ALL
        SELECT f.id, '*', 1, NULL FROM f WHERE f.projects
            AND NOT EXISTS (SELECT 1 FROM lm.project_shares ps WHERE ps.feature_id = f.id AND ps.account = '*')
    ), l AS (
        SELECT v.fid, v.acc, v.share, v.max_use, coalesce(o.held, 0) AS held, coalesce(o.dem, 0) AS dem,
               coalesce(o.held, 0) > 0 OR coalesce(o.dem, 0) > 0 AS active
        FROM leaves v LEFT JOIN owned o ON o.fid = v.fid AND o.acc IS NOT DISTINCT FROM v.acc
    ), c AS (
        SELECT f.id AS fid, f.cluster, f.share, f.max_use, f.projects,
               (SELECT coalesce(sum(l.held), 0) FROM l WHERE l.fid = f.id)::bigint AS held,
               (SELECT coalesce(sum(l.dem), 0) FROM l WHERE l.fid = f.id)::bigint AS dem,
               EXISTS (SELECT 1 FROM l WHERE l.fid = f.id AND l.active) AS active
        FROM f
    ), u AS (
        SELECT greatest(coalesce(v_available, 0) + (SELECT coalesce(sum(held), 0) FROM c), 0)::numeric AS usable,
               (SELECT sum(c.share) FROM c WHERE c.active) AS shares
    ), ce AS (
        SELECT c.*, CASE WHEN c.active AND u.shares > 0 THEN
                        least(u.usable * c.share / u.shares, coalesce(c.max_use, 'Infinity'::numeric))
                    ELSE 0 END AS entitled
        FROM c, u
    ), le AS (
        SELECT l.*, ce.cluster, ce.projects,
               CASE WHEN NOT ce.projects THEN ce.entitled
                    WHEN l.active THEN coalesce(least(ce.entitled * l.share / nullif((SELECT sum(x.share) FROM l x WHERE x.fid = l.fid AND x.active), 0),
                                                      coalesce(l.max_use, 'Infinity'::numeric)), 0)
                    ELSE 0 END AS entitled
        FROM l JOIN ce ON ce.fid = l.fid
    )
    SELECT ce.fid, ce.cluster, NULL::text, NOT ce.projects, ce.share, ce.max_use, ce.held, ce.dem, round(ce.entitled, 3),
           CASE WHEN ce.projects THEN (SELECT sum(CASE WHEN le.held < le.entitled THEN least(le.dem, le.entitled - le.held) ELSE 0 END)
                                       FROM le WHERE le.fid = ce.fid)
                WHEN ce.held < ce.entitled THEN least(ce.dem, ce.entitled - ce.held) ELSE 0 END,
           v_available
    FROM ce
    UNION ALL
    SELECT le.fid, le.cluster, le.acc, true, le.share, le.max_use, le.held, le.dem, round(le.entitled, 3),
           CASE WHEN le.held < le.entitled THEN least(le.dem, le.entitled - le.held) ELSE 0 END, v_available
    FROM le WHERE le.projects;
END
$$;

-- Each cluster's entitlement of pool p_pool at p_now (see the top of this file), the rows of
-- lm.pool_shares for clusters: what the offline budget (lm.cluster_budget) splits by.
CREATE OR REPLACE FUNCTION lm.cluster_entitlements(p_pool bigint, p_now timestamptz DEFAULT now())
RETURNS TABLE (feature_id bigint, cluster_client_id text, share integer, max_use bigint, in_use bigint, demand bigint,
               entitled numeric, waiting numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.feature_id, s.cluster_client_id, s.share, s.max_use, s.in_use, s.demand, s.entitled, s.waiting
    FROM lm.pool_shares(p_pool, p_now) s WHERE s.account IS NULL
$$;

-- True when the pool of p_feature has anything for the rule to decide: several clusters, project
-- shares, or a max_use. A pool of one cluster without limits is first come first served, and
-- admission there costs what it did before shares existed.
CREATE OR REPLACE FUNCTION lm.pool_shared(p_feature bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT count(*) > 1 OR bool_or(g.max_use IS NOT NULL)
           OR bool_or(EXISTS (SELECT 1 FROM lm.project_shares ps WHERE ps.feature_id = g.id))
    FROM lm.features f JOIN lm.features g ON g.pool_id = f.pool_id WHERE f.id = p_feature
$$;

-- One item of a share refusal's DETAIL (ShareRefusal in openapi.json): p_owner is an
-- lm.owner_row as jsonb.
CREATE OR REPLACE FUNCTION lm.share_refusal(p_product_feature text, p_quantity bigint, p_reason text, p_owner jsonb,
                                            p_held_for jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('product_feature', p_product_feature, 'requested', p_quantity,
        'available', (p_owner->>'available')::bigint, 'reason', p_reason,
        'owner', jsonb_build_object('cluster_client_id', p_owner->'cluster_client_id', 'account', p_owner->'account',
                                    'entitled', p_owner->'entitled', 'in_use', p_owner->'in_use', 'max_use', p_owner->'max_use'),
        'held_for', coalesce(p_held_for, '[]'))
$$;

-- The share rule and the limits for a job of p_account asking p_wanted = [{feature_id,
-- product_feature, quantity}] (its own cluster's features). Refuses with LM001 (409, like a
-- pool that is short) and a DETAIL of [{product_feature, requested, available, reason, owner,
-- held_for}]: reason 'max_use' (owner: the cluster or account at its limit) or 'share' (held_for:
-- the owners below their entitlement whose waiting demand the free licenses are kept for).
-- The caller holds the pools' locks (the counters read here change only under them).
CREATE OR REPLACE FUNCTION lm.check_shares(p_slurm_job_id text, p_account text, p_wanted jsonb, p_now timestamptz)
RETURNS void LANGUAGE plpgsql
-- generic plans: see lm.lock_pools
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    w record;
    v_owners jsonb;
    v_short jsonb := '[]';
    v_cluster lm.owner_row;
    v_leaf lm.owner_row;
    v_held_for jsonb;
    v_waiting numeric;
BEGIN
    FOR w IN SELECT * FROM jsonb_to_recordset(p_wanted) AS x(feature_id bigint, product_feature text, quantity bigint) LOOP
        CONTINUE WHEN NOT lm.pool_shared(w.feature_id);
        SELECT jsonb_agg(to_jsonb(s)) INTO v_owners
        FROM lm.features f CROSS JOIN LATERAL lm.pool_shares(f.pool_id, p_now, w.feature_id, p_account, w.quantity, p_slurm_job_id) s
        WHERE f.id = w.feature_id;
        SELECT o.* INTO v_cluster FROM jsonb_populate_recordset(NULL::lm.owner_row, v_owners) o
        WHERE o.feature_id = w.feature_id AND o.account IS NULL;
        -- the requester's leaf: its cluster, or its account's owner (its own row, else '*')
        SELECT o.* INTO v_leaf FROM jsonb_populate_recordset(NULL::lm.owner_row, v_owners) o
        WHERE o.feature_id = w.feature_id AND o.leaf
          AND o.account IS NOT DISTINCT FROM CASE WHEN v_cluster.leaf THEN NULL ELSE coalesce(
                (SELECT ps.account FROM lm.project_shares ps WHERE ps.feature_id = w.feature_id AND ps.account = p_account), '*') END;
        IF v_cluster.max_use IS NOT NULL AND v_cluster.in_use + w.quantity > v_cluster.max_use THEN
            v_short := v_short || lm.share_refusal(w.product_feature, w.quantity, 'max_use', to_jsonb(v_cluster), '[]');
            CONTINUE;
        END IF;
        IF NOT v_cluster.leaf AND v_leaf.max_use IS NOT NULL AND v_leaf.in_use + w.quantity > v_leaf.max_use THEN
            v_short := v_short || lm.share_refusal(w.product_feature, w.quantity, 'max_use', to_jsonb(v_leaf), '[]');
            CONTINUE;
        END IF;
        IF v_leaf.in_use + w.quantity > v_leaf.entitled THEN
            SELECT coalesce(sum(o.waiting), 0),
                   jsonb_agg(jsonb_build_object('cluster_client_id', o.cluster_client_id, 'account', o.account,
                                                'entitled', o.entitled, 'in_use', o.in_use, 'waiting', o.waiting)
                             ORDER BY o.cluster_client_id, o.account)
            INTO v_waiting, v_held_for
            FROM jsonb_populate_recordset(NULL::lm.owner_row, v_owners) o
            WHERE o.leaf AND o.waiting > 0
              AND NOT (o.feature_id = v_leaf.feature_id AND o.account IS NOT DISTINCT FROM v_leaf.account);
            IF v_leaf.available - w.quantity < v_waiting THEN
                v_short := v_short || lm.share_refusal(w.product_feature, w.quantity, 'share', to_jsonb(v_leaf), v_held_for);
            END IF;
        END IF;
    END LOOP;
    IF jsonb_array_length(v_short) > 0 THEN
        RAISE EXCEPTION 'Not enough licenses available.' USING ERRCODE = 'LM001', DETAIL = v_short::text,
            HINT = 'licenses are kept for owners below their share, or a max_use is reached (GET /lm/pools)';
    END IF;
END
$$;

-- Records a refusal as demand: the job's owner asks for p_bookings [{product_feature,
-- quantity}] of p_cluster. Called after an LM001 (the refusal's own transaction rolled back):
-- one row per job and feature, so a requeued job refused again is the same demand. Unknown
-- features are skipped (the refusal already said so). Takes no pool lock: demand is a reading.
CREATE OR REPLACE FUNCTION lm.note_refusal(p_cluster text, p_slurm_job_id text, p_account text, p_bookings jsonb,
                                           p_now timestamptz DEFAULT now())
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lm.demand (feature_id, slurm_job_id, account, quantity, refused_at)
    SELECT f.id, p_slurm_job_id, p_account, sum(b.quantity), p_now
    FROM jsonb_to_recordset(CASE WHEN jsonb_typeof(p_bookings) = 'array' THEN p_bookings ELSE '[]' END)
         AS b(product_feature text, quantity bigint)
    CROSS JOIN LATERAL (SELECT lm.find_feature(p_cluster, b.product_feature) AS id) f
    WHERE f.id IS NOT NULL AND b.quantity > 0 AND p_slurm_job_id ~ '^[0-9]{1,20}$'
    GROUP BY f.id
    ON CONFLICT (feature_id, slurm_job_id) DO UPDATE
        SET account = excluded.account, quantity = excluded.quantity, refused_at = excluded.refused_at
$$;
