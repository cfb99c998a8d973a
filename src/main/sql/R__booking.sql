-- Admission, release, expiry, usage reports and the reservation plan: the core of License
-- Manager, all in SQL so that every lm-server instance applies the same rule under the same
-- locks. Time is a parameter (p_now, default now()) so tests can stand at a grace boundary.
--
-- Locking rule, shared by every function that changes what a pool has free: lock the pool's
-- feature rows with SELECT … FOR UPDATE in ascending id order before reading the counts. Two
-- admissions on one pool therefore run one after the other and the second sees the first's
-- bookings; the fixed order means two jobs asking for several pools never deadlock.

-- The features that are the same physical license as p_feature: the same product and feature
-- name, in a configuration that shares at least one license server (host:port) with p_feature's.
-- Clusters polling one server share one pool, so each counts the other's bookings.
CREATE OR REPLACE FUNCTION lm.pool_members(p_feature bigint)
RETURNS SETOF bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT p_feature
    UNION
    SELECT g.id
    FROM lm.features f
    JOIN lm.license_servers s1 ON s1.config_id = f.config_id
    JOIN lm.license_servers s2 ON lower(s2.host) = lower(s1.host) AND s2.port = s1.port
    JOIN lm.features g ON g.config_id = s2.config_id AND g.product_id = f.product_id AND g.name = f.name
    WHERE f.id = p_feature;
END
$$;

-- What one pool has, seen from any of its features. total and used come from the member the
-- license server reported last (all members poll the same server; the newest answer is the
-- truest); reserved is the largest any configuration keeps back; booked counts the active
-- bookings of every member, i.e. of every cluster. available may be negative (outside usage
-- grew after bookings were made): admission then refuses everything.
-- held: the servers failed and the last good reading is older than the outage grace, so
-- nothing is known to be free; available is then 0 and the plan holds the whole license.
CREATE OR REPLACE FUNCTION lm.pool_state(p_feature bigint, p_now timestamptz DEFAULT now())
RETURNS TABLE (pool_id bigint, total bigint, used bigint, reserved bigint, booked bigint, available bigint,
               stale boolean, held boolean)
LANGUAGE plpgsql STABLE
-- A hot pool's bookings are inserted and deleted hundreds of times a second, so between two
-- autovacuums the table is mostly dead rows while its statistics still say "tiny"; the cached
-- plan then seq-scans all of it under the pool lock. Measured: 0.57 ms → 0.08 ms per call.
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY
    WITH m AS (SELECT f.*, c.outage_grace FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
               WHERE f.id IN (SELECT lm.pool_members(p_feature))),
    latest AS (SELECT m.total, m.used, m.reported_at, m.failed_at, m.outage_grace
               FROM m ORDER BY m.reported_at DESC NULLS LAST, m.id LIMIT 1),
    b AS (SELECT coalesce(sum(bk.quantity), 0)::bigint AS booked
          FROM lm.bookings bk
          WHERE bk.feature_id IN (SELECT m.id FROM m) AND bk.released_at IS NULL AND bk.expires_at > p_now),
    s AS (SELECT l.*, b.booked, (SELECT max(m.reserved) FROM m) AS reserved,
                 l.failed_at IS NOT NULL AND l.failed_at >= coalesce(l.reported_at, '-infinity') AS stale,
                 l.failed_at IS NOT NULL AND l.failed_at >= coalesce(l.reported_at, '-infinity')
                     AND coalesce(l.reported_at, '-infinity') < p_now - make_interval(secs => l.outage_grace) AS held
          FROM latest l, b)
    SELECT (SELECT min(m.id) FROM m), s.total, s.used, s.reserved, s.booked,
           CASE WHEN s.held THEN least(0, s.total - s.reserved - s.used - s.booked)
                ELSE s.total - s.reserved - s.used - s.booked END,
           s.stale, s.held
    FROM s;
END
$$;

