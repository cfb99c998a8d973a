-- Usage history (V15__usage.sql): samples per agent pass, hourly rollups, retention, and the
-- reports read from them. Time is a parameter everywhere.

-- Records what one agent pass of p_cluster saw (p_report as lm.apply_agent_report takes it), at
-- p_now: a sample per pool the cluster uses, the checkouts of every pool the report read
-- (replacing the pool's earlier ones) and each user's checkouts; then rolls up p_now's hour for
-- those pools and drops what is past retention. Called by lm.apply_agent_report after the pass
-- has been applied (the counts are the pass's result), under the pool locks it took.
CREATE OR REPLACE FUNCTION lm.record_usage(p_cluster text, p_report jsonb, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
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
    JOIN lm.features f ON f.id = lm.find_feature(p_cluster, x->>'product_feature')
    JOIN lm.features pf ON pf.id = f.pool_id
    JOIN lm.products pr ON pr.id = pf.product_id
    LEFT JOIN LATERAL (SELECT c."user", c.host, sum(c.quantity) AS quantity
                       FROM jsonb_to_recordset(coalesce(x->'checkouts', '[]')) AS c("user" text, host text, quantity bigint)
                       WHERE c."user" IS NOT NULL AND c.quantity > 0
                       GROUP BY 1, 2) co ON true
    GROUP BY f.pool_id, 4, 5;

    DELETE FROM lm.checkouts WHERE pool_id IN (SELECT pool_id FROM lm_read);
    INSERT INTO lm.checkouts (pool_id, username, host, product_feature, cluster_client_id, quantity, matched,
                              slurm_job_ids, seen_at)
    SELECT r.pool_id, r.usr, coalesce(r.host, ''), r.product_feature, p_cluster, r.quantity,
           least(r.quantity, coalesce(m.booked, 0)), m.jobs, p_now
    FROM lm_read r
    -- jobs of any cluster on the same user and lead host holding or having checked out a booking of the pool
    LEFT JOIN LATERAL (SELECT sum(b.quantity) AS booked, string_agg(DISTINCT j.slurm_job_id, ',') AS jobs
                       FROM lm.features g
                       JOIN lm.bookings b ON b.feature_id = g.id
                                         AND (b.released_at IS NULL OR b.released_reason = 'checkout')
                       JOIN lm.jobs j ON j.id = b.job_id
                       WHERE g.pool_id = r.pool_id AND lower(j.username) = r.usr
                         AND lower(split_part(j.lead_host, '.', 1)) = r.host) m ON true
    WHERE r.usr IS NOT NULL;

    INSERT INTO lm.usage_samples (pool_id, at, product_feature, seconds, total, used, reserved, booked, external,
                                  demand, queued, stale, held)
    SELECT st.pool_id, p_now, pr.name || '.' || pf.name,
           least(coalesce(extract(epoch FROM p_now - prev.at), v_interval), 2 * v_interval), st.total, st.used, st.reserved,
           st.booked, greatest(st.used - (SELECT coalesce(sum(k.matched), 0) FROM lm.checkouts k WHERE k.pool_id = st.pool_id), 0),
           (SELECT coalesce(sum(d.quantity), 0) FROM lm.demand d
              JOIN lm.features g ON g.id = d.feature_id JOIN lm.configurations c ON c.id = g.config_id
             WHERE g.pool_id = st.pool_id
               -- the same demand as lm.pool_shares counts (R__booking_1_shares.sql)
               AND greatest(d.pending_at, d.refused_at) > p_now - make_interval(secs => lm.demand_window(c.cluster_client_id))),
           -- a pool not read this pass keeps its last queue, as it keeps its last used
           coalesce((SELECT max(r.queued) FROM lm_read r WHERE r.pool_id = st.pool_id), prev.queued, 0),
           st.stale, st.held
    FROM unnest(v_pools) AS pool(id)
    CROSS JOIN LATERAL lm.pool_state(pool.id, p_now) st
    JOIN lm.features pf ON pf.id = st.pool_id
    JOIN lm.products pr ON pr.id = pf.product_id
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
-- reports. Averages are weighted by each sample's seconds. Returns the pools rolled up.
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
    RETURN v_count;
END
$$;

-- Drops raw samples older than lm.settings.history_raw_days before p_now, and hourly rollups
-- whose hour began more than history_hourly_days before it (0: rollups are kept forever).
-- Runs every agent pass, so each run deletes about one pass's worth of rows through the (at) and
-- (hour) indexes.
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

-- Checks a report's period: p_by hour or day, p_since before p_until (LM003, 422).
CREATE OR REPLACE FUNCTION lm.check_report_period(p_since timestamptz, p_until timestamptz, p_by text DEFAULT 'hour')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_by IS NULL OR p_by NOT IN ('hour', 'day') THEN
        RAISE EXCEPTION 'Invalid report period.' USING ERRCODE = 'LM003', DETAIL = 'by must be hour or day';
    END IF;
    IF p_since IS NULL OR p_until IS NULL OR p_since >= p_until THEN
        RAISE EXCEPTION 'Invalid report period.' USING ERRCODE = 'LM003', DETAIL = 'since must be before until';
    END IF;
END
$$;

-- GET /lm/reports/usage: per product_feature (NULL: all) and UTC hour or day from p_since to
-- p_until (the hours that begin in it, the one holding p_since included), the numbers of the
-- hourly rollups summed over the feature's pools (one product.feature may be served by several
-- license servers): total and the maxima are sums of the pools' maxima, so an upper bound when
-- the pools peaked at different times. An unknown product_feature is LM002 (404).
DROP FUNCTION IF EXISTS lm.usage_report(text, timestamptz, timestamptz, text);
CREATE FUNCTION lm.usage_report(p_product_feature text, p_since timestamptz, p_until timestamptz, p_by text)
RETURNS TABLE (product_feature text, period_start timestamptz, total bigint, used_avg numeric, used_max bigint,
               booked_max bigint, external_max bigint, demand_max bigint, queued_max bigint, denials bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM lm.check_report_period(p_since, p_until, p_by);
    IF p_product_feature IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lm.usage_rollups r WHERE r.product_feature = p_product_feature)
       AND NOT EXISTS (SELECT 1 FROM lm.features f JOIN lm.products p ON p.id = f.product_id
                       WHERE p.name || '.' || f.name = p_product_feature) THEN
        RAISE EXCEPTION 'Feature not found.' USING ERRCODE = 'LM002', DETAIL = 'no feature ' || p_product_feature;
    END IF;
    RETURN QUERY
    WITH per_pool AS (
        SELECT r.product_feature AS pf, r.pool_id,
               date_trunc(p_by, r.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period,
               max(r.total_max) AS total, sum(r.used_avg * r.seconds) / nullif(sum(r.seconds) FILTER (WHERE r.used_avg IS NOT NULL), 0) AS used_avg,
               max(r.used_max) AS used_max, max(r.booked_max) AS booked_max, max(r.external_max) AS external_max,
               max(r.demand_max) AS demand_max, max(r.queued_max) AS queued_max
        FROM lm.usage_rollups r
        WHERE (p_product_feature IS NULL OR r.product_feature = p_product_feature)
          AND r.hour >= date_trunc('hour', p_since AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND r.hour < p_until
        GROUP BY 1, 2, 3
    )
    , per_feature AS (
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
-- from p_since's hour to before p_until, most first.
DROP FUNCTION IF EXISTS lm.user_report(timestamptz, timestamptz);
CREATE FUNCTION lm.user_report(p_since timestamptz, p_until timestamptz)
RETURNS TABLE (username text, product_feature text, license_hours numeric)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM lm.check_report_period(p_since, p_until);
    RETURN QUERY
    SELECT u.username, u.product_feature, round((sum(u.license_seconds) / 3600)::numeric, 2)
    FROM lm.user_rollups u
    WHERE u.hour >= date_trunc('hour', p_since AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND u.hour < p_until
    GROUP BY 1, 2
    ORDER BY 3 DESC, 1, 2;
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
SELECT k.product_feature, k.username, k.host, k.quantity, k.matched, k.slurm_job_ids, k.pool_id, k.cluster_client_id, k.seen_at
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
                         'cluster_client_id', k.cluster_client_id, 'seen_at', k.seen_at) AS j
FROM lm.current_checkouts k;
