-- Issue 10 part 6: the audit trail. One row per changed row of the inventory (configurations,
-- license servers, products, features), written by row triggers (R__audit.sql) whoever sends
-- the statement, and one per manual delete of a job or booking (lm.delete_job, lm.delete_booking).
-- Who and which route come from transaction-local settings the API sets before its write
-- (lm.db.Actor); a write typed in psql has none, and db_user says who it was.
-- Rows are kept: inventory changes and manual deletes are a handful a day, a few hundred bytes
-- each (see lm-server(8), AUDIT TRAIL, for removing old ones by hand).
CREATE TABLE lm.audit_log (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the writing transaction's start: every row of one request has the same. The real time,
    -- never a p_now: tests that move time move it for decisions, not for the record
    at                timestamptz NOT NULL DEFAULT now(),
    -- the token's sub and cluster (azp / client_id); NULL when not written through the API
    sub               text,
    cluster_client_id text,
    -- method, path and query of the request, e.g. "DELETE /lm/features/7?force=true"
    route             text,
    db_user           text NOT NULL DEFAULT session_user,
    table_name        text NOT NULL,
    operation         text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    -- the row before and after, as JSON (NULL before an INSERT, after a DELETE)
    old               jsonb,
    new               jsonb,
    row_id            bigint GENERATED ALWAYS AS (coalesce((new->>'id')::bigint, (old->>'id')::bigint)) STORED
);
