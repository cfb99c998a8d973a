package lm.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/** The keys of lm.conf(5) that lm-server reads; etc/lm/lm.conf lists them all with their defaults. */
public record ServerSettings(
        Path stateDir,
        String httpHost,
        int httpPort,
        String databaseUrl,
        String databaseUser,
        String databasePassword,
        int databasePoolSize,
        String authIssuer,
        Path authKeys,
        String authPermissionsClaim,
        String authLocalIssuer,
        String authAudience,
        int prologTokenTtl) {

    public static final Path DEFAULT_FILE = Path.of("/etc/lm/lm.conf");

    static final Set<String> KEYS = Set.of(
            "state_dir", "http_host", "http_port", "database_url", "database_user", "database_password",
            "database_pool_size", "auth_issuer", "auth_keys", "auth_permissions_claim", "auth_local_issuer",
            "auth_audience", "prolog_token_ttl");

    /** {@code file} null means /etc/lm/lm.conf when it exists, else defaults and environment only. */
    public static ServerSettings load(Path file, Map<String, String> env) {
        if (file == null && Files.isRegularFile(DEFAULT_FILE)) {
            file = DEFAULT_FILE;
        }
        Config c = Config.load(file, env, KEYS);
        Path state = c.path("state_dir", Path.of("/var/lib/lm"));
        String url = c.optional("database_url");
        if (url != null && !url.startsWith("jdbc:postgresql:")) {
            throw new Config.ConfigException("database_url (LM_DATABASE_URL) = '" + url
                    + "': must be a JDBC URL such as jdbc:postgresql://db.example.org:5432/lm, or empty for the embedded database");
        }
        String issuer = c.issuerUrl("auth_issuer");
        return new ServerSettings(
                state,
                c.string("http_host", "127.0.0.1"),
                c.integer("http_port", 8000, 0, 65535),
                url,
                c.string("database_user", "lm"),
                c.string("database_password", ""),
                // 8 measured best on 2 cores: more connections only add lock contention on a hot pool
                c.integer("database_pool_size", 8, 1, 1000),
                issuer,
                c.path("auth_keys", state.resolve("jwks.json")),
                c.string("auth_permissions_claim", "permissions"),
                c.string("auth_local_issuer", "lm-local"),
                c.optional("auth_audience"),
                // seconds; a minute at least, 30 days at most (the prolog's token must stay narrow in time too)
                c.integer("prolog_token_ttl", 86_400, 60, 2_592_000));
    }

    public boolean embeddedDatabase() {
        return databaseUrl == null;
    }

    /** For logs: never the password. */
    public String databaseDescription() {
        return embeddedDatabase() ? "embedded PostgreSQL in " + stateDir.resolve("pg") : databaseUrl + " as " + databaseUser;
    }
}
