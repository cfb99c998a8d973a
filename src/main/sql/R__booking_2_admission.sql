-- Admission, release and expiry of bookings: every function takes its locks first, in the order
-- of R__booking_1_pools.sql (admission: pools and counters; releases: counters only). Time is a
-- parameter (p_now). The one lock outside that order: lm.book_job counts the untracked licenses
-- of a job (lm.count_untracked, rows no other function locks) before it takes any pool.

-- Refuses (LM001, 409) when any of the wanted quantities doesn't fit in its pool; the DETAIL is
-- a JSON array of the short features: [{product_feature, requested, available}]; available is
-- the pool's true value, negative when outside usage grew past what was free.
-- The caller must hold the pools' locks.
CREATE OR REPLACE FUNCTION lm.check_available(p_wanted jsonb, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_short jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('product_feature', w.product_feature, 'requested', w.quantity,
                                        'available', s.available) ORDER BY w.product_feature)
    INTO v_short
    FROM jsonb_to_recordset(p_wanted) AS w(feature_id bigint, product_feature text, quantity bigint)
    CROSS JOIN LATERAL lm.pool_state(w.feature_id, p_now) s
    WHERE w.quantity > s.available;
    IF v_short IS NOT NULL THEN
        RAISE EXCEPTION 'Not enough licenses available.' USING ERRCODE = 'LM001', DETAIL = v_short::text;
    END IF;
END
$$;

