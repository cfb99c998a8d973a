-- Usage history (V15__usage.sql): samples per agent pass, hourly rollups, retention, and the
-- reports read from them. Time is a parameter everywhere.

-- Records what one agent pass of p_cluster saw (p_report as lm.apply_agent_report takes it), at
-- p_now: a sample per pool the cluster uses, the checkouts of every pool the report read
-- (replacing the pool's earlier ones) and each user's checkouts; then rolls up p_now's hour and
-- day for those pools and drops what is past retention. Called by lm.run_agent_report after the
-- pass has been applied (the counts are the pass's result), in its last transaction, which holds
-- no pool lock but the usage history's advisory lock (two clusters' passes on one pool would
-- otherwise both replace its checkouts); the pass's answer reads stale and held from the samples
-- written here.
-- Set-based: one statement per table for all pools. The version that looked each item's feature
-- up with lm.find_feature and counted queue, external use and demand in a subquery per pool took
-- 3.0 s of a 6.1 s agent report of 1,000 pools (make bench, lm.bench.only=reports, 2026-11-27,
-- load 13-17); side by side on one database this one took 0.35-0.45 s against 0.47-0.60 s at
-- 23:30 UTC, re-rolling a day of 23 hours, and 0.18-0.34 s against 0.28-0.71 s at 00:30
-- (2026-11-28, load 5-7). lm.pool_state stays one call per pool (0.1-0.2 ms each), the one
-- definition of what a pool has.
CREATE OR REPLACE FUNCTION lm.record_usage(p_cluster text, p_report jsonb, p_now timestamptz)
RETURNS void LANGUAGE plpgsql
-- lm.pool_state's default estimate of 1,000 rows per call makes these statements look costly
-- enough for JIT, which then compiles for longer than they run: on a PostgreSQL 15 with JIT (Debian's
-- package; Zonky's embedded one has none) record_usage of 1,000 pools took 0.66-1.1 s with it and
-- 0.21-0.23 s without, alternating (2026-11-28, load 2-5)
SET jit = off
AS $$
DECLARE
    v_pools bigint[];
    -- a pool's first sample stands for one agent interval; one after a gap for two at most
    v_interval double precision := greatest(coalesce((p_report->>'interval')::double precision, 30), 1);
BEGIN
    v_pools := ARRAY(SELECT DISTINCT f.pool_id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                     WHERE c.cluster_client_id = p_cluster AND f.pool_id IS NOT NULL);

    CREATE TEMP TABLE IF NOT EXISTS lm_read (pool_id bigint, product_feature text, queued bigint,
                                             usr text, host text, quantity bigint) ON COMMIT DROP;
    TRUNCATE lm_read;
    -- two features of the cluster in one pool read the same server: count its numbers once (max)
    INSERT INTO lm_read
    SELECT f.pool_id, min(pr.name || '.' || pf.name), max(coalesce((x->>'queued')::bigint, 0)),
           lower(co."user"), lower(split_part(co.host, '.', 1)), max(co.quantity)
    FROM jsonb_array_elements(coalesce(p_report->'features', '[]')) x
    -- the cluster's features by "product.feature", the oldest of a name as lm.find_feature picks
    -- it (a product name has no dot, so the name splits one way only): one hash join, not a
    -- lookup per item
    JOIN (SELECT DISTINCT ON (1) p.name || '.' || g.name AS name, g.pool_id
          FROM lm.features g JOIN lm.products p ON p.id = g.product_id JOIN lm.configurations c ON c.id = g.config_id
          WHERE c.cluster_client_id = p_cluster
          ORDER BY 1, g.id) f ON f.name = x->>'product_feature'
    JOIN lm.features pf ON pf.id = f.pool_id
    JOIN lm.products pr ON pr.id = pf.product_id
    LEFT JOIN LATERAL (SELECT c."user", c.host, sum(c.quantity) AS quantity
                       FROM jsonb_to_recordset(coalesce(x->'checkouts', '[]')) AS c("user" text, host text, quantity bigint)
                       WHERE c."user" IS NOT NULL AND c.quantity > 0
                       GROUP BY 1, 2) co ON true
    -- a reading older than the pool's newest (another cluster's agent read the server later)
    -- replaces neither its checkouts nor its queue (lm.apply_usage has stored the newest)
    WHERE lm.read_at(x, p_now) >= (SELECT max(g.reported_at) FROM lm.features g WHERE g.pool_id = f.pool_id)
    GROUP BY f.pool_id, 4, 5;

    -- the pool's checkouts are replaced; one this pass sees again keeps its since (V17)
    WITH gone AS (
        DELETE FROM lm.checkouts WHERE pool_id IN (SELECT pool_id FROM lm_read) RETURNING pool_id, username, host, since
    )
    INSERT INTO lm.checkouts (pool_id, username, host, product_feature, cluster_client_id, quantity, matched,
                              slurm_job_ids, seen_at, since)
    SELECT r.pool_id, r.usr, coalesce(r.host, ''), r.product_feature, p_cluster, r.quantity,
           least(r.quantity, coalesce(m.booked, 0)), m.jobs, p_now, coalesce(g.since, p_now)
    FROM lm_read r
    LEFT JOIN gone g ON g.pool_id = r.pool_id AND g.username = r.usr AND g.host = coalesce(r.host, '')
    -- jobs of any cluster on the same user and lead host holding or having checked out a booking of the pool
    LEFT JOIN LATERAL (SELECT sum(b.quantity) AS booked, string_agg(DISTINCT j.slurm_job_id, ',') AS jobs
                       FROM lm.features g
                       JOIN lm.bookings b ON b.feature_id = g.id
                                         AND (b.released_at IS NULL OR b.released_reason = 'checkout')
                       JOIN lm.jobs j ON j.id = b.job_id
                       WHERE g.pool_id = r.pool_id AND lower(j.username) = r.usr
                         AND lower(split_part(j.lead_host, '.', 1)) = r.host) m ON true
    WHERE r.usr IS NOT NULL;

    WITH st AS MATERIALIZED (
        SELECT s.* FROM unnest(v_pools) AS pool(id) CROSS JOIN LATERAL lm.pool_state(pool.id, p_now) s
    ), matched AS (
        SELECT k.pool_id, sum(k.matched) AS matched FROM lm.checkouts k WHERE k.pool_id = ANY (v_pools) GROUP BY 1
    ), demand AS (
        SELECT g.pool_id, sum(d.quantity) AS quantity
        FROM lm.demand d JOIN lm.features g ON g.id = d.feature_id JOIN lm.configurations c ON c.id = g.config_id
        WHERE g.pool_id = ANY (v_pools)
          -- the same demand as lm.pool_shares counts (R__booking_1_shares.sql)
          AND greatest(d.pending_at, d.refused_at) > p_now - make_interval(secs => lm.demand_window(c.cluster_client_id))
        GROUP BY 1
    ), queued AS (
        SELECT r.pool_id, max(r.queued) AS queued FROM lm_read r GROUP BY 1
    )
    INSERT INTO lm.usage_samples (pool_id, at, product_feature, seconds, total, used, reserved, booked, external,
                                  demand, queued, stale, held)
    SELECT st.pool_id, p_now, pr.name || '.' || pf.name,
           least(coalesce(extract(epoch FROM p_now - prev.at), v_interval), 2 * v_interval), st.total, st.used, st.reserved,
           st.booked, greatest(st.used - coalesce(m.matched, 0), 0), coalesce(d.quantity, 0),
           -- a pool not read this pass keeps its last queue, as it keeps its last used
           coalesce(q.queued, prev.queued, 0), st.stale, st.held
    FROM st
    JOIN lm.features pf ON pf.id = st.pool_id
    JOIN lm.products pr ON pr.id = pf.product_id
    LEFT JOIN matched m ON m.pool_id = st.pool_id
    LEFT JOIN demand d ON d.pool_id = st.pool_id
    LEFT JOIN queued q ON q.pool_id = st.pool_id
    LEFT JOIN LATERAL (SELECT s.at, s.queued FROM lm.usage_samples s WHERE s.pool_id = st.pool_id AND s.at < p_now
                       ORDER BY s.at DESC LIMIT 1) prev ON true
    ON CONFLICT (pool_id, at) DO UPDATE
        SET total = excluded.total, used = excluded.used, reserved = excluded.reserved, booked = excluded.booked,
            external = excluded.external, demand = excluded.demand, queued = excluded.queued,
            stale = excluded.stale, held = excluded.held;

    INSERT INTO lm.user_samples (pool_id, at, username, product_feature, quantity, seconds)
    SELECT r.pool_id, p_now, r.usr, min(r.product_feature), sum(r.quantity), min(s.seconds)
    FROM lm_read r JOIN lm.usage_samples s ON s.pool_id = r.pool_id AND s.at = p_now
    WHERE r.usr IS NOT NULL
    GROUP BY r.pool_id, r.usr
    ON CONFLICT (pool_id, at, username) DO UPDATE SET quantity = excluded.quantity, seconds = excluded.seconds;

    PERFORM lm.roll_up_usage(p_now, v_pools);
    PERFORM lm.prune_usage(p_now);
END
$$;

-- (Re)computes the hourly rollups of the UTC hour holding p_at, for pools p_pools (NULL: every
-- pool with samples that hour), from the raw samples of that hour alone: running it again gives
-- the same rows, so every agent pass re-rolls its own hour and the current hour is always in the
-- reports. Averages are weighted by each sample's seconds. Then re-rolls the hour's UTC day from
-- its hours (lm.roll_up_days). Returns the pools rolled up.
CREATE OR REPLACE FUNCTION lm.roll_up_usage(p_at timestamptz, p_pools bigint[] DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_hour timestamptz := date_trunc('hour', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_count integer;
BEGIN
    DELETE FROM lm.user_rollups
    WHERE hour = v_hour AND (p_pools IS NULL OR pool_id = ANY (p_pools));
    INSERT INTO lm.user_rollups (pool_id, hour, username, product_feature, license_seconds)
    SELECT u.pool_id, v_hour, u.username, max(u.product_feature), sum(u.quantity * u.seconds)
    FROM lm.user_samples u
    WHERE u.at >= v_hour AND u.at < v_hour + interval '1 hour' AND (p_pools IS NULL OR u.pool_id = ANY (p_pools))
    GROUP BY u.pool_id, u.username;

    INSERT INTO lm.usage_rollups AS r (pool_id, hour, product_feature, samples, seconds, total_max, used_avg, used_max,
                                       reserved_max, booked_avg, booked_max, external_avg, external_max, demand_avg,
                                       demand_max, queued_avg, queued_max, stale_samples, held_samples)
    SELECT s.pool_id, v_hour, max(s.product_feature), count(*), sum(s.seconds), max(s.total),
           sum(s.used * s.seconds) / nullif(sum(s.seconds) FILTER (WHERE s.used IS NOT NULL), 0), max(s.used),
           max(s.reserved), sum(s.booked * s.seconds) / nullif(sum(s.seconds), 0), max(s.booked),
           sum(s.external * s.seconds) / nullif(sum(s.seconds) FILTER (WHERE s.external IS NOT NULL), 0), max(s.external),
           sum(s.demand * s.seconds) / nullif(sum(s.seconds), 0), max(s.demand),
           sum(s.queued * s.seconds) / nullif(sum(s.seconds), 0), max(s.queued),
           count(*) FILTER (WHERE s.stale), count(*) FILTER (WHERE s.held)
    FROM lm.usage_samples s
    WHERE s.at >= v_hour AND s.at < v_hour + interval '1 hour' AND (p_pools IS NULL OR s.pool_id = ANY (p_pools))
    GROUP BY s.pool_id
    ON CONFLICT (pool_id, hour) DO UPDATE
        SET product_feature = excluded.product_feature, samples = excluded.samples, seconds = excluded.seconds,
            total_max = excluded.total_max, used_avg = excluded.used_avg, used_max = excluded.used_max,
            reserved_max = excluded.reserved_max, booked_avg = excluded.booked_avg, booked_max = excluded.booked_max,
            external_avg = excluded.external_avg, external_max = excluded.external_max,
            demand_avg = excluded.demand_avg, demand_max = excluded.demand_max, queued_avg = excluded.queued_avg,
            queued_max = excluded.queued_max, stale_samples = excluded.stale_samples, held_samples = excluded.held_samples;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM lm.roll_up_days(v_hour, v_hour, p_pools);
    RETURN v_count;
END
$$;

-- (Re)computes the daily rollups (V16__usage_days.sql) of the UTC days from the one holding
-- p_from to the one holding p_until, for pools p_pools (NULL: every pool), from those days' hourly
-- rollups alone, so a day's row is always the sum of its hours and running it again gives the
-- same rows. Every agent pass re-rolls its day (1,000 pools: 24,000 hourly rows at most, plus the
-- users'); the reports read whole days from here.
CREATE OR REPLACE FUNCTION lm.roll_up_days(p_from timestamptz, p_until timestamptz, p_pools bigint[] DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    -- day arithmetic on UTC timestamps: adding '1 day' to a timestamptz would follow the
    -- session's time zone across a DST change
    v_lo timestamptz := date_trunc('day', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_hi timestamptz := (date_trunc('day', p_until AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC';
BEGIN
    DELETE FROM lm.usage_day_rollups
    WHERE day >= v_lo AND day < v_hi AND (p_pools IS NULL OR pool_id = ANY (p_pools));
    INSERT INTO lm.usage_day_rollups (day, pool_id, product_feature, hours, samples, seconds, total_max, used_avg,
                                      used_max, reserved_max, booked_avg, booked_max, external_avg, external_max,
                                      demand_avg, demand_max, queued_avg, queued_max, stale_samples, held_samples)
    SELECT date_trunc('day', r.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', r.pool_id, r.product_feature, count(*),
           sum(r.samples), sum(r.seconds), max(r.total_max),
           -- as lm.usage_report weighs the hours of a day: by seconds, of the hours that had a value
           sum(r.used_avg * r.seconds) / nullif(sum(r.seconds) FILTER (WHERE r.used_avg IS NOT NULL), 0), max(r.used_max),
           max(r.reserved_max), sum(r.booked_avg * r.seconds) / nullif(sum(r.seconds), 0), max(r.booked_max),
           sum(r.external_avg * r.seconds) / nullif(sum(r.seconds) FILTER (WHERE r.external_avg IS NOT NULL), 0),
           max(r.external_max), sum(r.demand_avg * r.seconds) / nullif(sum(r.seconds), 0), max(r.demand_max),
           sum(r.queued_avg * r.seconds) / nullif(sum(r.seconds), 0), max(r.queued_max), sum(r.stale_samples),
           sum(r.held_samples)
    FROM lm.usage_rollups r
    WHERE r.hour >= v_lo AND r.hour < v_hi AND (p_pools IS NULL OR r.pool_id = ANY (p_pools))
    GROUP BY 1, 2, 3;

    DELETE FROM lm.user_day_rollups
    WHERE day >= v_lo AND day < v_hi AND (p_pools IS NULL OR pool_id = ANY (p_pools));
    INSERT INTO lm.user_day_rollups (day, pool_id, username, product_feature, license_seconds)
    SELECT date_trunc('day', u.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.pool_id, u.username, u.product_feature,
           sum(u.license_seconds)
    FROM lm.user_rollups u
    WHERE u.hour >= v_lo AND u.hour < v_hi AND (p_pools IS NULL OR u.pool_id = ANY (p_pools))
    GROUP BY 1, 2, 3, 4;
END
$$;

-- fills the days of hourly rollups older than the daily table (V16), once; a no-op afterwards
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM lm.usage_day_rollups) AND EXISTS (SELECT FROM lm.usage_rollups) THEN
        PERFORM lm.roll_up_days(least(min(r.hour), (SELECT min(u.hour) FROM lm.user_rollups u)),
                                greatest(max(r.hour), (SELECT max(u.hour) FROM lm.user_rollups u)))
        FROM lm.usage_rollups r;
    END IF;
END
$$;

-- Drops raw samples older than lm.settings.history_raw_days before p_now, hourly rollups whose
-- hour began more than history_hourly_days before it (0: rollups are kept forever), and daily
-- rollups with their last hour: a day stays whole in the reports until none of its hours is left.
-- Runs every agent pass, so each run deletes about one pass's worth of rows through the (at),
-- (hour) and (day) indexes.
CREATE OR REPLACE FUNCTION lm.prune_usage(p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_raw timestamptz;
    v_hourly timestamptz;
BEGIN
    SELECT p_now - make_interval(days => history_raw_days),
           CASE WHEN history_hourly_days > 0 THEN p_now - make_interval(days => history_hourly_days) END
    INTO v_raw, v_hourly FROM lm.settings;
    DELETE FROM lm.usage_samples WHERE at < v_raw;
    DELETE FROM lm.user_samples WHERE at < v_raw;
    IF v_hourly IS NOT NULL THEN
        DELETE FROM lm.usage_rollups WHERE hour < v_hourly;
        DELETE FROM lm.user_rollups WHERE hour < v_hourly;
        DELETE FROM lm.usage_day_rollups WHERE day < v_hourly - interval '23 hours';
        DELETE FROM lm.user_day_rollups WHERE day < v_hourly - interval '23 hours';
    END IF;
END
$$;

-- Denials per product_feature and period for lm.usage_report: the jobs first refused in the
-- period (lm.denial_log, one row per cluster, job and product.feature; a job refused again is
-- the same denial), by UTC hour or day like the rollups.
DROP FUNCTION IF EXISTS lm.usage_report_denials(timestamptz, timestamptz, text);
CREATE FUNCTION lm.usage_report_denials(p_since timestamptz, p_until timestamptz, p_by text)
RETURNS TABLE (product_feature text, period_start timestamptz, denials bigint)
LANGUAGE sql STABLE AS $$
    SELECT d.product_feature, date_trunc(p_by, d.first_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)::bigint
    FROM lm.denial_log d
    WHERE d.first_at >= date_trunc('hour', p_since AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND d.first_at < p_until
    GROUP BY 1, 2
$$;

-- Checks a report's arguments: p_by hour or day, p_since before p_until (LM003, 422), and
-- p_product_feature (NULL: all) a feature the inventory or the history knows (LM002, 404).
DROP FUNCTION IF EXISTS lm.check_report_period(timestamptz, timestamptz, text);
CREATE OR REPLACE FUNCTION lm.check_report(p_since timestamptz, p_until timestamptz, p_by text, p_product_feature text)
RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_by IS NULL OR p_by NOT IN ('hour', 'day') THEN
        RAISE EXCEPTION 'Invalid report period.' USING ERRCODE = 'LM003', DETAIL = 'by must be hour or day';
    END IF;
    IF p_since IS NULL OR p_until IS NULL OR p_since >= p_until THEN
        RAISE EXCEPTION 'Invalid report period.' USING ERRCODE = 'LM003', DETAIL = 'since must be before until';
    END IF;
    IF p_product_feature IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lm.usage_rollups r WHERE r.product_feature = p_product_feature)
       AND NOT EXISTS (SELECT 1 FROM lm.user_day_rollups d WHERE d.product_feature = p_product_feature)
       AND NOT EXISTS (SELECT 1 FROM lm.features f JOIN lm.products p ON p.id = f.product_id
                       WHERE p.name || '.' || f.name = p_product_feature) THEN
        RAISE EXCEPTION 'Feature not found.' USING ERRCODE = 'LM002', DETAIL = 'no feature ' || p_product_feature;
    END IF;
END
$$;

-- The UTC hours a report from p_since to p_until covers, [hour_lo, hour_hi) (from the hour
-- holding p_since to the last that begins before p_until), and the whole UTC days among them,
-- [day_lo, day_hi), or day_lo = day_hi = hour_hi when there is none (or p_by is hour). The
-- reports read those days from the daily rollups and the hours outside them from the hourly
-- ones: a year is 365 rows per pool instead of 8,760, with the same sums.
CREATE OR REPLACE FUNCTION lm.report_span(p_since timestamptz, p_until timestamptz, p_by text DEFAULT 'day',
                                          OUT hour_lo timestamptz, OUT day_lo timestamptz, OUT day_hi timestamptz,
                                          OUT hour_hi timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    -- in UTC timestamps, where a day is always 24 hours
    WITH h AS (
        SELECT date_trunc('hour', p_since AT TIME ZONE 'UTC') AS lo,
               date_trunc('hour', p_until AT TIME ZONE 'UTC')
               + CASE WHEN date_trunc('hour', p_until AT TIME ZONE 'UTC') < p_until AT TIME ZONE 'UTC'
                      THEN interval '1 hour' ELSE interval '0' END AS hi
    ), d AS (
        SELECT h.lo, h.hi, date_trunc('day', h.lo) + CASE WHEN date_trunc('day', h.lo) < h.lo
                                                          THEN interval '1 day' ELSE interval '0' END AS dlo,
               date_trunc('day', h.hi) AS dhi
        FROM h
    )
    SELECT d.lo AT TIME ZONE 'UTC',
           CASE WHEN d.dlo < d.dhi AND p_by = 'day' THEN d.dlo ELSE d.hi END AT TIME ZONE 'UTC',
           CASE WHEN d.dlo < d.dhi AND p_by = 'day' THEN d.dhi ELSE d.hi END AT TIME ZONE 'UTC',
           d.hi AT TIME ZONE 'UTC'
    FROM d
$$;

-- GET /lm/reports/usage: per product_feature (NULL: all) and UTC hour or day from p_since to
-- p_until (the hours that begin in it, the one holding p_since included), the numbers of the
-- rollups summed over the feature's pools (one product.feature may be served by several license
-- servers): total and the maxima are sums of the pools' maxima, so an upper bound when the pools
-- peaked at different times. By day, whole days come from the daily rollups and the partial
-- days at either end from the hourly ones (lm.report_span); a day's row is its hours rolled up
-- the way per_pool rolls hours up, so the figures are the same either way. An unknown
-- product_feature is LM002 (404).
DROP FUNCTION IF EXISTS lm.usage_report(text, timestamptz, timestamptz, text);
CREATE FUNCTION lm.usage_report(p_product_feature text, p_since timestamptz, p_until timestamptz, p_by text)
RETURNS TABLE (product_feature text, period_start timestamptz, total bigint, used_avg numeric, used_max bigint,
               booked_max bigint, external_max bigint, demand_max bigint, queued_max bigint, denials bigint)
LANGUAGE plpgsql STABLE
-- planned for each call's feature and span: a generic plan cannot tell one feature (the
-- (product_feature, hour) index) from all of them, and costs milliseconds against a report's
-- tens or hundreds
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v record;
BEGIN
    PERFORM lm.check_report(p_since, p_until, p_by, p_product_feature);
    SELECT * INTO v FROM lm.report_span(p_since, p_until, p_by);
    RETURN QUERY
    WITH rollups AS (
        -- the hours before the first whole day and from the end of the last one (all of them by hour)
        SELECT r.product_feature, r.pool_id, r.hour AS at, r.seconds, r.total_max, r.used_avg, r.used_max,
               r.booked_max, r.external_max, r.demand_max, r.queued_max
        FROM lm.usage_rollups r
        WHERE (p_product_feature IS NULL OR r.product_feature = p_product_feature)
          AND ((r.hour >= v.hour_lo AND r.hour < v.day_lo) OR (r.hour >= v.day_hi AND r.hour < v.hour_hi))
        UNION ALL
        SELECT r.product_feature, r.pool_id, r.day, r.seconds, r.total_max, r.used_avg, r.used_max,
               r.booked_max, r.external_max, r.demand_max, r.queued_max
        FROM lm.usage_day_rollups r
        WHERE (p_product_feature IS NULL OR r.product_feature = p_product_feature)
          AND r.day >= v.day_lo AND r.day < v.day_hi
    ), per_pool AS (
        SELECT r.product_feature AS pf, r.pool_id,
               date_trunc(p_by, r.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period,
               max(r.total_max) AS total, sum(r.used_avg * r.seconds) / nullif(sum(r.seconds) FILTER (WHERE r.used_avg IS NOT NULL), 0) AS used_avg,
               max(r.used_max) AS used_max, max(r.booked_max) AS booked_max, max(r.external_max) AS external_max,
               max(r.demand_max) AS demand_max, max(r.queued_max) AS queued_max
        FROM rollups r
        GROUP BY 1, 2, 3
    ), per_feature AS (
        SELECT p.pf, p.period, sum(p.total)::bigint AS total, round(sum(p.used_avg)::numeric, 2) AS used_avg,
               sum(p.used_max)::bigint AS used_max, sum(p.booked_max)::bigint AS booked_max,
               sum(p.external_max)::bigint AS external_max, sum(p.demand_max)::bigint AS demand_max,
               sum(p.queued_max)::bigint AS queued_max
        FROM per_pool p
        GROUP BY p.pf, p.period
    ), den AS (
        -- once, joined: not a subquery per row (thousands of rows for all features)
        SELECT d.product_feature AS pf, d.period_start AS period, sum(d.denials)::bigint AS denials
        FROM lm.usage_report_denials(p_since, p_until, p_by) d
        GROUP BY 1, 2
    )
    SELECT f.pf, f.period, f.total, f.used_avg, f.used_max, f.booked_max, f.external_max, f.demand_max, f.queued_max,
           coalesce(den.denials, 0)
    FROM per_feature f LEFT JOIN den ON den.pf = f.pf AND den.period = f.period
    ORDER BY 1, 2;
END
$$;

-- GET /lm/reports/users: license-hours per user and product_feature over the hours that begin
-- from p_since's hour to before p_until: whole UTC days from the daily rollups, the hours at either
-- end from the hourly ones (lm.report_span; the same sums). In no order: the API sorts and pages
-- (most first by default, lm.http.Listing's top-N sort), as psql users do with ORDER BY; sorting
-- every row here would cost more than summing them when there are hundreds of thousands (make
-- bench: a year of 300 users on each of 1,000 features, 300,000 rows). The days are summed per
-- pair on their own, then joined to the edge hours' sums: over a long period the planner reads the
-- days in pair order off the V19 index and sums them as they come, without a hash table of every
-- pair. p_product_feature and p_username (NULL: all) narrow it: a year of one feature (the
-- (product_feature, day) index) or one user is a few thousand rows at most. An unknown
-- product_feature is LM002 (404), as in lm.usage_report.
DROP FUNCTION IF EXISTS lm.user_report(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS lm.user_report(timestamptz, timestamptz, text, text);
CREATE FUNCTION lm.user_report(p_since timestamptz, p_until timestamptz, p_product_feature text DEFAULT NULL,
                               p_username text DEFAULT NULL)
RETURNS TABLE (username text, product_feature text, license_hours numeric)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan -- as lm.usage_report: one feature, one user or all
AS $$
DECLARE
    v record;
BEGIN
    PERFORM lm.check_report(p_since, p_until, 'hour', p_product_feature);
    SELECT * INTO v FROM lm.report_span(p_since, p_until);
    RETURN QUERY
    WITH days AS (
        SELECT d.username, d.product_feature, sum(d.license_seconds) AS seconds
        FROM lm.user_day_rollups d
        WHERE d.day >= v.day_lo AND d.day < v.day_hi
          AND (p_product_feature IS NULL OR d.product_feature = p_product_feature)
          AND (p_username IS NULL OR d.username = p_username)
        GROUP BY 1, 2
    ), hours AS (
        SELECT h.username, h.product_feature, sum(h.license_seconds) AS seconds
        FROM lm.user_rollups h
        WHERE ((h.hour >= v.hour_lo AND h.hour < v.day_lo) OR (h.hour >= v.day_hi AND h.hour < v.hour_hi))
          AND (p_product_feature IS NULL OR h.product_feature = p_product_feature)
          AND (p_username IS NULL OR h.username = p_username)
        GROUP BY 1, 2
    )
    SELECT coalesce(d.username, h.username), coalesce(d.product_feature, h.product_feature),
           round(((coalesce(d.seconds, 0) + coalesce(h.seconds, 0)) / 3600)::numeric, 2)
    FROM days d FULL JOIN hours h ON h.username = d.username AND h.product_feature = d.product_feature;
END
$$;

DROP VIEW IF EXISTS lm.usage_hourly, lm.user_usage, lm.api_checkouts, lm.current_checkouts;

-- Per product_feature and UTC hour, the rollups summed over the feature's pools (psql reporting).
CREATE VIEW lm.usage_hourly AS
SELECT r.product_feature, r.hour, sum(r.total_max) AS total, round(sum(r.used_avg)::numeric, 2) AS used_avg,
       sum(r.used_max) AS used_max, sum(r.booked_max) AS booked_max, sum(r.external_max) AS external_max,
       sum(r.demand_max) AS demand_max, sum(r.queued_max) AS queued_max, sum(r.samples) AS samples,
       sum(r.stale_samples) AS stale_samples, sum(r.held_samples) AS held_samples
FROM lm.usage_rollups r
GROUP BY r.product_feature, r.hour
ORDER BY r.hour, r.product_feature;

-- Per UTC hour, user and product_feature: license-hours checked out (psql reporting).
CREATE VIEW lm.user_usage AS
SELECT u.hour, u.username, u.product_feature, round((sum(u.license_seconds) / 3600)::numeric, 2) AS license_hours
FROM lm.user_rollups u
GROUP BY u.hour, u.username, u.product_feature
ORDER BY u.hour, u.username, u.product_feature;

-- Who holds what now (lmstat -a), one row per pool, user and host, as the newest agent pass that
-- read the pool's license server saw it; matched: how many of them jobs License Manager knows
-- account for (psql reporting).
CREATE VIEW lm.current_checkouts AS
SELECT k.product_feature, k.username, k.host, k.quantity, k.matched, k.slurm_job_ids, k.pool_id, k.cluster_client_id, k.seen_at,
       k.since
FROM lm.checkouts k
ORDER BY k.product_feature, k.username, k.host, k.pool_id;

-- GET /lm/checkouts: lm.current_checkouts as JSON.
CREATE VIEW lm.api_checkouts AS
SELECT row_number() OVER (ORDER BY k.product_feature, k.username, k.host, k.pool_id) AS id,
       k.product_feature, k.username, k.host, k.quantity,
       json_build_object('product_feature', k.product_feature, 'pool_id', k.pool_id, 'username', k.username,
                         'host', k.host, 'quantity', k.quantity, 'matched', k.matched,
                         'slurm_job_ids', CASE WHEN k.slurm_job_ids IS NULL THEN '[]'::json
                                               ELSE to_json(string_to_array(k.slurm_job_ids, ',')) END,
                         'cluster_client_id', k.cluster_client_id, 'seen_at', k.seen_at, 'since', k.since) AS j
FROM lm.current_checkouts k;