-- The caller's feature for a Slurm-style "product.feature" name. Product names cannot contain
-- a dot (products' CHECK), so the first dot splits. With several configurations of one cluster
-- serving the same name, the oldest feature row wins (documented in lm-server(8)).
CREATE OR REPLACE FUNCTION lm.find_feature(p_cluster text, p_product_feature text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT f.id
    FROM lm.features f
    JOIN lm.products p ON p.id = f.product_id
    JOIN lm.configurations c ON c.id = f.config_id
    WHERE c.cluster_client_id = p_cluster
      AND p.name = split_part(p_product_feature, '.', 1)
      AND f.name = substr(p_product_feature, length(split_part(p_product_feature, '.', 1)) + 2)
    ORDER BY f.id
    LIMIT 1);
END
$$;

-- Locks the feature rows of every pool that p_features belong to, in ascending id order.
CREATE OR REPLACE FUNCTION lm.lock_pools(p_features bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM lm.features f
    WHERE f.id IN (SELECT lm.pool_members(x) FROM unnest(p_features) AS x)
    ORDER BY f.id
    FOR UPDATE OF f;
END
$$;

-- Refuses (LM001, 409) when any of the wanted quantities doesn't fit in its pool; the DETAIL is
-- a JSON array of the short features: [{product_feature, requested, available}].
-- The caller must hold the pools' locks.
CREATE OR REPLACE FUNCTION lm.check_available(p_wanted jsonb, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_short jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('product_feature', w.product_feature, 'requested', w.quantity,
                                        'available', greatest(s.available, 0)) ORDER BY w.product_feature)
    INTO v_short
    FROM jsonb_to_recordset(p_wanted) AS w(feature_id bigint, product_feature text, quantity bigint)
    CROSS JOIN LATERAL lm.pool_state(w.feature_id, p_now) s
    WHERE w.quantity > s.available;
    IF v_short IS NOT NULL THEN
        RAISE EXCEPTION 'Not enough licenses available.' USING ERRCODE = 'LM001', DETAIL = v_short::text;
    END IF;
END
$$;

-- Creates a job and all its bookings, or nothing. p_bookings: [{product_feature, quantity}]
-- (the same product_feature twice is summed). Idempotent per (cluster, slurm_job_id): a retried
-- prolog gets the job that exists (created = false), never a duplicate nor a second booking.
-- The existence check comes after the pool locks: a concurrent identical request has then
-- committed and is seen, instead of being counted against us and refused.
-- Everything that can be done before taking the locks is: on a hot pool every statement after
-- the lock is paid once per admission by everyone queued behind it.
CREATE OR REPLACE FUNCTION lm.book_job(p_cluster text, p_slurm_job_id text, p_username text, p_lead_host text,
                                       p_bookings jsonb, p_now timestamptz DEFAULT now())
RETURNS TABLE (created boolean, job json) LANGUAGE plpgsql AS $$
DECLARE
    v_features bigint[];
    v_names text[];
    v_quantities bigint[];
    v_grace integer[];
    v_unknown text;
    v_job bigint;
    v_short jsonb;
BEGIN
    SELECT array_agg(f.id ORDER BY w.product_feature), array_agg(w.product_feature ORDER BY w.product_feature),
           array_agg(w.quantity ORDER BY w.product_feature), array_agg(c.grace_time ORDER BY w.product_feature),
           string_agg(w.product_feature, ', ') FILTER (WHERE f.id IS NULL)
    INTO v_features, v_names, v_quantities, v_grace, v_unknown
    FROM (SELECT b.product_feature, sum(b.quantity)::bigint AS quantity
          FROM jsonb_to_recordset(p_bookings) AS b(product_feature text, quantity bigint)
          GROUP BY b.product_feature) w
    LEFT JOIN lm.features f ON f.id = lm.find_feature(p_cluster, w.product_feature)
    LEFT JOIN lm.configurations c ON c.id = f.config_id;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'Unknown license for cluster %: %', p_cluster, v_unknown
            USING ERRCODE = 'LM002', DETAIL = 'no feature of this cluster is named ' || v_unknown;
    END IF;

    PERFORM lm.lock_pools(coalesce(v_features, '{}'));

    SELECT id INTO v_job FROM lm.jobs WHERE cluster_client_id = p_cluster AND slurm_job_id = p_slurm_job_id;
    IF v_job IS NOT NULL THEN
        RETURN QUERY SELECT false, a.j FROM lm.api_jobs a WHERE a.id = v_job;
        RETURN;
    END IF;

    SELECT jsonb_agg(jsonb_build_object('product_feature', w.name, 'requested', w.quantity,
                                        'available', greatest(s.available, 0)) ORDER BY w.name)
    INTO v_short
    FROM unnest(v_features, v_names, v_quantities) AS w(feature_id, name, quantity)
    CROSS JOIN LATERAL lm.pool_state(w.feature_id, p_now) s
    WHERE w.quantity > s.available;
    IF v_short IS NOT NULL THEN
        RAISE EXCEPTION 'Not enough licenses available.' USING ERRCODE = 'LM001', DETAIL = v_short::text;
    END IF;

    -- one statement for the job, its bookings and the answer (the shape of lm.api_jobs)
    RETURN QUERY
    WITH j AS (
        INSERT INTO lm.jobs (slurm_job_id, cluster_client_id, username, lead_host, created_at)
        VALUES (p_slurm_job_id, p_cluster, p_username, p_lead_host, p_now)
        RETURNING *
    ), b AS (
        INSERT INTO lm.bookings (job_id, feature_id, quantity, created_at, expires_at)
        SELECT j.id, w.feature_id, w.quantity, p_now, p_now + make_interval(secs => w.grace)
        FROM j, unnest(v_features, v_quantities, v_grace) AS w(feature_id, quantity, grace)
        RETURNING *
    )
    SELECT true, json_build_object('id', j.id, 'slurm_job_id', j.slurm_job_id, 'cluster_client_id', j.cluster_client_id,
                                   'username', j.username, 'lead_host', j.lead_host, 'created_at', j.created_at,
                                   'bookings', coalesce((SELECT json_agg(json_build_object(
                                        'id', b.id, 'job_id', b.job_id, 'feature_id', b.feature_id, 'quantity', b.quantity,
                                        'created_at', b.created_at, 'expires_at', b.expires_at, 'active', true,
                                        'released_reason', NULL) ORDER BY b.id) FROM b), '[]'))
    FROM j;
END
$$;

-- Adds one booking to an existing job (POST /bookings), under the same rule and locks.
CREATE OR REPLACE FUNCTION lm.book_feature(p_job bigint, p_feature bigint, p_quantity bigint,
                                           p_now timestamptz DEFAULT now())
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM lm.jobs WHERE id = p_job) THEN
        RAISE EXCEPTION 'job % not found', p_job USING ERRCODE = 'LM002';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM lm.features WHERE id = p_feature) THEN
        RAISE EXCEPTION 'feature % not found', p_feature USING ERRCODE = 'LM002';
    END IF;
    IF p_quantity IS NULL OR p_quantity <= 0 THEN
        RAISE EXCEPTION 'quantity must be > 0' USING ERRCODE = 'LM003';
    END IF;
    PERFORM lm.lock_pools(ARRAY[p_feature]);
    PERFORM lm.check_available(jsonb_build_array(jsonb_build_object(
        'feature_id', p_feature, 'quantity', p_quantity,
        'product_feature', (SELECT p.name || '.' || f.name FROM lm.features f JOIN lm.products p ON p.id = f.product_id
                            WHERE f.id = p_feature))), p_now);
    INSERT INTO lm.bookings (job_id, feature_id, quantity, created_at, expires_at)
    SELECT p_job, p_feature, p_quantity, p_now, p_now + make_interval(secs => c.grace_time)
    FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
    WHERE f.id = p_feature
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