-- Counts an admission call that named licenses lm-server does not manage (issue 19, case 8):
-- one more job for each name, by cluster (lm.untracked_licenses, V22; GET /lm/metrics sums it as
-- lm_untracked_licenses_total). Locks only its own counter rows, in name order, on the stripe
-- of this session (see V22): two admissions naming one unknown license don't wait for each
-- other. lm.book_job calls it before its pool locks, and the API after a 404 (its own
-- transaction: the 404 rolled book_job's back), so it never lengthens a pool lock.
CREATE OR REPLACE FUNCTION lm.count_untracked(p_cluster text, p_slurm_job_id text, p_names text[],
                                              p_now timestamptz DEFAULT now())
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lm.untracked_licenses AS u (cluster_client_id, license, stripe, jobs, last_slurm_job_id, last_at)
    SELECT p_cluster, n.name, pg_backend_pid() % 16, 1, p_slurm_job_id, p_now
    FROM (SELECT DISTINCT left(x, 200) AS name FROM unnest(p_names) x WHERE x <> '') n
    ORDER BY n.name
    ON CONFLICT (cluster_client_id, license, stripe) DO UPDATE
        SET jobs = u.jobs + 1, last_slurm_job_id = excluded.last_slurm_job_id, last_at = greatest(u.last_at, excluded.last_at)
$$;

-- Creates a job and all its bookings, or nothing; returns whether it did, the job as the API
-- answers it (lm.api_jobs' shape and "untracked"), and the untracked names. p_bookings: [{product_feature, quantity}]
-- (the same product_feature twice is summed). p_untracked: Slurm license names the prolog found
-- lm-server cannot book (no product.feature@type of a type it knows); a product_feature no
-- feature of p_cluster is named is untracked too. Untracked licenses are counted
-- (lm.count_untracked), never booked, and listed in the answer's "untracked"; the job's other
-- licenses are booked all the same, so a typo in one license never lets the others run
-- unbooked. Nothing to book at all: LM002 (404; the API counts the names then), or LM003 (422)
-- when the request names no license.
-- p_run: the job's run (SLURM_JOB_RESTART_COUNT; NULL: the caller didn't say). For an existing
-- (cluster, slurm_job_id):
--   - the same run (or either run unknown) whose active bookings equal the request: a retried
--     prolog, answered with the job as it is (created = false), never a duplicate nor a second
--     booking; the run is renewed: its created_at, and its bookings' created_at and expires_at,
--     start again from p_now (the job is starting now, and gets its whole grace);
--   - otherwise (another run: Slurm requeued the job; or a requeue whose epilog's DELETE was
--     lost, its bookings released or past their grace): the old run's job and bookings end
--     ('requeue') and the request is admitted afresh under the normal rule — in this one
--     transaction, so a refusal (LM001) leaves the old run as it was.
-- Locks: the untracked counters first (lm.count_untracked, never with a pool lock held), then the
-- pools (and counters) of the request and of the existing job's unreleased bookings, in one
-- ascending lm.lock_pools. The existence check is repeated after the locks: a concurrent
-- identical request has then committed and is seen, instead of being counted against us.
-- Everything that can be done before taking the locks is: on a hot pool every statement after
-- the lock is paid once per admission by everyone queued behind it.
-- p_account: the job's Slurm account (its project, R__booking_1_shares.sql), NULL for none.
-- After the pool's own check comes the share rule (lm.check_shares); an admitted job's demand
-- rows go (it no longer waits).
DROP FUNCTION IF EXISTS lm.book_job(text, text, text, text, jsonb, timestamptz);
DROP FUNCTION IF EXISTS lm.book_job(text, text, text, text, jsonb, timestamptz, text);
CREATE OR REPLACE FUNCTION lm.book_job(p_cluster text, p_slurm_job_id text, p_username text, p_lead_host text,
                                       p_bookings jsonb, p_now timestamptz DEFAULT now(), p_account text DEFAULT NULL,
                                       p_run integer DEFAULT NULL, p_untracked text[] DEFAULT NULL)
RETURNS TABLE (created boolean, job json, untracked text[]) LANGUAGE plpgsql
-- generic plans: see lm.lock_pools
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_features bigint[];
    v_names text[];
    v_quantities bigint[];
    v_grace integer[];
    v_untracked text[];
    v_old bigint[];
    v_job bigint;
    v_job_run integer;
    v_short jsonb;
BEGIN
    IF jsonb_typeof(p_bookings) IS DISTINCT FROM 'array'
       OR (jsonb_array_length(p_bookings) = 0 AND coalesce(cardinality(p_untracked), 0) = 0) THEN
        RAISE EXCEPTION 'A job must book at least one license.' USING ERRCODE = 'LM003',
            DETAIL = 'bookings: give at least one {product_feature, quantity}';
    END IF;
    IF p_run < 0 THEN
        RAISE EXCEPTION 'run must be >= 0' USING ERRCODE = 'LM003', DETAIL = 'run: SLURM_JOB_RESTART_COUNT, 0 for the first run';
    END IF;
    SELECT array_agg(f.id ORDER BY w.product_feature) FILTER (WHERE f.id IS NOT NULL),
           array_agg(w.product_feature ORDER BY w.product_feature) FILTER (WHERE f.id IS NOT NULL),
           array_agg(w.quantity ORDER BY w.product_feature) FILTER (WHERE f.id IS NOT NULL),
           array_agg(c.grace_time ORDER BY w.product_feature) FILTER (WHERE f.id IS NOT NULL),
           array_agg(w.product_feature ORDER BY w.product_feature) FILTER (WHERE f.id IS NULL)
    INTO v_features, v_names, v_quantities, v_grace, v_untracked
    FROM (SELECT b.product_feature, sum(b.quantity)::bigint AS quantity
          FROM jsonb_to_recordset(p_bookings) AS b(product_feature text, quantity bigint)
          GROUP BY b.product_feature) w
    CROSS JOIN LATERAL (SELECT lm.find_feature(p_cluster, w.product_feature) AS id) r
    LEFT JOIN lm.features f ON f.id = r.id
    LEFT JOIN lm.configurations c ON c.id = f.config_id;
    v_untracked := ARRAY(SELECT DISTINCT x FROM unnest(coalesce(p_untracked, '{}') || coalesce(v_untracked, '{}')) x ORDER BY x);
    IF v_features IS NULL THEN
        RAISE EXCEPTION 'Unknown license for cluster %: %', p_cluster, array_to_string(v_untracked, ', ')
            USING ERRCODE = 'LM002', DETAIL = 'no feature of this cluster is named ' || array_to_string(v_untracked, ', ');
    END IF;
    IF cardinality(v_untracked) > 0 THEN
        PERFORM lm.count_untracked(p_cluster, p_slurm_job_id, v_untracked, p_now);
    END IF;

    -- a job booked before may hold pools the request doesn't name: they are locked too
    v_old := ARRAY(SELECT b.feature_id FROM lm.jobs j JOIN lm.bookings b ON b.job_id = j.id
                   WHERE j.cluster_client_id = p_cluster AND j.slurm_job_id = p_slurm_job_id AND b.released_at IS NULL);
    PERFORM lm.lock_pools(v_features || v_old);

    SELECT id, run INTO v_job, v_job_run FROM lm.jobs WHERE cluster_client_id = p_cluster AND slurm_job_id = p_slurm_job_id;
    IF v_job IS NOT NULL THEN
        -- what the job holds: its active bookings, and for a retry that names its run, also
        -- those its checkouts released (the run still holds them: a retried prolog after the
        -- job's checkout is seen must not be admitted afresh — InterleavingTest found it)
        IF (p_run IS NULL OR v_job_run IS NULL OR v_job_run = p_run)
           AND NOT EXISTS (SELECT b.feature_id, b.quantity FROM lm.bookings b WHERE b.job_id = v_job
                             AND (b.released_at IS NULL AND b.expires_at > p_now OR v_job_run = p_run AND b.released_reason = 'checkout')
                           EXCEPT SELECT * FROM unnest(v_features, v_quantities))
           AND NOT EXISTS (SELECT * FROM unnest(v_features, v_quantities)
                           EXCEPT SELECT b.feature_id, b.quantity FROM lm.bookings b WHERE b.job_id = v_job
                             AND (b.released_at IS NULL AND b.expires_at > p_now OR v_job_run = p_run AND b.released_reason = 'checkout')) THEN
            -- the same run again: renewed, so a run never lives on another run's grace, and the
            -- agent's sweep sees it as just admitted (R__booking_5_agent_report.sql)
            UPDATE lm.jobs SET created_at = p_now, run = coalesce(p_run, run) WHERE id = v_job;
            UPDATE lm.bookings b SET created_at = p_now, expires_at = p_now + make_interval(secs => w.grace)
            FROM unnest(v_features, v_grace) AS w(feature_id, grace)
            WHERE b.job_id = v_job AND b.feature_id = w.feature_id AND b.released_at IS NULL AND b.expires_at > p_now;
            RETURN QUERY SELECT false, (a.j::jsonb || jsonb_build_object('untracked', to_jsonb(v_untracked)))::json, v_untracked
                         FROM lm.api_jobs a WHERE a.id = v_job;
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM lm.bookings b WHERE b.job_id = v_job AND b.released_at IS NULL
                   AND b.feature_id <> ALL (v_features || v_old)) THEN
            -- a booking was added to the job after we looked: its pool is not ours to count down
            RAISE EXCEPTION 'job % changed while locking its pools', p_slurm_job_id USING ERRCODE = '40001';
        END IF;
        PERFORM lm.ending_jobs('requeue', p_now);
        DELETE FROM lm.jobs WHERE id = v_job;
    END IF;

    SELECT jsonb_agg(jsonb_build_object('product_feature', w.name, 'requested', w.quantity,
                                        'available', s.available) ORDER BY w.name)
    INTO v_short
    FROM unnest(v_features, v_names, v_quantities) AS w(feature_id, name, quantity)
    CROSS JOIN LATERAL lm.pool_state(w.feature_id, p_now) s
    WHERE w.quantity > s.available;
    IF v_short IS NOT NULL THEN
        RAISE EXCEPTION 'Not enough licenses available.' USING ERRCODE = 'LM001', DETAIL = v_short::text;
    END IF;
    PERFORM lm.check_shares(p_slurm_job_id, p_account,
        (SELECT jsonb_agg(jsonb_build_object('feature_id', w.f, 'product_feature', w.n, 'quantity', w.q))
         FROM unnest(v_features, v_names, v_quantities) AS w(f, n, q)), p_now);
    DELETE FROM lm.demand WHERE feature_id = ANY (v_features) AND slurm_job_id = p_slurm_job_id;

    -- one statement for the job, its bookings and the answer (the shape of lm.api_jobs)
    RETURN QUERY
    WITH j AS (
        INSERT INTO lm.jobs (slurm_job_id, cluster_client_id, username, lead_host, created_at, account, run)
        VALUES (p_slurm_job_id, p_cluster, p_username, p_lead_host, p_now, p_account, p_run)
        RETURNING *
    ), b AS (
        INSERT INTO lm.bookings (job_id, feature_id, quantity, created_at, expires_at, account)
        SELECT j.id, w.feature_id, w.quantity, p_now, p_now + make_interval(secs => w.grace), p_account
        FROM j, unnest(v_features, v_quantities, v_grace) AS w(feature_id, quantity, grace)
        RETURNING *
    )
    SELECT true, json_build_object('id', j.id, 'slurm_job_id', j.slurm_job_id, 'cluster_client_id', j.cluster_client_id,
                                   'username', j.username, 'lead_host', j.lead_host, 'created_at', j.created_at,
                                   'account', j.account, 'run', j.run, 'bookings', coalesce((SELECT json_agg(json_build_object(
                                        'id', b.id, 'job_id', b.job_id, 'feature_id', b.feature_id, 'quantity', b.quantity,
                                        'created_at', b.created_at, 'expires_at', b.expires_at, 'active', true,
                                        'released_reason', NULL, 'offline', false) ORDER BY b.id) FROM b), '[]'),
                                   'untracked', to_json(v_untracked)), v_untracked
    FROM j;
END
$$;

-- The functions below that act on a job or booking by id take the caller's cluster first:
-- p_cluster is the token's azp/client_id, NULL only for license-manager:admin (the route decides,
-- lm.http.Call.clusterScope). A row of another cluster is "not found" (LM002, 404), so a prolog
-- token can't release or book for another cluster by counting up ids, nor learn which exist.
-- Signatures changed from the first release (no caller's cluster): the old ones go, else an
-- old call would still find them.
DROP FUNCTION IF EXISTS lm.book_feature(bigint, bigint, bigint, timestamptz);
DROP FUNCTION IF EXISTS lm.delete_job(bigint);
DROP FUNCTION IF EXISTS lm.delete_booking(bigint);

-- Adds one booking to an existing job (POST /bookings), under the same rule (shares included,
-- for the job's account) and locks. The feature must be one of the job's cluster (LM003): a
-- job's bookings are then always in pools its cluster's agent report locks before it ends the job.
CREATE OR REPLACE FUNCTION lm.book_feature(p_cluster text, p_job bigint, p_feature bigint, p_quantity bigint,
                                           p_now timestamptz DEFAULT now())
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_wanted jsonb;
    v_slurm_job_id text;
    v_account text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM lm.jobs WHERE id = p_job AND (p_cluster IS NULL OR cluster_client_id = p_cluster)) THEN
        RAISE EXCEPTION 'job % not found', p_job USING ERRCODE = 'LM002';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM lm.features WHERE id = p_feature) THEN
        RAISE EXCEPTION 'feature % not found', p_feature USING ERRCODE = 'LM002';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                   JOIN lm.jobs j ON j.cluster_client_id = c.cluster_client_id WHERE f.id = p_feature AND j.id = p_job) THEN
        RAISE EXCEPTION 'feature % is not a feature of job %''s cluster', p_feature, p_job USING ERRCODE = 'LM003',
            DETAIL = 'feature_id: a job books only features of its own cluster''s configurations';
    END IF;
    IF p_quantity IS NULL OR p_quantity <= 0 THEN
        RAISE EXCEPTION 'quantity must be > 0' USING ERRCODE = 'LM003';
    END IF;
    PERFORM lm.lock_pools(ARRAY[p_feature]);
    v_wanted := jsonb_build_array(jsonb_build_object(
        'feature_id', p_feature, 'quantity', p_quantity,
        'product_feature', (SELECT p.name || '.' || f.name FROM lm.features f JOIN lm.products p ON p.id = f.product_id
                            WHERE f.id = p_feature)));
    PERFORM lm.check_available(v_wanted, p_now);
    SELECT slurm_job_id, account INTO v_slurm_job_id, v_account FROM lm.jobs WHERE id = p_job;
    PERFORM lm.check_shares(v_slurm_job_id, v_account, v_wanted, p_now);
    INSERT INTO lm.bookings (job_id, feature_id, quantity, created_at, expires_at, account)
    SELECT p_job, p_feature, p_quantity, p_now, p_now + make_interval(secs => c.grace_time), v_account
    FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
    WHERE f.id = p_feature
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

