package lm.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * The connection pool, the migrations, and (when no database_url is set) the embedded
 * PostgreSQL that `make run` and single-host sites use.
 */
public final class Database implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("lm.db");

    private final HikariDataSource pool;
    private final EmbeddedPostgres embedded;
    private final EmbeddedAccess access;

    private Database(HikariDataSource pool, EmbeddedPostgres embedded, EmbeddedAccess access) {
        this.pool = pool;
        this.embedded = embedded;
        this.access = access;
    }

    public DataSource dataSource() {
        return pool;
    }

    /** The psql command line that reaches the embedded PostgreSQL, or null with an external database. */
    public String embeddedPsql() {
        return embedded == null ? null : access.psql(embedded.getPort());
    }

    /**
     * Connects to {@code url} (or starts the embedded PostgreSQL with its data in
     * {@code embeddedDir} when url is null), applies the migrations and opens the pool.
     */
    public static Database open(String url, String user, String password, int poolSize, Path embeddedDir, Timeouts timeouts)
            throws IOException {
        EmbeddedPostgres embedded = null;
        EmbeddedAccess access = null;
        if (url == null) {
            Files.createDirectories(embeddedDir);
            removeStaleLockFile(embeddedDir);
            boolean initdb = !Files.exists(embeddedDir.resolve("postgresql.conf"));
            if (!initdb && !Files.exists(EmbeddedAccess.passFile(embeddedDir)) && !EmbeddedAccess.trusts(embeddedDir)) {
                // else Zonky would try a new password for two minutes
                throw new IOException(EmbeddedAccess.passFile(embeddedDir) + " is missing: it holds the password of the"
                        + " embedded PostgreSQL in " + embeddedDir + "; restore it from a backup of state_dir");
            }
            // Zonky wraps initdb/postgres in `unshare -U` when run as root, which PostgreSQL refuses.
            // The data directory is kept across restarts: it is the site's database.
            access = EmbeddedAccess.create(embeddedDir);
            // the programs under state_dir too, never in a shared temporary directory (EmbeddedBinaries)
            Path binaries = embeddedDir.resolveSibling("pgbin");
            EmbeddedPostgres.Builder builder = EmbeddedBinaries.builder(binaries);
            // PostgreSQL's log holds data values (a failed statement's parameters): the owner's only,
            // whatever the umask of whoever started lm-server (make run: 022)
            Path pgLog = embeddedDir.resolveSibling("postgresql.log");
            if (!Files.exists(pgLog, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.createFile(pgLog, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
            }
            Files.setPosixFilePermissions(pgLog, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            // initdb runs when Zonky finds no postgresql.conf; its own "-A trust" comes first on
            // the command line and these --auth/--pwfile options after it win
            Path initdbPassword = null;
            if (initdb) {
                initdbPassword = embeddedDir.resolveSibling(".initdb-password");
                lm.config.AtomicFile.write(initdbPassword, access.password() + "\n", "rw-------", tmp -> {});
                builder.setLocaleConfig("auth", "scram-sha-256").setLocaleConfig("pwfile", initdbPassword.toString());
            }
            try {
                embedded = builder
                    .setDataDirectory(embeddedDir)
                    .setCleanDataDirectory(false)
                    .setServerConfig("listen_addresses", "127.0.0.1")
                    // Zonky's defaults are a test database's: postgres -F (fsync off) and
                    // synchronous_commit=off. With those, kill -9 of PostgreSQL under 16 booking
                    // clients lost 1 and 6 of ~3,000 bookings already answered 201 (a power cut
                    // loses more). These -c settings come after -F on the command line and win;
                    // only tests and make bench turn them off (lm.testing.TestDatabase).
                    .setServerConfig("fsync", "on")
                    .setServerConfig("synchronous_commit", "on")
                    .setServerConfig("full_page_writes", "on")
                    // Zonky waits 10 s by default; crash recovery after a kill or power cut replays
                    // the WAL first, and on a busy 2-core host that took longer (CrashTest)
                    .setPGStartupWait(java.time.Duration.ofSeconds(120))
                    // PostgreSQL's own log (why it would not start, crash recovery, checkpoints)
                    // goes to a file beside its data, not through our quiet logger
                    .setOutputRedirector(ProcessBuilder.Redirect.appendTo(pgLog.toFile()))
                    .setErrorRedirector(ProcessBuilder.Redirect.appendTo(pgLog.toFile()))
                    .setServerConfig("unix_socket_directories", access.socketDirectories())
                    // its directory is 0700 already; the socket itself need not say 0777
                    .setServerConfig("unix_socket_permissions", "0700")
                    // Zonky's readiness check logs in too
                    .setConnectConfig("password", access.password())
                    .start();
            } finally {
                if (initdbPassword != null) {
                    Files.deleteIfExists(initdbPassword);
                }
            }
            EmbeddedBinaries.restrict(binaries);
            url = access.jdbcUrl(embedded.getPort());
            user = access.user();
            password = access.password();
            if (EmbeddedAccess.trusts(embeddedDir)) {
                requirePassword(embeddedDir, url, access);
            }
            LOG.info("embedded PostgreSQL in " + embeddedDir + " on port " + embedded.getPort() + " (" + access.psql(embedded.getPort()) + ")");
        }
        migrate(url, user, password);
        return new Database(pool(url, user, password, poolSize, timeouts), embedded, access);
    }

    /**
     * A data directory made by a version that trusted every local connection: while that trust
     * still lets us in, give the superuser the password and make pg_hba.conf ask for it.
     */
    private static void requirePassword(Path dataDir, String url, EmbeddedAccess access) throws IOException {
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(url, access.user(), access.password());
                java.sql.Statement st = c.createStatement()) {
            // the password is base64url: nothing in it needs quoting
            st.execute("ALTER ROLE " + access.user() + " PASSWORD '" + access.password() + "'");
            lm.config.AtomicFile.write(dataDir.resolve("pg_hba.conf"), String.join("\n", EmbeddedAccess.HBA) + "\n",
                    "rw-------", tmp -> {});
            st.execute("SELECT pg_reload_conf()");
            LOG.warning("embedded PostgreSQL: local connections were trusted without a password; they now need the"
                    + " one in " + EmbeddedAccess.passFile(dataDir));
        } catch (java.sql.SQLException e) {
            throw new IOException("embedded PostgreSQL: cannot require a password: " + e.getMessage(), e);
        }
    }

    /**
     * Deletes postmaster.pid left by a PostgreSQL that was killed (kill -9, power cut) when its
     * PID is not a PostgreSQL of this directory. PostgreSQL refuses to start while any process
     * or thread has that PID, and on a busy host it is soon reused (seen in CrashTest: "lock file
     * postmaster.pid already exists", the server never came back). The caller holds state_dir's
     * lock (lm.server.StateLock), so no other lm-server can be using this directory.
     */
    static void removeStaleLockFile(Path dataDir) throws IOException {
        Path pidFile = dataDir.resolve("postmaster.pid");
        if (Files.isRegularFile(pidFile) && postmasterFile(dataDir) == null) {
            LOG.warning("embedded PostgreSQL: removing the stale " + pidFile + " (its PID is no PostgreSQL of this"
                    + " directory: it was stopped by a crash)");
            Files.delete(pidFile);
        }
    }

    /** The port of the PostgreSQL running on {@code dataDir} (line 4 of its postmaster.pid), or -1. */
    public static int runningPort(Path dataDir) throws IOException {
        java.util.List<String> lines = postmasterFile(dataDir);
        try {
            return lines != null && lines.size() >= 4 ? Integer.parseInt(lines.get(3).strip()) : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * The lines of {@code dataDir}'s postmaster.pid when its PID is a postgres of this directory;
     * null when there is no such file or it names another process (a PID reused after a crash).
     */
    private static java.util.List<String> postmasterFile(Path dataDir) throws IOException {
        Path pidFile = dataDir.resolve("postmaster.pid");
        if (!Files.isRegularFile(pidFile)) {
            return null;
        }
        java.util.List<String> lines = Files.readAllLines(pidFile);
        long pid;
        try {
            pid = Long.parseLong(lines.isEmpty() ? "" : lines.get(0).strip());
        } catch (NumberFormatException e) {
            return null;
        }
        String dir = dataDir.toAbsolutePath().toString();
        boolean live = ProcessHandle.of(pid).flatMap(h -> h.info().commandLine())
                .map(c -> c.contains("postgres") && c.contains(dir)).orElse(false);
        return live ? lines : null;
    }

    /** Applies src/main/sql (shipped as classpath:db/migration) with Flyway. */
    public static void migrate(String url, String user, String password) {
        Flyway.configure()
                .dataSource(url, user, password)
                .locations("classpath:db/migration")
                .schemas("lm")
                // repeatable files (R__) are the current code and may be split or renamed: one
                // applied under an old name is superseded, not an error (versioned V files never change)
                .ignoreMigrationPatterns("*:future", "repeatable:missing")
                .load()
                .migrate();
    }

    /** A pool with the default {@link Timeouts}, for tools and tests. */
    public static HikariDataSource pool(String url, String user, String password, int size) {
        return pool(url, user, password, size, Timeouts.DEFAULTS);
    }

    public static HikariDataSource pool(String url, String user, String password, int size, Timeouts timeouts) {
        HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl(url);
        hc.setUsername(user);
        hc.setPassword(password);
        hc.setMaximumPoolSize(size);
        hc.setMinimumIdle(Math.min(2, size));
        hc.setPoolName("lm");
        // fail fast so a request gets a 503 while the database is down instead of hanging
        hc.setConnectionTimeout(5_000);
        hc.setInitializationFailTimeout(-1);
        hc.addDataSourceProperty("ApplicationName", "lm-server");
        hc.setConnectionInitSql(timeouts.initSql());
        return new HikariDataSource(hc);
    }

    /**
     * Closes the pool: connections still in use are aborted, so the requests running on them
     * fail at once (and are answered 503) instead of holding the stop up.
     */
    public void closePool() {
        pool.close();
    }

    @Override
    public void close() {
        pool.close();
        if (embedded != null) {
            try {
                embedded.close();
            } catch (IOException e) {
                LOG.warning("stopping embedded PostgreSQL: " + e.getMessage());
            }
        }
    }
}
