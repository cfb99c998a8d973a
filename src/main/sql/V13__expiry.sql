-- License expiry (issue 12, "Expiry"): the nearest expiry date the license server prints for a
-- feature's licenses, as lm-agent last read it (null: the tool prints none, or every license is
-- permanent), and how many licenses expire that day when the tool says (null when it doesn't:
-- FlexLM prints no count per INCREMENT). A day, not an instant: the tools print days (or a time
-- of day in the server's unknown zone); lm.expiring_licenses and the metric read it as UTC.
ALTER TABLE lm.features
    ADD COLUMN expires_at date,
    ADD COLUMN expiring bigint,
    ADD CONSTRAINT features_expiring_check CHECK (expiring IS NULL OR (expiring >= 0 AND expires_at IS NOT NULL));
