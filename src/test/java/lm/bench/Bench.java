package lm.bench;

import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.db.Database;
import lm.http.ApiServer;
import lm.server.LmServer;
import lm.testing.TestDatabase;

/**
 * make bench: admitted jobs per second on one hot pool, over HTTP (64 clients, each a job's
 * life: POST /lm/jobs then DELETE /lm/jobs/slurm_job_id/N, as prolog and epilog do) against
 * the ceiling, pgbench calling the same two SQL functions at the same concurrency on the same
 * database. Prints medians over rounds and the ratio HTTP / ceiling. Then prolog latency
 * ({@link Prolog}) and an lm-agent pass at a big site ({@link AgentPass}).
 */
public final class Bench {
    static final int CLIENTS = Integer.getInteger("lm.bench.clients", 64);
    static final int SECONDS = Integer.getInteger("lm.bench.seconds", 10);
    static final int ROUNDS = Integer.getInteger("lm.bench.rounds", 3);

    public static void main(String[] args) throws Exception {
        // -Dlm.bench.only=agent: only the agent pass figure (issue 9), a minute instead of several
        if ("agent".equals(System.getProperty("lm.bench.only"))) {
            AgentPass.bench();
            System.exit(0);
        }
        // -Dlm.bench.only=reports: only the usage history's figures (issue 12), see Reports
        if ("reports".equals(System.getProperty("lm.bench.only"))) {
            Reports.bench();
            System.exit(0);
        }
        // -Dlm.bench.only=prolog: only the prolog/epilog latency (issue 11: the online path before
        // and after offline operation), a minute or two
        boolean prologOnly = "prolog".equals(System.getProperty("lm.bench.only"));
        // -Dlm.bench.only=history: only admission with the history (denials, job history) on and off
        boolean historyOnly = "history".equals(System.getProperty("lm.bench.only"));
        String db = TestDatabase.create();
        String url = TestDatabase.url(db);
        try (HikariDataSource ds = Database.pool(url, TestDatabase.user(), TestDatabase.password(), 8)) {
            setUp(ds);
            Path keys = Files.createTempDirectory("lm-bench").resolve("jwks.json");
            Authenticator auth = new Authenticator(new AuthSettings(keys, "lm-local", null, "permissions"));
            String token = auth.mint("bench", List.of("license-manager:job:create", "license-manager:job:delete"), java.time.Duration.ofHours(1));
            ApiServer api = LmServer.serve(ds, auth, "127.0.0.1", 0);
            System.out.printf(Locale.ROOT, "lm bench: %d clients, %d s per round, %d rounds, hot pool of one feature, PostgreSQL %s%n",
                    CLIENTS, SECONDS, ROUNDS, version(ds));
            if (historyOnly) {
                api.close();
                DenialBench.bench(ds, auth);
                System.exit(0);
            }
            if (!prologOnly) {
                runHttp(api.port(), token, 3, true); // warm-up: JIT, pool, caches
            }
            // admission alone (the prolog's call; bookings pile up, which the pool's counter makes
            // free), then a job's whole life (prolog and epilog: POST then DELETE)
            for (boolean release : prologOnly ? new boolean[0] : new boolean[] {false, true}) {
                String what = release ? "job life (POST /jobs + DELETE)" : "admission (POST /jobs)";
                double[] http = new double[ROUNDS];
                double[] p50 = new double[ROUNDS];
                double[] p99 = new double[ROUNDS];
                double[] ceiling = new double[ROUNDS];
                for (int r = 0; r < ROUNDS; r++) {
                    HttpResult h = runHttp(api.port(), token, SECONDS, release);
                    http[r] = h.jobsPerSecond;
                    p50[r] = h.p50;
                    p99[r] = h.p99;
                    ceiling[r] = pgbench(url, SECONDS, release);
                    System.out.printf(Locale.ROOT, "  %s round %d: HTTP %.0f jobs/s (POST p50 %.2f ms, p99 %.2f ms, %d refused, %d errors); pgbench %.0f jobs/s%n",
                            what, r + 1, h.jobsPerSecond, h.p50, h.p99, h.refused, h.errors, ceiling[r]);
                }
                double mh = median(http);
                double mc = median(ceiling);
                System.out.printf(Locale.ROOT, "RESULT %s over HTTP: %.0f jobs/s (median), POST p50 %.2f ms, p99 %.2f ms%n", what, mh, median(p50), median(p99));
                System.out.printf(Locale.ROOT, "RESULT %s ceiling (pgbench, same SQL, %d connections): %.0f jobs/s (median)%n", what, CLIENTS, mc);
                System.out.printf(Locale.ROOT, "RESULT %s ratio HTTP / ceiling: %.2f%n", what, mh / mc);
            }
            api.close();
            if (!prologOnly) {
                DenialBench.bench(ds, auth);
            }
            Prolog.bench(ds, auth, url);
        }
        if (!prologOnly) {
            AgentPass.bench();
            Reports.bench();
        }
        System.exit(0);
    }

    static String version(HikariDataSource ds) throws Exception {
        return lm.db.Sql.text(ds, "SHOW server_version");
    }

