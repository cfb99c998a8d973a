-- Since when each checkout has been held (issue 13: the dashboard's "since"): the time of the
-- first agent pass that saw this user on this host holding the pool's licenses, carried over by
-- every pass that sees them again (lm.record_usage, R__usage.sql), so it resets only after a
-- pass in which they held none. It is the agents' view, to the poll interval: the license
-- servers' own start times are not read (FlexLM prints "start Mon 11/27 9:15", without a year or
-- a time zone).
ALTER TABLE lm.checkouts ADD COLUMN since timestamptz;
-- rows from before this migration: the pass that saw them is all that is known
UPDATE lm.checkouts SET since = seen_at;
ALTER TABLE lm.checkouts ALTER COLUMN since SET NOT NULL;
