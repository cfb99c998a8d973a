-- GET /lm/reports/users over a long period: lm.user_report sums each user and feature's daily
-- rows in (username, product_feature) order straight off this index (a streaming GroupAggregate),
-- where hashing them needs a table of every pair: a year of make bench's 300,000 pairs, 0.42 s
-- instead of 1.1 s in a scratch PostgreSQL 15. license_seconds is included so the index alone
-- answers (an index-only scan; autovacuum keeps the days before today all-visible).
CREATE INDEX user_day_rollups_pair ON lm.user_day_rollups (username, product_feature, day) INCLUDE (license_seconds);

-- Without it the planner takes the pairs for independent columns and guesses a tenth of them
-- (73,000 of 300,000 in make bench), which makes hashing look cheap enough to choose.
CREATE STATISTICS lm.user_day_rollups_pairs (ndistinct) ON username, product_feature FROM lm.user_day_rollups;
ANALYZE lm.user_day_rollups;
