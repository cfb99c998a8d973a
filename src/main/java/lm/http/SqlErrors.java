package lm.http;

import com.google.gson.JsonParser;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.util.Map;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/**
 * SQLSTATE → HTTP, in one table (PostgREST's rule). Errors are told apart by SQLSTATE and the
 * structured fields PostgreSQL sends (table, constraint), never by message text.
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
            Map.entry("40P01", new Mapping(503, "retry")));
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
        String message = sem != null && sem.getMessage() != null ? sem.getMessage() : "database error";
        String detail = sem != null ? sem.getDetail() : null;
        if (m.status == 503) {
            return new ApiException(503, m.code, "database unavailable, try again", null);
        }
        Object detailJson = detail;
        if (state.startsWith("LM") && detail != null && (detail.startsWith("[") || detail.startsWith("{"))) {
            // project functions put structured detail (e.g. the short features) as JSON
            detailJson = JsonParser.parseString(detail);
        }
        return new ApiException(m.status, m.code, message, detailJson);
    }
}
