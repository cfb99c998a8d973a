package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Many real PostgreSQL sessions race for one pool through lm.book_job. The invariant — active
 * bookings never exceed total − used − reserved — is sampled by a separate session all through
 * the race (so after every commit it could see), and the final count must be exact.
 */
class AdmissionRaceTest {
    static final int SESSIONS = 64;
    static HikariDataSource ds;
    static String url;
    static Pools pools;

    @BeforeAll
    static void start() {
        String db = TestDatabase.create();
        url = TestDatabase.url(db);
        ds = lm.db.Database.pool(url, TestDatabase.user(), TestDatabase.password(), 4);
        pools = new Pools(ds);
    }

    @AfterAll
    static void stop() {
        ds.close();
    }

    static Connection session() throws SQLException {
        return DriverManager.getConnection(url, TestDatabase.user(), TestDatabase.password());
    }

    /** Runs one book_job per task, each on its own session, all released at once. Returns admitted count. */
    static int race(List<String[]> requests, long[] poolFeatures, long limit) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(requests.size() + 1);
        CountDownLatch ready = new CountDownLatch(requests.size());
        CountDownLatch go = new CountDownLatch(1);
        AtomicBoolean racing = new AtomicBoolean(true);
        AtomicReference<String> violation = new AtomicReference<>();
        AtomicInteger samples = new AtomicInteger();
        Future<?> monitor = pool.submit(() -> {
            try (Connection c = session(); PreparedStatement ps = c.prepareStatement(
                    "SELECT coalesce(sum(quantity), 0) FROM lm.bookings WHERE feature_id = ANY (?) AND released_at IS NULL")) {
                ps.setArray(1, c.createArrayOf("bigint", box(poolFeatures)));
                go.await();
                while (racing.get()) {
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        long booked = rs.getLong(1);
                        samples.incrementAndGet();
                        if (booked > limit) {
                            violation.set("booked " + booked + " > available " + limit);
                        }
                    }
                }
            }
            return null;
        });
        List<Future<Boolean>> results = new ArrayList<>();
        for (String[] r : requests) {
            results.add(pool.submit(() -> {
                try (Connection c = session(); PreparedStatement ps = c.prepareStatement(
                        "SELECT created FROM lm.book_job(?, ?, ?, ?, ?::jsonb)")) {
                    for (int i = 0; i < 5; i++) {
                        ps.setString(i + 1, r[i]);
                    }
                    ready.countDown();
                    go.await();
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        return rs.getBoolean(1);
                    } catch (SQLException e) {
                        if ("LM001".equals(e.getSQLState())) {
                            return false;
                        }
                        throw e;
                    }
                }
            }));
        }
        ready.await(60, TimeUnit.SECONDS);
        go.countDown();
        int admitted = 0;
        for (Future<Boolean> f : results) {
            if (f.get(120, TimeUnit.SECONDS)) {
                admitted++;
            }
        }
        racing.set(false);
        monitor.get(30, TimeUnit.SECONDS);
        pool.shutdownNow();
        assertEquals(null, violation.get());
        assertTrue(samples.get() > 0, "the monitor must have sampled during the race");
        return admitted;
    }

    static Long[] box(long[] a) {
        Long[] out = new Long[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    static String[] job(String cluster, String id, String pf, int qty) {
        return new String[] {cluster, id, "user" + id, "node" + id,
                "[{\"product_feature\":\"" + pf + "\",\"quantity\":" + qty + "}]"};
    }

    @Test
    void exactlyTheAvailableLicensesAreAdmitted() throws Exception {
        long c = pools.config("race-a", "race", "flex-race", 27000, 600);
        long f = pools.feature(c, "racep", "solver", 50, 20, 5, Pools.wallClock()); // 25 available
        List<String[]> reqs = new ArrayList<>();
        for (int i = 0; i < SESSIONS; i++) {
            reqs.add(job("race-a", Integer.toString(1000 + i), "racep.solver", 1));
        }
        int admitted = race(reqs, new long[] {f}, 25);
        assertEquals(Math.min(SESSIONS, 25), admitted);
        assertEquals(25, pools.activeBooked(f, Pools.wallClock()));
        assertEquals(0, pools.available(f, Pools.wallClock()));
    }

    @Test
    void moreLicensesThanSessionsAdmitsEveryone() throws Exception {
        long c = pools.config("race-b", "race", "flex-many", 27000, 600);
        long f = pools.feature(c, "manyp", "solver", 1000, 0, 0, Pools.wallClock());
        List<String[]> reqs = new ArrayList<>();
        for (int i = 0; i < SESSIONS; i++) {
            reqs.add(job("race-b", Integer.toString(2000 + i), "manyp.solver", 1));
        }
        assertEquals(SESSIONS, race(reqs, new long[] {f}, 1000));
    }

    @Test
    void twoClustersSharingAServerShareThePool() throws Exception {
        // the same physical license, seen by two clusters whose configurations name one server
        long ca = pools.config("share-a", "abaqus", "lic.example.org", 27000, 600);
        long cb = pools.config("share-b", "abaqus", "LIC.example.org", 27000, 600);
        long fa = pools.feature(ca, "sharep", "abaqus", 30, 4, 0, Pools.wallClock());
        long fb = pools.feature(cb, "sharep", "abaqus", 30, 4, 0, Pools.wallClock()); // 26 available in the one pool
        List<String[]> reqs = new ArrayList<>();
        for (int i = 0; i < SESSIONS; i++) {
            reqs.add(job(i % 2 == 0 ? "share-a" : "share-b", Integer.toString(3000 + i), "sharep.abaqus", 1));
        }
        int admitted = race(reqs, new long[] {fa, fb}, 26);
        assertEquals(26, admitted);
        assertEquals(26, pools.activeBooked(fa, Pools.wallClock()));
        assertEquals(26, pools.activeBooked(fb, Pools.wallClock()));
    }

    @Test
    void randomQuantitiesNeverOverbook() throws Exception {
        Random rnd = new Random(42);
        long c = pools.config("race-r", "race", "flex-rand", 27001, 600);
        long f = pools.feature(c, "randp", "solver", 100, 7, 3, Pools.wallClock()); // 90 available
        List<String[]> reqs = new ArrayList<>();
        int asked = 0;
        for (int i = 0; i < SESSIONS; i++) {
            int q = 1 + rnd.nextInt(4);
            asked += q;
            reqs.add(job("race-r", Integer.toString(4000 + i), "randp.solver", q));
        }
        assertTrue(asked > 90, "the test must ask for more than there is");
        race(reqs, new long[] {f}, 90);
        long booked = pools.activeBooked(f, Pools.wallClock());
        assertTrue(booked <= 90, "booked " + booked);
        // every refusal was right: nothing smaller than the smallest request (1) could still fit, or
        // the leftovers are less than the requests that were refused
        assertTrue(90 - booked < 4, "left " + (90 - booked) + " free while requests of at most 4 were refused");
    }
}
