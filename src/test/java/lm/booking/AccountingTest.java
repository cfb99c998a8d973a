package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 19, where two sources of truth meet: readings of one license server from two clusters'
 * agents (case 1), a checkout that outlives the job it covered (case 2), and the ended-jobs sweep
 * against a job booked after squeue ran (case 10). Each test is the reproduction; each
 * failed on main before the fix (checked). Time is a parameter throughout.
 */
class AccountingTest {
    static HikariDataSource ds;
    static Pools pools;
    static final Instant T0 = Instant.parse("2026-12-01T10:00:00Z");

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

    /** book_job at t; true when created (false: already booked). */
    static boolean book(String cluster, String job, String user, String host, String pf, int q, Timestamp t) {
        return pools.one("SELECT created::int FROM lm.book_job(?, ?, ?, ?, ?::jsonb, ?)", cluster, job, user, host,
                AdmissionTest.b(pf, q), t) == 1;
    }

    /** The SQLSTATE book_job refuses with. */
    static String refusal(String cluster, String job, String pf, int q, Timestamp t) {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> book(cluster, job, "bob", "node09", pf, q, t));
        return ((SQLException) e.getCause()).getSQLState();
    }

    /** A usage item read {@code ageMs} before the report, with checkouts "user host quantity [key]". */
    static String item(String pf, long total, long used, long ageMs, String... checkouts) {
        StringBuilder s = new StringBuilder("{\"product_feature\":\"" + pf + "\",\"total\":" + total + ",\"used\":" + used
                + ",\"read_age_ms\":" + ageMs + ",\"checkouts\":[");
        for (int i = 0; i < checkouts.length; i++) {
            String[] w = checkouts[i].split(" ");
            s.append(i == 0 ? "" : ",").append("{\"user\":\"").append(w[0]).append("\",\"host\":\"").append(w[1])
                    .append("\",\"quantity\":").append(w[2]);
            if (w.length > 3) {
                s.append(",\"key\":\"").append(w[3]).append('"');
            }
            s.append('}');
        }
        return s.append("]}").toString();
    }

    /** An agent report of one item; returns how many bookings its checkouts released. */
    static long report(String cluster, String item, Timestamp t) {
        return pools.one("SELECT (lm.apply_agent_report(?, ?::jsonb, ?)->>'released_checkouts')::bigint", cluster,
                "{\"features\":[" + item + "]}", t);
    }

    @Test
    void anOlderReadingFromAnotherClusterNeverReplacesANewerOne() {
        // hpc1 and hpc2 share a pool of 10 (one license server)
        long c1 = pools.config("seam1-hpc1", "lic", "lic-seam1", 27001, 600);
        long c2 = pools.config("seam1-hpc2", "lic", "lic-seam1", 27001, 600);
        long f1 = pools.feature(c1, "seam1p", "f", 10, 0, 0, at(0));
        pools.feature(c2, "seam1p", "f", 10, 0, 0, at(0));
        assertTrue(book("seam1-hpc1", "1", "alice", "node01", "seam1p.f", 6, at(1)));
        // hpc2's agent read the server at 2 (nothing out yet); hpc1's read it at 5 and reports
        // first: alice's checkout releases her booking, used counts it
        assertEquals(1, report("seam1-hpc1", item("seam1p.f", 10, 6, 1000, "alice node01 6 h1"), at(6)));
        // hpc2's older reading arrives last: it must not say used 0
        assertEquals(0, report("seam1-hpc2", item("seam1p.f", 10, 0, 6000), at(8)));
        assertEquals(6, pools.one("SELECT used FROM lm.pool_state(?, ?)", f1, at(8)));
        assertEquals(4, pools.available(f1, at(9)));
        assertEquals("LM001", refusal("seam1-hpc2", "2", "seam1p.f", 10, at(9)));
        assertTrue(book("seam1-hpc2", "3", "bob", "node09", "seam1p.f", 4, at(9)));
        // a newer reading from either cluster is taken: hpc2 reads at 20, alice is done
        report("seam1-hpc2", item("seam1p.f", 10, 0, 0), at(20));
        assertEquals(0, pools.one("SELECT used FROM lm.pool_state(?, ?)", f1, at(20)));
        // an older reading does not bring her checkout back either (nor its memory)
        report("seam1-hpc1", item("seam1p.f", 10, 6, 15_000, "alice node01 6 h1"), at(21));
        assertEquals(0, pools.one("SELECT used FROM lm.pool_state(?, ?)", f1, at(21)));
        assertEquals(0, pools.one("SELECT count(*) FROM lm.checkout_covers k JOIN lm.features f ON f.pool_id = k.pool_id WHERE f.id = ?", f1));
    }

    @Test
    void aCheckoutSeenAgainAfterItsJobEndedReleasesNoOtherBooking() {
        for (String key : new String[] {" h100", ""}) {
            String cl = "seam2" + key.trim();
            String pf = cl + "p.f";
            long c = pools.config(cl, "lic", "lic-" + cl, 27002, 600);
            long f = pools.feature(c, cl + "p", "f", 10, 0, 0, at(0));
            // J100 (alice@node01, 5) is released by its checkout
            assertTrue(book(cl, "100", "alice", "node01", pf, 5, at(1)));
            assertEquals(1, report(cl, item(pf, 10, 5, 0, "alice node01 5" + key), at(10)));
            // the epilog deletes J100; J101 (alice@node01, 5) books
            assertTrue(pools.one("SELECT lm.release_job(?, '100', NULL, ?)::int", cl, at(11)) == 1);
            assertTrue(book(cl, "101", "alice", "node01", pf, 5, at(12)));
            // a reading taken at 10.5, before J100's process exited, shows the same checkout
            assertEquals(0, report(cl, item(pf, 10, 5, 2500, "alice node01 5" + key), at(13)), "key '" + key + "'");
            // then J100's process is gone and J101 has not checked out yet
            assertEquals(0, report(cl, item(pf, 10, 0, 0), at(14)));
            assertEquals(5, pools.available(f, at(15)), "J101 still holds its 5, key '" + key + "'");
            assertEquals("LM001", refusal(cl, "102", pf, 10, at(15)));
            // J101 checks out: its own checkout (a new one) releases it, once
            assertEquals(1, report(cl, item(pf, 10, 5, 0, "alice node01 5" + (key.isEmpty() ? "" : " h101")), at(20)));
            assertEquals(5, pools.available(f, at(21)));
        }
    }

    @Test
    void aLingeringCheckoutAndANewOneOfTheSameUserAreToldApartByTheirKeys() {
        long c = pools.config("seam2k", "lic", "lic-seam2k", 27003, 600);
        long f = pools.feature(c, "seam2kp", "f", 10, 0, 0, at(0));
        assertTrue(book("seam2k", "1", "alice", "node01", "seam2kp.f", 3, at(1)));
        assertEquals(1, report("seam2k", item("seam2kp.f", 10, 3, 0, "alice node01 3 a"), at(10)));
        assertEquals(1, pools.one("SELECT lm.release_job('seam2k', '1', NULL, ?)::int", at(10.5)));
        assertTrue(book("seam2k", "2", "alice", "node01", "seam2kp.f", 3, at(11)));
        // job 1's checkout lingers while job 2's appears: only the new one covers job 2
        assertEquals(1, report("seam2k", item("seam2kp.f", 10, 6, 0, "alice node01 3 a", "alice node01 3 b"), at(20)));
        assertEquals(4, pools.available(f, at(21)));
        // the same reading again, and the linger's end, release nothing
        assertEquals(0, report("seam2k", item("seam2kp.f", 10, 6, 0, "alice node01 3 a", "alice node01 3 b"), at(30)));
        assertEquals(0, report("seam2k", item("seam2kp.f", 10, 3, 0, "alice node01 3 b"), at(40)));
        assertEquals(7, pools.available(f, at(41)));
        // a checkout seen before a booking was made is not that booking's
        assertTrue(book("seam2k", "3", "alice", "node01", "seam2kp.f", 3, at(42)));
        assertEquals(0, report("seam2k", item("seam2kp.f", 10, 3, 0, "alice node01 3 b"), at(43)), "b was there before job 3");
        assertEquals(1, report("seam2k", item("seam2kp.f", 10, 6, 0, "alice node01 3 b", "alice node01 3 c"), at(50)), "c is new: it covers job 3");
        assertEquals(4, pools.available(f, at(51)));
    }

    @Test
    void aJobBookedAfterSqueueRanIsNotEndedByASlowReport() {
        long c = pools.config("seam10", "lic", "lic-seam10", 27010, 600);
        long f = pools.feature(c, "seam10p", "f", 10, 0, 0, at(0));
        String slurm = "{\"features\":[],\"slurm\":{\"job_ids\":[],\"squeue_age_ms\":0}}";
        assertEquals(0, pools.one("SELECT (lm.apply_agent_report('seam10', ?::jsonb, ?)->>'ended_jobs')::int", slurm, at(0)));
        // a job starts and books at 1, after the next pass's squeue (which did not list it) ran;
        // that pass's report reaches lm-server 19 s later (a slow upload, a full connection pool),
        // claiming squeue is 0 ms old
        assertTrue(book("seam10", "1", "alice", "node01", "seam10p.f", 4, at(1)));
        assertEquals(0, pools.one("SELECT (lm.apply_agent_report('seam10', ?::jsonb, ?)->>'ended_jobs')::int", slurm, at(20)));
        assertEquals(4, pools.activeBooked(f, at(20)));
        // the pass after that ran squeue after the job was booked: not listed, it has ended
        assertEquals(1, pools.one("SELECT (lm.apply_agent_report('seam10', ?::jsonb, ?)->>'ended_jobs')::int", slurm, at(40)));
        assertEquals(0, pools.activeBooked(f, at(40)));
    }
}
