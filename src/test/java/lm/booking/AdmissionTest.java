package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The admission, expiry, checkout and reservation rules of src/main/sql, called directly. */
class AdmissionTest {
    static HikariDataSource ds;
    static Pools pools;
    static final Instant T0 = Instant.parse("2026-11-22T10:00:00Z");

    @BeforeAll
    static void start() {
        ds = TestDatabase.pool(4);
        pools = new Pools(ds);
    }

    @AfterAll
    static void stop() {
        ds.close();
    }

    static Timestamp at(double seconds) {
        return Timestamp.from(T0.plusMillis((long) (seconds * 1000)));
    }

    /** book_job at time t; returns created, or throws with the SQLSTATE. */
    static boolean book(String cluster, String job, String user, String host, String bookings, Timestamp t) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT created FROM lm.book_job(?, ?, ?, ?, ?::jsonb, ?)")) {
            ps.setString(1, cluster);
            ps.setString(2, job);
            ps.setString(3, user);
            ps.setString(4, host);
            ps.setString(5, bookings);
            ps.setTimestamp(6, t);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    static long availableAt(long feature, Timestamp t) {
        return pools.one("SELECT available FROM lm.pool_state(?, ?)", feature, t);
    }

    static String b(String pf, int q) {
        return "[{\"product_feature\":\"" + pf + "\",\"quantity\":" + q + "}]";
    }

    @Test
    void bookingExpiresExactlyAtTheGraceBoundary() throws SQLException {
        long c = pools.config("exp", "exp", "flex-exp", 1, 60);
        long f = pools.feature(c, "expp", "f", 10, 0, 0, at(0));
        assertTrue(book("exp", "1", "u", "h", b("expp.f", 10), at(0)));
        assertEquals(0, availableAt(f, at(59.999)));
        // no room before the boundary…
        SQLException e = assertThrows(SQLException.class, () -> book("exp", "2", "u", "h", b("expp.f", 1), at(59.999)));
        assertEquals("LM001", e.getSQLState());
        // …and the licenses are free again at grace_time after the job started
        assertEquals(10, availableAt(f, at(60)));
        assertTrue(book("exp", "2", "u", "h", b("expp.f", 10), at(60)));
        // this feature's only: other tests' bookings are past their grace at this instant too
        assertEquals(1, pools.one("SELECT lm.expire_bookings(?, ARRAY[?]::bigint[])", at(60), f));
        assertEquals("grace", text("SELECT released_reason FROM lm.bookings b JOIN lm.jobs j ON j.id = b.job_id"
                + " WHERE j.cluster_client_id = 'exp' AND j.slurm_job_id = '1'"));
    }

