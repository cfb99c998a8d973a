-- Issue 19, case 8: a license lm-server does not manage is never booked, so a typo in Slurm's
-- Licenses= (or a license nobody configured here) would let jobs run unbooked unseen. Each
-- admission call that names such a license bumps its count here, by cluster and license name
-- (the Slurm name when the prolog sent it as untracked, else the product.feature nobody of the
-- cluster is called), served by GET /lm/metrics as lm_untracked_licenses_total.
-- stripe: a counter row per (cluster, license) per stripe of sessions (the backend pid modulo 16,
-- lm.count_untracked): two admissions naming the same unknown license in parallel bump
-- different rows, so neither waits for the other's row lock, which is held until commit,
-- behind the other's pool locks. The metric sums the stripes.
CREATE TABLE lm.untracked_licenses (
    cluster_client_id text NOT NULL,
    license text NOT NULL CHECK (length(license) BETWEEN 1 AND 200),
    stripe smallint NOT NULL CHECK (stripe BETWEEN 0 AND 15),
    jobs bigint NOT NULL CHECK (jobs >= 0),
    last_slurm_job_id text NOT NULL,
    last_at timestamptz NOT NULL,
    PRIMARY KEY (cluster_client_id, license, stripe)
);
