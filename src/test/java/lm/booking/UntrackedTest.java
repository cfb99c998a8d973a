package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19, case 8: a license lm-server does not manage is untracked, counted by cluster and
 * license (lm_untracked_licenses_total) and never a reason to leave the job's other licenses
 * unbooked.
 */
class UntrackedTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);

    static String job(String id, String bookings, String untracked) {
        return "{\"slurm_job_id\":\"" + id + "\",\"username\":\"alice\",\"lead_host\":\"node01\",\"run\":0,\"bookings\":["
                + bookings + "]" + (untracked == null ? "" : ",\"untracked\":" + untracked) + "}";
    }

    static String item(String pf, int q) {
        return "{\"product_feature\":\"" + pf + "\",\"quantity\":" + q + "}";
    }

    long counted(String cluster, String license) {
        return pools.one("SELECT coalesce(sum(jobs), 0) FROM lm.untracked_licenses WHERE cluster_client_id = ? AND license = ?",
                cluster, license);
    }

    String metrics() {
        return api.http.get("/metrics", api.token("prometheus", "license-manager:metrics:read")).body();
    }

    @Test
    void aJobWithOneManagedAndOneUnknownLicenseBooksTheManagedOneAndCountsTheOther() {
        long f = pools.feature(pools.config("mixed", "mixed", "flex-mixed", 27000, 600), "mixp", "solver", 10, 0, 0, Pools.wallClock());
        String prolog = api.token("mixed", "license-manager:job:create");

        // on main: 404 (book_job's LM002 for the typo), and the prolog let the whole job run unbooked
        Res r = api.http.post("/jobs", prolog, job("31", item("mixp.solver", 4) + "," + item("mixp.solvr", 2), "[\"matlab\"]"));
        assertEquals(201, r.status(), r::toString);
        JsonObject j = r.json().getAsJsonObject();
        JsonArray bookings = j.getAsJsonArray("bookings");
        assertEquals(1, bookings.size(), j.toString());
        assertEquals(f, bookings.get(0).getAsJsonObject().get("feature_id").getAsLong());
        assertEquals(4, pools.activeBooked(f, Pools.wallClock()));
        assertEquals("[\"matlab\",\"mixp.solvr\"]", j.getAsJsonArray("untracked").toString());
        assertEquals(1, counted("mixed", "mixp.solvr"));
        assertEquals(1, counted("mixed", "matlab"));

        // every license unknown: 404 as before, counted all the same
        Res none = api.http.post("/jobs", prolog, job("32", item("mixp.solvr", 1), "[\"matlab\"]"));
        assertEquals(404, none.status(), none::toString);
        assertEquals(2, counted("mixed", "mixp.solvr"));
        assertEquals(2, counted("mixed", "matlab"));
        // only names the prolog could not book: 404 and counted, not a 422
        Res onlyUntracked = api.http.post("/jobs", prolog, job("33", "", "[\"x.y@nosuchtype\"]"));
        assertEquals(404, onlyUntracked.status(), onlyUntracked::toString);
        assertEquals(1, counted("mixed", "x.y@nosuchtype"));
        assertEquals(0, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'mixed' AND slurm_job_id IN ('32', '33')"));

        String m = metrics();
        assertTrue(m.contains("# TYPE lm_untracked_licenses_total counter"), m);
        assertTrue(m.contains("lm_untracked_licenses_total{cluster_client_id=\"mixed\",license=\"mixp.solvr\"} 2.0"), m);
        assertTrue(m.contains("lm_untracked_licenses_total{cluster_client_id=\"mixed\",license=\"x.y@nosuchtype\"} 1.0"), m);
    }

    @Test
    void aRefusedJobCountsNothingAndBadUntrackedListsAreClearErrors() {
        pools.feature(pools.config("untr-bad", "ub", "flex-untr-bad", 27000, 600), "ubp", "f", 2, 0, 0, Pools.wallClock());
        String prolog = api.token("untr-bad", "license-manager:job:create");
        assertEquals(409, api.http.post("/jobs", prolog, job("41", item("ubp.f", 3), "[\"matlab\"]")).status());
        assertEquals(0, counted("untr-bad", "matlab"), "a refusal rolls its count back; Slurm's retry counts it");
        assertEquals(400, api.http.post("/jobs", prolog, job("42", item("ubp.f", 1), "\"matlab\"")).status());
        assertEquals(400, api.http.post("/jobs", prolog, job("42", item("ubp.f", 1), "[3]")).status());
        assertEquals(422, api.http.post("/jobs", prolog, job("42", item("ubp.f", 1), "[\"\"]")).status());
        assertEquals(422, api.http.post("/jobs", prolog, job("42", item("ubp.f", 1), "[\"" + "x".repeat(201) + "\"]")).status());
        assertEquals(422, api.http.post("/jobs", prolog, job("42", "", "[]")).status(), "no license at all");
        String many = "[" + String.join(",", java.util.Collections.nCopies(101, "\"m\"")) + "]";
        assertEquals(422, api.http.post("/jobs", prolog, job("42", item("ubp.f", 1), many)).status(), "101 names");
        assertEquals(0, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'untr-bad'"));
    }
}
