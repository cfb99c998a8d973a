-- GET /lm/metrics (lm.metrics.Metrics): the gauges (and counters kept in the database, whose
-- names end in _total) are read from the database at scrape time, so
-- every lm-server instance behind a load balancer answers the same. One row per sample; the Java
-- side only groups rows by metric and writes Prometheus' text format. Time is a parameter.

DROP FUNCTION IF EXISTS lm.metric_gauges(timestamptz);

CREATE FUNCTION lm.metric_gauges(p_now timestamptz)
RETURNS TABLE (metric text, help text, labels jsonb, value double precision)
LANGUAGE sql STABLE AS $$
    WITH pools AS (
        SELECT p.name || '.' || f.name AS product_feature, st.*
        FROM lm.features f
        JOIN lm.products p ON p.id = f.product_id
        CROSS JOIN LATERAL lm.pool_state(f.id, p_now) st
        WHERE f.id = st.pool_id
    ), per_pool(metric, help, value_of) AS (
        -- "Total of N licenses issued" (FlexLM); not lm_license_total: to Prometheus (and
        -- promtool's lint) a _total suffix means a counter
        VALUES ('lm_license_issued', 'Licenses the license server issues (the newest reading of the pool).', 'total'),
               ('lm_license_used', 'Licenses checked out on the license server.', 'used'),
               ('lm_license_reserved', 'Licenses kept out of Slurm''s reach by the configuration.', 'reserved'),
               ('lm_license_booked', 'Licenses booked by jobs that have not checked them out yet.', 'booked'),
               ('lm_license_available', 'total - reserved - used - booked; negative when use outside the clusters grew past what was free, at most 0 when held.', 'available'),
               ('lm_license_stale', '1 when the license server did not answer the last poll and the last good reading is in use.', 'stale'),
               ('lm_license_held', '1 when the newest reading is older than the outage grace (or there is none): the pool is held.', 'held')
    )
    SELECT m.metric, m.help,
           jsonb_build_object('pool', p.pool_id::text, 'product_feature', p.product_feature),
           CASE m.value_of
               WHEN 'total' THEN p.total WHEN 'used' THEN p.used WHEN 'reserved' THEN p.reserved
               WHEN 'booked' THEN p.booked WHEN 'available' THEN p.available
               WHEN 'stale' THEN p.stale::int WHEN 'held' THEN p.held::int END::double precision
    FROM per_pool m CROSS JOIN pools p
    -- a pool that was never read has no counts: no sample rather than a made-up 0
    WHERE m.value_of IN ('stale', 'held', 'booked', 'reserved')
       OR EXISTS (SELECT 1 FROM lm.features g WHERE g.pool_id = p.pool_id AND g.reported_at IS NOT NULL)
    UNION ALL
    -- the nearest expiry of the pool's features (lm.features.expires_at, a day: its 00:00 UTC);
    -- a pool none of whose servers prints an expiry has no sample, not a made-up far date
    SELECT 'lm_license_expiry_timestamp_seconds',
           'Nearest expiry day the license servers print for the pool''s licenses, as Unix time of its 00:00 UTC.',
           jsonb_build_object('pool', p.pool_id::text, 'product_feature', p.product_feature),
           extract(epoch FROM min(g.expires_at)::timestamp AT TIME ZONE 'UTC')::double precision
    FROM pools p JOIN lm.features g ON g.pool_id = p.pool_id
    GROUP BY p.pool_id, p.product_feature
    HAVING min(g.expires_at) IS NOT NULL
    UNION ALL
    -- from the pool's newest usage sample (lm.record_usage, R__usage.sql): what no job License
    -- Manager knows accounts for, what waiting jobs ask for, what the license server queues; a
    -- pool without samples has none of these
    SELECT m.metric, m.help, jsonb_build_object('pool', p.pool_id::text, 'product_feature', p.product_feature),
           m.value::double precision
    FROM pools p
    CROSS JOIN LATERAL (SELECT s.external, s.demand, s.queued FROM lm.usage_samples s WHERE s.pool_id = p.pool_id
                        ORDER BY s.at DESC LIMIT 1) s
    CROSS JOIN LATERAL (VALUES
        ('lm_license_external', 'Licenses checked out that no job License Manager knows accounts for (used minus checkouts matched to jobs).', s.external),
        ('lm_license_demand', 'Licenses pending and refused jobs ask for, within the demand window.', s.demand),
        ('lm_license_queued', 'Requests the license server queues (FlexLM "queued for"), as the newest agent pass read them.', s.queued)) m(metric, help, value)
    WHERE m.value IS NOT NULL
    UNION ALL
    SELECT 'lm_agent_last_report_age_seconds', 'Seconds since the cluster''s agent last reported.',
           jsonb_build_object('cluster_client_id', s.cluster_client_id),
           extract(epoch FROM p_now - s.last_reported)::double precision
    FROM lm.cluster_statuses s
    UNION ALL
    -- alerts compare the age with the cluster's own interval (contrib/prometheus/lm-alerts.yml)
    SELECT 'lm_agent_interval_seconds', 'Seconds between the cluster''s agent passes, as it last reported.',
           jsonb_build_object('cluster_client_id', s.cluster_client_id), s.interval::double precision
    FROM lm.cluster_statuses s
    UNION ALL
    -- every server of a configuration has the configuration's state (lm.license_server_states).
    -- The configuration is a label: two configurations of one cluster may name the same
    -- host:port (each its own features, polled and failing on its own), and without it they were
    -- two samples of one series, which made every scrape a 500 (issue 20, case 6). A
    -- configuration's name is unique in its cluster and a host:port in its configuration
    -- (V1), so these four labels name one row.
    SELECT 'lm_license_server_up', '1 when the newest poll of the configuration''s license servers succeeded.',
           jsonb_build_object('cluster_client_id', st.cluster_client_id, 'configuration', st.configuration,
                              'host', st.host, 'port', st.port::text),
           st.up::int::double precision
    FROM lm.license_server_states() st
    UNION ALL
    -- a counter (its name ends in _total) kept in the database, lm.offline_rejections: every
    -- instance reports the same, and a restart loses nothing
    SELECT 'lm_offline_entries_rejected_total',
           'Offline ledger entries lm-server rejected on replay, never recorded: invalid (unreadable), time (further than offline_max_age from now), quantity (beyond the cluster''s offline budget).',
           jsonb_build_object('cluster_client_id', r.cluster_client_id, 'reason', r.reason), r.entries::double precision
    FROM lm.offline_rejections r
    UNION ALL
    -- issue 19, case 8: the admission calls that named a license lm-server does not manage
    -- (lm.untracked_licenses, V22; summed over its stripes), so a typo in Slurm's Licenses= shows
    SELECT 'lm_untracked_licenses_total',
           'Admission calls (POST /lm/jobs) that named a license lm-server does not manage for the cluster: counted, never booked.',
           jsonb_build_object('cluster_client_id', u.cluster_client_id, 'license', u.license), sum(u.jobs)::double precision
    FROM lm.untracked_licenses u
    GROUP BY u.cluster_client_id, u.license
    ORDER BY 1, 3
$$;
