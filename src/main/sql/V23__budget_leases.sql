-- Issue 19, offline operation with a bound (R__booking_6_offline.sql; README "Offline
-- operation"): a budget is a lease lm-server remembers, and a replayed ledger entry is checked
-- against it.

-- How long a prolog may book against a budget (lm.conf offline_max_age; lm-server writes it at
-- startup, as the other settings). A lease ends then, and a replayed entry whose time is further
-- than this from the replay's is rejected.
ALTER TABLE lm.settings
    ADD COLUMN offline_max_age integer NOT NULL DEFAULT 3600 CHECK (offline_max_age > 0);

-- The budget lm-server last handed to a cluster for a pool (GET /lm/budget), one row per
-- (cluster, pool), replaced by the next. prior_budget: the one before it, for the prologs that
-- booked against the old budget_file between the agent's replay and its writing the new one
-- (lm.replay_offline's next call sees those). What the cluster may hold offline without lm-server
-- knowing is at most the larger of the two (lm-prolog books its budget less what its ledger holds).
CREATE TABLE lm.budget_leases (
    cluster_client_id text NOT NULL,
    pool_id           bigint NOT NULL REFERENCES lm.pools (id) ON DELETE CASCADE,
    budget            bigint NOT NULL CHECK (budget >= 0),
    prior_budget      bigint NOT NULL DEFAULT 0 CHECK (prior_budget >= 0),
    made_at           timestamptz NOT NULL,
    -- until when lm-prolog may book against it (made_at + offline_max_age; budget_file's expires_at_epoch)
    expires_at        timestamptz NOT NULL,
    -- expires_at + the longest grace_time of the cluster's features in the pool: a job booked
    -- offline at the last moment has checked its licenses out by then, and the license server's
    -- readings count them
    held_until        timestamptz NOT NULL,
    -- the cluster's last contact (agent report, ledger replay, budget) + 3 of its agent intervals:
    -- from then on online admission leaves the lease free (lm.pool_state)
    silent_at         timestamptz NOT NULL,
    CONSTRAINT budget_leases_times_check CHECK (made_at <= expires_at AND expires_at <= held_until),
    PRIMARY KEY (cluster_client_id, pool_id)
);
-- what lm.pool_state reads under the pool lock, on every admission: a pool's few leases
CREATE INDEX budget_leases_pool ON lm.budget_leases (pool_id);

-- Replayed ledger entries lm-server rejected (unreadable, a time outside offline_max_age, a
-- quantity beyond the lease): counted per cluster and reason for GET /lm/metrics
-- (lm_offline_entries_rejected_total). A counter in the database, so that every lm-server
-- instance reports the same and a restart loses nothing.
CREATE TABLE lm.offline_rejections (
    cluster_client_id text NOT NULL,
    reason            text NOT NULL CHECK (reason IN ('invalid', 'time', 'quantity')),
    entries           bigint NOT NULL CHECK (entries > 0),
    last_at           timestamptz NOT NULL,
    PRIMARY KEY (cluster_client_id, reason)
);

-- Why a replayed entry was rejected (result 'rejected'), so that the same entry sent again is
-- answered the same, and counted once.
ALTER TABLE lm.offline_entries ADD COLUMN detail text;
