-- The audit trail (lm.audit_log, V10__audit.sql): what writes it and how people read it.
-- Repeatable: replaced whenever it changes.

-- Appends one audit row. Who and the route are the transaction-local settings lm.sub,
-- lm.cluster and lm.route, which lm-server sets in the transaction of each audited request
-- (lm.db.Actor); in psql they are unset and the row has NULLs there (db_user still says who).
-- Takes no lock but the new row's: it cannot change the lock order (R__booking_1_pools.sql).
CREATE OR REPLACE FUNCTION lm.audit(p_table text, p_operation text, p_old jsonb, p_new jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lm.audit_log (sub, cluster_client_id, route, table_name, operation, old, new)
    VALUES (nullif(current_setting('lm.sub', true), ''), nullif(current_setting('lm.cluster', true), ''),
            nullif(current_setting('lm.route', true), ''), p_table, p_operation, p_old, p_new)
$$;

-- AFTER ROW trigger of the inventory tables: the row before and after. pool_id is left out: it is
-- derived (lm.assign_pools rewrites it after the statement), and its value here would be stale.
CREATE OR REPLACE FUNCTION lm.audit_row()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lm.audit(TG_TABLE_NAME, TG_OP,
                     CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'pool_id' END,
                     CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'pool_id' END);
    RETURN NULL;
END
$$;

-- Every change of the inventory, however sent (API, psql), including the rows a delete takes
-- with it (a configuration's servers and features). An UPDATE that changes nothing is no event.
-- features: only the columns that are inventory, the same ones that take the inventory lock
-- (features_lock): total, used, reported_at and failed_at are the agent's readings, written on
-- every report, and pool_id is derived; a statement that sets only those fires no trigger at
-- all, so agent reports pay nothing. PUT /features/{id} names every column, so a reading set by
-- hand is recorded (with the whole row). share and max_use (fair shares) are policy, not
-- readings: audited, and they take the inventory lock too. Measured with track_functions: 400 reports of 500
-- features and 2,000 admissions with their epilog's release called lm.audit_row 0 times.
-- project_shares (fair shares inside a cluster, R__booking_1_shares.sql) is policy set by people.
-- Each table gets the same pair: <table>_audit (INSERT, DELETE) and <table>_audit_update.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('configurations', ''), ('license_servers', ''), ('products', ''),
                                   ('project_shares', ''),
                                   ('features', ' OF name, product_id, config_id, reserved, share, max_use')) v(tab, cols)
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON lm.%I', t.tab || '_audit', t.tab);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE ON lm.%I FOR EACH ROW EXECUTE FUNCTION lm.audit_row()',
                       t.tab || '_audit', t.tab);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON lm.%I', t.tab || '_audit_update', t.tab);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE%s ON lm.%I FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)'
                       ' EXECUTE FUNCTION lm.audit_row()', t.tab || '_audit_update', t.cols, t.tab);
    END LOOP;
END
$$;

-- For people with psql: one line per event, and for an UPDATE only what changed,
-- {"field": [before, after]}. GET /lm/audit serves the same through lm.api_audit.
DROP VIEW IF EXISTS lm.api_audit, lm.audit;
CREATE VIEW lm.audit AS
SELECT a.id, a.at, a.sub, a.cluster_client_id, a.db_user, a.route, a.table_name, a.operation, a.row_id,
       CASE WHEN a.operation = 'UPDATE' THEN
           (SELECT jsonb_object_agg(k, jsonb_build_array(a.old->k, a.new->k))
            FROM jsonb_object_keys(a.new) k WHERE a.old->k IS DISTINCT FROM a.new->k)
       END AS changes,
       a.old, a.new
FROM lm.audit_log a;

CREATE VIEW lm.api_audit AS
SELECT a.*,
       json_build_object('id', a.id, 'at', a.at, 'sub', a.sub, 'cluster_client_id', a.cluster_client_id,
                         'db_user', a.db_user, 'route', a.route, 'table_name', a.table_name,
                         'operation', a.operation, 'row_id', a.row_id, 'changes', a.changes,
                         'old', a.old, 'new', a.new) AS j
FROM lm.audit a;