-- The epilog's call: the job and its bookings go. No lock needed: removing bookings only
-- frees licenses, it can't make an admission wrong.
CREATE OR REPLACE FUNCTION lm.release_job(p_cluster text, p_slurm_job_id text)
RETURNS boolean LANGUAGE sql AS $$
    WITH d AS (DELETE FROM lm.jobs WHERE cluster_client_id = p_cluster AND slurm_job_id = p_slurm_job_id RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;

-- Marks bookings whose grace time has passed as released; returns how many. Admission already
-- ignores them (expires_at), so this is bookkeeping for the reports, run by every agent pass.
CREATE OR REPLACE FUNCTION lm.expire_bookings(p_now timestamptz DEFAULT now())
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE lm.bookings SET released_at = p_now, released_reason = 'grace'
    WHERE released_at IS NULL AND expires_at <= p_now;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

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
        CROSS JOIN LATERAL lm.pool_members((x->>'feature_id')::bigint) pm
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

-- The reservation to hold in one cluster's Slurm, per license Slurm knows:
-- p_slurm = [{license: "product.feature@type", total, used}] from `scontrol show lic`.
--   free_real   = total − reserved − used − active bookings of the pool (all clusters)
--   reservation = clamp(Total_slurm − Used_slurm − free_real, 0, Total_slurm)
-- The cluster's own running jobs are in both Used_slurm and used (or booked), so they cancel;
-- what remains is outside usage and other clusters' bookings. Licenses License Manager does not
-- track are left out (nothing to hold). A count above Total is never returned: Slurm 22.05
-- rejects it and then silently stops enforcing the reservation.
CREATE OR REPLACE FUNCTION lm.plan_reservations(p_cluster text, p_slurm jsonb, p_now timestamptz DEFAULT now())
RETURNS TABLE (license text, reservation bigint, free_real bigint, slurm_total bigint, slurm_used bigint, held boolean)
LANGUAGE sql STABLE AS $$
    SELECT s.license,
           CASE WHEN st.held THEN greatest(s.total, 0)
                ELSE least(greatest(s.total - s.used - st.available, 0), s.total) END,
           st.available, s.total, s.used, st.held
    FROM jsonb_to_recordset(p_slurm) AS s(license text, total bigint, used bigint)
    CROSS JOIN LATERAL (
        SELECT f.id FROM lm.features f
        JOIN lm.products p ON p.id = f.product_id
        JOIN lm.configurations c ON c.id = f.config_id
        WHERE c.cluster_client_id = p_cluster
          AND p.name || '.' || f.name || '@' || c.type = s.license
        ORDER BY f.id LIMIT 1
    ) f
    CROSS JOIN LATERAL lm.pool_state(f.id, p_now) st
    ORDER BY s.license
$$;

-- One lm-agent pass, applied in one transaction (see POST /lm/agent/report in lm-server(8)):
--   {"interval": s, "features": [usage items, see apply_usage], "failed": ["product.feature"],
--    "slurm": {"licenses": [{license, total, used}], "jobs": [{slurm_job_id, state}], "squeue_age_ms": n}}
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
BEGIN
    -- every pool of the cluster, in id order, before anything else: the steps below touch
    -- different subsets, and taking them piecemeal could deadlock with an admission
    PERFORM lm.lock_pools(ARRAY(SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                                WHERE c.cluster_client_id = p_cluster));
    v_released := lm.apply_usage(p_cluster, coalesce(p_report->'features', '[]'), p_now);

    SELECT array_agg(lm.find_feature(p_cluster, x)), string_agg(x, ', ') FILTER (WHERE lm.find_feature(p_cluster, x) IS NULL)
    INTO v_failed, v_unknown
    FROM jsonb_array_elements_text(coalesce(p_report->'failed', '[]')) x;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'Feature not found.' USING ERRCODE = 'LM002',
            DETAIL = 'not features of cluster ' || p_cluster || ': ' || v_unknown;
    END IF;
    -- last good total/used stay; only the failure is recorded
    UPDATE lm.features SET failed_at = p_now WHERE id = ANY (v_failed);

    v_expired := lm.expire_bookings(p_now);

    IF p_report ? 'slurm' AND p_report->'slurm' ? 'jobs' THEN
        WITH d AS (
            DELETE FROM lm.jobs j
            WHERE j.cluster_client_id = p_cluster
              AND j.created_at < p_now - make_interval(secs => 5 + coalesce((p_report->'slurm'->>'squeue_age_ms')::numeric, 0) / 1000)
              AND j.slurm_job_id NOT IN (SELECT x->>'slurm_job_id' FROM jsonb_array_elements(p_report->'slurm'->'jobs') x)
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
