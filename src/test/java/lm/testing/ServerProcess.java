package lm.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;

/**
 * The real bin/lm-server as a process of its own, as systemd runs it: a config file, no LM_*
 * variable from the build, LM_CLASSPATH pointing bin/lm-java at the classes Maven compiled (so
 * the process is the JVM itself, and a signal reaches it). Its embedded PostgreSQL, if any, is
 * found through state_dir/pg/postmaster.pid; {@link #close} kills whatever is left.
 */
public final class ServerProcess implements AutoCloseable {
    private static final Path PROJECT = Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir"))).toAbsolutePath();
    // surefire runs the tests from a manifest-only jar; this property has the real class path
    private static final String CLASSPATH = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    private static final Pattern LISTENING = Pattern.compile("lm-server listening on http://[^:]+:(\\d+)/lm");
    private static final AtomicInteger SEQ = new AtomicInteger();

    public final Path stateDir;
    private final Process process;
    // a file, not a pipe: the JDK closes a child's pipe when it exits, racing a reader for the last lines
    private final Path stderr;
    private volatile int port = -1;

    private ServerProcess(Path stateDir, Process process, Path stderr) {
        this.stateDir = stateDir;
        this.process = process;
        this.stderr = stderr;
    }

    /**
     * Starts lm-server with {@code settings} (lm.conf keys; state_dir defaults to dir/state,
     * http_port to 0) and waits until it listens.
     */
    public static ServerProcess start(Path dir, Map<String, String> settings) throws IOException, InterruptedException {
        ServerProcess p = launch(dir, settings);
        for (long waited = 0; p.port() < 0; waited += 50) {
            if (!p.process.isAlive() || waited > 120_000) {
                p.process.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("lm-server did not start (exit " + (p.process.isAlive() ? "-" : p.process.exitValue()) + "):\n"
                        + p.stderrText() + "\npostgresql.log:\n" + p.postgresLog() + "\nprocesses:\n" + new String(new ProcessBuilder("ps", "-eo", "pid,ppid,stat,args")
                                .redirectErrorStream(true).start().getInputStream().readAllBytes()).lines()
                                .filter(l -> l.contains("postgres") || l.contains("lm.server")).collect(java.util.stream.Collectors.joining("\n")));
            }
            Thread.sleep(50);
        }
        return p;
    }

    /** Starts lm-server with {@code settings} and returns at once, listening or not. */
    public static ServerProcess launch(Path dir, Map<String, String> settings) throws IOException {
        StringBuilder conf = new StringBuilder();
        if (!settings.containsKey("state_dir")) {
            conf.append("state_dir = ").append(dir.resolve("state")).append('\n');
        }
        if (!settings.containsKey("http_port")) {
            conf.append("http_port = 0\n");
        }
        settings.forEach((k, v) -> conf.append(k).append(" = ").append(v).append('\n'));
        int n = SEQ.incrementAndGet();
        Path file = dir.resolve("lm-" + n + ".conf");
        Path err = dir.resolve("lm-" + n + ".err");
        Files.writeString(file, conf);
        Path state = Path.of(settings.getOrDefault("state_dir", dir.resolve("state").toString()));
        ProcessBuilder pb = new ProcessBuilder(PROJECT.resolve("bin/lm-server").toString(), "--config", file.toString());
        pb.environment().clear();
        pb.environment().put("PATH", System.getenv("PATH"));
        if (System.getenv("JAVA_HOME") != null) {
            pb.environment().put("JAVA_HOME", System.getenv("JAVA_HOME"));
        }
        pb.environment().put("LM_CLASSPATH", CLASSPATH);
        // two shared cores: a small heap and the serial collector leave the CPU to the server's work
        pb.environment().put("LM_JAVA_OPTS", "-Xmx256m -XX:+UseSerialGC");
        pb.directory(dir.toFile());
        pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.redirectError(err.toFile());
        return new ServerProcess(state, pb.start(), err);
    }

