-- Issue 19: a run is an identity. Slurm requeues a job under the same id and runs its prolog
-- again with SLURM_JOB_RESTART_COUNT one higher; the prolog sends that count as the job's run,
-- so a release (the epilog's, or one replayed from the offline ledger) ends only the run that
-- booked it, whatever two machines' clocks say. NULL: a caller that sent no run (an lm-prolog
-- from before runs, or the API used by hand); such a release ends whatever run is booked.
ALTER TABLE lm.jobs ADD COLUMN run integer CHECK (run BETWEEN 0 AND 1000000000);
