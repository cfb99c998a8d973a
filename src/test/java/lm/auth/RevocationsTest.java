package lm.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.Test;

/**
 * The revoked-token reread never holds a request up. With the primary down for 12 s one answer
 * took 10 s: the reread, under a lock on the request's thread, waited 5 s for a connection
 * before the request itself did. Here the pool's one connection is taken (a database that gives
 * none), the list is old: the check answers at once from the list it has, at most one reread
 * waits, and a list older than the bound is refused (503), never trusted for ever.
 */
class RevocationsTest {
    @Test
    void anOldListIsServedWhileOneRereadWaitsForAConnection() throws Exception {
        AtomicLong now = new AtomicLong(1_000_000);
        AtomicInteger waitingForConnection = new AtomicInteger();
        AtomicInteger mostWaiting = new AtomicInteger();
        try (HikariDataSource pool = TestDatabase.pool(1)) {
            DataSource counted = (DataSource) Proxy.newProxyInstance(DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class},
                    (proxy, method, args) -> {
                        if (!method.getName().equals("getConnection")) {
                            return method.invoke(pool, args);
                        }
                        mostWaiting.accumulateAndGet(waitingForConnection.incrementAndGet(), Math::max);
                        try {
                            return pool.getConnection();
                        } finally {
                            waitingForConnection.decrementAndGet();
                        }
                    });
            Revocations r = new Revocations(counted, now::get);
            assertFalse(r.revoked("jti-1", "c", 1L));

            Connection held = pool.getConnection(); // the database gives no connection now
            try (Statement st = held.createStatement()) {
                st.execute("INSERT INTO lm.revoked_tokens (jti) VALUES ('jti-1')");
            }
            now.addAndGet(Revocations.REFRESH_MILLIS + 1);
            mostWaiting.set(0);
            List<Thread> requests = new ArrayList<>();
            AtomicLong slowest = new AtomicLong();
            for (int i = 0; i < 20; i++) {
                Thread t = new Thread(() -> {
                    long t0 = System.nanoTime();
                    r.revoked("jti-2", "c", 1L);
                    slowest.accumulateAndGet(System.nanoTime() - t0, Math::max);
                });
                requests.add(t);
                t.start();
            }
            for (Thread t : requests) {
                t.join();
            }
            assertTrue(slowest.get() < 500_000_000L, "a request waited " + slowest.get() / 1_000_000 + " ms for the reread");
            assertFalse(r.revoked("jti-1", "c", 1L), "the list it has (read before the revocation)");
            assertEquals(1, mostWaiting.get(), "one reread at a time waits for a connection");

            now.addAndGet(Revocations.MAX_AGE_MILLIS);
            long t0 = System.nanoTime();
            AuthException tooOld = assertThrows(AuthException.class, () -> r.revoked("jti-2", "c", 1L));
            assertEquals(503, tooOld.status(), "a list older than the bound is not trusted");
            assertTrue(System.nanoTime() - t0 < 500_000_000L, "and that is said at once");

            held.close(); // the database is back: the next reread reads the revocation
            boolean seen = false;
            for (int i = 0; i < 100 && !seen; i++) {
                try {
                    seen = r.revoked("jti-1", "c", 1L);
                } catch (AuthException stillOld) {
                    // the reread is still on its way
                }
                Thread.sleep(100);
            }
            assertTrue(seen, "the revocation takes effect once a reread succeeds");
        }
    }
}
