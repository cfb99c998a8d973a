package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The share rule of R__booking_1_shares.sql, called directly: lending, reclaim without
 * preemption, limits, and a saturation run with shares 2:1 raced by many real sessions.
 */
class SharesTest {
    static HikariDataSource ds;
    static String url;
    static Pools pools;
    static final Instant T0 = Instant.parse("2026-11-22T10:00:00Z");

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

    static Timestamp at(double seconds) {
        return Timestamp.from(T0.plusMillis((long) (seconds * 1000)));
    }

    static Connection session() throws SQLException {
        return DriverManager.getConnection(url, TestDatabase.user(), TestDatabase.password());
    }

    /** What one admission answered: admitted, or the refusal's DETAIL. */
    record Answer(boolean admitted, String detail) {}

    /**
     * book_job as lm-server calls it: a refusal (LM001) is then recorded as the job's demand in a
     * transaction of its own (lm.http's Jobs does the same).
     */
    static Answer book(Connection c, String cluster, String job, String account, String pf, long q, Timestamp t) throws SQLException {
        String bookings = "[{\"product_feature\":\"" + pf + "\",\"quantity\":" + q + "}]";
        try (PreparedStatement ps = c.prepareStatement("SELECT created FROM lm.book_job(?, ?, 'u', 'h', ?::jsonb, ?, ?)")) {
            ps.setString(1, cluster);
            ps.setString(2, job);
            ps.setString(3, bookings);
            ps.setTimestamp(4, t);
            ps.setString(5, account);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new Answer(true, null);
            }
        } catch (SQLException e) {
            if (!"LM001".equals(e.getSQLState())) {
                throw e;
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT lm.note_refusal(?, ?, ?, ?::jsonb, ?)")) {
                ps.setString(1, cluster);
                ps.setString(2, job);
                ps.setString(3, account);
                ps.setString(4, bookings);
                ps.setTimestamp(5, t);
                ps.execute();
            }
            String detail = e instanceof org.postgresql.util.PSQLException p && p.getServerErrorMessage() != null
                    ? p.getServerErrorMessage().getDetail() : null;
            return new Answer(false, detail);
        }
    }

    static Answer book(String cluster, String job, String account, String pf, long q, Timestamp t) throws SQLException {
        try (Connection c = ds.getConnection()) {
            return book(c, cluster, job, account, pf, q, t);
        }
    }

    static void end(String cluster, String job) {
        pools.one("SELECT lm.release_job(?, ?)::int", cluster, job);
    }

    /** in_use of an owner (account null: the cluster) as lm.pool_shares sees it at t. */
    static long inUse(long feature, String account, Timestamp t) {
        return pools.one("SELECT in_use FROM lm.features f, lm.pool_shares(f.pool_id, ?) s WHERE f.id = ? AND s.feature_id = f.id"
                + " AND s.account IS NOT DISTINCT FROM ?", t, feature, account);
    }

    static double entitled(long feature, String account, Timestamp t) {
        return pools.one("SELECT round(entitled * 1000) FROM lm.features f, lm.pool_shares(f.pool_id, ?) s WHERE f.id = ?"
                + " AND s.feature_id = f.id AND s.account IS NOT DISTINCT FROM ?", t, feature, account) / 1000.0;
    }

    /** Two clusters on one server, a pool of {@code total}; returns their features. */
    static long[] twoClusters(String name, int port, long total, int shareA, int shareB) {
        long ca = pools.config(name + "-a", name, "lic-" + name, port, 600);
        long cb = pools.config(name + "-b", name, "lic-" + name, port, 600);
        long fa = pools.feature(ca, name + "p", "f", total, 0, 0, at(0));
        long fb = pools.feature(cb, name + "p", "f", total, 0, 0, at(0));
        pools.one("UPDATE lm.features SET share = ? WHERE id = ? RETURNING id", shareA, fa);
        pools.one("UPDATE lm.features SET share = ? WHERE id = ? RETURNING id", shareB, fb);
        return new long[] {fa, fb};
    }

    /**
     * share and max_use are policy that admission reads under its pool's lock: changing them
     * (even from psql) takes the inventory lock, so it waits for an admission in progress
     * instead of changing the rule in the middle of it (features_lock, R__booking_1_pools.sql).
     */
    @Test
    void aShareChangeWaitsForTheAdmissionInProgress() throws SQLException {
        long[] f = twoClusters("pol", 1010, 10, 1, 1);
        try (Connection a = session(); Connection b = session()) {
            a.setAutoCommit(false);
            assertTrue(book(a, "pol-a", "1", null, "polp.f", 2, at(1)).admitted()); // not committed: holds the pool
            try (var st = b.createStatement()) {
                st.execute("SET lock_timeout = '300ms'");
                for (String change : List.of("share = 5", "max_use = 4")) {
                    SQLException e = org.junit.jupiter.api.Assertions.assertThrows(SQLException.class,
                            () -> st.executeUpdate("UPDATE lm.features SET " + change + " WHERE id = " + f[0]));
                    assertEquals("55P03", e.getSQLState(), change + ": " + e.getMessage()); // lock_not_available
                }
                a.commit();
                assertEquals(1, st.executeUpdate("UPDATE lm.features SET share = 5, max_use = 4 WHERE id = " + f[0]));
            }
        }
    }

    @Test
    void anOwnerAloneUsesTheWholePool() throws SQLException {
        long[] f = twoClusters("lend", 1001, 10, 1, 1);
        for (int i = 0; i < 10; i++) {
            assertTrue(book("lend-a", Integer.toString(100 + i), null, "lendp.f", 1, at(1)).admitted(), "job " + i);
        }
        assertEquals(10, inUse(f[0], null, at(1)));
        assertEquals(0, pools.available(f[0], at(1)));
        assertFalse(book("lend-a", "200", null, "lendp.f", 1, at(1)).admitted());
    }

    @Test
    void licensesThatFreeUpGoToTheOwnerBelowItsShare() throws SQLException {
        long[] f = twoClusters("recl", 1002, 10, 1, 1);
        for (int i = 0; i < 10; i++) {
            assertTrue(book("recl-a", Integer.toString(100 + i), null, "reclp.f", 1, at(1)).admitted());
        }
        // B's demand appears: six jobs refused (the pool is full), each counted once as demand
        for (int i = 0; i < 6; i++) {
            assertFalse(book("recl-b", Integer.toString(300 + i), null, "reclp.f", 1, at(2)).admitted());
        }
        // refused again (Slurm retries the prolog): still the same demand
        assertFalse(book("recl-b", "300", null, "reclp.f", 1, at(3)).admitted());
        assertEquals(6, pools.one("SELECT demand FROM lm.pool_shares(?, ?) WHERE feature_id = ?", f[0], at(3), f[1]));
        assertEquals(5.0, entitled(f[1], null, at(3)));

        int b = 0;
        for (int i = 0; i < 5; i++) {
            // one of A's jobs ends; A's new request waits, B's is admitted
            end("recl-a", Integer.toString(100 + i));
            Answer a = book("recl-a", Integer.toString(400 + i), null, "reclp.f", 1, at(10 + i));
            assertFalse(a.admitted(), "A is above its share while B waits");
            JsonObject short0 = JsonParser.parseString(a.detail()).getAsJsonArray().get(0).getAsJsonObject();
            assertEquals("share", short0.get("reason").getAsString());
            assertEquals("recl-b", short0.getAsJsonArray("held_for").get(0).getAsJsonObject().get("cluster_client_id").getAsString());
            assertTrue(book("recl-b", Integer.toString(300 + b++), null, "reclp.f", 1, at(10 + i)).admitted());
        }
        assertEquals(5, inUse(f[0], null, at(20)));
        assertEquals(5, inUse(f[1], null, at(20)));
        // B is at its entitlement: the next free license goes to whoever asks first
        end("recl-a", "105");
        assertTrue(book("recl-a", "410", null, "reclp.f", 1, at(21)).admitted());
        // an admitted job's demand is gone; B's remaining refused job still counts
        assertEquals(1, pools.one("SELECT count(*) FROM lm.demand WHERE feature_id = ?", f[1]));
    }

    @Test
    void demandOutsideTheWindowNoLongerHoldsLicenses() throws SQLException {
        long[] f = twoClusters("win", 1003, 4, 1, 1);
        for (int i = 0; i < 4; i++) {
            assertTrue(book("win-a", Integer.toString(100 + i), null, "winp.f", 1, at(1)).admitted());
        }
        assertFalse(book("win-b", "300", null, "winp.f", 2, at(2)).admitted());
        end("win-a", "100");
        assertFalse(book("win-a", "400", null, "winp.f", 1, at(3)).admitted());
        // no agent reports this cluster: the window is 120 s; after it, B's refusal is forgotten
        assertTrue(book("win-a", "400", null, "winp.f", 1, at(2 + 120.001)).admitted());
        // lm.conf's demand_window (written to lm.settings by lm-server) overrides it
        end("win-a", "101");
        assertFalse(book("win-b", "300", null, "winp.f", 2, at(200)).admitted(), "1 free, 2 asked");
        pools.one("UPDATE lm.settings SET demand_window = 10 RETURNING 1");
        try {
            assertFalse(book("win-a", "401", null, "winp.f", 1, at(209)).admitted());
            assertTrue(book("win-a", "401", null, "winp.f", 1, at(210.001)).admitted());
        } finally {
            pools.one("UPDATE lm.settings SET demand_window = NULL RETURNING 1");
        }
    }

    @Test
    void maxUseLimitsAClusterAndAnAccount() throws SQLException {
        long[] f = twoClusters("lim", 1004, 20, 1, 1);
        pools.one("UPDATE lm.features SET max_use = 3 WHERE id = ? RETURNING id", f[0]);
        for (int i = 0; i < 3; i++) {
            assertTrue(book("lim-a", Integer.toString(100 + i), null, "limp.f", 1, at(1)).admitted());
        }
        Answer a = book("lim-a", "103", null, "limp.f", 1, at(1));
        assertFalse(a.admitted());
        JsonObject o = JsonParser.parseString(a.detail()).getAsJsonArray().get(0).getAsJsonObject();
        assertEquals("max_use", o.get("reason").getAsString());
        assertEquals(3, o.getAsJsonObject("owner").get("max_use").getAsLong());
        // an account limit inside cluster B; other accounts of B are not limited by it
        pools.one("INSERT INTO lm.project_shares (feature_id, account, share, max_use) VALUES (?, 'p1', 1, 2) RETURNING id", f[1]);
        assertTrue(book("lim-b", "200", "p1", "limp.f", 2, at(1)).admitted());
        assertFalse(book("lim-b", "201", "p1", "limp.f", 1, at(1)).admitted());
        assertTrue(book("lim-b", "202", "p2", "limp.f", 5, at(1)).admitted());
        assertEquals(2, inUse(f[1], "p1", at(1)));
        assertEquals(5, inUse(f[1], "*", at(1)));
        assertEquals(7, inUse(f[1], null, at(1)));
    }

    @Test
    void projectSharesSplitTheClustersEntitlement() throws SQLException {
        long[] f = twoClusters("proj", 1005, 12, 1, 1);
        pools.one("INSERT INTO lm.project_shares (feature_id, account, share) VALUES (?, 'p1', 2) RETURNING id", f[1]);
        pools.one("INSERT INTO lm.project_shares (feature_id, account, share) VALUES (?, 'p2', 1) RETURNING id", f[1]);
        assertTrue(book("proj-a", "1", null, "projp.f", 1, at(1)).admitted());
        assertTrue(book("proj-b", "2", "p1", "projp.f", 1, at(1)).admitted());
        assertTrue(book("proj-b", "3", "p2", "projp.f", 1, at(1)).admitted());
        // B's 6 split 2:1 between its active accounts; '*' (no job) is not active
        assertEquals(6.0, entitled(f[1], null, at(1)));
        assertEquals(4.0, entitled(f[1], "p1", at(1)));
        assertEquals(2.0, entitled(f[1], "p2", at(1)));
        assertEquals(0.0, entitled(f[1], "*", at(1)));
    }

    static String report(String cluster, String json, Timestamp t) {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT lm.apply_agent_report(?, ?::jsonb, ?)")) {
            ps.setString(1, cluster);
            ps.setString(2, json);
            ps.setTimestamp(3, t);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    static long demand(long feature, Timestamp t) {
        return pools.one("SELECT demand FROM lm.features f, lm.pool_shares(f.pool_id, ?) s WHERE f.id = ? AND s.feature_id = f.id"
                + " AND s.account IS NULL", t, feature);
    }

    @Test
    void pendingJobsSeenBySqueueAreDemandOncePerJob() throws SQLException {
        long[] f = twoClusters("pend", 1007, 10, 1, 1);
        String pending = "{\"slurm\":{\"squeue_age_ms\":0,\"pending\":["
                + "{\"job_id\":500,\"account\":\"p1\",\"license\":\"pendp.f@flexlm\",\"quantity\":3},"
                + "{\"job_id\":501,\"license\":\"pendp.f@flexlm\",\"quantity\":1},"
                + "{\"job_id\":502,\"license\":\"other.lic@flexlm\",\"quantity\":9}]}}";
        for (int i = 0; i < 10; i++) {
            assertTrue(book("pend-a", Integer.toString(100 + i), null, "pendp.f", 1, at(0.5)).admitted());
        }
        report("pend-b", pending, at(1));
        assertEquals(4, demand(f[1], at(1)));
        // A's next request waits: B is below its share and waits (the 10 are A's till its jobs end)
        assertFalse(book("pend-a", "110", null, "pendp.f", 1, at(2)).admitted());
        // the pending job refused when it starts: the same demand, not more
        assertFalse(book("pend-b", "500", "p1", "pendp.f", 3, at(3)).admitted());
        assertEquals(4, demand(f[1], at(3)));
        // the next pass no longer lists 501 (cancelled): its demand goes; 500, refused after squeue looked, stays
        report("pend-b", "{\"slurm\":{\"squeue_age_ms\":5000,\"pending\":[]}}", at(5));
        assertEquals(3, demand(f[1], at(5)));
        // admitted: no longer demand
        end("pend-a", "100");
        end("pend-a", "101");
        end("pend-a", "102");
        assertTrue(book("pend-b", "500", "p1", "pendp.f", 3, at(6)).admitted());
        assertEquals(0, demand(f[1], at(6)));
    }

    @Test
    void theReservationHoldsWhatOtherClustersWaitFor() throws SQLException {
        long[] f = twoClusters("plan", 1008, 10, 1, 1);
        for (int i = 0; i < 6; i++) {
            assertTrue(book("plan-a", Integer.toString(100 + i), null, "planp.f", 1, at(1)).admitted());
        }
        // B waits for 4 (entitled to 5): the 4 free are B's, and A's Slurm must not start jobs for them
        report("plan-b", "{\"slurm\":{\"squeue_age_ms\":0,\"pending\":[{\"job_id\":7,\"license\":\"planp.f@flexlm\",\"quantity\":4}]}}", at(2));
        assertEquals(4, pools.one("SELECT reservation FROM lm.plan_reservations('plan-a', ?::jsonb, ?)",
                "[{\"license\":\"planp.f@flexlm\",\"total\":10,\"used\":6}]", at(3)));
        assertEquals(6, pools.one("SELECT reservation FROM lm.plan_reservations('plan-b', ?::jsonb, ?)",
                "[{\"license\":\"planp.f@flexlm\",\"total\":10,\"used\":0}]", at(3)));
        // a max_use of 7 leaves A room for 1 only
        pools.one("UPDATE lm.features SET max_use = 7 WHERE id = ? RETURNING id", f[0]);
        report("plan-b", "{\"slurm\":{\"squeue_age_ms\":0,\"pending\":[]}}", at(4));
        assertEquals(3, pools.one("SELECT reservation FROM lm.plan_reservations('plan-a', ?::jsonb, ?)",
                "[{\"license\":\"planp.f@flexlm\",\"total\":10,\"used\":6}]", at(5)));
    }

    @Test
    void everyPassAppendsToTheDistributionLogWhichKeepsItsDays() throws SQLException {
        long[] f = twoClusters("dlog", 1009, 10, 2, 1);
        assertTrue(book("dlog-a", "1", null, "dlogp.f", 2, at(1)).admitted());
        report("dlog-a", "{\"slurm\":{\"squeue_age_ms\":0,\"pending\":[{\"job_id\":2,\"license\":\"dlogp.f@flexlm\",\"quantity\":1}]}}", at(2));
        assertEquals(2, pools.one("SELECT count(*) FROM lm.distribution_log WHERE pool_id = ? AND at = ?", f[0], at(2)));
        assertEquals(2, pools.one("SELECT in_use FROM lm.distribution_log WHERE pool_id = ? AND cluster_client_id = 'dlog-a'", f[0]));
        assertEquals(1, pools.one("SELECT demand FROM lm.distribution_log WHERE pool_id = ? AND cluster_client_id = 'dlog-a'", f[0]));
        assertEquals(8, pools.one("SELECT free FROM lm.distribution_log WHERE pool_id = ? AND cluster_client_id = 'dlog-a'", f[0]));
        // distribution_log_days (35): a pass 35 days and a second later drops the first entries
        report("dlog-b", "{}", at(2 + 35 * 86400));
        assertEquals(2, pools.one("SELECT count(*) FROM lm.distribution_log WHERE pool_id = ? AND at = ?", f[0], at(2)));
        report("dlog-b", "{}", at(2 + 35 * 86400 + 1));
        assertEquals(0, pools.one("SELECT count(*) FROM lm.distribution_log WHERE pool_id = ? AND at = ?", f[0], at(2)));
        assertEquals(4, pools.one("SELECT count(*) FROM lm.distribution_log WHERE pool_id = ?", f[0]));
    }

    /**
     * Shares 2:1, both clusters always with demand (16 sessions each, more jobs than fit, each
     * session retrying its pending job until admitted, like Slurm), jobs of random length and size: the license-seconds held end
     * within ±10 % of 2:1, and the pool is never overbooked, sampled by another session all along.
     */
    @Test
    void saturationWithShares2To1SplitsTheLicenseSeconds() throws Exception {
        long[] f = twoClusters("sat", 1006, 30, 2, 1);
        String[] clusters = {"sat-a", "sat-b"};
        int perCluster = 16;
        int ticks = 180;
        Random rnd = new Random(7);
        ExecutorService exec = Executors.newFixedThreadPool(2 * perCluster + 1);
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicReference<String> violation = new AtomicReference<>();
        Future<?> monitor = exec.submit(() -> {
            try (Connection c = session(); PreparedStatement ps = c.prepareStatement(
                    "SELECT coalesce(sum(quantity), 0) FROM lm.bookings WHERE feature_id = ANY (?) AND released_at IS NULL")) {
                ps.setArray(1, c.createArrayOf("bigint", new Long[] {f[0], f[1]}));
                while (running.get()) {
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        if (rs.getLong(1) > 30) {
                            violation.set("booked " + rs.getLong(1) + " > 30");
                        }
                    }
                }
            }
            return null;
        });
        List<Connection> sessions = new ArrayList<>();
        for (int i = 0; i < 2 * perCluster; i++) {
            sessions.add(session());
        }
        // per session: its pending job (id, size) and, once admitted, when it ends
        String[] pending = new String[2 * perCluster];
        int[] size = new int[2 * perCluster];
        int[] endsAt = new int[2 * perCluster];
        String[] running_ = new String[2 * perCluster];
        int next = 1;
        for (int s = 0; s < pending.length; s++) {
            pending[s] = Integer.toString(next++);
            size[s] = 1 + rnd.nextInt(3);
        }
        long[] licenseSeconds = new long[2];
        try {
            for (int t = 0; t < ticks; t++) {
                Timestamp now = at(10 + t);
                for (int s = 0; s < pending.length; s++) {
                    if (running_[s] != null && endsAt[s] <= t) {
                        end(clusters[s / perCluster], running_[s]);
                        running_[s] = null;
                        pending[s] = Integer.toString(next++);
                        size[s] = 1 + rnd.nextInt(3);
                    }
                }
                CountDownLatch go = new CountDownLatch(1);
                List<Future<Boolean>> answers = new ArrayList<>();
                for (int s = 0; s < pending.length; s++) {
                    if (running_[s] != null) {
                        answers.add(null);
                        continue;
                    }
                    int si = s;
                    answers.add(exec.submit(() -> {
                        go.await();
                        return book(sessions.get(si), clusters[si / perCluster], pending[si], null, "satp.f", size[si], now).admitted();
                    }));
                }
                go.countDown();
                for (int s = 0; s < pending.length; s++) {
                    if (answers.get(s) != null && answers.get(s).get(60, TimeUnit.SECONDS)) {
                        running_[s] = pending[s];
                        endsAt[s] = t + 2 + rnd.nextInt(6);
                    }
                }
                licenseSeconds[0] += inUse(f[0], null, now);
                licenseSeconds[1] += inUse(f[1], null, now);
                assertTrue(pools.available(f[0], now) >= 0, "never overbooked at tick " + t);
            }
        } finally {
            running.set(false);
            monitor.get(30, TimeUnit.SECONDS);
            exec.shutdownNow();
            for (Connection c : sessions) {
                c.close();
            }
        }
        assertNull(violation.get());
        double ratio = (double) licenseSeconds[0] / licenseSeconds[1];
        System.out.printf("saturation 2:1 over %d s: license-seconds A %d, B %d, ratio %.3f (%.1f %% : %.1f %%)%n", ticks,
                licenseSeconds[0], licenseSeconds[1], ratio, 100.0 * licenseSeconds[0] / (licenseSeconds[0] + licenseSeconds[1]),
                100.0 * licenseSeconds[1] / (licenseSeconds[0] + licenseSeconds[1]));
        assertTrue(ratio >= 1.8 && ratio <= 2.2, "license-seconds A:B = " + ratio + ", not within 10 % of 2:1");
        // the pool was used: saturation, not idleness
        assertTrue(licenseSeconds[0] + licenseSeconds[1] > 0.8 * 30 * ticks, "pool mostly idle: " + (licenseSeconds[0] + licenseSeconds[1]));
    }
}
