package lm.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import lm.db.JdbcUrl;
import lm.db.Timeouts;

/** The keys of lm.conf(5) that lm-server reads; etc/lm/lm.conf lists them all with their defaults. */
public record ServerSettings(
        Path stateDir,
        String httpHost,
        int httpPort,
        String databaseUrl,
        String databaseUser,
        String databasePassword,
        int databasePoolSize,
        Timeouts databaseTimeouts,
        Duration httpReadTimeout,
        // request bodies held at once, and how long a list or search may run (lm.http.Limits)
        int httpBodyMemoryMib,
        Duration databaseReadStatementTimeout,
        Duration shutdownGrace,
        String authIssuer,
        Path authKeys,
        String authPermissionsClaim,
        String authLocalIssuer,
        String authAudience,
        Duration prologTokenTtl,
        // null: twice each cluster's agent interval (R__booking_1_shares.sql, lm.demand_window)
        Duration demandWindow,
        int distributionLogDays,
        // usage history retention (R__usage.sql, lm.prune_usage); hourly 0 = forever
        int historyRawDays,
        int historyHourlyDays,
        // lic9 and lic9.example.org on one port are one license server, one pool (R__booking_1_pools.sql, lm.server_links)
        boolean licenseServerShortNames,
        // how long lm-prolog may book against a budget (a lease, R__booking_6_offline.sql)
        Duration offlineMaxAge,
        String uiClientId) {

    public static final Path DEFAULT_FILE = Path.of("/etc/lm/lm.conf");

    static final Set<String> KEYS = Set.of(
            "state_dir", "http_host", "http_port", "database_url", "database_user", "database_password",
            "database_pool_size", "database_target_server_type", "database_statement_timeout", "database_lock_timeout",
            "database_idle_in_transaction_session_timeout", "http_read_timeout", "http_body_memory_mib",
            "database_read_statement_timeout", "shutdown_grace",
            "auth_issuer", "auth_keys", "auth_permissions_claim", "auth_local_issuer",
            "auth_audience", "prolog_token_ttl", "demand_window", "distribution_log_days", "history_raw_days",
            "history_hourly_days", "license_server_short_names", "offline_max_age", "ui_client_id");

    private static final Duration DAY = Duration.ofDays(1);

    /** {@code file} null means /etc/lm/lm.conf when it exists, else defaults and environment only. */
    public static ServerSettings load(Path file, Map<String, String> env) {
        if (file == null && Files.isRegularFile(DEFAULT_FILE)) {
            file = DEFAULT_FILE;
        }
        return from(Config.load(file, env, KEYS));
    }

    /** Every key at its default: what tests and benchmarks that build a server in-process use. */
    public static ServerSettings defaults() {
        return from(Config.load(null, Map.of(), KEYS));
    }

    private static ServerSettings from(Config c) {
        Path state = c.path("state_dir", Path.of("/var/lib/lm"));
        String url = c.optional("database_url");
        if (url != null && !url.startsWith("jdbc:postgresql:")) {
            throw new Config.ConfigException("database_url (LM_DATABASE_URL) = '" + url
                    + "': must be a JDBC URL such as jdbc:postgresql://db.example.org:5432/lm, or empty for the embedded database");
        }
        url = targetServerType(url, c.optional("database_target_server_type"));
        String issuer = c.issuerUrl("auth_issuer");
        if (c.optional("ui_client_id") != null && issuer == null) {
            throw new Config.ConfigException("ui_client_id (LM_UI_CLIENT_ID): the dashboard's login client needs auth_issuer,"
                    + " the identity provider it belongs to");
        }
        return new ServerSettings(
                state,
                c.string("http_host", "127.0.0.1"),
                c.integer("http_port", 8000, 0, 65535),
                url,
                c.string("database_user", "lm"),
                c.string("database_password", ""),
                // 8 measured best on 2 cores: more connections only add lock contention on a hot pool
                c.integer("database_pool_size", 8, 1, 1000),
                new Timeouts(
                        c.duration("database_statement_timeout", Timeouts.DEFAULTS.statement(), Duration.ZERO, DAY),
                        c.duration("database_lock_timeout", Timeouts.DEFAULTS.lock(), Duration.ZERO, DAY),
                        c.duration("database_idle_in_transaction_session_timeout", Timeouts.DEFAULTS.idleInTransaction(), Duration.ZERO, DAY)),
                // a client that sends nothing for this long (a stalled body, an idle keep-alive
                // connection) is cut off; lm-prolog sends its whole request at once
                c.duration("http_read_timeout", Duration.ofSeconds(30), Duration.ofSeconds(1), DAY),
                // 64 MiB: four agent reports of the largest size (16 MiB), or sixteen bodies of the
                // usual limit, at once, and a 256 MiB heap keeps room to parse them (a parsed JSON
                // tree is a few times its text); 140 uploads announcing 1 GiB ran it out (issue 20)
                c.integer("http_body_memory_mib", 64, 1, 1024 * 1024),
                // a third of database_statement_timeout: a page of a list or report is one query
                // (top-N sorted), and one that runs longer scans far more than a page needs while it
                // holds a pooled connection (24 parallel searches of 8,000 terms took /lm/health to 3.5 s)
                c.duration("database_read_statement_timeout", Duration.ofSeconds(10), Duration.ZERO, DAY),
                // below systemd's TimeoutStopSec=30s with room for the embedded PostgreSQL's own stop
                c.duration("shutdown_grace", Duration.ofSeconds(10), Duration.ZERO, Duration.ofHours(1)),
                issuer,
                c.path("auth_keys", state.resolve("jwks.json")),
                c.string("auth_permissions_claim", "permissions"),
                c.string("auth_local_issuer", "lm-local"),
                c.optional("auth_audience"),
                // a minute at least, 30 days at most: the prolog's token must stay narrow in time too
                c.duration("prolog_token_ttl", Duration.ofHours(24), Duration.ofMinutes(1), Duration.ofDays(30)),
                // how long a pending or refused job counts as its owner's demand (lm-server(8), SHARES)
                c.duration("demand_window", null, Duration.ofSeconds(1), DAY),
                c.integer("distribution_log_days", 35, 1, 3650),
                c.integer("history_raw_days", 35, 1, 3650),
                c.integer("history_hourly_days", 0, 0, 36500),
                c.choice("license_server_short_names", "true", Set.of("true", "false")).equals("true"),
                // lm-prolog's default; a day at most: a lease is what the server leaves free for a silent cluster
                c.duration("offline_max_age", Duration.ofHours(1), Duration.ofMinutes(1), DAY),
                c.optional("ui_client_id"));
    }

    /**
     * The URL the pool uses. pgjdbc connects to the first host of a multi-host URL that answers,
     * a standby too, and there every booking failed (SQLSTATE 25006) until the standby was
     * promoted: so a multi-host URL asks for the primary unless the site says otherwise, by
     * database_target_server_type or by the URL's own targetServerType (both: they must agree).
     */
    private static String targetServerType(String url, String setting) {
        if (setting != null && !TARGET_SERVER_TYPES.contains(setting)) {
            throw new Config.ConfigException("database_target_server_type (LM_DATABASE_TARGET_SERVER_TYPE) = '" + setting
                    + "': must be one of " + new java.util.TreeSet<>(TARGET_SERVER_TYPES));
        }
        if (url == null) {
            if (setting != null) {
                throw new Config.ConfigException("database_target_server_type (LM_DATABASE_TARGET_SERVER_TYPE) needs database_url:"
                        + " the embedded database has one host");
            }
            return null;
        }
        String inUrl = JdbcUrl.param(url, JdbcUrl.TARGET);
        if (inUrl != null) {
            if (setting != null && !setting.equalsIgnoreCase(inUrl)) {
                throw new Config.ConfigException("database_target_server_type (LM_DATABASE_TARGET_SERVER_TYPE) = '" + setting
                        + "' contradicts " + JdbcUrl.TARGET + "=" + inUrl + " in database_url: set one of them");
            }
            return url;
        }
        if (setting != null) {
            return JdbcUrl.withParam(url, JdbcUrl.TARGET, setting);
        }
        return JdbcUrl.multiHost(url) ? JdbcUrl.withParam(url, JdbcUrl.TARGET, "primary") : url;
    }

    /** pgjdbc's values (it also takes the older master, slave and preferSlave). */
    private static final Set<String> TARGET_SERVER_TYPES = Set.of("any", "primary", "secondary", "preferPrimary", "preferSecondary");

    public boolean embeddedDatabase() {
        return databaseUrl == null;
    }

    /** For logs: never the password. */
    public String databaseDescription() {
        return embeddedDatabase() ? "embedded PostgreSQL in " + stateDir.resolve("pg") : databaseUrl + " as " + databaseUser;
    }
}
