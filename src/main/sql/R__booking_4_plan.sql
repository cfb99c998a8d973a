-- The reservation each cluster holds in Slurm.

-- The reservation to hold in one cluster's Slurm, per license Slurm knows:
-- p_slurm = [{license: "product.feature@type", total, used}] from `scontrol show lic`.
--   free_real   = total − reserved − used − active bookings of the pool (all clusters)
--   free_here   = free_real − what other clusters' owners below their share wait for (rounded
--                 up), and at most the cluster's max_use − in_use (R__booking_1_shares.sql)
--   reservation = clamp(Total_slurm − Used_slurm − free_here, 0, Total_slurm)
-- The cluster's own running jobs are in both Used_slurm and used (or booked), so they cancel;
-- what remains is outside usage, other clusters' bookings and what the share rule keeps for
-- others — so Slurm does not start a job the prolog would refuse. Inside the cluster Slurm
-- cannot tell accounts apart: the prolog alone applies project shares. Licenses License
-- Manager does not track are left out (nothing to hold). A count above Total is never
-- returned: Slurm 22.05 rejects it and then silently stops enforcing the reservation.
CREATE OR REPLACE FUNCTION lm.plan_reservations(p_cluster text, p_slurm jsonb, p_now timestamptz DEFAULT now())
RETURNS TABLE (license text, reservation bigint, free_real bigint, slurm_total bigint, slurm_used bigint, held boolean)
LANGUAGE sql STABLE AS $$
    SELECT s.license,
           CASE WHEN st.held THEN greatest(s.total, 0)
                ELSE least(greatest(s.total - s.used - least(st.available - k.kept, k.room), 0), s.total) END,
           st.available, s.total, s.used, st.held
    FROM jsonb_to_recordset(p_slurm) AS s(license text, total bigint, used bigint)
    CROSS JOIN LATERAL (
        SELECT f.id, f.pool_id FROM lm.features f
        JOIN lm.products p ON p.id = f.product_id
        JOIN lm.configurations c ON c.id = f.config_id
        WHERE c.cluster_client_id = p_cluster
          AND p.name || '.' || f.name || '@' || c.type = s.license
        ORDER BY f.id LIMIT 1
    ) f
    CROSS JOIN LATERAL lm.pool_state(f.id, p_now) st
    -- kept: for other clusters' waiting owners; room: what the cluster's max_use still allows
    CROSS JOIN LATERAL (
        SELECT coalesce(ceil(sum(o.waiting) FILTER (WHERE o.leaf AND o.feature_id <> f.id)), 0)::bigint AS kept,
               coalesce(max(o.max_use - o.in_use) FILTER (WHERE o.feature_id = f.id AND o.account IS NULL), 9223372036854775807) AS room
        FROM lm.pool_shares(f.pool_id, p_now) o
        WHERE lm.pool_shared(f.id)
    ) k
    ORDER BY s.license
$$;
