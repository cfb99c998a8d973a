-- Reporting views for plain psql (README "Reporting with psql"). They use the same functions as
-- admission, so what an admin reads is what the next admission decides on.

DROP VIEW IF EXISTS lm.license_pools, lm.active_bookings, lm.cluster_usage CASCADE;

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
       st.total, st.used, st.reserved, st.booked, st.available, st.stale, st.held
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
