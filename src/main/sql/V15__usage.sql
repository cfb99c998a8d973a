-- Usage history (issue 12, "Usage samples", "Rollups and retention"): what every agent pass saw
-- per pool, rolled up per hour, and who holds what now. Written by lm.record_usage
-- (R__usage.sql) only; read through lm.usage_hourly, lm.user_usage, GET /lm/checkouts and
-- /lm/reports/*. No foreign keys to lm.pools/lm.features: history outlives a removed pool, and
-- product_feature is kept as it was named then.
--
-- Plain indexed tables, not native partitioning: retention deletes a minute's worth of rows per
-- pass through the (at) indexes, and the reports read the hourly rollups by (product_feature,
-- hour) — make bench (lm.bench.only=reports) measures both at a year of rollups for 1,000 pools
-- and 35 days of per-minute samples.

-- One row per pool per agent pass. seconds: the span the sample stands for (since the pool's
-- previous sample, at most twice the reporting agent's interval), the weight of its averages.
-- external: used minus the checkouts matched to jobs License Manager knows; demand: what pending
-- and refused jobs ask for (lm.demand within the demand window, as lm.pool_shares counts it);
-- queued: the license server's own queue ("queued for N licenses").
CREATE TABLE lm.usage_samples (
    pool_id         bigint NOT NULL,
    at              timestamptz NOT NULL,
    product_feature text NOT NULL,
    seconds         double precision NOT NULL,
    total           bigint,
    used            bigint,
    reserved        bigint NOT NULL,
    booked          bigint NOT NULL,
    external        bigint,
    demand          bigint NOT NULL,
    queued          bigint NOT NULL,
    stale           boolean NOT NULL,
    held            boolean NOT NULL,
    PRIMARY KEY (pool_id, at)
);
CREATE INDEX usage_samples_at ON lm.usage_samples (at);

-- What each user had checked out of a pool at each pass (summed over hosts), for the
-- license-seconds of lm.user_rollups; kept as long as lm.usage_samples.
CREATE TABLE lm.user_samples (
    pool_id         bigint NOT NULL,
    at              timestamptz NOT NULL,
    username        text NOT NULL,
    product_feature text NOT NULL,
    quantity        bigint NOT NULL,
    seconds         double precision NOT NULL,
    PRIMARY KEY (pool_id, at, username)
);
CREATE INDEX user_samples_at ON lm.user_samples (at);

-- Who holds what now, as the newest pass that read the pool's license server saw it (replaced
-- per pool by every report). matched: how many of quantity jobs License Manager knows account
-- for (same user and lead host, a booking in the pool); slurm_job_ids: those jobs.
CREATE TABLE lm.checkouts (
    pool_id           bigint NOT NULL,
    username          text NOT NULL,
    host              text NOT NULL,
    product_feature   text NOT NULL,
    cluster_client_id text NOT NULL,
    quantity          bigint NOT NULL,
    matched           bigint NOT NULL,
    slurm_job_ids     text,
    seen_at           timestamptz NOT NULL,
    PRIMARY KEY (pool_id, username, host)
);

-- Per pool and UTC hour: the samples' time-weighted averages and maxima (lm.roll_up_usage).
CREATE TABLE lm.usage_rollups (
    pool_id         bigint NOT NULL,
    hour            timestamptz NOT NULL,
    product_feature text NOT NULL,
    samples         integer NOT NULL,
    seconds         double precision NOT NULL,
    total_max       bigint,
    used_avg        double precision,
    used_max        bigint,
    reserved_max    bigint NOT NULL,
    booked_avg      double precision NOT NULL,
    booked_max      bigint NOT NULL,
    external_avg    double precision,
    external_max    bigint,
    demand_avg      double precision NOT NULL,
    demand_max      bigint NOT NULL,
    queued_avg      double precision NOT NULL,
    queued_max      bigint NOT NULL,
    stale_samples   integer NOT NULL,
    held_samples    integer NOT NULL,
    PRIMARY KEY (pool_id, hour)
);
CREATE INDEX usage_rollups_feature_hour ON lm.usage_rollups (product_feature, hour);
CREATE INDEX usage_rollups_hour ON lm.usage_rollups (hour);

-- Per pool, UTC hour and user: license-seconds (Σ quantity × seconds of lm.user_samples).
CREATE TABLE lm.user_rollups (
    pool_id         bigint NOT NULL,
    hour            timestamptz NOT NULL,
    username        text NOT NULL,
    product_feature text NOT NULL,
    license_seconds double precision NOT NULL,
    PRIMARY KEY (pool_id, hour, username)
);
CREATE INDEX user_rollups_hour ON lm.user_rollups (hour);

-- Retention (lm.conf(5)): raw samples history_raw_days, hourly rollups history_hourly_days
-- (0: forever).
ALTER TABLE lm.settings
    ADD COLUMN history_raw_days integer NOT NULL DEFAULT 35 CHECK (history_raw_days > 0),
    ADD COLUMN history_hourly_days integer NOT NULL DEFAULT 0 CHECK (history_hourly_days >= 0);
