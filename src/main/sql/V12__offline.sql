-- Issue 11 part 4: offline operation (lm-prolog books against its cluster's budget while
-- lm-server is unreachable; the next lm-agent pass replays the prolog's ledger, see
-- R__booking_6_offline.sql).

-- A booking lm-prolog made offline, recorded when the ledger was replayed. It counts like any
-- other from then on, even when the pool has since become short (the job already runs).
ALTER TABLE lm.bookings ADD COLUMN offline boolean NOT NULL DEFAULT false;

-- The ledger entries already applied, by (cluster, Slurm job, the prolog's entry id): an agent
-- that crashed between lm-server's answer and removing the entries sends them again, and they
-- must change nothing the second time. Kept a week (lm.replay_offline prunes): an acknowledged
-- entry leaves the ledger at the end of the same pass.
CREATE TABLE lm.offline_entries (
    cluster_client_id text NOT NULL,
    slurm_job_id      text NOT NULL,
    entry_id          text NOT NULL,
    op                text NOT NULL CHECK (op IN ('book', 'release')),
    -- when the prolog or epilog wrote the entry (the controller's clock)
    made_at           timestamptz NOT NULL,
    applied_at        timestamptz NOT NULL,
    -- what the replay did: booked, released, superseded, no_job, unknown_license
    result            text NOT NULL,
    PRIMARY KEY (cluster_client_id, slurm_job_id, entry_id)
);
CREATE INDEX offline_entries_applied ON lm.offline_entries (applied_at);
