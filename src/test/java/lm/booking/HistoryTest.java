package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Denials and job history (V14__history.sql, R__history.sql) and their routes. */
class HistoryTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);
    static String admin;
    static final Instant T0 = Instant.parse("2026-11-22T10:00:00Z");

    @BeforeAll
    static void start() {
        admin = api.admin();
    }

    static Timestamp at(double seconds) {
        return Timestamp.from(T0.plusMillis((long) (seconds * 1000)));
    }

    static String job(String id, String... pfq) {
        List<String> b = new ArrayList<>();
        for (int i = 0; i < pfq.length; i += 2) {
            b.add("{\"product_feature\":\"" + pfq[i] + "\",\"quantity\":" + pfq[i + 1] + "}");
        }
        return "{\"slurm_job_id\":\"" + id + "\",\"username\":\"alice\",\"lead_host\":\"node01\",\"account\":\"proj\",\"bookings\":["
                + String.join(",", b) + "]}";
    }

    static String text(String sql, Object... params) {
        try {
            return Sql.text(api.ds, sql, params);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    @Test
    void aRefusalIsOneDenialPerJobAndFeatureAndARepeatBumpsItsCount() {
        long c = pools.config("den", "den", "flex-den", 27000, 600);
        pools.feature(c, "denp", "a", 2, 0, 0, Pools.wallClock());
        pools.feature(c, "denp", "b", 1, 0, 0, Pools.wallClock());
        String prolog = api.token("den", "license-manager:job:create", "license-manager:job:read");
        assertEquals(201, api.http.post("/jobs", prolog, job("1", "denp.a", "2")).status());
        for (int i = 0; i < 3; i++) {
            Res r = api.http.post("/jobs", prolog, job("2", "denp.a", "1", "denp.b", "2"));
            assertEquals(409, r.status(), r::toString);
        }
        assertEquals("denp.a 1 0 3 pool alice proj|denp.b 2 1 3 pool alice proj", text(
                "SELECT string_agg(product_feature || ' ' || requested || ' ' || available || ' ' || count || ' ' || reason"
                        + " || ' ' || username || ' ' || account, '|' ORDER BY product_feature) FROM lm.denials"
                        + " WHERE cluster_client_id = 'den' AND slurm_job_id = '2'"));
        assertEquals("t", text("SELECT bool_and(first_at < last_at) FROM lm.denial_log WHERE cluster_client_id = 'den'"));
        // the refusal is still demand too (one path records both)
        assertEquals("1", text("SELECT count(*) FROM lm.demand d JOIN lm.features f ON f.id = d.feature_id"
                + " JOIN lm.configurations c ON c.id = f.config_id WHERE c.cluster_client_id = 'den' AND d.slurm_job_id = '2'"
                + " AND f.name = 'a'"));
        // admitted later: the denials stay (they are history), and are not bumped
        assertEquals(200, api.http.delete("/jobs/slurm_job_id/1", api.token("den", "license-manager:job:delete")).status());
        assertEquals(201, api.http.post("/jobs", prolog, job("2", "denp.a", "1")).status());
        assertEquals("3", text("SELECT count FROM lm.denials WHERE cluster_client_id = 'den' AND slurm_job_id = '2' AND product_feature = 'denp.a'"));

        // POST /bookings refused: a denial of the running job
        long fb = pools.one("SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id WHERE c.cluster_client_id = 'den' AND f.name = 'b'");
        long jobId = pools.one("SELECT id FROM lm.jobs WHERE cluster_client_id = 'den' AND slurm_job_id = '2'");
        String booker = api.token("den", "license-manager:booking:create");
        Res more = api.http.post("/bookings", booker, "{\"job_id\":" + jobId + ",\"feature_id\":" + fb + ",\"quantity\":5}");
        assertEquals(409, more.status(), more::toString);
        assertEquals("5 1 4", text("SELECT requested || ' ' || available || ' ' || count FROM lm.denials"
                + " WHERE cluster_client_id = 'den' AND slurm_job_id = '2' AND product_feature = 'denp.b'"));
    }

    @Test
    void aShareRefusalIsADenialWithItsReason() {
        long c = pools.config("dsh", "dsh", "flex-dsh", 27000, 600);
        long f = pools.feature(c, "dshp", "f", 10, 0, 0, Pools.wallClock());
        pools.one("UPDATE lm.features SET max_use = 1 WHERE id = ? RETURNING id", f);
        String prolog = api.token("dsh", "license-manager:job:create");
        assertEquals(201, api.http.post("/jobs", prolog, job("1", "dshp.f", "1")).status());
        Res r = api.http.post("/jobs", prolog, job("2", "dshp.f", "1"));
        assertEquals(409, r.status(), r::toString);
        assertEquals("max_use 1 1", text("SELECT reason || ' ' || requested || ' ' || count FROM lm.denials WHERE cluster_client_id = 'dsh'"));
    }

    @Test
    void manyRefusalsAtOnceCountEachOnce() throws Exception {
        long c = pools.config("drace", "drace", "flex-drace", 27000, 600);
        pools.feature(c, "dracep", "f", 0, 0, 0, Pools.wallClock());
        String prolog = api.token("drace", "license-manager:job:create");
        int clients = 24;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Integer>> results = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            // half the sessions are one job (a prolog retried or requeued), half are jobs of their own
            String id = i % 2 == 0 ? "7" : Integer.toString(100 + i);
            results.add(pool.submit(() -> {
                go.await();
                return api.http.post("/jobs", prolog, job(id, "dracep.f", "1")).status();
            }));
        }
        go.countDown();
        for (Future<Integer> r : results) {
            assertEquals(409, r.get(60, TimeUnit.SECONDS));
        }
        pool.shutdown();
        assertEquals("13 24", text("SELECT count(*) || ' ' || sum(count) FROM lm.denial_log WHERE cluster_client_id = 'drace'"));
        assertEquals("12", text("SELECT count FROM lm.denial_log WHERE cluster_client_id = 'drace' AND slurm_job_id = '7'"));
    }

    /**
     * Releases of one job racing (an epilog retried, run twice) leave exactly one history row:
     * lm.record_job_end fires only for the release that deletes the job.
     */
    @Test
    void releasesOfOneJobRacingKeepOneHistoryRow() throws Exception {
        long c = pools.config("hrace", "hrace", "flex-hrace", 27000, 600);
        pools.feature(c, "hracep", "f", 100, 0, 0, at(0));
        int sessions = 16;
        ExecutorService pool = Executors.newFixedThreadPool(sessions);
        for (int round = 0; round < 5; round++) {
            String id = Integer.toString(900 + round);
            book("hrace", id, "hracep.f", 3, at(1));
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Integer>> results = new ArrayList<>();
            for (int i = 0; i < sessions; i++) {
                results.add(pool.submit(() -> {
                    go.await();
                    return (int) pools.one("SELECT lm.release_job('hrace', ?)::int", id);
                }));
            }
            go.countDown();
            int released = 0;
            for (Future<Integer> r : results) {
                released += r.get(60, TimeUnit.SECONDS);
            }
            assertEquals(1, released, "one release deletes the job");
        }
        pool.shutdown();
        // one row per job, with its booking
        assertEquals("900 epilog hracep.f:3|901 epilog hracep.f:3|902 epilog hracep.f:3|903 epilog hracep.f:3|904 epilog hracep.f:3",
                history("hrace"));
    }

    /** The job's history rows, oldest first: "reason booked_at..released_at bookings". */
    static String history(String cluster) {
        return text("SELECT string_agg(slurm_job_id || ' ' || reason || ' ' || coalesce(bookings, '-'), '|' ORDER BY released_at, slurm_job_id)"
                + " FROM lm.job_history WHERE cluster_client_id = ?", cluster);
    }

    static void book(String cluster, String job, String pf, int q, Timestamp t) {
        pools.one("SELECT 1 FROM lm.book_job(?, ?, 'bob', 'node07', ?::jsonb, ?, 'proj')", cluster, job,
                "[{\"product_feature\":\"" + pf + "\",\"quantity\":" + q + "}]", t);
    }

    @Test
    void everyEndOfAJobKeepsARowWithItsReasonAndBookings() {
        long c = pools.config("hist", "hist", "flex-hist", 27000, 600);
        pools.feature(c, "histp", "f", 100, 0, 0, at(0));
        pools.feature(c, "histp", "g", 100, 0, 0, at(0));
        // epilog
        pools.one("SELECT 1 FROM lm.book_job('hist', '1', 'bob', 'node07', '[{\"product_feature\":\"histp.f\",\"quantity\":2},"
                + "{\"product_feature\":\"histp.g\",\"quantity\":1}]'::jsonb, ?, 'proj')", at(1));
        pools.one("SELECT lm.release_job('hist', '1')::int");
        // requeue: booked again with other licenses
        book("hist", "2", "histp.f", 1, at(2));
        book("hist", "2", "histp.f", 3, at(3));
        // forced: DELETE /jobs/{id} (lm.delete_job audited), and a bare DELETE in psql
        book("hist", "3", "histp.f", 1, at(4));
        assertEquals(200, api.http.delete("/jobs/" + pools.one("SELECT id FROM lm.jobs WHERE slurm_job_id = '3' AND cluster_client_id = 'hist'"), admin).status());
        book("hist", "4", "histp.g", 1, at(5));
        pools.one("WITH d AS (DELETE FROM lm.jobs WHERE cluster_client_id = 'hist' AND slurm_job_id = '4' RETURNING 1) SELECT count(*) FROM d");
        // ended: squeue no longer lists it
        book("hist", "5", "histp.g", 4, at(6));
        pools.one("SELECT (lm.apply_agent_report('hist', '{\"slurm\":{\"job_ids\":[\"2\"]}}'::jsonb, ?) IS NOT NULL)::int", at(60));
        // offline: a release written while lm-server was away
        book("hist", "6", "histp.f", 5, at(70));
        pools.one("SELECT (lm.replay_offline('hist', ?::jsonb, ?) IS NOT NULL)::int",
                "[{\"id\":\"r1\",\"op\":\"release\",\"time\":" + (T0.getEpochSecond() + 80) + ",\"slurm_job_id\":\"6\"}]", at(90));

        String h = "|" + history("hist") + "|";
        assertTrue(h.contains("|1 epilog histp.f:2 histp.g:1|"), h);
        assertTrue(h.contains("|2 requeue histp.f:1|"), h);
        assertTrue(h.contains("|3 forced histp.f:1|"), h);
        assertTrue(h.contains("|4 forced histp.g:1|"), h);
        assertTrue(h.contains("|5 ended histp.g:4|"), h);
        assertTrue(h.contains("|6 offline histp.f:5|"), h);
        // times: booked_at the job's start, released_at the ending call's p_now (the offline entry's time)
        assertEquals((T0.getEpochSecond() + 6) + " " + (T0.getEpochSecond() + 60), text("SELECT extract(epoch FROM booked_at)::bigint"
                + " || ' ' || extract(epoch FROM released_at)::bigint FROM lm.job_history WHERE cluster_client_id = 'hist' AND slurm_job_id = '5'"));
        assertEquals(Long.toString(T0.getEpochSecond() + 80), text("SELECT extract(epoch FROM released_at)::bigint FROM lm.job_history"
                + " WHERE cluster_client_id = 'hist' AND slurm_job_id = '6'"));
    }

    /**
     * Every SQL path that deletes a job says why just before (lm.ending_jobs): the list below is
     * every DELETE FROM lm.jobs in src/main/sql, so a new one fails here until it is added.
     */
    @Test
    void everyPathThatDeletesAJobSaysWhy() throws Exception {
        TreeMap<String, Integer> found = new TreeMap<>();
        Pattern delete = Pattern.compile("DELETE FROM lm\\.jobs\\b");
        try (var files = Files.list(Path.of("src/main/sql"))) {
            for (Path p : files.sorted().toList()) {
                String sql = Files.readString(p);
                Matcher m = delete.matcher(sql);
                while (m.find()) {
                    // the function the DELETE is in calls lm.ending_jobs before it
                    String before = sql.substring(sql.lastIndexOf("CREATE OR REPLACE FUNCTION", m.start()), m.start());
                    assertTrue(before.contains("PERFORM lm.ending_jobs("),
                            p.getFileName() + " at " + m.start() + ": DELETE FROM lm.jobs without lm.ending_jobs before it");
                    found.merge(p.getFileName().toString(), 1, Integer::sum);
                }
            }
        }
        assertEquals("{R__booking_2_admission.sql=3, R__booking_5_agent_report.sql=1, R__booking_6_offline.sql=2}", found.toString());
    }

    @Test
    void theRoutesSearchSortPageAndNeedJobRead() {
        long c = pools.config("hapi", "hapi", "flex-hapi", 27000, 600);
        pools.feature(c, "hapip", "f", 0, 0, 0, Pools.wallClock());
        String prolog = api.token("hapi", "license-manager:job:create", "license-manager:job:read", "license-manager:job:delete");
        for (int i = 1; i <= 3; i++) {
            for (int k = 0; k < i; k++) {
                api.http.post("/jobs", prolog, job(Integer.toString(i), "hapip.f", "1"));
            }
        }
        Res page = api.http.get("/denials?search=hapip&sort_field=count&sort_ascending=false&limit=2&offset=0", prolog);
        assertEquals(200, page.status(), page::toString);
        assertEquals("3", page.header("X-Total-Count"));
        JsonArray a = page.json().getAsJsonArray();
        assertEquals(2, a.size());
        assertEquals(3, a.get(0).getAsJsonObject().get("count").getAsLong());
        assertEquals("2", a.get(1).getAsJsonObject().get("slurm_job_id").getAsString());
        long id = a.get(0).getAsJsonObject().get("id").getAsLong();
        assertEquals("3", api.http.get("/denials/" + id, prolog).json().getAsJsonObject().get("slurm_job_id").getAsString());
        assertEquals(404, api.http.get("/denials/999999", prolog).status());
        assertEquals(0, api.http.get("/denials?search=hapip&since=2999-01-01T00:00:00Z", prolog).json().getAsJsonArray().size());
        assertEquals(3, api.http.get("/denials?search=hapip&until=2999-01-01T00:00:00%2B01:00", prolog).json().getAsJsonArray().size());
        assertEquals(0, api.http.get("/denials?search=hapip&since=2999-01-01", prolog).json().getAsJsonArray().size(), "a UTC day as in the reports");
        assertEquals(400, api.http.get("/denials?since=yesterday", prolog).status());
        assertEquals(400, api.http.get("/denials?sort_field=nope", prolog).status());
        assertEquals(403, api.http.get("/denials", api.token("hapi", "license-manager:job:create")).status());
        assertEquals(403, api.http.get("/job_history", api.token("hapi", "license-manager:job:create")).status());

        pools.feature(c, "hapip", "g", 5, 0, 0, Pools.wallClock());
        assertEquals(201, api.http.post("/jobs", prolog, job("9", "hapip.g", "2")).status());
        assertEquals(200, api.http.delete("/jobs/slurm_job_id/9", prolog).status());
        // GET /jobs lists live jobs only; the ended one is history
        assertEquals(404, api.http.get("/jobs/slurm_job_id/9", prolog).status());
        Res hist = api.http.get("/job_history?search=hapip.g&sort_field=released_at&sort_ascending=false", prolog);
        assertEquals(200, hist.status(), hist::toString);
        JsonObject row = hist.json().getAsJsonArray().get(0).getAsJsonObject();
        assertEquals("epilog", row.get("reason").getAsString());
        assertEquals("alice", row.get("username").getAsString());
        assertEquals("node01", row.get("lead_host").getAsString());
        assertEquals(2, row.getAsJsonArray("bookings").get(0).getAsJsonObject().get("quantity").getAsLong());
        assertEquals(200, api.http.get("/job_history/" + row.get("id").getAsLong(), prolog).status());
        assertEquals(400, api.http.get("/job_history?until=x", prolog).status());
    }
}
