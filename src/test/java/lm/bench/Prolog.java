package lm.bench;

import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import lm.auth.Authenticator;
import lm.http.ApiServer;
import lm.server.LmServer;

/**
 * Prolog latency (issue 5): the real bin/lm-prolog and bin/lm-epilog, run one after the other
 * the way slurmctld runs them (no arguments, an environment of SLURM_* variables only, output
 * discarded), against lm-server on the bench database. What a job's start waits for.
 */
final class Prolog {
    static final int RUNS = Integer.getInteger("lm.bench.prolog.runs", 200);
    static final int WARMUP = 10;
    private static final Path PROJECT =
            Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir"))).toAbsolutePath();

    private Prolog() {}

    static void bench(HikariDataSource ds, Authenticator auth, String url) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO lm.products (name) VALUES ('benchp')");
            s.execute("INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type)"
                    + " VALUES ('benchprolog', 'benchprolog', 600, 'flexlm')");
            s.execute("INSERT INTO lm.license_servers (config_id, host, port)"
                    + " SELECT id, 'benchplic', 27000 FROM lm.configurations WHERE name = 'benchprolog'");
            s.execute("INSERT INTO lm.features (name, product_id, config_id, total, reported_at)"
                    + " SELECT 'feat', p.id, c.id, 1000000000, now() FROM lm.products p, lm.configurations c"
                    + " WHERE p.name = 'benchp' AND c.name = 'benchprolog'");
        }
        Path dir = Files.createTempDirectory("lm-bench-prolog");
        Path token = dir.resolve("prolog.token");
        Files.writeString(token, auth.mint("benchprolog",
                List.of("license-manager:job:create", "license-manager:job:delete"), Duration.ofHours(1)) + "\n");
        Path log = dir.resolve("lm.log");
        ApiServer api = LmServer.serve(ds, auth, "127.0.0.1", 0);
        try {
            Path conf = dir.resolve("prolog.conf");
            Files.writeString(conf, String.join("\n",
                    "# lm bench",
                    "api_url = http://127.0.0.1:" + api.port() + "/lm",
                    "token_file = " + token,
                    "log_file = " + log,
                    // the default; -Dlm.bench.prolog.on_error=fail-closed for a script that predates offline
                    "on_error = " + System.getProperty("lm.bench.prolog.on_error", "offline"),
                    ""));
            Path prolog = PROJECT.resolve("bin/lm-prolog");
            Path epilog = PROJECT.resolve("bin/lm-epilog");
            long base = System.currentTimeMillis() % 1_000_000 * 1000;
            long[] pro = new long[RUNS];
            long[] epi = new long[RUNS];
            for (int i = -WARMUP; i < RUNS; i++) {
                Map<String, String> env = env(String.valueOf(base + WARMUP + i), dir, conf);
                long t0 = System.nanoTime();
                int exit = run(prolog, env, dir);
                long t1 = System.nanoTime();
                if (exit != 0) {
                    throw new IllegalStateException("lm-prolog exited " + exit + " for job " + env.get("SLURM_JOB_ID")
                            + "; log:\n" + tail(log));
                }
                int e = run(epilog, env, dir);
                long t2 = System.nanoTime();
                if (e != 0) {
                    throw new IllegalStateException("lm-epilog exited " + e + "; log:\n" + tail(log));
                }
                if (i >= 0) {
                    pro[i] = t1 - t0;
                    epi[i] = t2 - t1;
                }
            }
            long booked = Files.readAllLines(log).stream().filter(l -> l.contains("outcome=booked")).count();
            long released = Files.readAllLines(log).stream().filter(l -> l.contains("outcome=released")).count();
            if (booked != RUNS + WARMUP || released != RUNS + WARMUP) {
                throw new IllegalStateException("expected " + (RUNS + WARMUP) + " bookings and releases, log has " + booked
                        + " and " + released + ":\n" + tail(log));
            }
            System.out.printf(Locale.ROOT, "lm bench: bin/lm-prolog then bin/lm-epilog, %d jobs one after the other"
                    + " (after %d warm-up), SLURM_* environment only, lm-server over HTTP%n", RUNS, WARMUP);
            System.out.printf(Locale.ROOT, "RESULT prolog: p50 %.1f ms, p99 %.1f ms (%d runs)%n", pct(pro, 0.50), pct(pro, 0.99), RUNS);
            System.out.printf(Locale.ROOT, "RESULT epilog: p50 %.1f ms, p99 %.1f ms (%d runs)%n", pct(epi, 0.50), pct(epi, 0.99), RUNS);
        } finally {
            api.close();
        }
    }

    /** What slurmctld 22.05 gives a PrologSlurmctld of a one-node batch job (observed), plus LM_PROLOG_CONF. */
    static Map<String, String> env(String jobId, Path dir, Path conf) {
        Map<String, String> e = lm.slurm.ScriptRun.slurmEnv(jobId, "benchp.feat@flexlm:1");
        e.put("SLURM_CLUSTER_NAME", "benchprolog");
        e.put("SLURM_JOB_NODELIST", "benchnode01");
        e.put("SLURM_JOB_STDOUT", dir + "/job-%j.out");
        e.put("SLURM_JOB_WORK_DIR", dir.toString());
        e.put("LM_PROLOG_CONF", conf.toString());
        return e;
    }

    private static int run(Path script, Map<String, String> env, Path dir) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(script.toString()).directory(dir.toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(script + " did not finish within 60 s");
        }
        return p.exitValue();
    }

    private static double pct(long[] nanos, double q) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        return s[Math.min(s.length - 1, (int) Math.ceil(s.length * q) - 1)] / 1e6;
    }

    private static String tail(Path log) {
        try {
            List<String> l = Files.readAllLines(log);
            return String.join("\n", l.subList(Math.max(0, l.size() - 10), l.size()));
        } catch (Exception e) {
            return "(no log: " + e + ")";
        }
    }
}
