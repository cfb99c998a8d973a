package lm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A PostgreSQL 15 primary and a streaming standby from the distribution's binaries
 * (/usr/lib/postgresql/15/bin), run as user postgres (PostgreSQL refuses root), on two ports of
 * 127.0.0.1, durable as a site runs them (fsync, synchronous_commit on). Connections need no
 * password (trust on 127.0.0.1: a test's database).
 */
public final class Replication implements AutoCloseable {
    public static final Path BIN = Path.of("/usr/lib/postgresql/15/bin");

    public final Path dir;
    public final int primaryPort;
    public final int standbyPort;

    private Replication(Path dir, int primaryPort, int standbyPort) {
        this.dir = dir;
        this.primaryPort = primaryPort;
        this.standbyPort = standbyPort;
    }

    public static boolean available() {
        return Files.isExecutable(BIN.resolve("postgres"));
    }

    /** Starts the primary, copies it to a standby (pg_basebackup -R) and starts that. */
    public static Replication start() throws IOException, InterruptedException {
        // the test's own @TempDir is root's 0700: postgres could not reach its directories
        Path dir = Files.createTempDirectory("lm-replication");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        run("chown", "postgres", dir.toString());
        Replication r = new Replication(dir, freePort(), freePort());
        asPostgres(BIN + "/initdb", "--no-sync", "-A", "trust", "-U", "postgres", "-D", r.primary().toString());
        Files.writeString(r.primary().resolve("postgresql.conf"), String.join("\n",
                "listen_addresses = '127.0.0.1'", "unix_socket_directories = '" + dir + "'",
                "wal_level = replica", "max_wal_senders = 10", "hot_standby = on",
                "fsync = on", "synchronous_commit = on", "max_connections = 100", ""),
                java.nio.file.StandardOpenOption.APPEND);
        r.startServer(r.primary(), r.primaryPort);
        asPostgres(BIN + "/pg_basebackup", "-h", "127.0.0.1", "-p", Integer.toString(r.primaryPort), "-U", "postgres",
                "-D", r.standby().toString(), "-R", "-X", "stream", "--no-sync");
        r.startServer(r.standby(), r.standbyPort);
        return r;
    }

    public Path primary() {
        return dir.resolve("primary");
    }

    public Path standby() {
        return dir.resolve("standby");
    }

    /** jdbc:postgresql://127.0.0.1:PRIMARY,127.0.0.1:STANDBY/postgres, no targetServerType. */
    public String multiHostUrl() {
        return "jdbc:postgresql://127.0.0.1:" + primaryPort + ",127.0.0.1:" + standbyPort + "/postgres";
    }

    public static String url(int port) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/postgres";
    }

    private void startServer(Path data, int port) throws IOException, InterruptedException {
        asPostgres(BIN + "/pg_ctl", "-w", "-t", "120", "-D", data.toString(), "-o", "-p " + port,
                "-l", dir.resolve(data.getFileName() + ".log").toString(), "start");
    }

    /**
     * Waits until the standby streams, then makes it synchronous: a commit returns once the
     * standby has the WAL. Set only now: set before the copy, the promoted standby would inherit
     * it and wait for a standby of its own.
     */
    public void synchronous() throws Exception {
        try (Connection c = DriverManager.getConnection(url(primaryPort), "postgres", ""); Statement st = c.createStatement()) {
            await(st, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'");
            st.execute("ALTER SYSTEM SET synchronous_standby_names = '*'");
            st.execute("SELECT pg_reload_conf()");
            await(st, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'");
        }
    }

    private static void await(Statement st, String count) throws Exception {
        for (int i = 0; i < 600; i++) {
            try (ResultSet rs = st.executeQuery(count)) {
                rs.next();
                if (rs.getInt(1) > 0) {
                    return;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("replication: never true: " + count);
    }

    /** kill -9 of the primary's postmaster and all its processes (stopped first, as ServerProcess does). */
    public void killPrimary() throws IOException, InterruptedException {
        long pm = Long.parseLong(Files.readAllLines(primary().resolve("postmaster.pid")).get(0).strip());
        run("kill", "-STOP", Long.toString(pm));
        List<Long> pids = new ArrayList<>(List.of(pm));
        ProcessHandle.of(pm).ifPresent(h -> h.descendants().forEach(d -> pids.add(d.pid())));
        ServerProcess.kill9(pids);
    }

    /** pg_ctl promote -w: the standby is a primary when this returns. */
    public void promote() throws IOException, InterruptedException {
        asPostgres(BIN + "/pg_ctl", "-w", "-t", "60", "-D", standby().toString(), "promote");
    }

    @Override
    public void close() throws IOException, InterruptedException {
        for (Path data : List.of(primary(), standby())) {
            if (Files.exists(data.resolve("postmaster.pid"))) {
                new ProcessBuilder("runuser", "-u", "postgres", "--", BIN + "/pg_ctl", "-D", data.toString(), "-m", "immediate", "stop")
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(30, TimeUnit.SECONDS);
            }
        }
        try (Stream<Path> all = Files.walk(dir)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static void asPostgres(String... cmd) throws IOException, InterruptedException {
        List<String> all = new ArrayList<>(List.of("runuser", "-u", "postgres", "--"));
        all.addAll(List.of(cmd));
        run(all.toArray(new String[0]));
    }

    private static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(180, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed:\n" + out);
        }
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Whether the database on {@code port} is a standby (in recovery). */
    public static boolean inRecovery(int port) throws SQLException {
        try (Connection c = DriverManager.getConnection(url(port), "postgres", ""); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }
}
