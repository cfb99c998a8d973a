package lm.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * The connection pool, the migrations, and (when no database_url is set) the embedded
 * PostgreSQL that `make run` and single-host sites use. The server's requests get a
 * {@link Gate} in front of the pool: until the database is ready (migrated on a primary), and
 * while the embedded PostgreSQL restarts, a request fails at once with a SQLSTATE that
 * lm.http.SqlErrors answers 503, instead of waiting for a connection that cannot come.
 */
public final class Database implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("lm.db");
    /** Between two looks for a primary, and how often the embedded postmaster is checked. */
    private static final Duration POLL = Duration.ofSeconds(1);
    /**
     * Restarts of a dead embedded PostgreSQL before lm-server gives up and exits (systemd then
     * restarts the service), with 1, 2, 4, 8 s between them: a backend that outlived a killed
     * postmaster holds its shared memory until it notices, a second or so.
     */
    static final int RESTARTS = 5;

    private final String url;
    private final String user;
    private final String password;
    private final int poolSize;
    private final Timeouts timeouts;
    private final Path embeddedDir;
    private final EmbeddedAccess access;
    private final Gate gate = new Gate();
    private volatile HikariDataSource pool;
    private volatile EmbeddedPostgres embedded;
    private volatile long postmaster = -1;
    private volatile boolean closed;
    private volatile Thread helper;

    private Database(String url, String user, String password, int poolSize, Timeouts timeouts, Path embeddedDir,
            EmbeddedAccess access, EmbeddedPostgres embedded) {
        this.url = url;
        this.user = user;
        this.password = password;
        this.poolSize = poolSize;
        this.timeouts = timeouts;
        this.embeddedDir = embeddedDir;
        this.access = access;
        this.embedded = embedded;
    }

    /** What requests use: the pool once the database is ready, else a 503 at once (see {@link Gate}). */
    public DataSource dataSource() {
        return gate;
    }

    /** The psql command line that reaches the embedded PostgreSQL, or null with an external database. */
    public String embeddedPsql() {
        return embedded == null ? null : access.psql(embedded.getPort());
    }

    /**
     * Connects to {@code url} (or starts the embedded PostgreSQL with its data in
     * {@code embeddedDir} when url is null), applies the migrations and opens the pool: for tools,
     * which fail when the database is not ready.
     */
    public static Database open(String url, String user, String password, int poolSize, Path embeddedDir, Timeouts timeouts)
            throws IOException {
        Database db = create(url, user, password, poolSize, embeddedDir, timeouts);
        try {
            migrate(db.url, db.user, db.password);
            db.openPool();
        } catch (RuntimeException e) {
            db.close();
            throw e;
        }
        return db;
    }

    /**
     * The server's database: like {@link #open}, but an external database that cannot be
     * reached, or where only a standby (read-only) answers, is waited for: the server listens
     * meanwhile (its requests and /health answer 503), and once a primary answers the
     * migrations run and {@code onReady} is called, on a thread of this database. An embedded
     * PostgreSQL that dies is restarted; when it cannot be, {@code fatal} is told why (the
     * server then exits non-zero). Any other failure (a wrong password, a failed migration)
     * throws here at start, or goes to {@code fatal} later.
     */
    public static Database start(String url, String user, String password, int poolSize, Path embeddedDir, Timeouts timeouts,
            OnReady onReady, Consumer<String> fatal) throws IOException {
        Database db = create(url, user, password, poolSize, embeddedDir, timeouts);
        try {
            if (db.embedded != null) {
                migrate(db.url, db.user, db.password);
                db.openPool();
                onReady.accept(db.gate);
                db.helper = daemon("lm-db-supervisor", () -> db.supervise(fatal));
            } else if (db.tryReady(onReady)) {
                LOG.info("database ready: " + db.url);
            } else {
                LOG.warning("database not ready: " + db.gate.reason + "; requests are answered 503 until it is");
                db.helper = daemon("lm-db-wait", () -> db.waitForPrimary(onReady, fatal));
            }
        } catch (SQLException e) {
            db.close();
            throw new IOException("database " + url + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            db.close();
            throw e;
        }
        return db;
    }

    private static Database create(String url, String user, String password, int poolSize, Path embeddedDir, Timeouts timeouts)
            throws IOException {
        if (url != null) {
            return new Database(url, user, password, poolSize, timeouts, null, null, null);
        }
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
        EmbeddedAccess access = EmbeddedAccess.create(embeddedDir);
        EmbeddedPostgres embedded = startEmbedded(embeddedDir, access, initdb, 0);
        url = access.jdbcUrl(embedded.getPort());
        Database db = new Database(url, access.user(), access.password(), poolSize, timeouts, embeddedDir, access, embedded);
        db.postmaster = postmasterPid(embeddedDir);
        if (EmbeddedAccess.trusts(embeddedDir)) {
            requirePassword(embeddedDir, url, access);
        }
        LOG.info("embedded PostgreSQL in " + embeddedDir + " on port " + embedded.getPort() + " (" + access.psql(embedded.getPort()) + ")");
        return db;
    }

    /** Starts PostgreSQL on {@code dataDir} (initdb first when {@code initdb}), on {@code port} (0: any). */
    private static EmbeddedPostgres startEmbedded(Path embeddedDir, EmbeddedAccess access, boolean initdb, int port) throws IOException {
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
        if (port > 0) {
            // a restart keeps the port: the pool's URL names it
            builder.setPort(port);
        }
        // initdb runs when Zonky finds no postgresql.conf; its own "-A trust" comes first on
        // the command line and these --auth/--pwfile options after it win
        Path initdbPassword = null;
        if (initdb) {
            initdbPassword = embeddedDir.resolveSibling(".initdb-password");
            lm.config.AtomicFile.write(initdbPassword, access.password() + "\n", "rw-------", tmp -> {});
            builder.setLocaleConfig("auth", "scram-sha-256").setLocaleConfig("pwfile", initdbPassword.toString());
        }
        try {
            EmbeddedPostgres started = builder
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
            EmbeddedBinaries.restrict(binaries);
            return started;
        } finally {
            if (initdbPassword != null) {
                Files.deleteIfExists(initdbPassword);
            }
        }
    }

    /** What the server does once the database is migrated, before any request gets the pool. */
    @FunctionalInterface
    public interface OnReady {
        void accept(DataSource ds) throws SQLException;
    }

    /** True once migrated and open to requests. */
    public boolean ready() {
        return pool != null;
    }

    /** The migrated database is ready: requests get the pool. */
    private void openPool() {
        if (pool == null) {
            pool = pool(url, user, password, poolSize, timeouts);
        }
        gate.open(pool);
    }

    /**
     * One look at an external database: a primary answers → migrate, open the pool, call
     * {@code onReady}, true. Unreachable, or only a standby answers → the gate says which, false.
     *
     * @throws SQLException when waiting would not help (e.g. a wrong password)
     */
    private boolean tryReady(OnReady onReady) throws SQLException {
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            if (readOnly(c)) {
                // a single-host URL (or targetServerType=any) on a standby
                gate.waiting(READ_ONLY, "the database is read-only (a standby): waiting for a primary to migrate it");
                return false;
            }
        } catch (SQLException e) {
            if (!worthWaiting(e)) {
                throw e;
            }
            if (standbyAnswers()) {
                gate.waiting(READ_ONLY, "only a standby (read-only) answers: waiting for a primary to migrate the database");
            } else {
                gate.waiting(UNREACHABLE, "the database cannot be reached: " + e.getMessage());
            }
            return false;
        }
        migrate(url, user, password);
        // tokens are refused until onReady has read the revoked ones (lm.auth.Revocations)
        openPool();
        onReady.accept(gate);
        return true;
    }

    /** With targetServerType=primary nobody answers while the primary is down: does a standby? */
    private boolean standbyAnswers() {
        if (JdbcUrl.param(url, JdbcUrl.TARGET) == null) {
            return false;
        }
        try (Connection c = DriverManager.getConnection(JdbcUrl.withParam(url, JdbcUrl.TARGET, "any"), user, password)) {
            return readOnly(c);
        } catch (SQLException e) {
            return false;
        }
    }

    private void waitForPrimary(OnReady onReady, Consumer<String> fatal) {
        String said = gate.reason;
        long since = System.nanoTime();
        while (!closed) {
            try {
                Thread.sleep(POLL.toMillis());
                if (tryReady(onReady)) {
                    LOG.info("database ready after " + (System.nanoTime() - since) / 1_000_000_000 + " s of waiting: migrated, "
                            + url);
                    return;
                }
                if (!gate.reason.equals(said)) {
                    said = gate.reason;
                    LOG.warning("database not ready: " + said);
                }
            } catch (InterruptedException e) {
                return;
            } catch (SQLException | RuntimeException e) {
                if (!closed) {
                    fatal.accept("database " + url + ": " + e.getMessage());
                }
                return;
            }
        }
    }

    /**
     * Watches the embedded postmaster; when it is gone (killed, crashed), requests get 503 at
     * once and PostgreSQL is started again on the same port, up to {@link #RESTARTS} times;
     * then {@code fatal}. Without this the server answered 503 for ever.
     */
    private void supervise(Consumer<String> fatal) {
        try {
            while (!closed) {
                Thread.sleep(POLL.toMillis());
                if (closed || alive(postmaster)) {
                    continue;
                }
                int port = embedded.getPort();
                LOG.warning("embedded PostgreSQL (pid " + postmaster + ", port " + port + ") is gone: restarting it"
                        + " (see " + embeddedDir.resolveSibling("postgresql.log") + ")");
                gate.waiting(UNREACHABLE, "the embedded PostgreSQL stopped; lm-server is restarting it");
                if (!restart(port)) {
                    fatal.accept("the embedded PostgreSQL in " + embeddedDir + " stopped and did not start again after "
                            + RESTARTS + " attempts");
                    return;
                }
            }
        } catch (InterruptedException e) {
            // closed
        }
    }

    private boolean restart(int port) throws InterruptedException {
        long began = System.nanoTime();
        for (int attempt = 1; attempt <= RESTARTS && !closed; attempt++) {
            try {
                stopQuietly(embedded);
                removeStaleLockFile(embeddedDir);
                embedded = startWatched(port);
                postmaster = postmasterPid(embeddedDir);
                // connections to the dead server: replaced as they come back
                pool.getHikariPoolMXBean().softEvictConnections();
                gate.open(pool);
                LOG.warning("embedded PostgreSQL restarted (attempt " + attempt + " of " + RESTARTS + ", "
                        + (System.nanoTime() - began) / 1_000_000 + " ms after it was found gone), pid " + postmaster);
                return true;
            } catch (IOException | RuntimeException e) {
                LOG.warning("embedded PostgreSQL: restart attempt " + attempt + " of " + RESTARTS + " failed: " + e.getMessage());
                if (attempt < RESTARTS) {
                    Thread.sleep(1000L << (attempt - 1));
                }
            }
        }
        return false;
    }

    /**
     * Starts PostgreSQL again, but gives up as soon as no postmaster runs on the directory a few
     * seconds in: Zonky waits for a connection for its whole start-up wait (120 s, for crash
     * recovery) even when the postmaster refused to start at once (its reason is in
     * postgresql.log), and five such waits would keep a dead server up for ten minutes.
     */
    private EmbeddedPostgres startWatched(int port) throws IOException, InterruptedException {
        java.util.concurrent.CompletableFuture<EmbeddedPostgres> started = new java.util.concurrent.CompletableFuture<>();
        Thread t = daemon("lm-db-start", () -> {
            try {
                started.complete(startEmbedded(embeddedDir, access, false, port));
            } catch (Throwable e) {
                started.completeExceptionally(e);
            }
        });
        long began = System.nanoTime();
        try {
            while (true) {
                try {
                    return started.get(200, java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    if (System.nanoTime() - began > STARTING.toNanos() && postmasterFile(embeddedDir) == null) {
                        t.interrupt();
                        throw new IOException("no postmaster runs " + STARTING.toSeconds() + " s after the start (see "
                                + embeddedDir.resolveSibling("postgresql.log") + ")");
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IOException(e.getCause().getMessage(), e.getCause());
                }
            }
        } catch (InterruptedException e) {
            t.interrupt();
            throw e;
        }
    }

    /** How long a starting postmaster may take to write postmaster.pid. */
    private static final Duration STARTING = Duration.ofSeconds(5);
    /** Held: java.util.logging keeps loggers weakly, and a level set on a collected one is lost. */
    private static final Logger ZONKY = Logger.getLogger("io.zonky");

    /**
     * Releases Zonky's lock on the data directory. Its "pg_ctl stop" fails on a dead server and
     * Zonky logs that with a stack trace: expected here, so not logged.
     */
    private static void stopQuietly(EmbeddedPostgres dead) {
        java.util.logging.Level was = ZONKY.getLevel();
        ZONKY.setLevel(java.util.logging.Level.OFF);
        try {
            dead.close();
        } catch (IOException e) {
            // nothing left to stop
        } finally {
            ZONKY.setLevel(was);
        }
    }

    /** Alive and not a zombie: a killed postmaster whose parent (init) has not reaped it yet is gone. */
    private static boolean alive(long pid) {
        if (!ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            // "pid (comm) S …": the state follows the last ')'
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    /** The postmaster's pid from postmaster.pid, or -1. */
    private static long postmasterPid(Path dataDir) throws IOException {
        java.util.List<String> lines = postmasterFile(dataDir);
        return lines == null ? -1 : Long.parseLong(lines.get(0).strip());
    }

    private static Thread daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** A standby, or a database set read-only (default_transaction_read_only): no writes. */
    public static boolean readOnly(Connection c) throws SQLException {
        try (java.sql.Statement st = c.createStatement();
                java.sql.ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /** Connection failures worth waiting out: refused, reset, no primary among the hosts, starting up. */
    private static boolean worthWaiting(SQLException e) {
        String state = e.getSQLState();
        return state == null || state.startsWith("08") || state.equals("57P03");
    }

    /**
     * Requests get a connection only if it may come: not while the database is unready, nor
     * while the server stops with the database unreachable. Answers whether waiting for one is
     * hopeless (the stop then does not wait shutdown_grace for them).
     */
    public boolean unreachable() {
        HikariDataSource p = pool;
        if (gate.target == null || p == null) {
            return true;
        }
        var mx = p.getHikariPoolMXBean();
        return mx != null && mx.getTotalConnections() == 0 && mx.getThreadsAwaitingConnection() > 0;
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
        gate.waiting(UNREACHABLE, "the server is stopping");
        HikariDataSource p = pool;
        if (p != null) {
            p.close();
        }
    }

    /** Stops watching or waiting, closes the pool, stops the embedded PostgreSQL. */
    @Override
    public void close() {
        closed = true;
        Thread h = helper;
        if (h != null && h != Thread.currentThread()) {
            h.interrupt();
            try {
                h.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        closePool();
        if (embedded != null) {
            try {
                embedded.close();
            } catch (IOException e) {
                LOG.warning("stopping embedded PostgreSQL: " + e.getMessage());
            }
        }
    }

    static final String UNREACHABLE = "08001";
    static final String READ_ONLY = "25006";

    /**
     * The DataSource requests use. While closed, getConnection fails at once with the SQLSTATE
     * of the reason (08001: unreachable, 25006: read-only), which lm.http.SqlErrors answers 503;
     * closing it interrupts the threads waiting in the pool for a connection, so they answer too.
     */
    static final class Gate implements DataSource {
        private final java.util.Set<Thread> waiting = new java.util.HashSet<>();
        volatile DataSource target;
        volatile String state = UNREACHABLE;
        volatile String reason = "the database is not open yet";

        void open(DataSource to) {
            target = to;
        }

        void waiting(String sqlState, String why) {
            reason = why;
            state = sqlState;
            target = null;
            synchronized (waiting) {
                waiting.forEach(Thread::interrupt);
            }
        }

        private SQLException refused(SQLException cause) {
            return new SQLException(reason, state, cause);
        }

        @Override
        public Connection getConnection() throws SQLException {
            DataSource t = target;
            if (t == null) {
                throw refused(null);
            }
            Thread me = Thread.currentThread();
            synchronized (waiting) {
                waiting.add(me);
            }
            Connection c;
            try {
                c = t.getConnection();
            } catch (SQLException e) {
                leave(me);
                throw target == null ? refused(e) : e;
            }
            leave(me);
            if (target == null) {
                c.close();
                throw refused(null);
            }
            return c;
        }

        /** After this no interrupt of {@link #waiting} reaches {@code me}; one that came was ours when the gate shut. */
        private void leave(Thread me) {
            synchronized (waiting) {
                waiting.remove(me);
            }
            if (target == null) {
                Thread.interrupted();
            }
        }

        @Override
        public Connection getConnection(String username, String password) throws SQLException {
            throw new SQLFeatureNotSupportedException("the pool's own user only");
        }

        @Override
        public java.io.PrintWriter getLogWriter() {
            return null;
        }

        @Override
        public void setLogWriter(java.io.PrintWriter out) {}

        @Override
        public void setLoginTimeout(int seconds) {}

        @Override
        public int getLoginTimeout() {
            return 0;
        }

        @Override
        public java.util.logging.Logger getParentLogger() throws SQLFeatureNotSupportedException {
            throw new SQLFeatureNotSupportedException();
        }

        @Override
        public <T> T unwrap(Class<T> iface) throws SQLException {
            throw new SQLException("not a wrapper");
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) {
            return false;
        }
    }
}