-- The epilog's call: the job and its bookings go. Releasing only decreases what is booked, so
-- it locks just the counters of the job's pools, ascending (lm.lock_pools(…, true)): an epilog
-- does not queue behind the admissions waiting for a hot pool. p_run: the epilog's
-- SLURM_JOB_RESTART_COUNT. It ends run p_run, or run p_run - 1: when Slurm requeues a job it
-- counts the restart before it runs the epilog, so the epilog of run 0 ends with the count at 1
-- (seen on Slurm 22.05, LocalSlurmTest); any other run booked under the same job id, e.g. run 1
-- when a late release of run 0 arrives, is not this release's to end (false: nothing ended).
-- NULL here or in lm.jobs.run (a caller that did not say) ends whatever run is booked.
DROP FUNCTION IF EXISTS lm.release_job(text, text);
CREATE OR REPLACE FUNCTION lm.release_job(p_cluster text, p_slurm_job_id text, p_run integer DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql
-- generic plans: see lm.lock_pools
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_job bigint;
BEGIN
    SELECT id INTO v_job FROM lm.jobs WHERE cluster_client_id = p_cluster AND slurm_job_id = p_slurm_job_id
                                        AND (p_run IS NULL OR run IS NULL OR run IN (p_run, p_run - 1));
    -- the end of a job, not an audit event
    RETURN lm.delete_job(p_cluster, v_job, false);
END
$$;

-- Deletes a job of p_cluster (any cluster's when NULL) and its bookings; locks the counters of
-- its pools (see lm.release_job). p_audit: a manual delete (DELETE /jobs/{id}, or this function
-- called in psql), recorded in lm.audit_log with the job's bookings; the epilog's release passes
-- false and pays nothing for it.
DROP FUNCTION IF EXISTS lm.delete_job(text, bigint);
CREATE OR REPLACE FUNCTION lm.delete_job(p_cluster text, p_job bigint, p_audit boolean DEFAULT true)
RETURNS boolean LANGUAGE plpgsql
-- generic plans: see lm.lock_pools
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_old jsonb;
BEGIN
    IF p_job IS NULL OR NOT EXISTS (SELECT 1 FROM lm.jobs WHERE id = p_job AND (p_cluster IS NULL OR cluster_client_id = p_cluster)) THEN
        RETURN false;
    END IF;
    PERFORM lm.lock_pools(ARRAY(SELECT b.feature_id FROM lm.bookings b WHERE b.job_id = p_job AND b.released_at IS NULL), true);
    PERFORM lm.ending_jobs(CASE WHEN p_audit THEN 'forced' ELSE 'epilog' END);
    IF NOT p_audit THEN
        DELETE FROM lm.jobs WHERE id = p_job;
        RETURN FOUND;
    END IF;
    -- the row as it was deleted: an epilog that got there first leaves nothing to record
    WITH b AS (SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.id), '[]') AS bookings FROM lm.bookings b WHERE b.job_id = p_job),
         d AS (DELETE FROM lm.jobs j WHERE j.id = p_job RETURNING j.*)
    SELECT to_jsonb(d) || jsonb_build_object('bookings', b.bookings) INTO v_old FROM d, b;
    IF v_old IS NULL THEN
        RETURN false;
    END IF;
    PERFORM lm.audit('jobs', 'DELETE', v_old, NULL);
    RETURN true;
