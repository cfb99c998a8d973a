-- Issue 12, history: refusals (lm.denials) and ended jobs (lm.job_history). Written by
-- R__history.sql; read through the views lm.denials and lm.job_history and GET /lm/denials,
-- GET /lm/job_history. Both are kept until deleted by hand (lm-server(8), HISTORY): a refused
-- job is one row however often it is requeued, and an ended job one row of a few hundred bytes,
-- so a year of a busy cluster is a few GB at most; history_raw_days is the usage samples' key
-- (its rows are per minute and pool) and does not apply here.

-- One row per (cluster, Slurm job, product.feature) ever refused: a requeued job refused again
-- bumps count and last_at. product_feature is the name asked for, kept as text: the row must
-- outlive the feature.
CREATE TABLE lm.denial_log (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_client_id text NOT NULL,
    slurm_job_id      text NOT NULL,
    username          text,
    account           text,
    product_feature   text NOT NULL,
    requested         bigint NOT NULL,
    -- what the pool (or the owner's share) had free at the last refusal; negative when outside
    -- usage grew past what was free
    available         bigint,
    -- 'pool' (not enough free), 'share' or 'max_use' (the fair-share rule, R__booking_1_shares.sql)
    reason            text NOT NULL CONSTRAINT denial_log_reason_check CHECK (reason IN ('pool', 'share', 'max_use')),
    first_at          timestamptz NOT NULL,
    last_at           timestamptz NOT NULL,
    count             bigint NOT NULL DEFAULT 1 CONSTRAINT denial_log_count_check CHECK (count > 0),
    CONSTRAINT denial_log_last_at_check CHECK (last_at >= first_at),
    CONSTRAINT denial_log_job_feature_key UNIQUE (cluster_client_id, slurm_job_id, product_feature)
);
CREATE INDEX denial_log_last_at ON lm.denial_log (last_at);

-- One row per job that ended (left lm.jobs; read as the view lm.job_history), written by the
-- trigger lm.record_job_end whatever deleted it. bookings: [{product_feature, quantity,
-- booked_at, expires_at, released_at, released_reason, offline}] as they were at the end
-- (released_reason 'grace'/'checkout'/'inventory' for a booking that had stopped holding
-- before). reason: why the job ended (lm.ending_jobs).
CREATE TABLE lm.ended_jobs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id            bigint NOT NULL,
    cluster_client_id text NOT NULL,
    slurm_job_id      text NOT NULL,
    username          text NOT NULL,
    account           text,
    lead_host         text NOT NULL,
    bookings          jsonb NOT NULL DEFAULT '[]',
    booked_at         timestamptz NOT NULL,
    released_at       timestamptz NOT NULL,
    reason            text NOT NULL CONSTRAINT ended_jobs_reason_check CHECK (reason IN ('epilog', 'ended', 'requeue', 'forced', 'offline'))
);
CREATE INDEX ended_jobs_released_at ON lm.ended_jobs (released_at);
CREATE INDEX ended_jobs_job ON lm.ended_jobs (cluster_client_id, slurm_job_id);