    /** The port it listens on, from its log; -1 until it says. */
    public int port() {
        if (port < 0) {
            for (String line : stderr()) {
                Matcher m = LISTENING.matcher(line);
                if (m.find()) {
                    port = Integer.parseInt(m.group(1));
                }
            }
        }
        return port;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public List<String> stderr() {
        try {
            return Files.exists(stderr) ? Files.readAllLines(stderr, StandardCharsets.UTF_8) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String stderrText() {
        return String.join("\n", stderr());
    }

    /** Sends SIGTERM, as systemctl stop does. */
    public void terminate() {
        process.destroy();
    }

    /** Waits for the exit and returns its status; fails the test past {@code limit}. */
    public int waitFor(Duration limit) throws InterruptedException {
        if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("lm-server still running after " + limit + ":\n" + stderrText());
        }
        return process.exitValue();
    }

    /** A token signed with this server's local key (state_dir/jwks.json). */
    public String token(String clientId, String... permissions) {
        Authenticator auth = new Authenticator(new AuthSettings(stateDir.resolve("jwks.json"), "lm-local", null, "permissions"));
        return auth.mint(clientId, List.of(permissions), Duration.ofHours(1));
    }

    /** The embedded PostgreSQL's postmaster pid, or -1 when none runs. */
    public long postmasterPid() throws IOException {
        List<String> lines = postmasterFile();
        return lines.isEmpty() ? -1 : Long.parseLong(lines.get(0).strip());
    }

    /** JDBC URL of the embedded PostgreSQL (user postgres, password {@link #embeddedPassword()}). */
    public String embeddedJdbcUrl() throws IOException {
        List<String> lines = postmasterFile();
        if (lines.size() < 4) {
            throw new AssertionError("no embedded PostgreSQL running in " + stateDir);
        }
        return lm.db.EmbeddedAccess.read(stateDir.resolve("pg")).jdbcUrl(Integer.parseInt(lines.get(3).strip()));
    }

    /** The embedded PostgreSQL's superuser password (state_dir/pgpass). */
    public String embeddedPassword() throws IOException {
        return lm.db.EmbeddedAccess.read(stateDir.resolve("pg")).password();
    }

    private List<String> postmasterFile() throws IOException {
        Path pid = stateDir.resolve("pg/postmaster.pid");
        return Files.exists(pid) ? Files.readAllLines(pid) : List.of();
    }

    private String postgresLog() throws IOException {
        Path log = stateDir.resolve("postgresql.log");
        if (!Files.exists(log)) {
            return "(none)";
        }
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    }

    /** kill -9 of the listed processes in one command, as near to the same instant as it gets. */
    public static void kill9(List<Long> pids) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("kill", "-9"));
        pids.forEach(p -> cmd.add(Long.toString(p)));
        Process k = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        k.waitFor(10, TimeUnit.SECONDS);
    }

    /**
     * The postmaster and every process under it (its backends, checkpointer, WAL writer …), with
     * the postmaster stopped (SIGSTOP) first: a backend it forked between the listing and the kill
     * would outlive it, hold its shared memory, and the next postmaster would refuse to start
     * ("pre-existing shared memory block is still in use") — seen on a busy machine.
     */
    public List<Long> postgresPids() throws IOException, InterruptedException {
        long pm = postmasterPid();
        List<Long> pids = new ArrayList<>();
        // a stale postmaster.pid may name a pid that some other program (or a thread of this
        // JVM) has by now: only a postgres is stopped and listed
        Optional<ProcessHandle> postmaster = ProcessHandle.of(pm).filter(h -> h.info().command().map(c -> c.endsWith("/postgres")).orElse(false));
        if (postmaster.isPresent()) {
            new ProcessBuilder("kill", "-STOP", Long.toString(pm)).redirectErrorStream(true).start().waitFor(10, TimeUnit.SECONDS);
            pids.add(pm);
            postmaster.get().descendants().forEach(d -> pids.add(d.pid()));
        }
        return pids;
    }

    /** Stops whatever still runs: the server (SIGTERM, then SIGKILL) and its embedded PostgreSQL. */
    @Override
    public void close() throws IOException, InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
        List<Long> left = postgresPids();
        if (!left.isEmpty()) {
            kill9(left);
        }
    }
}
