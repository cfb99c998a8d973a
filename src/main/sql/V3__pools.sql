-- Pools made explicit. A pool is one physical license: the same product.feature in
-- configurations that share a license server. Admission used to find a pool's members and sum
-- its bookings under the lock on every call; on a hot pool every microsecond under the lock is
-- paid by everyone queued behind it. Now each feature carries its pool_id (kept right by
-- statement triggers whenever features or license servers change, see lm.assign_pools) and
-- lm.pool_counts.booked is the sum of the pool's unreleased bookings (kept right by row triggers on
-- bookings), so admission locks one row per pool and reads one counter.
-- The row admission locks (SELECT … FOR UPDATE) and never updates. Its counter lives in
-- lm.pool_counts: when the locked row itself was updated by each admission, every waiter woke
-- to a newer row version and queued again, and 64 sessions on one pool collapsed to ~50
-- admissions/s (measured); with the counter elsewhere, waiters hand the lock on in order.
CREATE TABLE lm.pools (
    -- the smallest feature id of the pool: stable for as long as that feature exists
    id bigint PRIMARY KEY
);

CREATE TABLE lm.pool_counts (
    pool_id bigint PRIMARY KEY REFERENCES lm.pools (id) ON DELETE CASCADE,
    -- Σ quantity of the pool's bookings with released_at IS NULL, including those whose grace
    -- time has passed but that lm.expire_bookings has not released yet (readers subtract them);
    -- only the holder of the pool's lock writes it
    booked  bigint NOT NULL DEFAULT 0 CHECK (booked >= 0)
);

ALTER TABLE lm.features ADD COLUMN pool_id bigint REFERENCES lm.pools (id);
CREATE INDEX features_pool ON lm.features (pool_id);

-- readers subtract bookings that expired but were not released yet: normally a tiny range
CREATE INDEX bookings_expiring ON lm.bookings (expires_at) INCLUDE (feature_id, quantity) WHERE released_at IS NULL;
