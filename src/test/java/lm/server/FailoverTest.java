package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.bench.LoadClient;
import lm.testing.Http;
import lm.testing.Replication;
import lm.testing.ServerProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * High availability with a real standby: two lm-servers on one multi-host database_url (no
 * targetServerType in it), a PostgreSQL 15 primary with a synchronous streaming standby, 16
 * clients booking through both servers. kill -9 of the primary, promotion of the standby: every
 * booking answered 201 is on the promoted standby, no answer is a 500 (the standby's read-only
 * error, SQLSTATE 25006, was one), and both servers book again without a restart. Prints the
 * seconds of 503s and the acknowledged bookings lost (README, High availability).
 */
class FailoverTest {
    private static final int CLIENTS = 16;
    /** How long after the kill the standby is promoted: an operator or Patroni, quick. */
    private static final Duration PROMOTE_AFTER = Duration.ofSeconds(1);

    @TempDir
    Path dir;

    private record Answer(int server, long at, int status, String code) {}

    @Test
    void primaryKilledUnderLoadLosesNothingAndBothServersRecover() throws Exception {
        try (Replication pg = Replication.start()) {
            pg.synchronous();
            ServerProcess[] servers = new ServerProcess[2];
            try (ServerProcess a = servers[0] = ServerProcess.start(dir, settings(pg, "a"));
                    ServerProcess b = servers[1] = ServerProcess.start(dir, settings(pg, "b"))) {
                Licenses.setUp(Replication.url(pg.primaryPort), "postgres", "", "ha", "a", "b");
                String token = new Authenticator(new AuthSettings(dir.resolve("jwks.json"), "lm-local", null, "permissions"))
                        .mint("ha", List.of("license-manager:job:create"), Duration.ofHours(1));
                Set<Long> acknowledged = ConcurrentHashMap.newKeySet();
                ConcurrentLinkedQueue<Answer> answers = new ConcurrentLinkedQueue<>();
                AtomicLong ids = new AtomicLong();
                AtomicBoolean stop = new AtomicBoolean();
                List<Thread> clients = new ArrayList<>();
                for (int i = 0; i < CLIENTS; i++) {
                    int server = i % 2;
                    Thread t = new Thread(() -> {
                        LoadClient c = null;
                        while (!stop.get()) {
                            long id = ids.incrementAndGet();
                            try {
                                if (c == null || !c.isOpen()) {
                                    c = new LoadClient("127.0.0.1", servers[server].port());
                                }
                                LoadClient.Response r = c.request("POST", "/lm/jobs", token, Licenses.job(id, "ha", "a", "b"));
                                if (r.status() == 201) {
                                    acknowledged.add(id);
                                }
                                answers.add(new Answer(server, System.nanoTime(), r.status(),
                                        r.status() == 201 ? null : code(r.body())));
                            } catch (IOException e) {
                                answers.add(new Answer(server, System.nanoTime(), -1, e.getMessage()));
                                c = null;
                            }
                        }
                    }, "failover-client-" + i);
                    t.setDaemon(true);
                    clients.add(t);
                    t.start();
                }
                for (int waited = 0; acknowledged.size() < 200 && waited < 60_000; waited += 50) {
                    Thread.sleep(50);
                }
                Thread.sleep(2_000);
                long killedAt = System.nanoTime();
                pg.killPrimary();
                Thread.sleep(PROMOTE_AFTER.toMillis());
                pg.promote();
                long promotedAt = System.nanoTime();
                // until both servers have booked for 2 s since their last refusal, 60 s at most
                while (System.nanoTime() - promotedAt < 60_000_000_000L && !(recovered(answers, 0) && recovered(answers, 1))) {
                    Thread.sleep(100);
                }
                stop.set(true);
                for (Thread t : clients) {
                    t.join(15_000);
                }

                Map<String, Long> refusals = new TreeMap<>();
                double[] outage = new double[2];
                for (int s = 0; s < 2; s++) {
                    for (Answer x : answers) {
                        if (x.server == s && x.status != 201) {
                            refusals.merge(x.status + " " + x.code, 1L, Long::sum);
                        }
                    }
                    // the longest time without a booking answered: refusals, and requests held
                    // waiting for a connection until the promotion
                    final int server = s;
                    long[] oks = answers.stream().filter(x -> x.server == server && x.status == 201).mapToLong(Answer::at).sorted().toArray();
                    for (int i = 1; i < oks.length; i++) {
                        outage[s] = Math.max(outage[s], (oks[i] - oks[i - 1]) / 1e9);
                    }
                }
                long lost;
                long halfWritten;
                try (Connection c = DriverManager.getConnection(Replication.url(pg.standbyPort), "postgres", "");
                        Statement st = c.createStatement()) {
                    Map<Long, String> found = jobs(st);
                    lost = acknowledged.stream().filter(id -> !found.containsKey(id)).count();
                    halfWritten = found.values().stream().filter(v -> !v.equals("a:1 b:2")).count();
                }
                System.out.printf("failover test: %d bookings answered 201 by two lm-servers; primary killed (kill -9), standby"
                        + " promoted %.1f s later; no booking answered for %.1f s (server a) and %.1f s (server b); acknowledged"
                        + " bookings lost: %d; half-written: %d; refusals by status and code: %s%n",
                        acknowledged.size(), (promotedAt - killedAt) / 1e9, outage[0], outage[1], lost, halfWritten, refusals);

                assertEquals(0, lost, "acknowledged bookings missing on the promoted standby");
                assertEquals(0, halfWritten, "jobs without both their bookings");
                for (String refusal : refusals.keySet()) {
                    assertTrue(refusal.startsWith("503 ") || refusal.startsWith("-1 "),
                            "only 503 (or a connection cut by the kill) while the database fails over: " + refusals);
                }
                for (int s = 0; s < 2; s++) {
                    assertTrue(recovered(answers, s), "server " + s + " books again after the promotion: " + refusals);
                    assertTrue(servers[s].isAlive(), "server " + s + " runs on, not restarted");
                    Http.Res health = new Http("http://127.0.0.1:" + servers[s].port() + "/lm").get("/health", null);
                    assertEquals(204, health.status(), health::toString);
                }
            }
        }
    }

