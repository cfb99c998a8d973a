-- The API's JSON, shaped in SQL: each view has an `id`, the columns lists search and sort on,
-- and `j`, the resource as the API returns it. Repeatable migration: replaced whenever it changes.

DROP VIEW IF EXISTS lm.api_configurations, lm.api_features, lm.api_license_servers, lm.api_products,
    lm.api_cluster_statuses, lm.api_jobs, lm.api_bookings, lm.api_project_shares CASCADE;

-- A booking holds licenses while it is neither released nor past its grace time. Every count
-- of "booked" in the API, the views and admission uses exactly this predicate.
CREATE OR REPLACE FUNCTION lm.booking_active(p_b lm.bookings, p_now timestamptz DEFAULT now())
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_b.released_at IS NULL AND p_b.expires_at > p_now
$$;

CREATE VIEW lm.api_products AS
SELECT p.id, p.name, json_build_object('id', p.id, 'name', p.name) AS j
FROM lm.products p;

CREATE VIEW lm.api_license_servers AS
SELECT s.id, s.config_id, s.host, s.port,
       json_build_object('id', s.id, 'config_id', s.config_id, 'host', s.host, 'port', s.port) AS j
FROM lm.license_servers s;

-- What admission sees of a feature's pool (lm.pool_state). plpgsql because its body is bound
-- when it runs: this file is applied before R__booking_1_pools.sql, which defines pool_state.
CREATE OR REPLACE FUNCTION lm.feature_pool_state(p_feature bigint)
RETURNS TABLE (stale boolean, held boolean, available bigint) LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT s.stale, s.held, s.available FROM lm.pool_state(p_feature) s;
END
$$;

-- stale, held and available are the pool's, as lm.pool_state gives them to admission and the
-- agent's plan (available is the pool's true value: negative when outside usage grew past what
-- was free; held: the newest reading is older than the outage grace).
CREATE VIEW lm.api_features AS
SELECT f.id, f.name, p.name AS product_name, f.product_id, f.config_id, c.cluster_client_id,
       f.reserved, f.total, f.used, b.booked AS booked_total, f.share, f.max_use, f.expires_at,
       json_build_object('id', f.id, 'name', f.name,
                         'product', json_build_object('id', p.id, 'name', p.name),
                         'config_id', f.config_id, 'reserved', f.reserved, 'total', f.total,
                         -- the cluster's weight in the pool and its limit (R__booking_1_shares.sql)
                         'share', f.share, 'max_use', f.max_use,
                         'used', f.used, 'booked_total', b.booked,
                         -- when the license server last answered, and whether the last poll failed
                         -- (the counts are then the last good ones; see lm-agent(8), outage policy)
                         'reported_at', f.reported_at,
                         -- the nearest expiry the license server prints, and how many expire then (V13)
                         'expires_at', f.expires_at, 'expiring', f.expiring,
                         'stale', coalesce(st.stale, true), 'held', coalesce(st.held, true),
                         'available', coalesce(st.available, 0)) AS j
FROM lm.features f
JOIN lm.products p ON p.id = f.product_id
JOIN lm.configurations c ON c.id = f.config_id
CROSS JOIN LATERAL (
    SELECT coalesce(sum(bk.quantity), 0)::bigint AS booked
    FROM lm.bookings bk
    WHERE bk.feature_id = f.id AND bk.released_at IS NULL AND bk.expires_at > now()
) b
LEFT JOIN LATERAL lm.feature_pool_state(f.id) st ON true;

CREATE VIEW lm.api_configurations AS
SELECT c.id, c.name, c.cluster_client_id, c.grace_time, c.type, c.outage_grace,
       json_build_object('id', c.id, 'name', c.name, 'cluster_client_id', c.cluster_client_id,
                         'grace_time', c.grace_time, 'type', c.type, 'outage_grace', c.outage_grace,
                         'features', coalesce((SELECT json_agg(af.j ORDER BY af.id) FROM lm.api_features af WHERE af.config_id = c.id), '[]'),
                         'license_servers', coalesce((SELECT json_agg(s.j ORDER BY s.id) FROM lm.api_license_servers s WHERE s.config_id = c.id), '[]')
       ) AS j
FROM lm.configurations c;

