-- History (V14__history.sql): refusals kept as denials, ended jobs kept as job history, and the
-- views people and the API read them through.

-- Why the jobs this transaction deletes next end, and when: read by lm.record_job_end. Every
-- function that deletes from lm.jobs calls it just before (HistoryTest lists them); a delete
-- nobody explained (psql, or a future path that forgets) is recorded as 'forced' at now().
-- Transaction-local: a later delete in the same transaction that calls no lm.ending_jobs
-- inherits the reason, so each path calls it right before its own DELETE.
CREATE OR REPLACE FUNCTION lm.ending_jobs(p_reason text, p_now timestamptz DEFAULT now())
RETURNS void LANGUAGE sql AS $$
    SELECT set_config('lm.job_end_reason', p_reason, true), set_config('lm.job_end_at', p_now::text, true)
$$;

-- The one place that writes lm.ended_jobs: a BEFORE DELETE row trigger, so it sees the job's
-- bookings before the cascade removes them, and no path that deletes a job can skip it. It
-- takes no lock: the deleting statement holds the job's row, and its pools' locks where it
-- needs them. Cost: one INSERT per ended job (make bench, lm.bench.DenialBench).
CREATE OR REPLACE FUNCTION lm.record_job_end()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lm.ended_jobs (job_id, cluster_client_id, slurm_job_id, username, account, lead_host, bookings,
                               booked_at, released_at, reason)
    SELECT OLD.id, OLD.cluster_client_id, OLD.slurm_job_id, OLD.username, OLD.account, OLD.lead_host,
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'product_feature', p.name || '.' || f.name, 'quantity', b.quantity,
                        'booked_at', b.created_at, 'expires_at', b.expires_at,
                        'released_at', b.released_at, 'released_reason', b.released_reason,
                        'offline', b.offline) ORDER BY p.name, f.name)
                     FROM lm.bookings b JOIN lm.features f ON f.id = b.feature_id JOIN lm.products p ON p.id = f.product_id
                     WHERE b.job_id = OLD.id), '[]'),
           OLD.created_at,
           greatest(OLD.created_at, coalesce(nullif(current_setting('lm.job_end_at', true), '')::timestamptz, now())),
           coalesce(nullif(current_setting('lm.job_end_reason', true), ''), 'forced');
    RETURN OLD;
END
$$;
DROP TRIGGER IF EXISTS jobs_history ON lm.jobs;
CREATE TRIGGER jobs_history BEFORE DELETE ON lm.jobs FOR EACH ROW EXECUTE FUNCTION lm.record_job_end();

-- Records a refusal (LM001) of p_cluster's job as denials: p_detail is the refusal's DETAIL,
-- [{product_feature, requested, available[, reason]}] (reason 'share' or 'max_use' from the
-- share rule, none from a short pool). One row per (cluster, job, product.feature): a job refused
-- again (requeued, or its prolog retried) bumps count and last_at. Called after the refusal's
-- own transaction rolled back, from lm.note_refusal's transaction (lm.booking.Refusals). The
-- upsert's row lock is the only one: racing refusals of one job each count once.
CREATE OR REPLACE FUNCTION lm.note_denials(p_cluster text, p_slurm_job_id text, p_username text, p_account text,
                                           p_detail jsonb, p_now timestamptz DEFAULT now())
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lm.denial_log AS d (cluster_client_id, slurm_job_id, username, account, product_feature, requested,
                                    available, reason, first_at, last_at)
    SELECT DISTINCT ON (x.product_feature) p_cluster, p_slurm_job_id, p_username, p_account, x.product_feature,
           x.requested, x.available, coalesce(x.reason, 'pool'), p_now, p_now
    FROM jsonb_to_recordset(CASE WHEN jsonb_typeof(p_detail) = 'array' THEN p_detail ELSE '[]' END)
         AS x(product_feature text, requested bigint, available bigint, reason text)
    WHERE x.product_feature IS NOT NULL AND x.requested IS NOT NULL AND p_cluster IS NOT NULL
      AND p_slurm_job_id ~ '^[0-9]{1,20}$'
    ORDER BY x.product_feature, x.available
    ON CONFLICT (cluster_client_id, slurm_job_id, product_feature) DO UPDATE
        SET count = d.count + 1, first_at = least(d.first_at, excluded.first_at),
            last_at = greatest(d.last_at, excluded.last_at),
            username = coalesce(excluded.username, d.username), account = excluded.account,
            requested = excluded.requested, available = excluded.available, reason = excluded.reason