END
$$;

-- Deletes one booking of a job of p_cluster (any cluster's when NULL); locks its pool's counter
-- (see lm.release_job). Only ever a manual delete (DELETE /bookings/{id}, or psql): recorded in
-- lm.audit_log.
CREATE OR REPLACE FUNCTION lm.delete_booking(p_cluster text, p_booking bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_old jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM lm.bookings b JOIN lm.jobs j ON j.id = b.job_id
                   WHERE b.id = p_booking AND (p_cluster IS NULL OR j.cluster_client_id = p_cluster)) THEN
        RETURN false;
    END IF;
    PERFORM lm.lock_pools(ARRAY(SELECT b.feature_id FROM lm.bookings b WHERE b.id = p_booking AND b.released_at IS NULL), true);
    DELETE FROM lm.bookings b WHERE b.id = p_booking RETURNING to_jsonb(b) INTO v_old;
    IF v_old IS NULL THEN
        RETURN false;
    END IF;
    PERFORM lm.audit('bookings', 'DELETE', v_old, NULL);
    RETURN true;
END
$$;

-- Marks bookings whose grace time has passed as released; returns how many. Admission already
-- ignores them (expires_at), so this is bookkeeping for the reports. p_features: only bookings of
-- these features (an agent report expires the pools it holds, and taking other pools' counters
-- after its own would break the lock order); NULL: all. Locks the counters of the pools it
-- releases in, ascending (an expiry only decreases what is booked), and releases only there.
DROP FUNCTION IF EXISTS lm.expire_bookings(timestamptz);
CREATE OR REPLACE FUNCTION lm.expire_bookings(p_now timestamptz DEFAULT now(), p_features bigint[] DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_features bigint[];
    v_count integer;
BEGIN
    v_features := ARRAY(SELECT DISTINCT b.feature_id FROM lm.bookings b
                        WHERE b.released_at IS NULL AND b.expires_at <= p_now
                          AND (p_features IS NULL OR b.feature_id = ANY (p_features)));
    PERFORM lm.lock_pools(v_features, true);
    UPDATE lm.bookings SET released_at = p_now, released_reason = 'grace'
    WHERE released_at IS NULL AND expires_at <= p_now AND feature_id = ANY (v_features);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
