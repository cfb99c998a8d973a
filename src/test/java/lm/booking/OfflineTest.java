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

    @Test
    void aJobBookedOnlineAfterTheEntryIsNotTouched() throws Exception {
        long c = pools.config("sup", "sup", "sup-host", 27000, 600);
        pools.feature(c, "sup", "f", 10, 0, 0, Pools.wallClock());
        String agent = api.token("sup", "license-manager:feature:update");
        String prolog = api.token("sup", "license-manager:job:create");
        long t = System.currentTimeMillis() / 1000 - 600;
        // job 5: requeued and booked online once lm-server was back; its offline run's entries are older
        assertEquals(201, api.http.post("/jobs", prolog, JobsApiTest.job("5", "sup.f", 1)).status());
        assertEquals(List.of("superseded", "superseded"), results(replay(agent, book(t + ".1", "5", t, "sup.f", 4), release(t + 1 + ".2", "5", t + 1))));
        assertEquals("5:1", jobs("sup"));
        // job 6: booked online just before lm-server went away, released offline: the release applies
        assertEquals(201, api.http.post("/jobs", prolog, JobsApiTest.job("6", "sup.f", 2)).status());
        long later = System.currentTimeMillis() / 1000 + 1;
        assertEquals(List.of("released"), results(replay(agent, release(later + ".3", "6", later))));
        assertEquals("5:1", jobs("sup"));
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
