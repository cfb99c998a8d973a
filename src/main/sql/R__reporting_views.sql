-- Reporting views for plain psql (README "Reporting with psql"). They use the same functions as
-- admission, so what an admin reads is what the next admission decides on.

DROP VIEW IF EXISTS lm.license_pools, lm.active_bookings, lm.cluster_usage, lm.pool_distribution, lm.api_pools,
    lm.distribution_log CASCADE;

-- One row per license pool (the same product.feature on the same license server), whichever
-- clusters share it. available is the true value: negative when outside usage grew past what
-- was free (an admin must see that), at most 0 when held.
CREATE VIEW lm.license_pools AS
SELECT st.pool_id,
       p.name || '.' || f.name AS product_feature,
       (SELECT string_agg(DISTINCT s.host || ':' || s.port, ',')
          FROM lm.license_servers s
         WHERE s.config_id IN (SELECT g.config_id FROM lm.features g WHERE g.id IN (SELECT lm.pool_members(f.id)))) AS servers,
       (SELECT string_agg(DISTINCT c.cluster_client_id, ',')
          FROM lm.features g JOIN lm.configurations c ON c.id = g.config_id
         WHERE g.id IN (SELECT lm.pool_members(f.id))) AS clusters,
       st.total, st.used, st.reserved, st.booked, st.available, st.stale, st.held,
       -- of booked, what lm-prolog booked offline (replayed by lm-agent): when available is
       -- negative, this says how much of the shortfall offline operation caused
       (SELECT coalesce(sum(b.quantity), 0) FROM lm.bookings b JOIN lm.features g ON g.id = b.feature_id
         WHERE g.pool_id = st.pool_id AND b.offline AND b.released_at IS NULL AND b.expires_at > now()) AS booked_offline
FROM lm.features f
JOIN lm.products p ON p.id = f.product_id
CROSS JOIN LATERAL lm.pool_state(f.id) st
WHERE f.id = st.pool_id;

-- Bookings that hold licenses now, oldest first.
CREATE VIEW lm.active_bookings AS
SELECT b.id AS booking_id, j.cluster_client_id, j.slurm_job_id, j.username, j.lead_host,
       p.name || '.' || f.name AS product_feature, b.quantity, b.created_at,
       now() - b.created_at AS age, b.expires_at
FROM lm.bookings b
JOIN lm.jobs j ON j.id = b.job_id
JOIN lm.features f ON f.id = b.feature_id
JOIN lm.products p ON p.id = f.product_id
WHERE b.released_at IS NULL AND b.expires_at > now()
ORDER BY b.created_at;

-- Per cluster and license: what its configuration sees and what its jobs hold.
CREATE VIEW lm.cluster_usage AS
SELECT c.cluster_client_id, p.name || '.' || f.name || '@' || c.type AS license,
       f.total, f.used, f.reserved,
       (SELECT coalesce(sum(b.quantity), 0) FROM lm.bookings b
         WHERE b.feature_id = f.id AND b.released_at IS NULL AND b.expires_at > now()) AS booked_by_cluster,
       (SELECT count(*) FROM lm.jobs j WHERE j.cluster_client_id = c.cluster_client_id
           AND EXISTS (SELECT 1 FROM lm.bookings b WHERE b.job_id = j.id AND b.feature_id = f.id
                       AND b.released_at IS NULL AND b.expires_at > now())) AS jobs_booking,
       f.reported_at, f.failed_at
FROM lm.features f
JOIN lm.products p ON p.id = f.product_id
JOIN lm.configurations c ON c.id = f.config_id;

-- Per pool and owner, the distribution admission decides on now (R__booking_1_shares.sql): a row
-- per cluster (account NULL) and, where the cluster has project shares, per account owner ('*':
-- the accounts without a row of their own). leaf: the owners the rule compares.
CREATE VIEW lm.pool_distribution AS
SELECT lp.pool_id, lp.product_feature, s.cluster_client_id, s.account, s.share, s.max_use, s.entitled, s.in_use,
       s.demand, s.waiting, s.leaf
FROM lm.license_pools lp
CROSS JOIN LATERAL lm.pool_shares(lp.pool_id) s
ORDER BY lp.pool_id, s.cluster_client_id, s.account NULLS FIRST;

-- GET /lm/pools: lm.license_pools with the owners of lm.pool_distribution. Here rather than in
-- R__api_views.sql, which Flyway applies before the functions it would use exist.
CREATE VIEW lm.api_pools AS
SELECT lp.pool_id AS id, lp.product_feature, lp.clusters, lp.total, lp.available, lp.booked,
       json_build_object('id', lp.pool_id, 'product_feature', lp.product_feature, 'servers', lp.servers,
                         'clusters', lp.clusters, 'total', lp.total, 'used', lp.used, 'reserved', lp.reserved,
                         'booked', lp.booked, 'available', lp.available, 'stale', lp.stale, 'held', lp.held,
                         -- the features (one per configuration) that make up the pool, and the
                         -- nearest expiry their license servers print (V13)
                         'feature_ids', (SELECT json_agg(g.id ORDER BY g.id) FROM lm.features g WHERE g.pool_id = lp.pool_id),
                         'expires_at', (SELECT min(g.expires_at) FROM lm.features g WHERE g.pool_id = lp.pool_id),
                         'owners', (SELECT json_agg(json_build_object('cluster_client_id', s.cluster_client_id,
                                        'account', s.account, 'share', s.share, 'entitled', s.entitled, 'in_use', s.in_use,
                                        'demand', s.demand, 'max_use', s.max_use, 'waiting', s.waiting)
                                        ORDER BY s.cluster_client_id, s.account NULLS FIRST)
                                    FROM lm.pool_shares(lp.pool_id) s)) AS j
FROM lm.license_pools lp;

-- The distribution log (LSF License Scheduler's featureName.ServiceDomain.dat): what every agent
-- pass saw per pool and owner, kept distribution_log_days (lm.conf(5)); see lm.log_distribution.
CREATE VIEW lm.distribution_log AS
SELECT e.at, e.pool_id, e.product_feature, e.cluster_client_id, e.account, e.share, e.entitled, e.in_use, e.free, e.demand
FROM lm.distribution_entries e
ORDER BY e.at, e.pool_id, e.cluster_client_id, e.account NULLS FIRST;

-- Licenses that expire, nearest first, with the days left counted from p_now's UTC day (0 on
-- the last day, negative once past: the license server no longer serves them). Time is a
-- parameter here so tests can pin it; lm.expiring_licenses is this at now().
DROP VIEW IF EXISTS lm.expiring_licenses;
DROP FUNCTION IF EXISTS lm.expiring_licenses_at(timestamptz);
CREATE FUNCTION lm.expiring_licenses_at(p_now timestamptz)
RETURNS TABLE (product_feature text, cluster_client_id text, servers text, expires_at date, days_left integer,
               expiring bigint, total bigint)
LANGUAGE sql STABLE AS $$
    SELECT p.name || '.' || f.name, c.cluster_client_id,
           (SELECT string_agg(s.host || ':' || s.port, ',' ORDER BY s.id) FROM lm.license_servers s WHERE s.config_id = c.id),
           f.expires_at, f.expires_at - (p_now AT TIME ZONE 'UTC')::date, f.expiring, f.total
    FROM lm.features f
    JOIN lm.products p ON p.id = f.product_id
    JOIN lm.configurations c ON c.id = f.config_id
    WHERE f.expires_at IS NOT NULL
    ORDER BY f.expires_at, 1, 2
$$;

CREATE VIEW lm.expiring_licenses AS SELECT * FROM lm.expiring_licenses_at(now());
