-- Daily rollups of the usage history (issue 12's speed targets): the reports read whole UTC days
-- from these and only the partial hours at either end from the hourly rollups, so a year is 365
-- rows per pool (or per pool and user) instead of 8,760. make bench (lm.bench.only=reports)
-- measured the users report over a year at 39 s summing the hourly rows (README, Performance).
-- Written by lm.roll_up_days (R__usage.sql) from the hourly rollups of the day, the same way
-- every time, so a day's row is always the sum of its hours (R__usage.sql also fills the days of
-- hourly rollups that existed before this migration); kept as long as the day's last hour
-- (history_hourly_days, lm.prune_usage).

-- Per UTC day, pool and product_feature (the name the hours carried: a pool renamed during the
-- day has a row per name, as the report over the hours would group them): the hours' columns
-- rolled up again. Averages are weighted by each hour's seconds (used_avg and external_avg by
-- the seconds of the hours that had one), maxima are the hours' maxima.
CREATE TABLE lm.usage_day_rollups (
    day             timestamptz NOT NULL,
    pool_id         bigint NOT NULL,
    product_feature text NOT NULL,
    hours           integer NOT NULL,
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
    -- day first: the reports and retention read ranges of days, the rollup one day's pools
    PRIMARY KEY (day, pool_id, product_feature)
);
CREATE INDEX usage_day_rollups_feature_day ON lm.usage_day_rollups (product_feature, day);

-- Per UTC day, pool, user and product_feature: the license-seconds of the day's hourly rows.
CREATE TABLE lm.user_day_rollups (
    day             timestamptz NOT NULL,
    pool_id         bigint NOT NULL,
    username        text NOT NULL,
    product_feature text NOT NULL,
    license_seconds double precision NOT NULL,
    PRIMARY KEY (day, pool_id, username, product_feature)
);