$$;

-- Both records of one refusal of POST /jobs, in one transaction: demand (lm.note_refusal) and
-- denials. lm.booking.Refusals calls this, never the two apart.
CREATE OR REPLACE FUNCTION lm.note_job_refusal(p_cluster text, p_slurm_job_id text, p_username text, p_account text,
                                               p_bookings jsonb, p_detail jsonb, p_now timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lm.note_refusal(p_cluster, p_slurm_job_id, p_account, p_bookings, p_now);
    PERFORM lm.note_denials(p_cluster, p_slurm_job_id, p_username, p_account, p_detail, p_now);
END
$$;

-- A refusal of POST /bookings (one more feature for job p_job): denials only (the job runs, it is
-- not pending demand). p_cluster as in lm.book_feature: the caller's, NULL for admin.
CREATE OR REPLACE FUNCTION lm.note_booking_refusal(p_cluster text, p_job bigint, p_detail jsonb,
                                                   p_now timestamptz DEFAULT now())
RETURNS void LANGUAGE sql AS $$
    SELECT lm.note_denials(j.cluster_client_id, j.slurm_job_id, j.username, j.account, p_detail, p_now)
    FROM lm.jobs j WHERE j.id = p_job AND (p_cluster IS NULL OR j.cluster_client_id = p_cluster)
$$;

DROP VIEW IF EXISTS lm.denials, lm.api_denials, lm.job_history, lm.api_job_history CASCADE;

-- For psql: the refusals, newest first.
CREATE VIEW lm.denials AS
SELECT d.cluster_client_id, d.slurm_job_id, d.username, d.account, d.product_feature, d.requested, d.available,
       d.reason, d.first_at, d.last_at, d.count
FROM lm.denial_log d
ORDER BY d.last_at DESC, d.id DESC;

CREATE VIEW lm.api_denials AS
SELECT d.id, d.cluster_client_id, d.slurm_job_id, d.username, d.account, d.product_feature, d.requested, d.available,
       d.reason, d.first_at, d.last_at, d.count,
       json_build_object('id', d.id, 'cluster_client_id', d.cluster_client_id, 'slurm_job_id', d.slurm_job_id,
                         'username', d.username, 'account', d.account, 'product_feature', d.product_feature,
                         'requested', d.requested, 'available', d.available, 'reason', d.reason,
                         'first_at', d.first_at, 'last_at', d.last_at, 'count', d.count) AS j
FROM lm.denial_log d;

-- For psql: ended jobs, newest first; bookings as "product.feature:quantity" (the JSON is in
-- lm.ended_jobs.bookings).
CREATE VIEW lm.job_history AS
SELECT h.cluster_client_id, h.slurm_job_id, h.username, h.account, h.lead_host,
       (SELECT string_agg((b->>'product_feature') || ':' || (b->>'quantity'), ' ' ORDER BY b->>'product_feature')
        FROM jsonb_array_elements(h.bookings) b) AS bookings,
       h.booked_at, h.released_at, h.reason
FROM lm.ended_jobs h
ORDER BY h.released_at DESC, h.id DESC;

CREATE VIEW lm.api_job_history AS
SELECT h.id, h.job_id, h.cluster_client_id, h.slurm_job_id, h.username, h.account, h.lead_host, h.booked_at,
       h.released_at, h.reason, h.bookings,
       json_build_object('id', h.id, 'job_id', h.job_id, 'cluster_client_id', h.cluster_client_id,
                         'slurm_job_id', h.slurm_job_id, 'username', h.username, 'account', h.account,
                         'lead_host', h.lead_host, 'bookings', h.bookings, 'booked_at', h.booked_at,
                         'released_at', h.released_at, 'reason', h.reason) AS j
FROM lm.ended_jobs h;
