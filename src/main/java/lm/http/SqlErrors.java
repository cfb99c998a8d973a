package lm.http;

import com.google.gson.JsonParser;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/**
 * SQLSTATE → HTTP, in one table (PostgREST's rule). Errors are told apart by SQLSTATE and the
 * structured fields PostgreSQL sends (table, constraint), never by message text. PostgreSQL's
 * own message never reaches a client: constraint errors are worded by {@link Constraints}, data
 * errors by their SQLSTATE; only the project's LM codes pass their (hand-written) text on.
 */
public final class SqlErrors {
    /** Exact codes first; then classes (first two characters). */
    private static final Map<String, Mapping> EXACT = Map.ofEntries(
            // project codes, raised by the plpgsql functions in src/main/sql
            Map.entry("LM001", new Mapping(409, "not_enough_licenses")),
            Map.entry("LM002", new Mapping(404, "not_found")),
            Map.entry("LM003", new Mapping(422, "unprocessable")),
            Map.entry("LM004", new Mapping(403, "forbidden")),
            // a delete that would take licenses away from running jobs (lm.release_dependents)
            Map.entry("LM005", new Mapping(409, "still_referenced")),
            Map.entry("23505", new Mapping(409, "conflict")),
            // a written row names a parent that does not exist; deletes map it to 409 themselves
            Map.entry("23503", new Mapping(422, "unknown_reference")),
            Map.entry("23514", new Mapping(422, "unprocessable")),
            Map.entry("23502", new Mapping(422, "unprocessable")),
            Map.entry("22001", new Mapping(422, "unprocessable")),
            Map.entry("22003", new Mapping(422, "unprocessable")),
            Map.entry("22P02", new Mapping(400, "bad_request")),
            Map.entry("22023", new Mapping(422, "unprocessable")),
            // retried by Tx first; reaching the client means the retries ran out
            Map.entry("40001", new Mapping(503, "retry")),
            Map.entry("40P01", new Mapping(503, "retry")),
            // database_statement_timeout, database_lock_timeout and
            // database_idle_in_transaction_session_timeout (lm.db.Timeouts): the database is
            // too busy for this request now, which a retry a moment later may not be; 57014 is
            // also a list or search past database_read_statement_timeout (lm.http.Reads)
            Map.entry("57014", new Mapping(503, "timeout")),
            Map.entry("55P03", new Mapping(503, "timeout")),
            Map.entry("25P03", new Mapping(503, "timeout")),
            // read_only_sql_transaction: a standby not yet promoted (or a database set read-only)
            Map.entry("25006", new Mapping(503, "database_read_only")));
    private static final Map<String, Mapping> CLASSES = Map.of(
            // data exceptions: a value PostgreSQL can't take (e.g. a NUL character in a string)
            "22", new Mapping(400, "bad_request"),
            "08", new Mapping(503, "database_unavailable"),
            "57", new Mapping(503, "database_unavailable"),
            "53", new Mapping(503, "database_unavailable"));

    private record Mapping(int status, String code) {}

    private SqlErrors() {}

    public static boolean retryable(SQLException e) {
        return "40001".equals(e.getSQLState()) || "40P01".equals(e.getSQLState());
    }

    /** null when the error is not the client's doing nor an outage: then it is a 500 and a bug. */
    public static ApiException toApi(SQLException e) {
        String state = e.getSQLState();
        if (e instanceof SQLTransientConnectionException && state == null) {
            // HikariCP's "connection is not available, request timed out"
            return new ApiException(503, "database_unavailable", "database unavailable, try again", null);
        }
        if (state == null) {
            return null;
        }
        Mapping m = EXACT.get(state);
        if (m == null) {
            m = CLASSES.get(state.substring(0, Math.min(2, state.length())));
        }
        if (m == null) {
            return null;
        }
        ServerErrorMessage sem = e instanceof PSQLException p ? p.getServerErrorMessage() : null;
        if (m.status == 503) {
            return new ApiException(503, m.code, switch (m.code) {
                case "timeout" -> "the database did not answer in time (statement or lock timeout), try again";
                case "database_read_only" -> "the database is read-only (a standby not yet promoted?), try again";
                default -> "database unavailable, try again";
            }, null);
        }
        if (state.startsWith("23")) {
            return integrity(m, state, sem);
        }
        if (state.startsWith("22")) {
            // PostgreSQL names no column for a data error, and its text quotes the value and
            // internal types ("invalid input syntax for type bigint"); Body names the field for
            // the cases a client can cause (NUL in a string, a number too large for its column)
            return new ApiException(m.status, m.code, "invalid value: " + dataRule(state), detail("sqlstate", state));
        }
        // project codes (LM…): the functions in src/main/sql write their messages for clients
        String message = sem != null && sem.getMessage() != null ? sem.getMessage() : "database error";
        String detail = sem != null ? sem.getDetail() : null;
        Object detailJson = detail;
        if (state.startsWith("LM") && detail != null && (detail.startsWith("[") || detail.startsWith("{"))) {
            // project functions put structured detail (e.g. the short features) as JSON
            detailJson = JsonParser.parseString(detail);
        }
        return new ApiException(m.status, m.code, message, detailJson);
    }

    /** The table a constraint error is about (for a refused delete: the table still pointing here). */
    public static String table(SQLException e) {
        ServerErrorMessage sem = e instanceof PSQLException p ? p.getServerErrorMessage() : null;
        return sem == null ? null : sem.getTable();
    }

    /**
     * Class 23: the field and its rule in words, from the constraint's name (see {@link
     * Constraints}). The detail names the field and the constraint, not the rule again: lm-cli
     * prints message and detail on one line.
     */
    private static ApiException integrity(Mapping m, String state, ServerErrorMessage sem) {
        if (state.equals("23502") && sem != null && sem.getColumn() != null) {
            return new ApiException(m.status, m.code, "'" + sem.getColumn() + "' is required",
                    detail("field", sem.getColumn()));
        }
        String name = sem == null ? null : sem.getConstraint();
        Constraints.Rule rule = Constraints.of(name);
        if (rule == null) {
            // a constraint without words in Constraints (SqlErrorsTest fails on that): still no raw text
            return new ApiException(m.status, m.code, "the request breaks a rule of the database",
                    name == null ? null : detail("constraint", name));
        }
        return new ApiException(m.status, m.code, rule.message(),
                detail("field", rule.field(), "constraint", name));
    }

    /** Key, value, …: a JSON object in the order given (Map.of's order would vary). */
    private static Map<String, String> detail(String... keyValues) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            out.put(keyValues[i], keyValues[i + 1]);
        }
        return out;
    }

    private static String dataRule(String state) {
        return switch (state) {
            case "22001" -> "a text is longer than its field allows";
            case "22003" -> "a number is out of range for its field";
            case "22P02" -> "a value is not of its field's type";
            case "22021", "22P05" -> "a text contains a character that cannot be stored (NUL, \\u0000)";
            case "22007", "22008" -> "a date or time is not valid";
            default -> "a value is not valid for its field";
        };
    }
}