    static void setUp(HikariDataSource ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO lm.products (name) VALUES ('bench')");
            s.execute("INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES ('bench', 'bench', 600, 'flexlm')");
            s.execute("INSERT INTO lm.license_servers (config_id, host, port) SELECT id, 'benchhost', 27000 FROM lm.configurations");
            // a pool so large that nothing is refused: the figure is the cost of a decision under the lock
            s.execute("INSERT INTO lm.features (name, product_id, config_id, total, reported_at)"
                    + " SELECT 'hot', p.id, c.id, 1000000000, now() FROM lm.products p, lm.configurations c");
        }
    }

    record HttpResult(double jobsPerSecond, double p50, double p99, long refused, long errors) {}

    static HttpResult runHttp(int port, String token, int seconds, boolean release) throws Exception {
        return runHttp(port, token, seconds, release, "bench.hot");
    }

    /** Clients living jobs of one license each of {@code productFeature}. */
    static HttpResult runHttp(int port, String token, int seconds, boolean release, String productFeature) throws Exception {
        AtomicBoolean measuring = new AtomicBoolean(false);
        AtomicBoolean stop = new AtomicBoolean(false);
        AtomicLong admitted = new AtomicLong();
        AtomicLong refused = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        List<long[]> latencies = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(CLIENTS);
        List<Thread> threads = new ArrayList<>();
        AtomicLong ids = new AtomicLong(System.nanoTime() % 1_000_000_000L * 1000);
        for (int i = 0; i < CLIENTS; i++) {
            long[] lat = new long[2_000_000 / CLIENTS + 100_000];
            latencies.add(lat);
            int slot = i;
            Thread t = new Thread(() -> {
                int n = 0;
                try (LoadClient c = new LoadClient("127.0.0.1", port)) {
                    while (!stop.get()) {
                        long id = ids.incrementAndGet();
                        String body = "{\"slurm_job_id\":\"" + id + "\",\"username\":\"u" + slot + "\",\"lead_host\":\"n" + slot
                                + "\",\"bookings\":[{\"product_feature\":\"" + productFeature + "\",\"quantity\":1}]}";
                        long t0 = System.nanoTime();
                        int s = c.send("POST", "/lm/jobs", token, body);
                        long dt = System.nanoTime() - t0;
                        // a refused job has nothing to release (the epilog's 404 is no error)
                        int d = release && s != 409 ? c.send("DELETE", "/lm/jobs/slurm_job_id/" + id, token, null) : 200;
                        if (measuring.get()) {
                            if (s == 201) {
                                admitted.incrementAndGet();
                                if (n < lat.length) {
                                    lat[n++] = dt;
                                }
                            } else if (s == 409) {
                                refused.incrementAndGet();
                            } else {
                                errors.incrementAndGet();
                            }
                            if (d != 200) {
                                errors.incrementAndGet();
                            }
                        }
                    }
                } catch (IOException e) {
                    errors.incrementAndGet();
                } finally {
                    lat[lat.length - 1] = n; // count stored in the last slot
                    done.countDown();
                }
            });
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        Thread.sleep(500); // connections up
        measuring.set(true);
        long t0 = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        measuring.set(false);
        double elapsed = (System.nanoTime() - t0) / 1e9;
        stop.set(true);
        done.await();
        long total = 0;
        for (long[] l : latencies) {
            total += l[l.length - 1];
        }
        long[] all = new long[(int) total];
        int k = 0;
        for (long[] l : latencies) {
            int n = (int) l[l.length - 1];
            System.arraycopy(l, 0, all, k, n);
            k += n;
        }
        Arrays.sort(all);
        double p50 = all.length == 0 ? Double.NaN : all[(int) (all.length * 0.50)] / 1e6;
        double p99 = all.length == 0 ? Double.NaN : all[Math.min(all.length - 1, (int) (all.length * 0.99))] / 1e6;
        return new HttpResult(admitted.get() / elapsed, p50, p99, refused.get(), errors.get());
    }

    /** pgbench on the same functions: book_job (then release_job), each its own transaction. */
    static double pgbench(String jdbcUrl, int seconds, boolean release) throws Exception {
        Path script = Files.createTempFile("lm-bench", ".sql");
        Files.writeString(script, String.join("\n",
                "\\set id random(1, 1000000000000)",
                "SELECT created FROM lm.book_job('bench', :id::text, 'u', 'n', '[{\"product_feature\":\"bench.hot\",\"quantity\":1}]');",
                release ? "SELECT lm.release_job('bench', :id::text);" : "", ""));
        String hostPort = jdbcUrl.replaceFirst("jdbc:postgresql://", "");
        String host = hostPort.substring(0, hostPort.indexOf(':'));
        String port = hostPort.substring(hostPort.indexOf(':') + 1, hostPort.indexOf('/'));
        String db = hostPort.substring(hostPort.indexOf('/') + 1);
        ProcessBuilder pb = new ProcessBuilder(pgbenchBinary(), "-n", "-M", "prepared", "-c", Integer.toString(CLIENTS), "-j", "2",
                "-T", Integer.toString(seconds), "-f", script.toString(), "-h", host, "-p", port, "-U", TestDatabase.user(), db);
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor();
        for (String line : out.split("\n")) {
            if (line.startsWith("tps = ")) {
                return Double.parseDouble(line.substring(6).split(" ")[0]);
            }
        }
        throw new IllegalStateException("pgbench said:\n" + out);
    }

    static String pgbenchBinary() {
        for (String p : List.of("/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench")) {
            if (Files.isExecutable(Path.of(p))) {
                return p;
            }
        }
        return "pgbench";
    }

    /** The 1-minute load average, printed with each figure: the bench machine is often shared. */
    static String load() {
        try {
            return "load " + Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException e) {
            return "load unknown";
        }
    }

    static double median(double[] a) {
        double[] c = a.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }
}
