-- Admission, release and expiry of bookings: every function takes the pool locks first
-- (lm.lock_pools in R__booking_1_pools.sql). Time is a parameter (p_now).

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
RETURNS TABLE (created boolean, job json) LANGUAGE plpgsql
-- generic plans: see lm.lock_pools
SET plan_cache_mode = force_generic_plan
AS $$
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
    CROSS JOIN LATERAL (SELECT lm.find_feature(p_cluster, w.product_feature) AS id) r
    LEFT JOIN lm.features f ON f.id = r.id
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

-- The epilog's call: the job and its bookings go. The job's pools are locked first, in id
-- order, because releasing updates their booked counters.
CREATE OR REPLACE FUNCTION lm.release_job(p_cluster text, p_slurm_job_id text)
RETURNS boolean LANGUAGE plpgsql
-- generic plans: see lm.lock_pools
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_job bigint;
BEGIN
    SELECT id INTO v_job FROM lm.jobs WHERE cluster_client_id = p_cluster AND slurm_job_id = p_slurm_job_id;
    RETURN lm.delete_job(v_job);
END
$$;

CREATE OR REPLACE FUNCTION lm.delete_job(p_job bigint)
RETURNS boolean LANGUAGE plpgsql
-- generic plans: see lm.lock_pools
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF p_job IS NULL THEN
        RETURN false;
    END IF;
    PERFORM lm.lock_pools(ARRAY(SELECT b.feature_id FROM lm.bookings b WHERE b.job_id = p_job AND b.released_at IS NULL));
    DELETE FROM lm.jobs WHERE id = p_job;
    RETURN FOUND;
END
$$;

CREATE OR REPLACE FUNCTION lm.delete_booking(p_booking bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lm.lock_pools(ARRAY(SELECT b.feature_id FROM lm.bookings b WHERE b.id = p_booking));
    DELETE FROM lm.bookings WHERE id = p_booking;
    RETURN FOUND;
END
$$;

-- Marks bookings whose grace time has passed as released; returns how many. Admission already
-- ignores them (expires_at), so this is bookkeeping for the reports, run by every agent pass.
CREATE OR REPLACE FUNCTION lm.expire_bookings(p_now timestamptz DEFAULT now())
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
BEGIN
    PERFORM lm.lock_pools(ARRAY(SELECT b.feature_id FROM lm.bookings b WHERE b.released_at IS NULL AND b.expires_at <= p_now));
    UPDATE lm.bookings SET released_at = p_now, released_reason = 'grace'
    WHERE released_at IS NULL AND expires_at <= p_now;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
