-- Issue 11: fair shares of a pool across clusters and, inside a cluster, across Slurm accounts
-- (projects); demand; the distribution log. The rule itself is in R__booking_6_shares.sql.

-- A cluster's weight in its feature's pool, and the most licenses its jobs may hold at once
-- (booked + checked out); NULL: no limit.
ALTER TABLE lm.features
    ADD COLUMN share   integer NOT NULL DEFAULT 1 CONSTRAINT features_share_check CHECK (share >= 0),
    ADD COLUMN max_use bigint CONSTRAINT features_max_use_check CHECK (max_use >= 0);

-- The job's project: its Slurm account (SLURM_JOB_ACCOUNT), NULL when the prolog had none.
ALTER TABLE lm.jobs
    ADD COLUMN account text CONSTRAINT jobs_account_check CHECK (length(btrim(account)) BETWEEN 1 AND 255);

-- The job's account, copied onto its bookings: the owner counters (lm.owner_counts) are kept by
-- row triggers on bookings, and a booking deleted with its job (ON DELETE CASCADE) no longer
-- sees the job's row.
ALTER TABLE lm.bookings ADD COLUMN account text;

-- Project shares inside one cluster's feature: accounts with a row are owners of their own;
-- the job accounts without a row (and jobs without an account) share as one owner of share 1.
CREATE TABLE lm.project_shares (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feature_id bigint NOT NULL REFERENCES lm.features (id) ON DELETE CASCADE,
    account    text NOT NULL CHECK (length(btrim(account)) BETWEEN 1 AND 255),
    share      integer NOT NULL DEFAULT 1 CHECK (share >= 0),
    max_use    bigint CHECK (max_use >= 0),
    UNIQUE (feature_id, account)
);

-- What each owner holds: Σ quantity of its bookings that are not released, or were released by
-- the job's own checkout while the job runs (the license server's `used` counts those, but they
-- are still the owner's). Keyed by feature (= cluster in the pool) and the job's account ('' for
-- none); kept by the row trigger that keeps lm.pool_counts, under the same pool counter lock, so
-- admission reads a handful of rows instead of summing a hot pool's bookings.
CREATE TABLE lm.owner_counts (
    feature_id bigint NOT NULL REFERENCES lm.features (id) ON DELETE CASCADE,
    account    text NOT NULL,
    held       bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    PRIMARY KEY (feature_id, account)
);
INSERT INTO lm.owner_counts (feature_id, account, held)
SELECT b.feature_id, '', sum(b.quantity) FROM lm.bookings b
WHERE b.released_at IS NULL OR b.released_reason = 'checkout'
GROUP BY b.feature_id;

-- Demand: licenses a pending job of the feature's cluster asks for. A row per job and feature:
-- seen pending by the agent's squeue (pending_at, the pass's time) or refused by admission
-- (refused_at). It counts while either is within the demand window, once per job however often
-- it is seen or refused, and goes when the job is admitted.
CREATE TABLE lm.demand (
    feature_id   bigint NOT NULL REFERENCES lm.features (id) ON DELETE CASCADE,
    slurm_job_id text NOT NULL CHECK (slurm_job_id ~ '^[0-9]{1,20}$'),
    account      text,
    quantity     bigint NOT NULL CHECK (quantity > 0),
    pending_at   timestamptz,
    refused_at   timestamptz,
    PRIMARY KEY (feature_id, slurm_job_id)
);

-- lm-server's settings that SQL needs (lm.conf(5)); lm-server writes the row at startup.
-- demand_window NULL: twice the cluster's agent interval (lm.cluster_statuses).
CREATE TABLE lm.settings (
    id                    boolean PRIMARY KEY DEFAULT true CHECK (id),
    demand_window         integer CHECK (demand_window > 0),
    distribution_log_days integer NOT NULL DEFAULT 35 CHECK (distribution_log_days > 0)
);
INSERT INTO lm.settings DEFAULT VALUES;

-- The distribution log (LSF License Scheduler's featureName.ServiceDomain.dat): every agent
-- pass appends a row per owner of each pool of its cluster; read through lm.distribution_log.
CREATE TABLE lm.distribution_entries (
    at                timestamptz NOT NULL,
    pool_id           bigint NOT NULL,
    product_feature   text NOT NULL,
    cluster_client_id text NOT NULL,
    account           text,
    share             integer NOT NULL,
    entitled          numeric NOT NULL,
    in_use            bigint NOT NULL,
    free              bigint NOT NULL,
    demand            bigint NOT NULL
);
CREATE INDEX distribution_entries_at ON lm.distribution_entries (at);

-- One owner of a pool as lm.pool_shares returns it (R__booking_1_shares.sql); a named type so
-- the rule can read the rows back, kept here because a repeatable file would drop it, and with
-- it every function and view built on it.
CREATE TYPE lm.owner_row AS (feature_id bigint, cluster_client_id text, account text, leaf boolean, share integer,
                             max_use bigint, in_use bigint, demand bigint, entitled numeric, waiting numeric, available bigint);