-- Each license server as lm-agent last read it (p_cluster NULL: all clusters). The agent polls a
-- configuration's servers as one (redundant servers answer for each other), so every server of a
-- configuration has the configuration's state: down when the newest poll of one of its features
-- failed, or when a feature (or the whole configuration) was never read. reported_at: the oldest
-- of its features' last good readings (NULL: none read). The one definition of "up" for the
-- metric lm_license_server_up (R__metrics.sql) and GET /lm/cluster_statuses' failing_servers.
DROP FUNCTION IF EXISTS lm.license_server_states(text);
CREATE FUNCTION lm.license_server_states(p_cluster text DEFAULT NULL)
RETURNS TABLE (server_id bigint, config_id bigint, configuration text, cluster_client_id text, host text, port integer,
               up boolean, reported_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.id, c.id, c.name, c.cluster_client_id, s.host, s.port,
           coalesce(bool_and(f.reported_at IS NOT NULL AND (f.failed_at IS NULL OR f.failed_at < f.reported_at)), false),
           min(f.reported_at)
    FROM lm.configurations c
    JOIN lm.license_servers s ON s.config_id = c.id
    LEFT JOIN lm.features f ON f.config_id = c.id
    WHERE p_cluster IS NULL OR c.cluster_client_id = p_cluster
    GROUP BY s.id, c.id
$$;

CREATE VIEW lm.api_cluster_statuses AS
SELECT s.cluster_client_id AS id, s.cluster_client_id, s.interval, s.last_reported,
       json_build_object('cluster_client_id', s.cluster_client_id, 'interval', s.interval,
                         'last_reported', s.last_reported,
                         'is_healthy', now() - make_interval(secs => s.interval) <= s.last_reported,
                         'failing_servers', coalesce((SELECT json_agg(json_build_object('configuration', st.configuration,
                                                          'host', st.host, 'port', st.port, 'reported_at', st.reported_at)
                                                          ORDER BY st.host, st.port, st.configuration)
                                                      FROM lm.license_server_states(s.cluster_client_id) st WHERE NOT st.up), '[]')) AS j
FROM lm.cluster_statuses s;

CREATE VIEW lm.api_bookings AS
SELECT bk.id, bk.job_id, bk.feature_id, bk.quantity, bk.created_at, j.cluster_client_id,
       json_build_object('id', bk.id, 'job_id', bk.job_id, 'feature_id', bk.feature_id,
                         'quantity', bk.quantity, 'created_at', bk.created_at,
                         'expires_at', bk.expires_at, 'active', lm.booking_active(bk),
                         'released_reason', bk.released_reason,
                         -- booked by lm-prolog while lm-server was unreachable (R__booking_6_offline.sql)
                         'offline', bk.offline) AS j
FROM lm.bookings bk JOIN lm.jobs j ON j.id = bk.job_id;

CREATE VIEW lm.api_jobs AS
SELECT jb.id, jb.slurm_job_id, jb.cluster_client_id, jb.username, jb.lead_host, jb.created_at, jb.account,
       json_build_object('id', jb.id, 'slurm_job_id', jb.slurm_job_id,
                         'cluster_client_id', jb.cluster_client_id, 'username', jb.username,
                         'lead_host', jb.lead_host, 'created_at', jb.created_at, 'account', jb.account, 'run', jb.run,
                         'bookings', coalesce((SELECT json_agg(b.j ORDER BY b.id) FROM lm.api_bookings b WHERE b.job_id = jb.id), '[]')
       ) AS j
FROM lm.jobs jb;

-- A project's share of one cluster's feature (R__booking_1_shares.sql); cluster_client_id for the
-- caller's-cluster check of writes and for search.
CREATE VIEW lm.api_project_shares AS
SELECT s.id, s.feature_id, s.account, s.share, s.max_use, c.cluster_client_id, f.config_id,
       json_build_object('id', s.id, 'feature_id', s.feature_id, 'account', s.account, 'share', s.share,
                         'max_use', s.max_use, 'cluster_client_id', c.cluster_client_id) AS j
FROM lm.project_shares s
JOIN lm.features f ON f.id = s.feature_id
JOIN lm.configurations c ON c.id = f.config_id;
