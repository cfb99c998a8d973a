-- Pools made explicit. A pool is one physical license: the same product.feature in
-- configurations that share a license server. Admission used to find a pool's members and sum
-- its bookings under the lock on every call; on a hot pool every microsecond under the lock is
-- paid by everyone queued behind it. Now each feature carries its pool_id (kept right by
-- statement triggers whenever features or license servers change, see lm.assign_pools) and
-- lm.pools.booked is the sum of the pool's unreleased bookings (kept right by row triggers on
-- bookings), so admission locks one row per pool and reads one counter.
CREATE TABLE lm.pools (
    -- the smallest feature id of the pool: stable for as long as that feature exists
    id     bigint PRIMARY KEY,
    -- Σ quantity of the pool's bookings with released_at IS NULL, including those whose grace
    -- time has passed but that lm.expire_bookings has not released yet (readers subtract them)
    booked bigint NOT NULL DEFAULT 0 CHECK (booked >= 0)
);

ALTER TABLE lm.features ADD COLUMN pool_id bigint REFERENCES lm.pools (id);
CREATE INDEX features_pool ON lm.features (pool_id);

-- readers subtract bookings that expired but were not released yet: normally a tiny range
CREATE INDEX bookings_expiring ON lm.bookings (expires_at) INCLUDE (feature_id, quantity) WHERE released_at IS NULL;
