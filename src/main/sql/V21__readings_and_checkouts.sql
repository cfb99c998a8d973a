-- Issue 19: one accounting of readings and checkouts (DESIGN.md, "Accounting across sources").

-- A checkout has an identity: the pool (one license server's feature), the user, the short host
-- and what the license server prints that tells two checkouts of one user on one host apart
-- (key: FlexLM's handle and start time, RLM's handle; '' where the tool prints nothing of the
-- kind). What a checkout has covered — how many booked licenses it released — is remembered
-- here by that identity, not by the job whose booking it released, for as long as the license
-- server shows the checkout: a reading taken before the job ended (or a FlexLM linger) that
-- shows it again releases nothing more, though the job is gone. Written only under the pool's
-- lock (lm.apply_usage), by the reading that is the pool's newest.
CREATE TABLE lm.checkout_covers (
    pool_id    bigint NOT NULL REFERENCES lm.pools (id) ON DELETE CASCADE,
    username   text NOT NULL,
    host       text NOT NULL,
    key        text NOT NULL,
    -- licenses held, as the newest reading shows them
    quantity   bigint NOT NULL CHECK (quantity > 0),
    -- how many of them released a booking (once each)
    covered    bigint NOT NULL DEFAULT 0,
    -- when the checkout was first seen (the read time of that reading): a booking made at or after
    -- it cannot be what this checkout holds (the job books before it checks out)
    first_seen timestamptz NOT NULL,
    -- the licenses that appeared at fresh_at (the last growth of quantity; at first sight, all of
    -- them): only they may cover a booking made between first_seen and fresh_at
    fresh      bigint NOT NULL,
    fresh_at   timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL,
    PRIMARY KEY (pool_id, username, host, key),
    CONSTRAINT checkout_covers_covered_check CHECK (covered BETWEEN 0 AND quantity),
    CONSTRAINT checkout_covers_fresh_check CHECK (fresh BETWEEN 0 AND quantity)
);

-- The jobs a cluster's agent may end: those booked before the cluster's previous agent report
-- was applied (its p_now, on the database's clock). The next pass's squeue runs after that
-- report, so a job booked later may be missing from its list without having ended (issue 19,
-- case 10: squeue_age_ms alone misses the time spent gzipping, uploading and waiting).
CREATE TABLE lm.report_fences (
    cluster_client_id text PRIMARY KEY,
    applied_at        timestamptz NOT NULL
);

-- Jobs that ended while a booking of theirs still held (their checkout, if any, never seen):
-- a reading taken before such a job ended may show its checkout for the first time, after
-- another job of the same user on the same host has booked. Until a reading of the pool newer
-- than the end arrives, the ended job claims that many of the user's checkouts on the host
-- first (lm.apply_usage), so its checkout does not release the other job's booking. Written by
-- a trigger when such a booking is deleted (lm.note_ended_holder), under its pool's counter lock.
-- No foreign key to lm.pools: its check would take a KEY SHARE lock on the pool's row, and an
-- epilog must not wait for the pool's lock (LockOrderTest.aReleaseDoesNotWaitForThePoolLock);
-- a claim of a pool that is gone is harmless and goes after a day (lm.apply_usage).
CREATE TABLE lm.ended_holders (
    pool_id    bigint NOT NULL,
    username   text NOT NULL,
    host       text NOT NULL,
    quantity   bigint NOT NULL,
    ended_at   timestamptz NOT NULL
);
CREATE INDEX ended_holders_user ON lm.ended_holders (pool_id, username, host);

-- A booking released by a checkout and booked again because no checkout of its user on its host
-- showed it any more (lm.apply_usage): when. Such a booking was admitted once; it is counted
-- again so that a job whose booking another job's checkout released is never counted nowhere.
ALTER TABLE lm.bookings ADD COLUMN rebooked_at timestamptz;
