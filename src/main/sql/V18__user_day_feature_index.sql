-- GET /lm/reports/users?product_feature=: a year of one feature's users reads that feature's
-- daily rows only (365 days × its users) instead of every feature's (V16 indexes the days only).
CREATE INDEX user_day_rollups_feature_day ON lm.user_day_rollups (product_feature, day);
