-- The reservation each cluster holds in Slurm.

-- The reservation to hold in one cluster's Slurm, per license Slurm knows:
-- p_slurm = [{license: "product.feature@type", total, used}] from `scontrol show lic`.
--   free_real   = total − reserved − used − active bookings of the pool (all clusters)
--   reservation = clamp(Total_slurm − Used_slurm − free_real, 0, Total_slurm)
-- The cluster's own running jobs are in both Used_slurm and used (or booked), so they cancel;
-- what remains is outside usage and other clusters' bookings. Licenses License Manager does not
-- track are left out (nothing to hold). A count above Total is never returned: Slurm 22.05
-- rejects it and then silently stops enforcing the reservation.
CREATE OR REPLACE FUNCTION lm.plan_reservations(p_cluster text, p_slurm jsonb, p_now timestamptz DEFAULT now())
RETURNS TABLE (license text, reservation bigint, free_real bigint, slurm_total bigint, slurm_used bigint, held boolean)
LANGUAGE sql STABLE AS $$
    SELECT s.license,
           CASE WHEN st.held THEN greatest(s.total, 0)
                ELSE least(greatest(s.total - s.used - st.available, 0), s.total) END,
           st.available, s.total, s.used, st.held
    FROM jsonb_to_recordset(p_slurm) AS s(license text, total bigint, used bigint)
    CROSS JOIN LATERAL (
        SELECT f.id FROM lm.features f
        JOIN lm.products p ON p.id = f.product_id
        JOIN lm.configurations c ON c.id = f.config_id
        WHERE c.cluster_client_id = p_cluster
          AND p.name || '.' || f.name || '@' || c.type = s.license
        ORDER BY f.id LIMIT 1
    ) f
    CROSS JOIN LATERAL lm.pool_state(f.id, p_now) st
    ORDER BY s.license
$$;
