package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import lm.db.Sql;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The offline bound (issue 19 case 3; README "Offline operation", lm-prolog(8)): a budget is a
 * lease lm-server remembers, and once a cluster has been silent for three of its agent
 * intervals, online admission leaves that cluster's outstanding budget free until its ledger is
 * replayed or the budget expires. Driven through the SQL functions lm-server calls, with time as
 * a parameter: lm.book_job and lm.release_job (prolog, epilog), lm.replay_offline, lm.apply_agent_report
 * and lm.budget_json (an agent pass); what a cut-off prolog books offline is modelled here, as
 * bin/lm-prolog does it (the budget file less what the ledger holds).
 */
class OfflineBoundTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);

    static final int INTERVAL = 60;
    static final int GRACE = 600;
    static final int MAX_AGE = 3600;

    private static Timestamp at(long epoch) {
        return new Timestamp(epoch * 1000);
    }

    private static String text(String sql, Object... params) {
        try {
            return Sql.text(api.ds, sql, params);
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    /** lm.book_job at {@code t}: true when admitted, false when refused (LM001). */
    private static boolean book(String cluster, String job, String pf, long qty, long t) {
        try {
            Sql.text(api.ds, "SELECT created::text FROM lm.book_job(?, ?, 'alice', 'node01', ?::jsonb, ?)", cluster, job,
                    "[{\"product_feature\":\"" + pf + "\",\"quantity\":" + qty + "}]", at(t));
            return true;
        } catch (SQLException e) {
            if ("LM001".equals(e.getSQLState())) {
                return false;
            }
            throw new IllegalStateException(e);
        }
    }

    private static void release(String cluster, String job) {
        text("SELECT lm.release_job(?, ?)::text", cluster, job);
    }

    /** One agent report at t: the license server's reading (used by desktops), no Slurm part. */
    private static void report(String cluster, String pf, long total, long used, long t) {
        text("SELECT lm.apply_agent_report(?, ?::jsonb, ?)::text", cluster, "{\"interval\":" + INTERVAL + ",\"features\":[{\"product_feature\":\""
                + pf + "\",\"total\":" + total + ",\"used\":" + used + ",\"checkouts\":[]}]}", at(t));
    }

    /** The budget GET /lm/budget hands out at t, per Slurm license. */
    private static Map<String, Long> budget(String cluster, long t) {
        JsonObject b = JsonParser.parseString(text("SELECT lm.budget_json(?, ?)::text", cluster, at(t))).getAsJsonObject();
        Map<String, Long> out = new HashMap<>();
        for (JsonElement e : b.getAsJsonArray("licenses")) {
            out.put(e.getAsJsonObject().get("license").getAsString(), e.getAsJsonObject().get("budget").getAsLong());
        }
        return out;
    }

    private static List<String> replay(String cluster, List<String> entries, long t) {
        JsonObject r = JsonParser.parseString(text("SELECT lm.replay_offline(?, ?::jsonb, ?)::text", cluster,
                "[" + String.join(",", entries) + "]", at(t))).getAsJsonObject();
        List<String> out = new ArrayList<>();
        r.getAsJsonArray("entries").forEach(e -> out.add(e.getAsJsonObject().get("result").getAsString()));
        return out;
    }

    private static String bookEntry(String job, int run, long t, String pf, long qty) {
        return "{\"op\":\"book\",\"id\":\"" + t + "." + job + "\",\"time\":" + t + ",\"run\":" + run + ",\"bookings\":[{\"license\":\"" + pf
                + "@flexlm\",\"product_feature\":\"" + pf + "\",\"quantity\":" + qty + "}],\"slurm_job_id\":\"" + job
                + "\",\"username\":\"alice\",\"lead_host\":\"node01\"}";
    }

    private static String releaseEntry(String job, int run, long t) {
        return "{\"op\":\"release\",\"id\":\"" + t + ".r" + job + "\",\"time\":" + t + ",\"run\":" + run + ",\"slurm_job_id\":\"" + job + "\"}";
    }

    @Test
    void aSilentClustersBudgetIsLeftFreeAfterThreeIntervalsUntilItsLedgerIsReplayed() {
        long t0 = System.currentTimeMillis() / 1000;
        for (String c : List.of("part1", "part2")) {
            pools.feature(pools.config(c, c, "part-host", 27000, GRACE), "part", "f", 10, 0, 0, at(t0));
            report(c, "part.f", 10, 0, t0);
        }
        assertEquals(5, budget("part1", t0).get("part.f@flexlm"));
        assertEquals(5, budget("part2", t0).get("part.f@flexlm"));
        // part2 is cut off from lm-server from t0 on; its prolog books its budget offline
        String offline = bookEntry("200", 0, t0 + 10, "part.f", 5);
        // within three intervals of part2's last contact lm-server cannot tell an outage from a
        // quiet minute: part1's 10 are admitted (the bound's window, 15 of 10 for now)
        assertTrue(book("part1", "100", "part.f", 10, t0 + 30));
        report("part1", "part.f", 10, 0, t0 + 60);
        report("part1", "part.f", 10, 0, t0 + 120);
        assertEquals(0, pools.available(firstFeature("part1"), at(t0 + 179)));
        // 3 intervals of silence: part2's outstanding budget is no longer free for online admission
        assertEquals(-5, pools.available(firstFeature("part1"), at(t0 + 180)));
        report("part1", "part.f", 10, 0, t0 + 180);
        release("part1", "100");
        assertTrue(!book("part1", "101", "part.f", 10, t0 + 200), "part2 may use 5 offline: 10 do not fit any more");
        assertTrue(book("part1", "102", "part.f", 5, t0 + 201));
        // the Slurm reservation and part1's own budget agree with admission
        assertEquals("5", text("SELECT reservation::text FROM lm.plan_reservations('part1', ?::jsonb, ?)",
                "[{\"license\":\"part.f@flexlm\",\"total\":10,\"used\":5}]", at(t0 + 202)));
        assertEquals(0, budget("part1", t0 + 202).get("part.f@flexlm"));
        report("part1", "part.f", 10, 0, t0 + 240);
        // part2 is back: its ledger is replayed, its 5 count as bookings, the lease no longer
        assertEquals(List.of("booked"), replay("part2", List.of(offline), t0 + 250));
        assertEquals(0, pools.available(firstFeature("part1"), at(t0 + 251)));
        release("part1", "102");
        assertEquals(5, pools.available(firstFeature("part1"), at(t0 + 252)));
    }

    @Test
    void aSilentClustersLeaseEndsWhenItsBudgetExpiresAndItsLastBookingsGraceHasPassed() {
        long t0 = System.currentTimeMillis() / 1000;
        for (String c : List.of("exp1", "exp2")) {
            pools.feature(pools.config(c, c, "exp-host", 27000, GRACE), "exp", "f", 10, 0, 0, at(t0));
            report(c, "exp.f", 10, 0, t0);
            budget(c, t0);
        }
        long f = firstFeature("exp1");
        // exp1 keeps reporting, exp2 is silent from t0
        for (long t = t0 + 60; t <= t0 + MAX_AGE + GRACE + 60; t += 60) {
            report("exp1", "exp.f", 10, 0, t);
        }
        assertEquals(5, pools.available(f, at(t0 + MAX_AGE + GRACE - 1)), "exp2 may still hold what it booked offline");
        assertEquals(10, pools.available(f, at(t0 + MAX_AGE + GRACE)), "a job booked at the budget's last second has checked out");
    }

    private static long firstFeature(String cluster) {
        return pools.one("SELECT min(f.id) FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id WHERE c.cluster_client_id = ?",
                cluster);
    }

    // ------------------------------------------------------------------------------ the bound

    enum Mode { ONLINE, CUT, SLOW }

    static final class Job {
        final String id;
        final long qty;
        final long end;
        // lm-server counts it (booked online, or its offline entry replayed)
        boolean known;

        Job(String id, long qty, long end, boolean known) {
            this.id = id;
            this.qty = qty;
            this.end = end;
            this.known = known;
        }
    }

    static final class Cluster {
        final String name;
        Mode mode = Mode.ONLINE;
        long nextPass;
        long lastContact = Long.MIN_VALUE / 2;
        // budget_file: null when there is none
        Long budget;
        long fileMade;
        long fileExpires;
        final List<String[]> ledger = new ArrayList<>(); // {op, job, qty, json}
        final Map<String, Job> running = new LinkedHashMap<>();
        final List<long[]> handouts = new ArrayList<>(); // {time, budget}

        Cluster(String name) {
            this.name = name;
        }

        long unknown() {
            return running.values().stream().filter(j -> !j.known).mapToLong(j -> j.qty).sum();
        }

        boolean silent(long t) {
            return t >= lastContact + 3L * INTERVAL;
        }

        /**
         * The largest budget handed to it within offline_max_age + grace_time: what its prologs
         * may have booked offline on a budget still young enough, for jobs that may not have
         * checked out yet.
         */
        long outstanding(long t) {
            long b = 0;
            for (long[] h : handouts) {
                if (t < h[0] + MAX_AGE + GRACE) {
                    b = Math.max(b, h[1]);
                }
            }
            return b;
        }
    }

    /**
     * N clusters share a pool; each at random is online, cut off from lm-server (agent and
     * prolog), or behind a busy lm-server (its prologs time out half the time, and half of those
     * were admitted all the same; its agent gets through). After every step the licenses the
     * running jobs really hold are compared with what the pool has: the overbooking never
     * exceeds the clusters' outstanding budgets, and an online admission never takes licenses
     * that a cluster silent for three intervals may hold offline.
     */
    @Test
    void partitionsAndSlowServersNeverOverbookBeyondTheBound() {
        long seed = Long.getLong("lm.offlineBound.seed", System.nanoTime());
        long worst = 0;
        int admissionsInWindow = 0;
        int refusedForSilent = 0;
        for (int round = 0; round < 4; round++) {
            Random random = new Random(seed + round);
            String where = "seed " + (seed + round) + " (-Dlm.offlineBound.seed=" + seed + ", round " + round + ")";
            int n = 2 + random.nextInt(3);
            long total = 8 + random.nextInt(20);
            long used = random.nextInt(4);
            String pf = "bnd" + round + ".f";
            long t = System.currentTimeMillis() / 1000;
            List<Cluster> clusters = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Cluster c = new Cluster("bnd" + round + "c" + i);
                pools.feature(pools.config(c.name, c.name, "bnd-host-" + round, 27000, GRACE), "bnd" + round, "f", total, used, 0, at(t));
                c.nextPass = t + random.nextInt(INTERVAL);
                clusters.add(c);
            }
            long capacity = total - used;
            int nextJob = 1;
            for (int step = 0; step < 1000; step++) {
                t += 1 + random.nextInt(20);
                for (Cluster c : clusters) {
                    if (random.nextInt(150) == 0) {
                        int m = random.nextInt(10);
                        c.mode = m < 5 ? Mode.ONLINE : m < 8 ? Mode.CUT : Mode.SLOW;
                    }
                }
                // jobs end: the epilog releases online, or appends its release to the ledger
                for (Cluster c : clusters) {
                    for (Iterator<Job> it = c.running.values().iterator(); it.hasNext();) {
                        Job j = it.next();
                        if (j.end > t) {
                            continue;
                        }
                        it.remove();
                        if (reachable(c, random)) {
                            release(c.name, j.id);
                        } else {
                            c.ledger.add(new String[] {"release", j.id, "0", releaseEntry(j.id, 0, t)});
                        }
                    }
                }
                for (Cluster c : clusters) {
                    if (c.nextPass <= t) {
                        c.nextPass = t + INTERVAL;
                        if (c.mode != Mode.CUT) {
                            pass(c, clusters, pf, total, used, t, random, String.valueOf(nextJob++), capacity, where);
                        }
                    }
                }
                if (random.nextBoolean()) {
                    long now = t;
                    Cluster c = clusters.get(random.nextInt(n));
                    int before = c.running.size();
                    boolean onlineAdmitted = prolog(c, clusters, pf, String.valueOf(nextJob++), 1 + random.nextInt(4), t, random, capacity, where);
                    if (onlineAdmitted && clusters.stream().anyMatch(o -> o != c && !o.silent(now) && o.unknown() > 0)) {
                        admissionsInWindow++;
                    }
                    if (c.running.size() == before && clusters.stream().anyMatch(o -> o.silent(now) && o.unknown() > 0)) {
                        refusedForSilent++;
                    }
                }
                long held = clusters.stream().mapToLong(c -> c.running.values().stream().mapToLong(j -> j.qty).sum()).sum();
                long over = held - capacity;
                long bound = 0;
                for (Cluster c : clusters) {
                    bound += c.outstanding(t);
                }
                // and as a site computes it from its settings: each cluster's share of the pool
                // (here all shares are 1), rounded down
                assertTrue(bound <= n * (capacity / n), where + ": budgets beyond the shares of the pool");
                if (over > bound) {
                    fail(where + ", step " + step + ": " + held + " licenses held of " + capacity + ", overbooked by " + over
                            + ", above the bound " + bound + " (the largest budgets handed out within offline_max_age + grace_time): " + state(clusters, t));
                }
                worst = Math.max(worst, over);
            }
        }
        System.out.println("OfflineBoundTest: seed " + seed + ", worst overbooking " + worst + ", online admissions in a window "
                + admissionsInWindow + ", jobs kept out by a silent cluster's lease " + refusedForSilent);
    }

    private static String state(List<Cluster> clusters, long t) {
        StringBuilder b = new StringBuilder();
        for (Cluster c : clusters) {
            b.append("\n  ").append(c.name).append(' ').append(c.mode).append(" silent ").append(c.silent(t)).append(" contact -")
                    .append(t - c.lastContact).append(" budget ").append(c.budget).append(" file age ").append(t - c.fileMade)
                    .append(" handouts ");
            c.handouts.subList(Math.max(0, c.handouts.size() - 2), c.handouts.size()).forEach(h -> b.append(t - h[0]).append("s:").append(h[1]).append(' '));
            c.running.values().forEach(j -> b.append(" job ").append(j.id).append(':').append(j.qty).append(j.known ? "" : "?"));
            b.append(" ledger ").append(c.ledger.size());
        }
        return b.toString();
    }

    private static boolean reachable(Cluster c, Random random) {
        return c.mode == Mode.ONLINE || (c.mode == Mode.SLOW && random.nextBoolean());
    }

    /** One job's prolog; true when it was admitted online. Asserts the admission's half of the bound. */
    private static boolean prolog(Cluster c, List<Cluster> clusters, String pf, String job, long qty, long t, Random random, long capacity,
            String where) {
        long end = t + 30 + random.nextInt(GRACE - 60);
        if (reachable(c, random)) {
            if (book(c.name, job, pf, qty, t)) {
                c.running.put(job, new Job(job, qty, end, true));
                long held = clusters.stream().mapToLong(x -> x.running.values().stream().mapToLong(j -> j.qty).sum()).sum();
                long inWindow = clusters.stream().filter(x -> !x.silent(t)).mapToLong(Cluster::unknown).sum();
                assertTrue(held - capacity <= inWindow, () -> where + ": at " + t + " job " + job + " of " + c.name
                        + " was admitted online into licenses a cluster silent for three intervals may hold offline (held " + held
                        + " of " + capacity + ")");
                return true;
            }
            return false;
        }
        // a busy lm-server: the prolog gave up, yet lm-server admitted it
        boolean admitted = c.mode == Mode.SLOW && random.nextBoolean() && book(c.name, job, pf, qty, t);
        if (c.budget == null || t - c.fileMade > MAX_AGE || t >= c.fileExpires) {
            if (admitted) {
                release(c.name, job); // fail-closed: the job is requeued, its next run books again
            }
            return false;
        }
        Map<String, Long> held = new HashMap<>();
        for (String[] e : c.ledger) {
            if (e[0].equals("book")) {
                held.put(e[1], Long.parseLong(e[2]));
            } else {
                held.remove(e[1]);
            }
        }
        held.remove(job);
        long left = c.budget - held.values().stream().mapToLong(Long::longValue).sum();
        if (qty > left) {
            if (admitted) {
                release(c.name, job);
            }
            return false;
        }
        c.ledger.add(new String[] {"book", job, String.valueOf(qty), bookEntry(job, 0, t, pf, qty)});
        c.running.put(job, new Job(job, qty, end, admitted));
        return false;
    }

    /** One agent pass: replay, (a prolog racing it), report, a new budget, the replayed entries removed. */
    private static void pass(Cluster c, List<Cluster> clusters, String pf, long total, long used, long t, Random random, String raceJob,
            long capacity, String where) {
        List<String[]> sent = new ArrayList<>(c.ledger);
        List<String> results = replay(c.name, sent.stream().map(e -> e[3]).toList(), t);
        c.lastContact = t;
        for (int i = 0; i < sent.size(); i++) {
            String r = results.get(i);
            long age = t - JsonParser.parseString(sent.get(i)[3]).getAsJsonObject().get("time").getAsLong();
            // an entry older than offline_max_age is rejected: what it booked has been checked out
            // or ended by then (grace_time < offline_max_age), what it released has expired
            assertTrue(List.of("booked", "released", "superseded", "already_booked", "no_job").contains(r)
                    || (r.equals("rejected") && age > MAX_AGE), where + ": " + sent.get(i)[3] + " answered " + r + " at " + t);
            Job j = c.running.get(sent.get(i)[1]);
            if (sent.get(i)[0].equals("book") && j != null) {
                j.known = true;
            }
        }
        if (random.nextInt(3) == 0) {
            // a prolog that times out between the replay and the new budget books on the old one
            prolog(c, clusters, pf, raceJob, 1 + random.nextInt(4), t, random, capacity, where);
        }
        report(c.name, pf, total, used, t);
        c.budget = null; // lm-agent removes budget_file before it asks for the next one
        long b = budget(c.name, t).get(pf + "@flexlm");
        c.budget = b;
        c.fileMade = t;
        c.fileExpires = t + MAX_AGE;
        c.handouts.add(new long[] {t, b});
        c.ledger.removeAll(sent);
    }
}
