package lm.slurm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A real single-node Slurm for tests, run by src/test/slurm/local-slurm.sh.
 *
 * <p>{@link #start(Config)} starts it once per test JVM (installing slurm-wlm and
 * munge with apt-get on a fresh machine) and stops it from a shutdown hook or
 * {@link #close()}.  Later calls with the same {@link Config} return the running
 * instance at once; a different config (prolog, epilog, licenses, cluster) is
 * applied by running the script again, which rewrites slurm.conf and runs
 * {@code scontrol reconfigure}.  Needs root.
 *
 * <p>System properties: {@code lm.slurm.dir} (default target/local-slurm of the
 * project), {@code lm.slurm.keep=true} to leave the cluster running after the JVM
 * (the next JVM reuses it).  Ports are 6817/6818 unless those are taken by
 * someone else's Slurm, then the first free pair from 6917/6918 upwards.
 */
public final class LocalSlurm implements AutoCloseable {

    /** What slurm.conf is made of; null prolog/epilog: none. */
    public record Config(String licenses, Path prolog, Path epilog, String cluster) {
        public static final String DEFAULT_LICENSES = "abaqus.abaqus@flexlm:100,ansys.ansys@flexlm:50";

        public static Config defaults() {
            return new Config(DEFAULT_LICENSES, null, null, "lmcluster");
        }

        public Config withLicenses(String l) {
            return new Config(l, prolog, epilog, cluster);
        }

        public Config withProlog(Path p) {
            return new Config(licenses, p, epilog, cluster);
        }

        public Config withEpilog(Path e) {
            return new Config(licenses, prolog, e, cluster);
        }

        public Config withCluster(String c) {
            return new Config(licenses, prolog, epilog, c);
        }
    }

    private static final Path PROJECT =
            Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir"))).toAbsolutePath();
    private static final Path SCRIPT = PROJECT.resolve("src/test/slurm/local-slurm.sh");
    private static final Duration COMMAND_LIMIT = Duration.ofSeconds(60);

    private static LocalSlurm running;
    private static Thread hook;

    private final Path dir;
    private final Path conf;
    private final Path jobDir;
    private final int ctldPort;
    private final int slurmdPort;
    private Config config;

    private LocalSlurm(Path dir, int ctldPort, int slurmdPort) {
        this.dir = dir;
        this.conf = dir.resolve("slurm.conf");
        this.jobDir = dir.resolve("jobs");
        this.ctldPort = ctldPort;
        this.slurmdPort = slurmdPort;
    }

    public static LocalSlurm start() {
        return start(Config.defaults());
    }

    /** Starts (or reuses, or reconfigures) this JVM's cluster. */
    public static synchronized LocalSlurm start(Config config) {
        Objects.requireNonNull(config);
        if (running != null && config.equals(running.config)) {
            return running;
        }
        if (running == null) {
            Path dir = Path.of(System.getProperty("lm.slurm.dir", PROJECT.resolve("target/local-slurm").toString()))
                    .toAbsolutePath();
            int[] ports = ports(dir);
            running = new LocalSlurm(dir, ports[0], ports[1]);
            if (!Boolean.getBoolean("lm.slurm.keep")) {
                hook = new Thread(() -> {
                    synchronized (LocalSlurm.class) {
                        if (running != null) {
                            running.stopQuietly();
                        }
                    }
                }, "local-slurm-stop");
                Runtime.getRuntime().addShutdownHook(hook);
            }
        }
        running.script("start", config);
        running.config = config;
        return running;
    }

    /** The ports of DIR's running cluster, else 6817/6818 if free, else the next free pair. */
    private static int[] ports(Path dir) {
        try {
            String status = runScript("status", dir, Map.of()).stdout();
            if (status.contains("ctld=") && !status.contains("ctld=-")) {
                int c = Integer.parseInt(field(status, "ctld_port"));
                int d = Integer.parseInt(field(status, "slurmd_port"));
                return new int[] {c, d};
            }
        } catch (RuntimeException notRunning) {
            // fall through
        }
        for (int c = 6817; c < 7817; c += 100) {
            if (free(c) && free(c + 1)) {
                return new int[] {c, c + 1};
            }
        }
        throw new IllegalStateException("no free port pair for slurmctld/slurmd in 6817..7817");
    }

    private static String field(String line, String key) {
        for (String kv : line.trim().split("\\s+")) {
            if (kv.startsWith(key + "=")) {
                return kv.substring(key.length() + 1);
            }
        }
        throw new IllegalStateException(key + " not in " + line);
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket(port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** {@code SLURM_CONF} for Slurm commands run by tests. */
    public Map<String, String> env() {
        return Map.of("SLURM_CONF", conf.toString());
    }

    public Path dir() {
        return dir;
    }

    public Path slurmConf() {
        return conf;
    }

    /** Submits a batch job from DIR/jobs (jobs run in their submit directory); returns its id. */
    public String sbatch(String... args) {
        List<String> cmd = new ArrayList<>(List.of("sbatch", "--parsable"));
        cmd.addAll(Arrays.asList(args));
        String out = run(cmd).trim();
        String id = out.split(";", 2)[0];
        if (!id.matches("\\d+")) {
            throw new IllegalStateException("sbatch printed " + out);
        }
        return id;
    }

    /** {@code scontrol -o show job ID} as key → value. */
    public Map<String, String> showJob(String id) {
        return parseKeyValues(run(List.of("scontrol", "-o", "show", "job", id)).trim());
    }

    /** {@code scontrol -o show lic}: name → {Total, Used, Reserved}. */
    public Map<String, long[]> licenses() {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (String line : run(List.of("scontrol", "-o", "show", "lic")).split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, String> kv = parseKeyValues(line.trim());
            out.put(kv.get("LicenseName"), new long[] {
                Long.parseLong(kv.get("Total")), Long.parseLong(kv.get("Used")), Long.parseLong(kv.get("Reserved"))});
        }
        return out;
    }

    /** Waits until the job is in STATE (e.g. RUNNING, COMPLETED); returns its last {@link #showJob}. */
    public Map<String, String> waitForState(String id, String state, Duration limit) {
        return waitForJob(id, j -> state.equals(j.get("JobState")), limit, "JobState=" + state);
    }

    public Map<String, String> waitForJob(String id, Predicate<Map<String, String>> done, Duration limit,
            String what) {
        Instant end = Instant.now().plus(limit);
        Map<String, String> job = Map.of();
        while (true) {
            job = showJob(id);
            if (done.test(job)) {
                return job;
            }
            if (Instant.now().isAfter(end)) {
                throw new AssertionError("job " + id + " not " + what + " within " + limit + ": JobState="
                        + job.get("JobState") + " Reason=" + job.get("Reason") + " Restarts=" + job.get("Restarts"));
            }
            sleep(100);
        }
    }

    public void scancel(String id) {
        run(List.of("scancel", id));
    }

    /** Runs a Slurm command with {@link #env()} from DIR/jobs; returns stdout, fails on a non-zero exit. */
    public String run(List<String> cmd) {
        try {
            Files.createDirectories(jobDir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Out o = exec(cmd, jobDir, env());
        if (o.exit() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " exited " + o.exit() + ": " + o.stderr());
        }
        return o.stdout();
    }

    /** Stops the cluster (cancelling its jobs). */
    @Override
    public void close() {
        synchronized (LocalSlurm.class) {
            stopQuietly();
            if (hook != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // already running it
                }
                hook = null;
            }
        }
    }

    private void stopQuietly() {
        if (running != this) {
            return;
        }
        running = null;
        try {
            runScript("stop", dir, Map.of());
        } catch (RuntimeException e) {
            System.err.println("[LocalSlurm] stop failed: " + e.getMessage());
        }
    }

    private void script(String cmd, Config c) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("LM_SLURM_LICENSES", c.licenses() == null ? "" : c.licenses());
        env.put("LM_SLURM_PROLOG", c.prolog() == null ? "" : c.prolog().toAbsolutePath().toString());
        env.put("LM_SLURM_EPILOG", c.epilog() == null ? "" : c.epilog().toAbsolutePath().toString());
        env.put("LM_SLURM_CLUSTER", c.cluster());
        env.put("LM_SLURM_CTLD_PORT", String.valueOf(ctldPort));
        env.put("LM_SLURM_SLURMD_PORT", String.valueOf(slurmdPort));
        Instant t0 = Instant.now();
        runScript(cmd, dir, env);
        System.err.println("[LocalSlurm] " + cmd + " " + dir + " (ports " + ctldPort + "/" + slurmdPort + ") took "
                + Duration.between(t0, Instant.now()).toMillis() + " ms");
    }

    private static Out runScript(String cmd, Path dir, Map<String, String> env) {
        Out o = exec(List.of("bash", SCRIPT.toString(), cmd, dir.toString()), PROJECT, env);
        if (o.exit() != 0 && !cmd.equals("status")) {
            throw new IllegalStateException("local-slurm.sh " + cmd + " failed (exit " + o.exit() + "):\n" + o.stderr());
        }
        return o;
    }

    private record Out(int exit, String stdout, String stderr) {}

    private static Out exec(List<String> cmd, Path cwd, Map<String, String> env) {
        try {
            Path err = Files.createTempFile("local-slurm", ".err");
            try {
                ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
                pb.environment().putAll(env);
                pb.redirectError(err.toFile());
                pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
                Process p = pb.start();
                byte[] out = p.getInputStream().readAllBytes();
                if (!p.waitFor(COMMAND_LIMIT.toSeconds() + 120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(cmd + " did not finish");
                }
                return new Out(p.exitValue(), new String(out, StandardCharsets.UTF_8), Files.readString(err));
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** "K=V K=V ..." of scontrol -o; a token without '=' belongs to the previous value. */
    static Map<String, String> parseKeyValues(String line) {
        Map<String, String> out = new LinkedHashMap<>();
        String last = null;
        for (String tok : line.split(" ")) {
            int eq = tok.indexOf('=');
            if (eq > 0 && tok.substring(0, eq).matches("[A-Za-z][A-Za-z0-9_:/]*")) {
                last = tok.substring(0, eq);
                out.put(last, tok.substring(eq + 1));
            } else if (last != null) {
                out.put(last, out.get(last) + " " + tok);
            }
        }
        return out;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
