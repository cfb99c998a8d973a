package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19, case 4 (online half): a run is an identity. Slurm requeues a job under the same id
 * with SLURM_JOB_RESTART_COUNT one higher; the prolog sends it as "run", the epilog as ?run=.
 * Time is a parameter: lm.book_job is called at p_now, and pools are read at the same instants.
 */
class RunsTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);
    static final Instant T0 = Instant.parse("2026-12-07T10:00:00Z");
    static final int GRACE = 600;

    static Timestamp at(long seconds) {
        return Timestamp.from(T0.plusSeconds(seconds));
    }

    record Booked(boolean created, JsonObject job) {
        long id() {
            return job.get("id").getAsLong();
        }

        JsonObject booking() {
            return job.getAsJsonArray("bookings").get(0).getAsJsonObject();
        }

        Instant expiresAt() {
            return java.time.OffsetDateTime.parse(booking().get("expires_at").getAsString()).toInstant();
        }

        Instant createdAt() {
            return java.time.OffsetDateTime.parse(booking().get("created_at").getAsString()).toInstant();
        }
    }

    static Booked book(String cluster, String job, String pf, int qty, Integer run, long t) throws SQLException {
        try (Connection c = api.ds.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT created, job FROM lm.book_job(?, ?, 'alice', 'node01', ?::jsonb, ?, NULL, ?)")) {
            ps.setString(1, cluster);
            ps.setString(2, job);
            ps.setString(3, "[{\"product_feature\":\"" + pf + "\",\"quantity\":" + qty + "}]");
            ps.setTimestamp(4, at(t));
            if (run == null) {
                ps.setNull(5, Types.INTEGER);
            } else {
                ps.setInt(5, run);
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new Booked(rs.getBoolean(1), JsonParser.parseString(rs.getString(2)).getAsJsonObject());
            }
        }
    }

    long feature(String cluster) {
        return feature(cluster, at(0));
    }

    long feature(String cluster, Timestamp readAt) {
        long config = pools.config(cluster, cluster, "flex-" + cluster, 27000, GRACE);
        return pools.feature(config, cluster + "p", "solver", 10, 0, 0, readAt);
    }

    long booked(long feature, long t) {
        return pools.activeBooked(feature, at(t));
    }

    /** The scenario: run 0 books, the job is requeued, run 1 books with its own grace. */
    @Test
    void aRequeuedRunIsBookedAfreshWithItsOwnGraceAndALateReleaseOfTheOldRunEndsNothing() throws Exception {
        long f = feature("runs");
        Booked run0 = book("runs", "7", "runsp.solver", 4, 0, 0);
        assertTrue(run0.created());
        assertEquals(0, run0.job().get("run").getAsInt());

        // requeued 300 s later: on main this was the 200 "already booked" with run 0's times,
        // so run 1 had only 300 s of grace left
        Booked run1 = book("runs", "7", "runsp.solver", 4, 1, 300);
        assertTrue(run1.created(), "a new run is a new job: " + run1.job());
        assertNotEquals(run0.id(), run1.id());
        assertEquals(1, run1.job().get("run").getAsInt());
        assertEquals(T0.plusSeconds(300), run1.createdAt());
        assertEquals(T0.plusSeconds(300 + GRACE), run1.expiresAt());
        assertEquals(4, booked(f, 300), "run 0's booking ended, run 1's holds: counted once");
        assertEquals(4, booked(f, 300 + GRACE - 1), "run 1 keeps its whole grace");
        assertEquals(1, pools.one("SELECT count(*) FROM lm.ended_jobs WHERE cluster_client_id = 'runs' AND reason = 'requeue'"));

        // a late release of run 0 (its epilog, or a replayed ledger entry) ends nothing
        assertEquals(0, pools.one("SELECT lm.release_job('runs', '7', 0)::int"));
        assertEquals(4, booked(f, 301));
        // run 1's own release ends it
        assertEquals(1, pools.one("SELECT lm.release_job('runs', '7', 1)::int"));
        assertEquals(0, booked(f, 302));
    }

    @Test
    void theEpilogOfARequeueCarriesTheNextCountAndEndsTheRunBooked() throws Exception {
        // Slurm counts the restart before the epilog of the requeued run: run 0 ends with count 1
        long f = feature("requeue");
        book("requeue", "11", "requeuep.solver", 2, 0, 0);
        assertEquals(0, pools.one("SELECT lm.release_job('requeue', '11', 2)::int"), "two runs on: not this one");
        assertEquals(1, pools.one("SELECT lm.release_job('requeue', '11', 1)::int"));
        assertEquals(0, booked(f, 1));
    }

    @Test
    void aRetriedPrologOfTheSameRunGetsTheSameJobRenewed() throws Exception {
        long f = feature("retry");
        Booked first = book("retry", "8", "retryp.solver", 3, 2, 0);
        Booked again = book("retry", "8", "retryp.solver", 3, 2, 100);
        assertFalse(again.created(), "the 200 already booked");
        assertEquals(first.id(), again.id());
        assertEquals(first.booking().get("id"), again.booking().get("id"), "no second booking");
        assertEquals(1, pools.one("SELECT count(*) FROM lm.bookings b JOIN lm.jobs j ON j.id = b.job_id WHERE j.cluster_client_id = 'retry'"));
        // renewed: created_at and expires_at start again from the retry's p_now
        assertEquals(T0.plusSeconds(100), again.createdAt());
        assertEquals(T0.plusSeconds(100 + GRACE), again.expiresAt());
        assertEquals(T0.plusSeconds(100), java.time.OffsetDateTime.parse(again.job().get("created_at").getAsString()).toInstant());
        assertEquals(3, booked(f, GRACE + 50), "past the first call's grace, within the renewed one");
        assertEquals(0, booked(f, GRACE + 100));
    }

    @Test
    void aCallerThatSendsNoRunIsTheRunBooked() throws Exception {
        // lm-prolog from before runs: a retry without a run is the run booked, and a release
        // without a run ends whatever run is booked
        long f = feature("norun");
        Booked first = book("norun", "9", "norunp.solver", 2, 0, 0);
        assertFalse(book("norun", "9", "norunp.solver", 2, null, 10).created());
        assertEquals(first.id(), book("norun", "9", "norunp.solver", 2, null, 20).id());
        assertEquals(1, pools.one("SELECT lm.release_job('norun', '9')::int"));
        assertEquals(0, booked(f, 30));
    }

    @Test
    void aRefusedNewRunLeavesTheOldRunAsItWas() throws Exception {
        long f = feature("refrun");
        Booked run0 = book("refrun", "10", "refrunp.solver", 4, 0, 0);
        try {
            book("refrun", "10", "refrunp.solver", 11, 1, 10);
            throw new AssertionError("11 of 10 admitted");
        } catch (SQLException e) {
            assertEquals("LM001", e.getSQLState());
        }
        assertEquals(4, booked(f, 10));
        assertEquals(run0.id(), pools.one("SELECT id FROM lm.jobs WHERE cluster_client_id = 'refrun' AND slurm_job_id = '10'"));
    }

    /** The same over HTTP: POST takes "run", DELETE ?run=, bad runs are 4xx naming the field. */
    @Test
    void runsOverHttp() {
        long f = feature("runhttp", Pools.wallClock()); // lm-server books at the database's now()
        String prolog = api.token("runhttp", "license-manager:job:create", "license-manager:job:read", "license-manager:job:delete");
        Res r0 = api.http.post("/jobs", prolog, job("21", 0));
        assertEquals(201, r0.status(), r0::toString);
        assertEquals(0, r0.json().getAsJsonObject().get("run").getAsInt());
        Res again = api.http.post("/jobs", prolog, job("21", 0));
        assertEquals(200, again.status(), again::toString);
        Res r1 = api.http.post("/jobs", prolog, job("21", 1));
        assertEquals(201, r1.status(), "a requeued run is booked afresh: " + r1);
        assertNotEquals(r0.json().getAsJsonObject().get("id"), r1.json().getAsJsonObject().get("id"));
        assertEquals(1, api.http.get("/jobs/slurm_job_id/21", prolog).json().getAsJsonObject().get("run").getAsInt());

        Res late = api.http.delete("/jobs/slurm_job_id/21?run=0", prolog);
        assertEquals(404, late.status(), "run 0 is over: " + late);
        assertEquals(5, pools.activeBooked(f, Pools.wallClock()));
        assertEquals(200, api.http.delete("/jobs/slurm_job_id/21?run=1", prolog).status());
        assertEquals(0, pools.activeBooked(f, Pools.wallClock()));

        for (String bad : new String[] {"-1", "x", "1.5", "1000000001"}) {
            Res d = api.http.delete("/jobs/slurm_job_id/21?run=" + bad, prolog);
            assertEquals(400, d.status(), bad + ": " + d);
            assertTrue(d.body().contains("run"), d.body());
        }
        for (String bad : new String[] {"-1", "1000000001"}) {
            Res p = api.http.post("/jobs", prolog, job("22", bad));
            assertEquals(422, p.status(), bad + ": " + p);
            assertTrue(p.body().contains("'run'"), p.body());
        }
        for (String bad : new String[] {"\"1\"", "1.5", "true"}) {
            Res p = api.http.post("/jobs", prolog, job("22", bad));
            assertEquals(400, p.status(), bad + ": " + p);
            assertTrue(p.body().contains("'run'"), p.body());
        }
        assertEquals(0, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'runhttp'"), "no partial write");
    }

    static String job(String id, Object run) {
        return "{\"slurm_job_id\":\"" + id + "\",\"username\":\"alice\",\"lead_host\":\"node01\",\"run\":" + run
                + ",\"bookings\":[{\"product_feature\":\"runhttpp.solver\",\"quantity\":5}]}";
    }
}
