package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import lm.db.Database;
import lm.db.Sql;
import lm.db.Timeouts;
import lm.http.ApiException;
import lm.http.SqlErrors;
import lm.testing.Http;
import lm.testing.TestApi;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * database_statement_timeout, database_lock_timeout and
 * database_idle_in_transaction_session_timeout: set on every pooled session, and a request past
 * one is a 503 "timeout" with Retry-After that wrote nothing, never a 500.
 */
class DatabaseTimeoutsTest {
    static String url;
    static HikariDataSource ds;
    static TestApi api;

    @BeforeAll
    static void start() throws SQLException {
        url = TestDatabase.url(TestDatabase.create());
        ds = Database.pool(url, TestDatabase.user(), TestDatabase.password(), 4,
                new Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(1), Duration.ofSeconds(1)));
        api = new TestApi(ds);
        Licenses.setUp(url, TestDatabase.user(), TestDatabase.password(), "slow", "a", "b");
    }

    @AfterAll
    static void stop() {
        api.close();
        ds.close();
    }

    @Test
    void everyPooledSessionCarriesTheLimits() throws SQLException {
        assertEquals("2s", Sql.text(ds, "SHOW statement_timeout"));
        assertEquals("1s", Sql.text(ds, "SHOW lock_timeout"));
        assertEquals("1s", Sql.text(ds, "SHOW idle_in_transaction_session_timeout"));
    }

    @Test
    void lockTimeoutIs503WithRetryAfterAndWritesNothing() throws Exception {
        String token = api.token("slow", "license-manager:job:create", "license-manager:job:read");
        try (Connection c = DriverManager.getConnection(url, TestDatabase.user(), TestDatabase.password())) {
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.execute("LOCK TABLE lm.bookings IN EXCLUSIVE MODE");
            }
            long t0 = System.nanoTime();
            Http.Res r = api.http.post("/jobs", token, Licenses.job(1, "slow", "a", "b"));
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(503, r.status(), r::toString);
            assertEquals("timeout", r.json().getAsJsonObject().get("code").getAsString());
            assertEquals("1", r.header("Retry-After"));
            assertTrue(seconds < 10, "answered after " + seconds + " s with a 1 s lock_timeout");
            c.rollback();
        }
        assertEquals(404, api.http.get("/jobs/slurm_job_id/1", token).status(), "nothing of the timed-out admission is kept");
        assertEquals(201, api.http.post("/jobs", token, Licenses.job(1, "slow", "a", "b")).status(), "and a retry books it");
    }

    @Test
    void statementTimeoutIs503() {
        SQLException e = assertThrows(SQLException.class, () -> Sql.text(ds, "SELECT pg_sleep(5)"));
        ApiException api = SqlErrors.toApi(e);
        assertEquals(503, api.status(), e.getSQLState());
        assertEquals("timeout", api.code());
    }

    @Test
    void sessionIdleInATransactionIsEndedAnd503() {
        SQLException e = assertThrows(SQLException.class, () -> Sql.tx(ds, c -> {
            Sql.text(c, "SELECT 1");
            try {
                Thread.sleep(2500); // a stuck request, past the 1 s limit
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            return Sql.text(c, "SELECT 1");
        }));
        ApiException api = SqlErrors.toApi(e);
        assertTrue(api != null && api.status() == 503, e.getSQLState() + " " + e.getMessage());
    }
}
