package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Offline operation (issue 11 part 4), server side: the budget (lm.cluster_budget, GET /budget)
 * never gives the clusters of a pool more than it has free, and the ledger replay
 * (lm.replay_offline, POST /agent/offline) records offline bookings even past what is free,
 * applies releases, is idempotent per entry and acts on the caller's cluster only.
 */
class OfflineTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);

    private static long budget(String cluster, String license, Timestamp now) {
        return pools.one("SELECT coalesce((SELECT budget FROM lm.cluster_budget(?, ?) WHERE license = ?), -1)", cluster, now, license);
    }

    @Test
    void budgetsOfAllClustersOfAPoolNeverAddUpToMoreThanItHasFree() {
        Random random = new Random(11);
        Timestamp now = Pools.wallClock();
        for (int round = 0; round < 25; round++) {
            int clusters = 1 + random.nextInt(9);
            String host = "budget-" + round;
            List<String> names = new ArrayList<>();
            List<Long> features = new ArrayList<>();
            long total = random.nextInt(60);
            long used = random.nextInt(30);
            long reserved = random.nextInt(5);
            for (int i = 0; i < clusters; i++) {
                String name = "b" + round + "c" + i;
                names.add(name);
                long c = pools.config(name, name, host, 27000, 600);
                features.add(pools.feature(c, "bud" + round, "f", total, used, reserved, now));
            }
            // each cluster's share of the pool (0 gets nothing) and, for some, a limit
            long[] shares = new long[clusters];
            Long[] maxUse = new Long[clusters];
            long[] held = new long[clusters];
            for (int i = 0; i < clusters; i++) {
                shares[i] = random.nextInt(4);
                maxUse[i] = random.nextInt(3) == 0 ? (long) random.nextInt(8) : null;
                pools.one("UPDATE lm.features SET share = ?, max_use = ? WHERE id = ? RETURNING id", (int) shares[i], maxUse[i], features.get(i));
            }
            // some of the pool is booked by the clusters' jobs
            long booked = 0;
            for (int i = 0; i < clusters; i++) {
                long q = random.nextInt(4);
                held[i] = q;
                if (q > 0) {
                    pools.one("INSERT INTO lm.jobs (slurm_job_id, cluster_client_id, username, lead_host, created_at) VALUES (?, ?, 'u', 'h', ?) RETURNING id",
                            String.valueOf(100 + i), names.get(i), now);
                    pools.one("INSERT INTO lm.bookings (job_id, feature_id, quantity, created_at, expires_at)"
                            + " SELECT j.id, ?, ?, ?, ?::timestamptz + interval '10 minutes' FROM lm.jobs j"
                            + " WHERE j.cluster_client_id = ? AND j.slurm_job_id = ? RETURNING id",
                            features.get(i), q, now, now, names.get(i), String.valueOf(100 + i));
                    booked += q;
                }
            }
            long free = Math.max(0, total - reserved - used - booked);
            assertEquals(total - reserved - used - booked, pools.available(features.get(0), now));
            long sum = 0;
            long allShares = java.util.Arrays.stream(shares).sum();
            for (int i = 0; i < clusters; i++) {
                long b = budget(names.get(i), "bud" + round + ".f@flexlm", now);
                long split = allShares == 0 ? 0 : free * shares[i] / allShares;
                long expected = maxUse[i] == null ? split : Math.min(split, Math.max(0, maxUse[i] - held[i]));
                assertEquals(expected, b, "round " + round + " cluster " + i + ": the split by share, rounded down, within max_use");
                sum += b;
            }
            assertTrue(sum <= free, "round " + round + ": budgets " + sum + " > free " + free);
        }
    }

    @Test
    void aStaleOrHeldPoolHasNoBudget() throws SQLException {
        Timestamp now = Pools.wallClock();
        long c = pools.config("stale1", "stale1", "stale-host", 27000, 600);
        long f = pools.feature(c, "stl", "f", 10, 0, 0, now);
        assertEquals(10, budget("stale1", "stl.f@flexlm", now));
        Sql.update(api.ds, "UPDATE lm.features SET failed_at = ? WHERE id = ?", now, f);
        assertEquals(0, budget("stale1", "stl.f@flexlm", now), "the last poll failed");
        Sql.update(api.ds, "UPDATE lm.features SET failed_at = NULL WHERE id = ?", f);
        // past the outage grace (3600 s) the pool is held
        assertEquals(0, budget("stale1", "stl.f@flexlm", new Timestamp(now.getTime() + 3_601_000)));
        assertEquals(10, budget("stale1", "stl.f@flexlm", new Timestamp(now.getTime() + 3_599_000)));
    }

    @Test
    void getBudgetAnswersTheCallersCluster() {
        long c = pools.config("getb", "getb", "getb-host", 27000, 600);
        pools.feature(c, "getb", "f", 9, 0, 0, Pools.wallClock());
        long other = pools.config("getb2", "getb2", "getb-host", 27000, 600);
        pools.feature(other, "getb", "f", 9, 0, 0, Pools.wallClock());
        Res r = api.http.get("/budget", api.token("getb", "license-manager:config:read"));
        assertEquals(200, r.status(), r::toString);
        JsonObject o = r.json().getAsJsonObject();
        assertEquals("getb", o.get("cluster_client_id").getAsString());
        JsonArray l = o.getAsJsonArray("licenses");
        assertEquals(1, l.size(), r::toString);
        JsonObject x = l.get(0).getAsJsonObject();
        assertEquals("getb.f@flexlm", x.get("license").getAsString());
        assertEquals(9, x.get("free").getAsLong());
        assertEquals(2, x.get("pool_weight").getAsLong());
        assertEquals(4, x.get("budget").getAsLong());
        assertEquals(403, api.http.get("/budget", api.token("getb", "license-manager:job:create")).status());
    }

    // ---------------------------------------------------------------------------------- replay

    private static String book(String id, String job, long time, String pf, int qty) {
        return "{\"op\":\"book\",\"id\":\"" + id + "\",\"time\":" + time + ",\"bookings\":[{\"license\":\"" + pf
                + "@flexlm\",\"product_feature\":\"" + pf + "\",\"quantity\":" + qty + "}],\"slurm_job_id\":\"" + job
                + "\",\"username\":\"alice\",\"lead_host\":\"node01\"}";
    }

    private static String release(String id, String job, long time) {
        return "{\"op\":\"release\",\"id\":\"" + id + "\",\"time\":" + time + ",\"slurm_job_id\":\"" + job + "\"}";
    }

    /** GET /budget as the cluster's agent asks for it: the budget it returns is the cluster's lease. */
    private static JsonObject lease(String cluster) {
        Res r = api.http.get("/budget", api.token(cluster, "license-manager:config:read"));
        assertEquals(200, r.status(), r::toString);
        return r.json().getAsJsonObject();
    }

    private static Res replay(String token, String... entries) {
        return api.http.post("/agent/offline", token, "{\"entries\":[" + String.join(",", entries) + "]}");
    }

    private static List<String> results(Res r) {
        assertEquals(200, r.status(), r::toString);
        List<String> out = new ArrayList<>();
        for (JsonElement e : r.json().getAsJsonObject().getAsJsonArray("entries")) {
            out.add(e.getAsJsonObject().get("result").getAsString());
        }
        return out;
    }

    private static String jobs(String cluster) throws SQLException {
        return Sql.text(api.ds, "SELECT coalesce(string_agg(j.slurm_job_id || ':' || b.quantity || (CASE WHEN b.offline THEN 'o' ELSE '' END),"
                + " ',' ORDER BY j.slurm_job_id::bigint), '') FROM lm.jobs j JOIN lm.bookings b ON b.job_id = j.id"
                + " WHERE j.cluster_client_id = ? AND b.released_at IS NULL", cluster);
    }

    @Test
    void offlineBookingsAreRecordedEvenPastWhatIsFreeAndShowTheOverbooking() throws Exception {
        long c = pools.config("ovb", "ovb", "ovb-host", 27000, 600);
        long f = pools.feature(c, "ovb", "f", 5, 0, 0, Pools.wallClock());
        lease("ovb");
        String agent = api.token("ovb", "license-manager:feature:update");
        String prolog = api.token("ovb", "license-manager:job:create", "license-manager:job:read");
        long t = System.currentTimeMillis() / 1000 - 120;
        // while the prolog was offline, lm-server admitted 4 online (another path to the server)
        assertEquals(201, api.http.post("/jobs", prolog, JobsApiTest.job("1", "ovb.f", 4)).status());
        Res r = replay(agent, book(t + ".7", "2", t, "ovb.f", 3));
        assertEquals(List.of("booked"), results(r));
        assertEquals("1:4,2:3o", jobs("ovb"));
        assertEquals(-2, pools.available(f, Pools.wallClock()));
        JsonArray over = r.json().getAsJsonObject().getAsJsonArray("overbooked");
        assertEquals("[{\"product_feature\":\"ovb.f\",\"available\":-2}]", over.toString());
        assertEquals("3 -2", Sql.text(api.ds, "SELECT booked_offline || ' ' || available FROM lm.license_pools WHERE product_feature = 'ovb.f'"));
        // the job as the API shows it: started when the prolog booked it, flagged offline
        JsonObject job = api.http.get("/jobs/slurm_job_id/2", prolog).json().getAsJsonObject();
        assertEquals(t, java.time.OffsetDateTime.parse(job.get("created_at").getAsString()).toEpochSecond());
        assertTrue(job.getAsJsonArray("bookings").get(0).getAsJsonObject().get("offline").getAsBoolean(), job::toString);
        // admission now refuses until the pool is back above 0
        assertEquals(409, api.http.post("/jobs", prolog, JobsApiTest.job("3", "ovb.f", 1)).status());
    }

    @Test
    void replayingTheSameEntriesAgainChangesNothing() throws Exception {
        long c = pools.config("idem", "idem", "idem-host", 27000, 600);
        long f = pools.feature(c, "idem", "f", 10, 0, 0, Pools.wallClock());
        lease("idem");
        String agent = api.token("idem", "license-manager:feature:update");
        long t = System.currentTimeMillis() / 1000 - 300;
        String[] ledger = {book(t + ".1", "10", t, "idem.f", 2), book(t + ".2", "11", t + 1, "idem.f", 3),
                           release(t + 5 + ".3", "10", t + 5), release(t + 6 + ".4", "99", t + 6)};
        List<String> first = results(replay(agent, ledger));
        assertEquals(List.of("booked", "booked", "released", "no_job"), first);
        assertEquals("11:3o", jobs("idem"));
        // the agent crashed after lm-server's answer, before it removed the entries: sent again
        for (int i = 0; i < 2; i++) {
            assertEquals(first, results(replay(agent, ledger)));
            assertEquals("11:3o", jobs("idem"));
            assertEquals(7, pools.available(f, Pools.wallClock()));
        }
        // and in parts, with a new entry after them
        assertEquals(List.of("booked", "released"), results(replay(agent, ledger[1], release(t + 9 + ".5", "11", t + 9))));
        assertEquals("", jobs("idem"));
        assertEquals(10, pools.available(f, Pools.wallClock()));
    }

    /**
     * What POST /lm/jobs does with "run" (SLURM_JOB_RESTART_COUNT; lm.jobs.run, V20): the job
     * booked online, then its run set as the prolog's request carries it.
     */
    private static int bookOnline(String prolog, String cluster, String job, int run, String pf, int qty) throws SQLException {
        int status = api.http.post("/jobs", prolog, JobsApiTest.job(job, pf, qty)).status();
        Sql.update(api.ds, "UPDATE lm.jobs SET run = ? WHERE cluster_client_id = ? AND slurm_job_id = ?", run, cluster, job);
        return status;
    }

    private static String book(String id, String job, long time, int run, String pf, int qty) {
        return book(id, job, time, pf, qty).replace(",\"bookings\"", ",\"run\":" + run + ",\"bookings\"");
    }

    private static String release(String id, String job, long time, int run) {
        return release(id, job, time).replace(",\"slurm_job_id\"", ",\"run\":" + run + ",\"slurm_job_id\"");
    }

    @Test
    void entriesOfAnEarlierRunLeaveALaterRunBookedAndARunlessReleaseEndsTheJob() throws Exception {
        long c = pools.config("sup", "sup", "sup-host", 27000, 600);
        pools.feature(c, "sup", "f", 10, 0, 0, Pools.wallClock());
        lease("sup");
        String agent = api.token("sup", "license-manager:feature:update");
        String prolog = api.token("sup", "license-manager:job:create");
        long t = System.currentTimeMillis() / 1000 + 60;
        // job 5's run 1 booked online once lm-server was back; its run 0's entries come later,
        // even by the controller's clock: the run decides, not the time
        assertEquals(201, bookOnline(prolog, "sup", "5", 1, "sup.f", 1));
        assertEquals(List.of("superseded", "superseded"), results(replay(agent, book(t + ".1", "5", t, 0, "sup.f", 4), release(t + 1 + ".2", "5", t + 1, 0))));
        assertEquals("5:1", jobs("sup"));
        // job 6: booked online by a prolog that sent no run; its release ends it
        assertEquals(201, api.http.post("/jobs", prolog, JobsApiTest.job("6", "sup.f", 2)).status());
        assertEquals(List.of("released"), results(replay(agent, release(t - 600 + ".3", "6", t - 600, 0))));
        assertEquals("5:1", jobs("sup"));
        // job 5's own run: its release ends it, whatever its time says
        assertEquals(List.of("released"), results(replay(agent, release(t - 900 + ".4", "5", t - 900, 1))));
        assertEquals("", jobs("sup"));
    }

    /** Issue 19 case 4, end to end through the API. */
    @Test
    void aReplayedReleaseOfARequeuedJobsEarlierRunLeavesItsNewRunBooked() throws Exception {
        long c = pools.config("rq4", "rq4", "rq4-host", 27000, 600);
        long f = pools.feature(c, "rq4", "f", 10, 0, 0, Pools.wallClock());
        lease("rq4");
        String agent = api.token("rq4", "license-manager:feature:update");
        String prolog = api.token("rq4", "license-manager:job:create");
        // run 0 books online; it is requeued while lm-server is unreachable, so the epilog writes
        // its release to the ledger; run 1 books online and is told "already booked"
        assertEquals(201, bookOnline(prolog, "rq4", "70", 0, "rq4.f", 4));
        long t = System.currentTimeMillis() / 1000;
        String released = release(t + ".9", "70", t, 0);
        assertEquals(200, bookOnline(prolog, "rq4", "70", 1, "rq4.f", 4));
        // the agent replays the ledger: run 0's release does not end run 1
        assertEquals(List.of("superseded"), results(replay(agent, released)));
        assertEquals("70:4", jobs("rq4"));
        assertEquals(6, pools.available(f, Pools.wallClock()));
        assertEquals(409, api.http.post("/jobs", prolog, JobsApiTest.job("71", "rq4.f", 7)).status());
        assertEquals(201, api.http.post("/jobs", prolog, JobsApiTest.job("72", "rq4.f", 6)).status());
        assertEquals(0, pools.available(f, Pools.wallClock()), "10 of 10, not 14");
    }

    @Test
    void entriesOfOneSecondOrOfAClockSteppedBackApplyInLedgerOrder() throws Exception {
        long c = pools.config("ord", "ord", "ord-host", 27000, 600);
        long f = pools.feature(c, "ord", "f", 10, 0, 0, Pools.wallClock());
        lease("ord");
        String agent = api.token("ord", "license-manager:feature:update");
        long t = System.currentTimeMillis() / 1000 - 100;
        // one second: run 0 booked and released, run 1 booked
        assertEquals(List.of("booked", "released", "booked"),
                results(replay(agent, book(t + ".1", "80", t, 0, "ord.f", 2), release(t + ".2", "80", t, 0), book(t + ".3", "80", t, 1, "ord.f", 3))));
        assertEquals("80:3o", jobs("ord"));
        assertEquals(1, pools.one("SELECT run FROM lm.jobs WHERE cluster_client_id = 'ord' AND slurm_job_id = '80'"));
        // the controller's clock stepped back 30 s before run 1's epilog: its release still ends run 1
        assertEquals(List.of("released"), results(replay(agent, release(t - 30 + ".4", "80", t - 30, 1))));
        assertEquals("", jobs("ord"));
        assertEquals(10, pools.available(f, Pools.wallClock()));
        // and a later run's booking replaces an earlier one's, a later run booked leaves an earlier entry superseded
        assertEquals(List.of("booked", "booked", "superseded"),
                results(replay(agent, book(t + ".5", "81", t, 2, "ord.f", 1), book(t + ".6", "81", t, 3, "ord.f", 2), book(t + ".7", "81", t, 2, "ord.f", 4))));
        assertEquals("81:2o", jobs("ord"));
    }

    /** Issue 19 case 5: what the ledger says is checked before anything is recorded. */
    @Test
    void anEntryOutsideOfflineMaxAgeOrBeyondTheLeaseIsRejectedCountedAndNeverRecorded() throws Exception {
        long c = pools.config("rej", "rej", "rej-host", 27000, 600);
        long f = pools.feature(c, "rej", "f", 10, 0, 0, Pools.wallClock());
        long other = pools.config("rej2", "rej2", "rej-host", 27000, 600);
        pools.feature(other, "rej", "f", 10, 0, 0, Pools.wallClock());
        assertEquals(5, lease("rej").getAsJsonArray("licenses").get(0).getAsJsonObject().get("budget").getAsLong());
        String agent = api.token("rej", "license-manager:feature:update");
        long t = System.currentTimeMillis() / 1000;
        String[] ledger = {
            // the entry: the year 10000, 9,000,000,000,000,000,000 licenses
            book("1.1", "90", 253402300799L, "rej.f", 1).replace("\"quantity\":1", "\"quantity\":9000000000000000000"),
            book("1.2", "91", t - 10, "rej.f", 6),            // beyond the budget of 5
            book("1.3", "92", t - 3700, "rej.f", 1),          // older than offline_max_age (3600 s)
            release("1.4", "93", 253402300799L),
            "{\"op\":\"book\",\"id\":\"1.5\",\"time\":" + t + ",\"slurm_job_id\":\"94\"}",
            book("1.6", "95", t - 10, "rej.f", 5)};
        Res r = replay(agent, ledger);
        assertEquals(List.of("rejected", "rejected", "rejected", "rejected", "invalid", "booked"), results(r));
        String detail = r.json().getAsJsonObject().getAsJsonArray("entries").get(1).getAsJsonObject().get("detail").getAsString();
        assertTrue(detail.contains("the lease allowed 5"), detail);
        assertEquals("95:5o", jobs("rej"));
        assertEquals(5, pools.available(f, Pools.wallClock()), "nothing of the rejected entries blocks rej2");
        assertEquals("", Sql.text(api.ds, "SELECT coalesce(string_agg(slurm_job_id, ','), '') FROM lm.offline_entries"
                + " WHERE cluster_client_id = 'rej' AND result NOT IN ('rejected', 'booked')"));
        // sent again (an agent that crashed before removing them): the same answers, counted once
        assertEquals(List.of("rejected", "rejected", "rejected", "rejected", "invalid", "booked"), results(replay(agent, ledger)));
        Res m = api.http.get("/metrics", api.token("prom", "license-manager:metrics:read"));
        assertEquals(200, m.status(), m::toString);
        assertTrue(m.body().contains("lm_offline_entries_rejected_total{cluster_client_id=\"rej\",reason=\"time\"} 3.0"), m.body());
        assertTrue(m.body().contains("lm_offline_entries_rejected_total{cluster_client_id=\"rej\",reason=\"quantity\"} 1.0"), m.body());
        // the invalid entry has no identity to be remembered by: it is counted each time it comes
        assertTrue(m.body().contains("lm_offline_entries_rejected_total{cluster_client_id=\"rej\",reason=\"invalid\"} 2.0"), m.body());
        assertTrue(m.body().contains("# TYPE lm_offline_entries_rejected_total counter"), m.body());
    }

    @Test
    void aBookingEntryCarriesItsJobsRunAndAccount() throws Exception {
        long c = pools.config("acct", "acct", "acct-host", 27000, 600);
        long f = pools.feature(c, "acct", "f", 10, 0, 0, Pools.wallClock());
        lease("acct");
        String agent = api.token("acct", "license-manager:feature:update");
        long t = System.currentTimeMillis() / 1000 - 10;
        String entry = book(t + ".1", "60", t, 2, "acct.f", 3).replace("\"lead_host\":\"node01\"", "\"lead_host\":\"node01\",\"account\":\"proj-a\"");
        assertEquals(List.of("booked"), results(replay(agent, entry)));
        assertEquals("2 proj-a proj-a", Sql.text(api.ds, "SELECT j.run || ' ' || j.account || ' ' || b.account FROM lm.jobs j"
                + " JOIN lm.bookings b ON b.job_id = j.id WHERE j.cluster_client_id = 'acct' AND j.slurm_job_id = '60'"));
        assertEquals(3, pools.one("SELECT held FROM lm.owner_counts WHERE feature_id = ? AND account = 'proj-a'", f));
        assertEquals(List.of("invalid"), results(replay(agent, entry.replace("\"proj-a\"", "\" \"").replace(".1\"", ".2\""))));
        assertEquals(List.of("invalid"), results(replay(agent, book(t + ".3", "61", t, -1, "acct.f", 1))));
    }

    @Test
    void aBudgetHandedOutIsALeaseWithItsEnd() throws Exception {
        long c = pools.config("lse", "lse", "lse-host", 27000, 300);
        pools.feature(c, "lse", "f", 8, 0, 0, Pools.wallClock());
        JsonObject first = lease("lse");
        long made = java.time.OffsetDateTime.parse(first.get("made_at").getAsString()).toEpochSecond();
        assertEquals(made + 3600, java.time.OffsetDateTime.parse(first.get("expires_at").getAsString()).toEpochSecond());
        assertEquals("8 0 3600 3900", Sql.text(api.ds, "SELECT budget || ' ' || prior_budget || ' ' || extract(epoch FROM expires_at - made_at)::int"
                + " || ' ' || extract(epoch FROM held_until - made_at)::int FROM lm.budget_leases WHERE cluster_client_id = 'lse'"));
        assertEquals(201, api.http.post("/jobs", api.token("lse", "license-manager:job:create"), JobsApiTest.job("1", "lse.f", 3)).status());
        lease("lse");
        // the budget before stays counted: a prolog may have booked on it after the agent's replay
        assertEquals("5 8", Sql.text(api.ds, "SELECT budget || ' ' || prior_budget FROM lm.budget_leases WHERE cluster_client_id = 'lse'"));
    }

    @Test
    void aReplayActsOnTheCallersClusterOnly() throws Exception {
        long a = pools.config("iso-a", "iso-a", "iso-host", 27000, 600);
        pools.feature(a, "iso", "f", 10, 0, 0, Pools.wallClock());
        long b = pools.config("iso-b", "iso-b", "iso-host-b", 27000, 600);
        pools.feature(b, "isob", "f", 10, 0, 0, Pools.wallClock());
        assertEquals(201, api.http.post("/jobs", api.token("iso-b", "license-manager:job:create"), JobsApiTest.job("7", "isob.f", 2)).status());
        String agentA = api.token("iso-a", "license-manager:feature:update");
        long t = System.currentTimeMillis() / 1000 + 1;
        // B's job 7 is not A's to release, nor B's license A's to book
        assertEquals(List.of("no_job", "unknown_license"),
                results(replay(agentA, release(t + ".1", "7", t), book(t + ".2", "8", t, "isob.f", 1))));
        assertEquals("7:2", jobs("iso-b"));
        assertEquals("", jobs("iso-a"));
        assertEquals(403, replay(api.token("iso-a", "license-manager:job:create"), release(t + ".1", "7", t)).status());
    }

    @Test
    void aDamagedEntryIsAnsweredInvalidAndTheOthersApply() throws Exception {
        long c = pools.config("inv", "inv", "inv-host", 27000, 600);
        pools.feature(c, "inv", "f", 10, 0, 0, Pools.wallClock());
        lease("inv");
        String agent = api.token("inv", "license-manager:feature:update");
        long t = System.currentTimeMillis() / 1000 - 10;
        Res r = replay(agent, "{\"op\":\"book\",\"id\":\"x\",\"time\":" + t + ",\"slurm_job_id\":\"1\"}",
                book(t + ".2", "2", t, "inv.f", 1),
                "{\"op\":\"eat\",\"id\":\"y\",\"time\":" + t + ",\"slurm_job_id\":\"3\"}",
                "{\"op\":\"release\",\"id\":\"z z\",\"time\":" + t + ",\"slurm_job_id\":\"3\"}",
                book(t + ".5", "5", t, "inv.f", 0));
        assertEquals(List.of("invalid", "booked", "invalid", "invalid", "invalid"), results(r));
        JsonObject first = r.json().getAsJsonObject().getAsJsonArray("entries").get(0).getAsJsonObject();
        assertTrue(first.get("detail").getAsString().contains("username"), first::toString);
        assertEquals("2:1o", jobs("inv"));
        // a body that is not {"entries": [...]} is refused whole, writing nothing
        assertEquals(400, api.http.post("/agent/offline", agent, "{\"entry\":[]}").status());
        assertEquals(400, api.http.post("/agent/offline", agent, "{\"entries\":[1]}").status());
        assertEquals("2:1o", jobs("inv"));
    }

    @Test
    void aBookingEntryOfARequeuedJobReplacesItsEarlierRun() throws Exception {
        long c = pools.config("rq", "rq", "rq-host", 27000, 600);
        long f = pools.feature(c, "rq", "f", 10, 0, 0, Pools.wallClock());
        lease("rq");
        String agent = api.token("rq", "license-manager:feature:update");
        long t = System.currentTimeMillis() / 1000 - 100;
        assertEquals(List.of("booked", "booked"), results(replay(agent, book(t + ".1", "4", t, "rq.f", 2), book(t + 9 + ".2", "4", t + 9, "rq.f", 5))));
        assertEquals("4:5o", jobs("rq"));
        assertEquals(5, pools.available(f, Pools.wallClock()));
        JsonObject job = JsonParser.parseString(Sql.text(api.ds, "SELECT j FROM lm.api_jobs WHERE slurm_job_id = '4' AND cluster_client_id = 'rq'"))
                .getAsJsonObject();
        assertEquals(t + 9, java.time.OffsetDateTime.parse(job.get("created_at").getAsString()).toEpochSecond());
    }
}
