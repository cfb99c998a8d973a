package lm.http;

import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import javax.sql.DataSource;
import lm.db.Sql;

/**
 * What lists and searches may take of the database (lm-server(8), LISTS). Each runs for at most
 * database_read_statement_timeout (a 503 "timeout" past it: SQLSTATE 57014, {@link SqlErrors}),
 * and searches hold at most half of database_pool_size connections at once; one more is a 503
 * "busy" at once rather than a wait, as a waiting search would hold a worker thread that
 * /lm/health and the bookings need (24 parallel searches took every pooled connection and health
 * timed out waiting for one, issue 20).
 */
public final class Reads {
    /** No bound of its own: the session's database_statement_timeout only (benchmarks). */
    public static final Reads UNBOUNDED = new Reads(Duration.ZERO, Integer.MAX_VALUE);

    private final Duration timeout;
    private final Semaphore searches;

    /** {@code timeout}: zero for the session's; {@code searches}: how many may run at once. */
    public Reads(Duration timeout, int searches) {
        this.timeout = timeout;
        this.searches = new Semaphore(searches);
    }

    /** One list's query; {@code search}: it filters by search terms. */
    <T> T query(DataSource ds, boolean search, String sql, Sql.Rows<T> rows, Object... params) throws SQLException {
        if (search && !searches.tryAcquire()) {
            throw new ApiException(503, "busy", "too many searches are running at once; try again", null);
        }
        try {
            if (timeout.isZero()) {
                return Sql.query(ds, sql, rows, params);
            }
            // SET LOCAL: the statement's own timeout; the pooled session keeps database_statement_timeout
            return Sql.tx(ds, c -> {
                Sql.text(c, "SELECT set_config('statement_timeout', ?, true)", timeout.toMillis() + "ms");
                return Sql.query(c, sql, rows, params);
            });
        } finally {
            if (search) {
                searches.release();
            }
        }
    }
}
