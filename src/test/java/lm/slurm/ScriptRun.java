package lm.slurm;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs bin/lm-prolog or bin/lm-epilog the way slurmctld does: no arguments,
 * stdout and stderr discarded (kept in a file here, for failures), and an
 * environment of SLURM_* variables only, no PATH, HOME or SLURM_CONF.  The
 * variable set is the one observed for a PrologSlurmctld of Slurm 22.05.
 */
public final class ScriptRun {

    static final Path PROJECT = Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir")))
            .toAbsolutePath();
    static final Path PROLOG = PROJECT.resolve("bin/lm-prolog");
    static final Path EPILOG = PROJECT.resolve("bin/lm-epilog");

    record Result(int exit, Duration took, List<String> log, String stderr) {
        /** The last log line, the outcome of the run. */
        String last() {
            return log.isEmpty() ? "" : log.get(log.size() - 1);
        }
    }

    private final Path dir;
    final Path conf;
    final Path budget;
    final Path offlineDir;
    final Path token;
    final Path logFile;
    private final Map<String, String> env = new LinkedHashMap<>();

    /** A work directory with a config (api_url, token, log_file, fast retries) and a valid token. */
    ScriptRun(Path dir, String apiUrl, String... extraConf) throws IOException {
        this.dir = dir;
        this.conf = dir.resolve("prolog.conf");
        this.token = dir.resolve("agent.token");
        this.logFile = dir.resolve("lm.log");
        this.budget = dir.resolve("budget.json");
        this.offlineDir = dir.resolve("offline");
        StringBuilder c = new StringBuilder()
                .append("# test config\n")
                .append("api_url = ").append(apiUrl).append('\n')
                .append("token_file = ").append(token).append('\n')
                .append("log_file = ").append(logFile).append('\n')
                .append("retry_delay = 0\n")
                .append("timeout = 5\n")
                // never pick up a cluster's /etc/slurm/slurm.conf: the sh fallback is under test
                .append("slurm_conf = ").append(dir.resolve("no-slurm.conf")).append('\n')
                // offline operation (the default on_error): nothing to book against unless a test
                // writes a budget and makes the directory (LmOfflineTest)
                .append("budget_file = ").append(dir.resolve("budget.json")).append('\n')
                .append("offline_dir = ").append(dir.resolve("offline")).append('\n');
        for (String line : extraConf) {
            c.append(line).append('\n');
        }
        Files.writeString(conf, c.toString());
        Files.writeString(token, jwt(Instant.now().plusSeconds(3600).getEpochSecond(), "") + "\n");
        env.putAll(slurmEnv("42", "abaqus.abaqus@flexlm:3"));
        env.put("LM_PROLOG_CONF", conf.toString());
    }

    /** The environment of a PrologSlurmctld for a batch job (observed, Slurm 22.05). */
    public static Map<String, String> slurmEnv(String jobId, String licenses) {
        Map<String, String> e = new LinkedHashMap<>();
        e.put("SLURM_CLUSTER_NAME", "lmtest");
        e.put("SLURM_JOBID", jobId);
        e.put("SLURM_JOB_ACCOUNT", "(null)");
        e.put("SLURM_JOB_CPUS_PER_NODE", "1");
        e.put("SLURM_JOB_GID", "1000");
        e.put("SLURM_JOB_GROUP", "alice");
        e.put("SLURM_JOB_ID", jobId);
        if (licenses != null) {
            e.put("SLURM_JOB_LICENSES", licenses);
        }
        e.put("SLURM_JOB_NAME", "wrap");
        e.put("SLURM_JOB_NODELIST", "vm");
        e.put("SLURM_JOB_NUM_NODES", "1");
        e.put("SLURM_JOB_PARTITION", "debug");
        e.put("SLURM_JOB_RESTART_COUNT", "0");
        e.put("SLURM_JOB_STDIN", "/dev/null");
        e.put("SLURM_JOB_STDOUT", "/tmp/job-%j.out");
        e.put("SLURM_JOB_UID", "1000");
        e.put("SLURM_JOB_USER", "alice");
        e.put("SLURM_JOB_WORK_DIR", "/tmp");
        e.put("SLURM_SCRIPT_CONTEXT", "prolog_slurmctld");
        return e;
    }

    ScriptRun env(String name, String value) {
        if (value == null) {
            env.remove(name);
        } else {
            env.put(name, value);
        }
        return this;
    }

    /** Adds (or, as the parser takes the last one, overrides) a config line. */
    ScriptRun conf(String line) throws IOException {
        Files.writeString(conf, Files.readString(conf) + line + "\n");
        return this;
    }

    Result prolog() throws IOException, InterruptedException {
        return run(PROLOG);
    }

    Result epilog() throws IOException, InterruptedException {
        env.put("SLURM_SCRIPT_CONTEXT", "epilog_slurmctld");
        env.put("SLURM_JOB_EXIT_CODE", "0");
        env.put("SLURM_JOB_EXIT_CODE2", "0:0");
        env.put("SLURM_JOB_DERIVED_EC", "0");
        return run(EPILOG);
    }

    Process startProlog() throws IOException {
        return builder(PROLOG).start();
    }

    Result run(Path script) throws IOException, InterruptedException {
        Instant t0 = Instant.now();
        Process p = builder(script).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(script + " did not finish within 120 s");
        }
        return result(p, t0);
    }

    Result result(Process p, Instant t0) throws IOException {
        Duration took = Duration.between(t0, Instant.now());
        Path err = dir.resolve("stderr");
        return new Result(p.exitValue(), took, log(), Files.exists(err) ? Files.readString(err) : "");
    }

    List<String> log() throws IOException {
        return Files.exists(logFile) ? Files.readAllLines(logFile) : List.of();
    }

    private ProcessBuilder builder(Path script) {
        ProcessBuilder pb = new ProcessBuilder(script.toString());
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.directory(dir.toFile());
        pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.redirectError(dir.resolve("stderr").toFile());
        return pb;
    }

    /** An (unsigned, for these scripts only) JWT with exp and an optional extra claim. */
    static String jwt(long exp, String extraClaims) {
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String header = b64.encodeToString("{\"alg\":\"RS256\",\"typ\":\"JWT\"}".getBytes(StandardCharsets.UTF_8));
        String payload = "{\"sub\":\"lm-agent\",\"azp\":\"lmtest\"" + extraClaims + ",\"exp\":" + exp + "}";
        return header + "." + b64.encodeToString(payload.getBytes(StandardCharsets.UTF_8)) + ".c2lnbmF0dXJl";
    }

    /** A port that nothing listens on (bound and released). */
    static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
