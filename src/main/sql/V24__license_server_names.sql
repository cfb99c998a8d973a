-- Issue 19, case 6: which spellings of a license server's host name one server (lm.conf(5),
-- license_server_short_names; lm-server writes it at startup). true: besides names equal after
-- lower case and without a trailing dot, a name without a dot is the same server as a longer
-- name whose first label it is (lic9 and lic9.example.org), on the same port. A change re-forms
-- the pools at once (trigger settings_pools, R__booking_1_pools.sql).
ALTER TABLE lm.settings
    ADD COLUMN license_server_short_names boolean NOT NULL DEFAULT true;