    /** Server {@code s} answered 201s for 2 s since its last other answer, and some after the kill. */
    private static boolean recovered(ConcurrentLinkedQueue<Answer> answers, int s) {
        long lastRefusal = Long.MIN_VALUE;
        long lastOk = Long.MIN_VALUE;
        for (Answer x : answers) {
            if (x.server == s) {
                if (x.status == 201) {
                    lastOk = Math.max(lastOk, x.at);
                } else {
                    lastRefusal = Math.max(lastRefusal, x.at);
                }
            }
        }
        return lastRefusal != Long.MIN_VALUE && lastOk - lastRefusal > 2_000_000_000L;
    }

    private Map<String, String> settings(Replication pg, String name) {
        return Map.of("database_url", pg.multiHostUrl(), "database_user", "postgres",
                "state_dir", dir.resolve("state-" + name).toString(), "auth_keys", dir.resolve("jwks.json").toString());
    }

    private static String code(String body) {
        try {
            return com.google.gson.JsonParser.parseString(body).getAsJsonObject().get("code").getAsString();
        } catch (RuntimeException e) {
            return "?";
        }
    }

    /** slurm_job_id → its bookings as "a:1 b:2". */
    static Map<Long, String> jobs(Statement st) throws java.sql.SQLException {
        Map<Long, String> out = new HashMap<>();
        try (ResultSet rs = st.executeQuery("SELECT j.slurm_job_id::bigint,"
                + " coalesce(string_agg(f.name || ':' || b.quantity, ' ' ORDER BY f.name), '')"
                + " FROM lm.jobs j LEFT JOIN lm.bookings b ON b.job_id = j.id LEFT JOIN lm.features f ON f.id = b.feature_id"
                + " WHERE j.cluster_client_id = 'ha' GROUP BY j.slurm_job_id")) {
            while (rs.next()) {
                out.put(rs.getLong(1), rs.getString(2));
            }
        }
        return out;
    }
}
