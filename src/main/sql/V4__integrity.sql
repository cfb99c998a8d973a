-- Issue 9: what the integrity fixes need in the schema.

-- A booking released because an admin deleted (?force=true) the configuration, feature or
-- license server it depended on: its licenses are no longer promised, and the reason says why.
ALTER TABLE lm.bookings DROP CONSTRAINT bookings_released_reason_check;
ALTER TABLE lm.bookings ADD CONSTRAINT bookings_released_reason_check
    CHECK (released_reason IN ('grace', 'checkout', 'inventory'));

-- The checkouts already matched are remembered by the bookings they released: a booking released
-- by 'checkout' whose job still runs stands for licenses the license server still shows checked
-- out (lm.apply_usage subtracts them before releasing more). This index finds them per feature.
CREATE INDEX bookings_checked_out ON lm.bookings (feature_id) INCLUDE (job_id, quantity)
    WHERE released_reason = 'checkout';