    static String text(String sql) {
        try {
            return lm.db.Sql.text(ds, sql);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void retriedBookingIsIdempotent() throws SQLException {
        long c = pools.config("idem", "idem", "flex-idem", 1, 600);
        long f = pools.feature(c, "idemp", "f", 5, 0, 0, at(0));
        assertTrue(book("idem", "7", "u", "h", b("idemp.f", 5), at(0)));
        // the same prolog again (e.g. its first answer was lost): the job it has, not a refusal
        assertFalse(book("idem", "7", "u", "h", b("idemp.f", 5), at(1)));
        assertEquals(1, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'idem'"));
        assertEquals(1, pools.one("SELECT count(*) FROM lm.bookings WHERE feature_id = ?", f));
        assertEquals(5, pools.activeBooked(f, at(0)));
        // the same Slurm job id on another cluster is another job
        long c2 = pools.config("idem2", "idem", "flex-idem2", 1, 600);
        pools.feature(c2, "idemp", "f", 5, 0, 0, at(0));
        assertTrue(book("idem2", "7", "u", "h", b("idemp.f", 5), at(1)));
        // after release (epilog), a requeued job books afresh
        assertEquals(1, pools.one("SELECT lm.release_job('idem', '7')::int"));
        assertEquals(0, pools.one("SELECT lm.release_job('idem', '7')::int"));
        assertTrue(book("idem", "7", "u", "h", b("idemp.f", 5), at(2)));
    }

    @Test
    void multiFeatureJobIsAllOrNothing() throws SQLException {
        long c = pools.config("multi", "multi", "flex-multi", 1, 600);
        long fa = pools.feature(c, "multip", "a", 10, 0, 0, at(0));
        long fb = pools.feature(c, "multip", "b", 10, 4, 2, at(0)); // 4 available
        SQLException e = assertThrows(SQLException.class,
                () -> book("multi", "1", "u", "h", "[{\"product_feature\":\"multip.a\",\"quantity\":2},{\"product_feature\":\"multip.b\",\"quantity\":5}]", at(0)));
        assertEquals("LM001", e.getSQLState());
        JsonArray detail = JsonParser.parseString(((org.postgresql.util.PSQLException) e).getServerErrorMessage().getDetail()).getAsJsonArray();
        assertEquals(1, detail.size(), "only the short feature is named");
        JsonObject shortOne = detail.get(0).getAsJsonObject();
        assertEquals("multip.b", shortOne.get("product_feature").getAsString());
        assertEquals(5, shortOne.get("requested").getAsLong());
        assertEquals(4, shortOne.get("available").getAsLong());
        assertEquals(0, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'multi'"));
        assertEquals(0, pools.activeBooked(fa, at(0)));
        // the same feature named twice is summed: 2 + 3 > 4
        assertEquals("LM001", assertThrows(SQLException.class,
                () -> book("multi", "2", "u", "h", "[{\"product_feature\":\"multip.b\",\"quantity\":2},{\"product_feature\":\"multip.b\",\"quantity\":3}]", at(0))).getSQLState());
        assertTrue(book("multi", "3", "u", "h", "[{\"product_feature\":\"multip.a\",\"quantity\":2},{\"product_feature\":\"multip.b\",\"quantity\":4}]", at(0)));
        assertEquals(2, pools.activeBooked(fa, at(0)));
        assertEquals(4, pools.activeBooked(fb, at(0)));
        // every product.feature unknown to this cluster: LM002 (404), nothing written
        assertEquals("LM002", assertThrows(SQLException.class,
                () -> book("multi", "4", "u", "h", "[{\"product_feature\":\"nope.y\",\"quantity\":1},{\"product_feature\":\"nope.x\",\"quantity\":1}]", at(0))).getSQLState());
        assertEquals(1, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'multi'"));
        // one unknown among known ones is untracked (counted, UntrackedTest): the known one is booked
        assertTrue(book("multi", "5", "u", "h", "[{\"product_feature\":\"multip.a\",\"quantity\":1},{\"product_feature\":\"nope.x\",\"quantity\":1}]", at(0)));
        assertEquals(3, pools.activeBooked(fa, at(0)));
    }

    @Test
    void checkoutsReleaseMatchingBookingsOnly() throws SQLException {
        long c = pools.config("co", "co", "flex-co", 1, 3600);
        long f = pools.feature(c, "cop", "f", 100, 0, 0, at(0));
        assertTrue(book("co", "1", "alice", "node01.cluster.example", b("cop.f", 3), at(0)));
        assertTrue(book("co", "2", "alice", "node01.cluster.example", b("cop.f", 3), at(1)));
        assertTrue(book("co", "3", "bob", "node02", b("cop.f", 2), at(2)));
        assertEquals(8, pools.activeBooked(f, at(0)));
        // alice has 3 out on node01 (the server prints the short name), bob only 1 of his 2,
        // carol (no booking) 5: one alice booking goes, bob's stays, used counts everything
        String report = "[{\"product_feature\":\"cop.f\",\"total\":100,\"used\":9,\"checkouts\":["
                + "{\"user\":\"alice\",\"host\":\"node01\",\"quantity\":3},"
                + "{\"user\":\"bob\",\"host\":\"node02.cluster.example\",\"quantity\":1},"
                + "{\"user\":\"carol\",\"host\":\"desk7\",\"quantity\":5}]}]";
        assertEquals(1, pools.one("SELECT lm.apply_usage('co', ?::jsonb, ?)", report, at(10)));
        assertEquals(5, pools.activeBooked(f, at(10)));
        assertEquals(100 - 9 - 5, availableAt(f, at(10)));
        assertEquals("checkout", text("SELECT released_reason FROM lm.bookings b JOIN lm.jobs j ON j.id = b.job_id"
                + " WHERE j.cluster_client_id = 'co' AND j.slurm_job_id = '1'"));
        // a second checkout of 3 by alice covers her second job too
        report = report.replace("\"quantity\":3}", "\"quantity\":6}");
        assertEquals(1, pools.one("SELECT lm.apply_usage('co', ?::jsonb, ?)", report, at(20)));
        assertEquals(2, pools.activeBooked(f, at(20)));
        // a report naming a feature the cluster doesn't have changes nothing
        assertEquals("LM002", sqlState(() -> pools.one("SELECT lm.apply_usage('co', ?::jsonb, ?)",
                "[{\"product_feature\":\"cop.f\",\"total\":1,\"used\":1},{\"product_feature\":\"cop.zzz\",\"total\":1,\"used\":1}]", at(30))));
        assertEquals(100, pools.one("SELECT total FROM lm.features WHERE id = ?", f));
    }

    static String sqlState(Runnable r) {
        try {
            r.run();
        } catch (IllegalStateException e) {
            if (e.getCause() instanceof SQLException s) {
                return s.getSQLState();
            }
        }
        return "none";
    }

    static long plan(String cluster, String license, long slurmTotal, long slurmUsed) {
        return pools.one("SELECT reservation FROM lm.plan_reservations(?, ?::jsonb, ?)", cluster,
                "[{\"license\":\"" + license + "\",\"total\":" + slurmTotal + ",\"used\":" + slurmUsed + "}]", at(1));
    }

    @Test
    void reservationArithmetic() throws SQLException {
        // the reference's own case: used 200, Slurm used 23, bookings 103, total 1000 => 280
        long c = pools.config("plan", "plan", "flex-plan", 1, 3600);
        long f = pools.feature(c, "planp", "f", 1000, 200, 0, at(0));
        assertTrue(book("plan", "1", "u", "h", b("planp.f", 100), at(0)));
        assertTrue(book("plan", "2", "u", "h", b("planp.f", 3), at(0)));
        assertEquals(103, pools.one("SELECT booked FROM lm.pool_state(?, ?)", f, at(1)));
        assertEquals(280, pools.one("SELECT reservation FROM lm.plan_reservations('plan', ?::jsonb, ?)",
                "[{\"license\":\"planp.f@flexlm\",\"total\":1000,\"used\":23}]", at(1)));
        // clamped at 0: nothing is held when reality has more free than Slurm thinks
        long c2 = pools.config("plan2", "plan", "flex-plan2", 1, 3600);
        pools.feature(c2, "planp", "g", 100, 0, 0, at(0));
        assertEquals(0, plan("plan2", "planp.g@flexlm", 50, 10));
        // clamped at Total_slurm: Slurm 22.05 rejects more and then stops enforcing
        long c3 = pools.config("plan3", "plan", "flex-plan3", 1, 3600);
        pools.feature(c3, "planp", "h", 100, 100, 20, at(0)); // free_real = -20
        assertEquals(10, plan("plan3", "planp.h@flexlm", 10, 0));
        // reserved counts like outside usage; wrong type or unknown licenses are not planned
        long c4 = pools.config("plan4", "plan", "flex-plan4", 1, 3600);
        pools.feature(c4, "planp", "k", 100, 30, 20, at(0));
        assertEquals(50, plan("plan4", "planp.k@flexlm", 100, 0));
        assertEquals(0, pools.one("SELECT count(*) FROM lm.plan_reservations('plan4', ?::jsonb, ?)",
                "[{\"license\":\"planp.k@rlm\",\"total\":100,\"used\":0},{\"license\":\"other.x@flexlm\",\"total\":5,\"used\":0}]", at(1)));
    }

    @Test
    void outageKeepsLastValuesThenHoldsThePool() throws SQLException {
        long c = pools.config("out", "out", "flex-out", 1, 3600);
        pools.one("UPDATE lm.configurations SET outage_grace = 300 WHERE id = ? RETURNING id", c);
        long f = pools.feature(c, "outp", "f", 100, 40, 0, at(0));
        pools.one("UPDATE lm.features SET reported_at = ? WHERE id = ? RETURNING id", at(0), f);
        // the agent says the servers failed: the last values still count while younger than 300 s
        pools.one("SELECT (lm.apply_agent_report('out', '{\"failed\":[\"outp.f\"]}'::jsonb, ?) IS NOT NULL)::int", at(100));
        assertEquals(60, availableAt(f, at(100)));
        assertEquals(1, pools.one("SELECT stale::int FROM lm.pool_state(?, ?)", f, at(100)));
        assertEquals(40, pools.one("SELECT used FROM lm.features WHERE id = ?", f), "never zeroed");
        assertEquals(0, pools.one("SELECT held::int FROM lm.pool_state(?, ?)", f, at(299)));
        assertEquals(0, availableAt(f, at(301)));
        assertEquals(1, pools.one("SELECT held::int FROM lm.pool_state(?, ?)", f, at(301)));
        assertEquals(100, pools.one("SELECT reservation FROM lm.plan_reservations('out', ?::jsonb, ?)",
                "[{\"license\":\"outp.f@flexlm\",\"total\":100,\"used\":0}]", at(301)));
        // the server answers again: fresh values, no longer stale or held
        pools.one("SELECT (lm.apply_agent_report('out', '{\"features\":[{\"product_feature\":\"outp.f\",\"total\":100,\"used\":10}]}'::jsonb, ?) IS NOT NULL)::int", at(400));
        assertEquals(90, availableAt(f, at(400)));
        assertEquals(0, pools.one("SELECT stale::int FROM lm.pool_state(?, ?)", f, at(400)));
    }

    @Test
    void reportingViewsShowTheSharedPool() throws SQLException {
        // the psql views read the database's now(): this test stands at the wall clock
        Timestamp now = Pools.wallClock();
        long ca = pools.config("rv-a", "rv", "lic-rv.example.org", 27100, 3600);
        long cb = pools.config("rv-b", "rv", "lic-rv.example.org", 27100, 3600);
        long fa = pools.feature(ca, "rvp", "f", 50, 10, 5, now);
        pools.feature(cb, "rvp", "f", 50, 10, 0, now);
        assertTrue(book("rv-a", "1", "alice", "n1", b("rvp.f", 4), now));
        assertTrue(book("rv-b", "1", "bob", "n2", b("rvp.f", 6), now));
        String row = text("SELECT concat_ws('|', product_feature, servers, clusters, total, used, reserved, booked, available, stale, held)"
                + " FROM lm.license_pools WHERE pool_id = " + pools.one("SELECT pool_id FROM lm.features WHERE id = ?", fa));
        assertEquals("rvp.f|lic-rv.example.org:27100|rv-a,rv-b|50|10|5|10|25|f|f", row);
        assertEquals(2, pools.one("SELECT count(*) FROM lm.active_bookings WHERE product_feature = 'rvp.f'"));
        assertEquals("rv-a|rvp.f@flexlm|4|1", text("SELECT concat_ws('|', cluster_client_id, license, booked_by_cluster, jobs_booking)"
                + " FROM lm.cluster_usage WHERE cluster_client_id = 'rv-a'"));
    }

    @Test
    void inventoryChangesKeepPoolsAndCountsRight() throws SQLException {
        Timestamp now = at(0);
        long ca = pools.config("inv-a", "inv", "lic-inv", 27200, 3600);
        long cb = pools.config("inv-b", "inv", "lic-inv-other", 27200, 3600);
        long fa = pools.feature(ca, "invp", "f", 40, 0, 0, now);
        long fb = pools.feature(cb, "invp", "f", 40, 0, 0, now);
        assertTrue(book("inv-a", "1", "u", "h", b("invp.f", 5), now));
        assertTrue(book("inv-b", "1", "u", "h", b("invp.f", 7), now));
        // different servers: two pools
        assertEquals(5, pools.activeBooked(fa, now));
        assertEquals(7, pools.activeBooked(fb, now));
        // cluster b's configuration now also names a's server: one pool, both bookings count
        pools.one("INSERT INTO lm.license_servers (config_id, host, port) VALUES (?, 'LIC-INV', 27200) RETURNING id", cb);
        assertEquals(pools.one("SELECT pool_id FROM lm.features WHERE id = ?", fa), pools.one("SELECT pool_id FROM lm.features WHERE id = ?", fb));
        assertEquals(12, pools.activeBooked(fa, now));
        assertEquals(12, pools.activeBooked(fb, now));
        // a's configuration goes (its bookings with it): b's pool counts only b's booking
        pools.one("WITH d AS (DELETE FROM lm.configurations WHERE id = ? RETURNING 1) SELECT count(*) FROM d", ca);
        assertEquals(7, pools.activeBooked(fb, now));
        assertEquals(40 - 7, pools.available(fb, now));
        // the counter always equals the bookings it stands for
        assertEquals(0, pools.one("SELECT count(*) FROM lm.pool_counts pc WHERE pc.booked <> (SELECT coalesce(sum(b.quantity), 0)"
                + " FROM lm.bookings b JOIN lm.features f ON f.id = b.feature_id WHERE f.pool_id = pc.pool_id AND b.released_at IS NULL)"));
        assertEquals(0, pools.one("SELECT count(*) FROM lm.pools p WHERE NOT EXISTS (SELECT 1 FROM lm.features f WHERE f.pool_id = p.id)"));
    }

    /** apply_usage at t; returns how many bookings its checkouts released. */
    static long usage(String cluster, String report, Timestamp t) {
        return pools.one("SELECT lm.apply_usage(?, ?::jsonb, ?)", cluster, report, t);
    }

    static String checkoutReport(String pf, long total, long used, String... userHostQuantity) {
        StringBuilder s = new StringBuilder("[{\"product_feature\":\"" + pf + "\",\"total\":" + total + ",\"used\":" + used + ",\"checkouts\":[");
        for (int i = 0; i < userHostQuantity.length; i += 3) {
            s.append(i == 0 ? "" : ",").append("{\"user\":\"").append(userHostQuantity[i]).append("\",\"host\":\"")
                    .append(userHostQuantity[i + 1]).append("\",\"quantity\":").append(userHostQuantity[i + 2]).append('}');
        }
        return s.append("]}]").toString();
    }

    static String released(String cluster, String job) {
        return text("SELECT coalesce(max(b.released_reason), 'active') FROM lm.bookings b JOIN lm.jobs j ON j.id = b.job_id"
                + " WHERE j.cluster_client_id = '" + cluster + "' AND j.slurm_job_id = '" + job + "'");
    }

    @Test
    void aCheckoutReleasesOneBookingOnceAcrossPasses() throws SQLException {
        // the case: total 2; alice's job 1 checks its license out and is released by it;
        // her job 2 books the other license; the same report again must not release job 2 too,
        // or bob's job 3 gets in: 3 jobs on 2 licenses
        long c = pools.config("once", "once", "flex-once", 1, 3600);
        long f = pools.feature(c, "oncep", "f", 2, 0, 0, at(0));
        assertTrue(book("once", "1", "alice", "n01", b("oncep.f", 1), at(0)));
        String report = checkoutReport("oncep.f", 2, 1, "alice", "n01", "1");
        assertEquals(1, usage("once", report, at(10)));
        assertEquals("checkout", released("once", "1"));
        assertTrue(book("once", "2", "alice", "n01", b("oncep.f", 1), at(11)));
        assertEquals(0, usage("once", report, at(20)), "the same checkout, seen again, covers job 1 only");
        assertEquals("active", released("once", "2"));
        assertEquals(0, availableAt(f, at(21)));
        assertEquals("LM001", assertThrows(SQLException.class, () -> book("once", "3", "bob", "n02", b("oncep.f", 1), at(21))).getSQLState());
        // alice checks out her second license: now job 2 is covered, once
        String two = checkoutReport("oncep.f", 2, 2, "alice", "n01", "2");
        assertEquals(1, usage("once", two, at(30)));
        assertEquals(0, usage("once", two, at(40)));
        assertEquals(0, availableAt(f, at(41)));
    }

    @Test
    void aCheckoutThatEndsAndANewOneThatStartsBetweenPasses() throws SQLException {
        long c = pools.config("turn", "turn", "flex-turn", 1, 3600);
        long f = pools.feature(c, "turnp", "f", 3, 0, 0, at(0));
        assertTrue(book("turn", "1", "alice", "n01", b("turnp.f", 1), at(0)));
        String one = checkoutReport("turnp.f", 3, 1, "alice", "n01", "1").replace("\"quantity\":1}", "\"quantity\":1,\"key\":\"h1\"}");
        assertEquals(1, usage("turn", one, at(10)));
        // between two passes job 1 ends (its checkout with it) and job 2 starts and checks out:
        // the server shows alice ×1 on n01 again, under another handle: job 2's, which releases
        // it (without a key the two could not be told apart, and job 2 would hold its booking
        // until its grace passed: AccountingTest.aCheckoutSeenAgainAfterItsJobEndedReleasesNoOtherBooking)
        assertEquals(1, pools.one("SELECT lm.release_job('turn', '1', NULL, ?)::int", at(12)));
        assertTrue(book("turn", "2", "alice", "n01", b("turnp.f", 1), at(15)));
        one = one.replace("h1", "h2");
        assertEquals(1, usage("turn", one, at(20)));
        assertEquals("checkout", released("turn", "2"));
        assertEquals(3 - 1, availableAt(f, at(21)));
        // job 2's checkout ends while the job runs on: nothing shows what it holds, so it is
        // booked again (counted twice rather than not at all, had the checkout been another job's)
        assertEquals(0, usage("turn", checkoutReport("turnp.f", 3, 0), at(30)));
        assertEquals("active", released("turn", "2"));
        assertEquals(3 - 1, availableAt(f, at(30)));
        // a later checkout is matched to the older of the two bookings of alice on n01; either
        // way one license shows and one stays booked
        assertTrue(book("turn", "3", "alice", "n01", b("turnp.f", 1), at(31)));
        assertEquals(1, usage("turn", one, at(40)));
        assertEquals("checkout", released("turn", "2"));
        assertEquals("active", released("turn", "3"));
        assertEquals(3 - 1 - 1, availableAt(f, at(41)));
    }

    @Test
    void aCheckoutReleasesOnlyBookingsOfTheReportingClusterOnItsNodes() throws SQLException {
        // clusters A and B share the license server, and both have a node01
        long ca = pools.config("nodes-a", "nodes", "lic-nodes", 27300, 3600);
        long cb = pools.config("nodes-b", "nodes", "lic-nodes", 27300, 3600);
        long fa = pools.feature(ca, "nodesp", "f", 10, 0, 0, at(0));
        pools.feature(cb, "nodesp", "f", 10, 0, 0, at(0));
        assertTrue(book("nodes-b", "1", "alice", "node01", b("nodesp.f", 1), at(0)));
        // alice runs on cluster A's node01 (no booking there): A's report must not release B's job
        String report = checkoutReport("nodesp.f", 10, 1, "alice", "node01", "1");
        assertEquals(0, pools.one("SELECT (lm.apply_agent_report('nodes-a', ?::jsonb, ?)->>'released_checkouts')::int",
                "{\"features\":" + report + ",\"slurm\":{\"nodes\":[\"node01\",\"node02\"]}}", at(10)));
        assertEquals("active", released("nodes-b", "1"));
        // B's agent names its nodes: a checkout on a host that is not one of them releases nothing
        assertEquals(0, pools.one("SELECT (lm.apply_agent_report('nodes-b', ?::jsonb, ?)->>'released_checkouts')::int",
                "{\"features\":" + report + ",\"slurm\":{\"nodes\":[\"node07\"]}}", at(20)));
        assertEquals("active", released("nodes-b", "1"));
        // on one of B's nodes it is B's job's checkout
        assertEquals(1, pools.one("SELECT (lm.apply_agent_report('nodes-b', ?::jsonb, ?)->>'released_checkouts')::int",
                "{\"features\":" + report + ",\"slurm\":{\"nodes\":[\"node01\"]}}", at(30)));
        assertEquals("checkout", released("nodes-b", "1"));
        // without nodes, the reporting cluster's own bookings are all that limit the match; and
        // the checkout that covers B's job covers nothing of A's too (one license, one booking)
        assertTrue(book("nodes-a", "2", "alice", "node01", b("nodesp.f", 1), at(31)));
        assertEquals(0, usage("nodes-a", report, at(40)));
        assertEquals("active", released("nodes-a", "2"));
        assertEquals(1, usage("nodes-a", checkoutReport("nodesp.f", 10, 2, "alice", "node01", "2"), at(50)));
        assertEquals(10 - 2, availableAt(fa, at(51)));
    }

    @Test
    void aRequeuedJobIsBookedAgainNotWavedThrough() throws SQLException {
        long c = pools.config("requeue", "requeue", "flex-requeue", 1, 60);
        long f = pools.feature(c, "requeuep", "f", 5, 0, 0, at(0));
        assertTrue(book("requeue", "7", "u", "h", b("requeuep.f", 3), at(0)));
        // a retried prolog, bookings active and equal: the job as it is
        assertFalse(book("requeue", "7", "u", "h", b("requeuep.f", 3), at(1)));
        assertEquals(3, pools.activeBooked(f, at(1)));
        // requeued after its grace passed (the epilog's DELETE was lost): booked afresh
        assertTrue(book("requeue", "7", "u", "h2", b("requeuep.f", 3), at(100)));
        assertEquals(3, pools.activeBooked(f, at(100)));
        assertEquals(1, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'requeue'"));
        assertEquals("h2", text("SELECT lead_host FROM lm.jobs WHERE cluster_client_id = 'requeue'"));
        // a different request replaces the old bookings, which no longer count against it
        assertTrue(book("requeue", "7", "u", "h2", b("requeuep.f", 5), at(101)));
        assertEquals(5, pools.activeBooked(f, at(101)));
        // released by its checkout, then requeued: booked again
        usage("requeue", checkoutReport("requeuep.f", 5, 5, "u", "h2", "5"), at(102));
        assertEquals(0, pools.activeBooked(f, at(102)));
        usage("requeue", checkoutReport("requeuep.f", 5, 0), at(103));
        assertTrue(book("requeue", "7", "u", "h2", b("requeuep.f", 2), at(104)));
        assertEquals(2, pools.activeBooked(f, at(104)));
        // what doesn't fit is refused with nothing changed: the old job and booking stay
        assertTrue(book("requeue", "8", "v", "h3", b("requeuep.f", 3), at(105)));
        long job = pools.one("SELECT id FROM lm.jobs WHERE cluster_client_id = 'requeue' AND slurm_job_id = '7'");
        assertEquals("LM001", assertThrows(SQLException.class, () -> book("requeue", "7", "u", "h2", b("requeuep.f", 3), at(106))).getSQLState());
        assertEquals(job, pools.one("SELECT id FROM lm.jobs WHERE cluster_client_id = 'requeue' AND slurm_job_id = '7'"));
        assertEquals(5, pools.activeBooked(f, at(106)));
        // a job that books nothing: LM003 (422)
        assertEquals("LM003", assertThrows(SQLException.class, () -> book("requeue", "9", "u", "h", "[]", at(107))).getSQLState());
        assertEquals("LM003", assertThrows(SQLException.class, () -> book("requeue", "7", "u", "h", "[]", at(107))).getSQLState());
        assertEquals(job, pools.one("SELECT id FROM lm.jobs WHERE cluster_client_id = 'requeue' AND slurm_job_id = '7'"));
    }

    @Test
    void silenceIsAnOutage() throws SQLException {
        long c = pools.config("silent", "silent", "flex-silent", 1, 3600);
        pools.one("UPDATE lm.configurations SET outage_grace = 300 WHERE id = ? RETURNING id", c);
        long f = pools.feature(c, "silentp", "f", 100, 40, 0, at(0));
        // no failure is ever reported: the agent simply stopped (or its token expired)
        assertEquals(60, availableAt(f, at(300)));
        assertEquals(0, pools.one("SELECT held::int FROM lm.pool_state(?, ?)", f, at(300)));
        assertEquals(1, pools.one("SELECT held::int FROM lm.pool_state(?, ?)", f, at(300.001)));
        assertEquals(1, pools.one("SELECT stale::int FROM lm.pool_state(?, ?)", f, at(301)));
        assertEquals(0, availableAt(f, at(301)));
        assertEquals("LM001", assertThrows(SQLException.class, () -> book("silent", "1", "u", "h", b("silentp.f", 1), at(301))).getSQLState());
        assertEquals(100, pools.one("SELECT reservation FROM lm.plan_reservations('silent', ?::jsonb, ?)",
                "[{\"license\":\"silentp.f@flexlm\",\"total\":100,\"used\":0}]", at(301)));
        // a feature never read at all is held too (nothing is known about it)
        long g = pools.feature(c, "silentp", "g", 100, 0, 0, null);
        assertEquals(1, pools.one("SELECT held::int FROM lm.pool_state(?, ?)", g, at(0)));
        // the agent's plan says so, and the next good reading ends it
        assertEquals("[\"silentp.f\", \"silentp.g\"]", text("SELECT (lm.apply_agent_report('silent', '{}'::jsonb, '"
                + at(301).toInstant() + "')::jsonb)->>'held'"));
        usage("silent", "[{\"product_feature\":\"silentp.f\",\"total\":100,\"used\":10}]", at(400));
        assertEquals(0, pools.one("SELECT held::int FROM lm.pool_state(?, ?)", f, at(400)));
        assertEquals(90, availableAt(f, at(400)));
    }

    @Test
    void availableIsTheTrueValueNotClamped() throws SQLException {
        long c = pools.config("neg", "neg", "flex-neg", 1, 3600);
        long f = pools.feature(c, "negp", "f", 10, 0, 0, at(0));
        assertTrue(book("neg", "1", "u", "h", b("negp.f", 6), at(0)));
        // outside usage grew after the booking: 10 - 7 - 6 = -3, and the refusal says so
        usage("neg", "[{\"product_feature\":\"negp.f\",\"total\":10,\"used\":7}]", at(1));
        assertEquals(-3, availableAt(f, at(2)));
        SQLException e = assertThrows(SQLException.class, () -> book("neg", "2", "u", "h", b("negp.f", 1), at(2)));
        JsonArray detail = JsonParser.parseString(((org.postgresql.util.PSQLException) e).getServerErrorMessage().getDetail()).getAsJsonArray();
        assertEquals(-3, detail.get(0).getAsJsonObject().get("available").getAsLong());
    }
}
