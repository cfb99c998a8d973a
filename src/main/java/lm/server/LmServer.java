package lm.server;

import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;
import javax.sql.DataSource;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.config.Config;
import lm.config.ServerSettings;
import lm.db.Database;
import lm.db.Sql;
import lm.http.ApiServer;
import lm.http.Limits;

/** A running lm-server: its database (maybe embedded), its authenticator and its HTTP listener. */
public final class LmServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("lm.server");
    /** Past shutdown_grace the pool is closed under the last requests; they answer 503 within this. */
    private static final Duration CANCEL_WAIT = Duration.ofSeconds(2);

    private final Database database;
    private final ApiServer api;
    private final Authenticator auth;
    private final StateLock lock;
    private final Duration shutdownGrace;
    private final AtomicBoolean closed = new AtomicBoolean();

    private LmServer(Database database, ApiServer api, Authenticator auth, StateLock lock, Duration shutdownGrace) {
        this.database = database;
        this.api = api;
        this.auth = auth;
        this.lock = lock;
        this.shutdownGrace = shutdownGrace;
    }

    public static AuthSettings authSettings(ServerSettings s) {
        return new AuthSettings(s.authKeys(), s.authLocalIssuer(), s.authIssuer(), s.authPermissionsClaim(), s.authAudience(),
                s.prologTokenTtl(), s.uiClientId());
    }

    /**
     * Locks the state directory, opens the database, listens.
     *
     * @throws StartupConflict when the state directory or the port is another process's
     */
    public static LmServer start(ServerSettings s) throws IOException {
        return start(s, why -> LOG.severe("lm-server: " + why + " (answering 503)"));
    }

    /**
     * Locks the state directory, opens the database (or starts waiting for it: requests are 503
     * until it is ready), listens. {@code fatal} is told when the database is lost for good (the
     * embedded PostgreSQL does not restart, a migration fails while waiting).
     *
     * @throws StartupConflict when the state directory or the port is another process's
     */
    public static LmServer start(ServerSettings s, java.util.function.Consumer<String> fatal) throws IOException {
        StateLock lock = StateLock.acquire(s.stateDir());
        try {
            Authenticator auth = new Authenticator(authSettings(s));
            Database db = Database.start(s.databaseUrl(), s.databaseUser(), s.databasePassword(), s.databasePoolSize(),
                    s.stateDir().resolve("pg"), s.databaseTimeouts(), ready -> {
                        // at once, or once a primary answered: the revoked tokens are read
                        // before any request passes, and lm.settings written
                        auth.checkRevocations(ready);
                        writeSqlSettings(ready, s);
                    }, fatal);
            try {
                if (!db.ready()) {
                    // no revocation list can be read yet: every token is refused 503 until it is
                    auth.checkRevocations(db.dataSource());
                }
                ApiServer api = new ApiServer(s.httpHost(), s.httpPort(), ApiRoutes.all(db.dataSource(), auth), auth, limits(s));
                listen(api, s.httpHost(), s.httpPort());
                return new LmServer(db, api, auth, lock, s.shutdownGrace());
            } catch (RuntimeException e) {
                db.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    /** The settings SQL needs (lm.settings): with several lm-servers, the last to start decides. */
    private static void writeSqlSettings(DataSource ds, ServerSettings s) throws java.sql.SQLException {
        {
            Sql.update(ds, "UPDATE lm.settings SET demand_window = ?::integer, distribution_log_days = ?,"
                    + " history_raw_days = ?, history_hourly_days = ?, license_server_short_names = ?, offline_max_age = ?",
                    s.demandWindow() == null ? null : (int) s.demandWindow().getSeconds(), s.distributionLogDays(),
                    s.historyRawDays(), s.historyHourlyDays(), s.licenseServerShortNames(), (int) s.offlineMaxAge().getSeconds());
        }
    }

    private static void listen(ApiServer api, String host, int port) {
        try {
            api.start();
        } catch (RuntimeException e) {
            Throwable cause = e;
            while (cause != null && !(cause instanceof BindException)) {
                cause = cause.getCause();
            }
            if (cause == null) {
                throw e;
            }
            // BindException says "address in use" and "no such local address" alike: binding the
            // same address on any free port tells which one it is, without reading its text
            try (ServerSocket probe = new ServerSocket()) {
                probe.bind(new InetSocketAddress(InetAddress.getByName(host), 0));
            } catch (IOException notLocal) {
                throw new Config.ConfigException("http_host (LM_HTTP_HOST) = '" + host + "': cannot listen on it: " + cause.getMessage());
            }
            throw new StartupConflict("port " + port + " on " + host + " (http_port, http_host) is in use by another process");
        }
    }

    /** For tests and benchmarks: an API over an existing (migrated) database, with the default limits. */
    public static ApiServer serve(DataSource ds, Authenticator auth, String host, int port) {
        auth.checkRevocations(ds);
        ApiServer api = new ApiServer(host, port, ApiRoutes.all(ds, auth), auth, limits(ServerSettings.defaults()));
        api.start();
        return api;
    }

    /** What a request may take, from lm.conf. */
    public static Limits limits(ServerSettings s) {
        // searches: half the pool, so that the other half is there for bookings, reports and /lm/health
        return new Limits(s.httpReadTimeout(), s.httpBodyMemoryMib() * 1024L * 1024, s.databaseReadStatementTimeout(),
                Math.max(1, s.databasePoolSize() / 2));
    }

    public int port() {
        return api.port();
    }

    public Authenticator auth() {
        return auth;
    }

    public Database database() {
        return database;
    }

    /**
     * The stop: new requests are answered 503 while those in flight finish, for at most
     * shutdown_grace, and not at all when the database cannot be reached; past it the pool is
     * closed under the rest (they answer 503 too). Then the
     * listener, the embedded PostgreSQL and the state directory's lock go. Runs once.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LOG.info("lm-server stopping: new requests get 503; in-flight requests have up to "
                + Config.text(shutdownGrace) + " (shutdown_grace)");
        try {
            int left = api.stop(shutdownGrace, database::unreachable);
            if (left > 0) {
                LOG.warning("lm-server: " + left + " requests still running " + (database.unreachable()
                        ? "waiting for a database that cannot be reached" : "after shutdown_grace " + Config.text(shutdownGrace))
                        + ": closing the database pool under them");
                database.closePool();
                api.stop(CANCEL_WAIT);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        api.close();
        database.close();
        lock.close();
        LOG.info("lm-server stopped");
    }
}
