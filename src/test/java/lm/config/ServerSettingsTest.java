package lm.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** lm.conf(5): file, environment overrides, and startup errors that name the key. */
class ServerSettingsTest {
    @TempDir
    Path dir;

    Path conf(String text) throws IOException {
        Path f = dir.resolve("lm.conf");
        Files.writeString(f, text);
        return f;
    }

    @Test
    void defaults() {
        ServerSettings s = ServerSettings.load(null, Map.of());
        assertEquals(Path.of("/var/lib/lm"), s.stateDir());
        assertEquals("127.0.0.1", s.httpHost());
        assertEquals(8000, s.httpPort());
        assertNull(s.databaseUrl());
        assertTrue(s.embeddedDatabase());
        assertEquals(Path.of("/var/lib/lm/jwks.json"), s.authKeys());
        assertEquals("permissions", s.authPermissionsClaim());
        assertEquals(8, s.databasePoolSize());
        assertEquals(lm.db.Timeouts.DEFAULTS, s.databaseTimeouts());
        assertEquals(Duration.ofSeconds(30), s.databaseTimeouts().statement());
        assertEquals(Duration.ofSeconds(5), s.databaseTimeouts().lock());
        assertEquals(Duration.ofSeconds(60), s.databaseTimeouts().idleInTransaction());
        assertEquals(Duration.ofSeconds(30), s.httpReadTimeout());
        assertEquals(Duration.ofSeconds(10), s.shutdownGrace());
        assertEquals(ServerSettings.defaults(), s, "defaults() is load() without a file or environment");
    }

    @Test
    void timeoutsAreDurationsAndZeroTurnsADatabaseLimitOff() throws IOException {
        ServerSettings s = ServerSettings.load(conf("database_statement_timeout = 2m\ndatabase_lock_timeout = 0\nshutdown_grace = 45\n"),
                Map.of("LM_DATABASE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "1h", "LM_HTTP_READ_TIMEOUT", "5s"));
        assertEquals(Duration.ofMinutes(2), s.databaseTimeouts().statement());
        assertEquals(Duration.ZERO, s.databaseTimeouts().lock());
        assertEquals(Duration.ofHours(1), s.databaseTimeouts().idleInTransaction());
        assertEquals(Duration.ofSeconds(5), s.httpReadTimeout());
        assertEquals(Duration.ofSeconds(45), s.shutdownGrace());
        for (String bad : new String[] {"shutdown_grace = 2h", "http_read_timeout = 0", "database_lock_timeout = 5 s", "database_statement_timeout = -1"}) {
            var e = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf(bad + "\n"), Map.of()), bad);
            String key = bad.substring(0, bad.indexOf(' '));
            assertTrue(e.getMessage().contains(key) && e.getMessage().contains("a duration from"), e.getMessage());
        }
    }

    @Test
    void sharesSettingsHaveTheirDefaultsAndRanges() throws IOException {
        ServerSettings d = ServerSettings.load(null, Map.of());
        assertNull(d.demandWindow(), "unset: twice each cluster's agent interval, decided in SQL");
        assertEquals(35, d.distributionLogDays());
        ServerSettings s = ServerSettings.load(conf("demand_window = 5m\ndistribution_log_days = 90\n"), Map.of());
        assertEquals(Duration.ofMinutes(5), s.demandWindow());
        assertEquals(90, s.distributionLogDays());
        assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("demand_window = 0\n"), Map.of()));
        assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("distribution_log_days = 0\n"), Map.of()));
    }

    @Test
    void licenseServerShortNamesIsOnByDefaultAndTrueOrFalse() throws IOException {
        assertTrue(ServerSettings.load(null, Map.of()).licenseServerShortNames());
        assertEquals(false, ServerSettings.load(conf("license_server_short_names = false\n"), Map.of()).licenseServerShortNames());
        assertEquals(false, ServerSettings.load(null, Map.of("LM_LICENSE_SERVER_SHORT_NAMES", "false")).licenseServerShortNames());
        var e = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("license_server_short_names = no\n"), Map.of()));
        assertTrue(e.getMessage().contains("license_server_short_names"), e.getMessage());
    }

    @Test
    void parseDurationAcceptsTheDocumentedForms() {
        assertEquals(Duration.ofSeconds(30), Config.parseDuration("30s"));
        assertEquals(Duration.ofMinutes(15), Config.parseDuration("15m"));
        assertEquals(Duration.ofHours(1), Config.parseDuration("1h"));
        assertEquals(Duration.ofDays(7), Config.parseDuration("7d"));
        assertEquals(Duration.ofSeconds(90), Config.parseDuration("90"));
        assertEquals(Duration.ofHours(2), Config.parseDuration(" 2H "));
        for (String bad : new String[] {null, "", "s", "-1", "+1s", "1w", "1 h", "1.5h", "0x10", "1000000000000s"}) {
            assertThrows(IllegalArgumentException.class, () -> Config.parseDuration(bad), String.valueOf(bad));
        }
        assertEquals("90s", Config.text(Duration.ofSeconds(90)));
        assertEquals("2m", Config.text(Duration.ofMinutes(2)));
        assertEquals("0s", Config.text(Duration.ZERO));
        assertEquals("7d", Config.text(Duration.ofDays(7)));
    }

    @Test
    void fileThenEnvironment() throws IOException {
        Path f = conf("# comment\nstate_dir = /srv/lm\nhttp_port = 9000\n\ndatabase_url = \"jdbc:postgresql://db/lm\"\ndatabase_password = s3cret\n");
        ServerSettings s = ServerSettings.load(f, Map.of("LM_HTTP_PORT", "9100", "LM_HTTP_HOST", "0.0.0.0"));
        assertEquals(9100, s.httpPort(), "the environment wins over the file");
        assertEquals("0.0.0.0", s.httpHost());
        assertEquals("jdbc:postgresql://db/lm", s.databaseUrl());
        assertEquals(Path.of("/srv/lm/jwks.json"), s.authKeys(), "auth_keys follows state_dir");
        assertTrue(!s.databaseDescription().contains("s3cret"), "never the password in logs");
    }

    /** A multi-host URL asks for the primary unless the site says otherwise (pgjdbc took the standby). */
    @Test
    void multiHostUrlTargetsThePrimary() throws IOException {
        String hosts = "jdbc:postgresql://db1:5432,db2:5432/lm";
        assertEquals(hosts + "?targetServerType=primary", ServerSettings.load(conf("database_url = " + hosts + "\n"), Map.of()).databaseUrl());
        assertEquals("jdbc:postgresql://db1/lm", ServerSettings.load(conf("database_url = jdbc:postgresql://db1/lm\n"), Map.of()).databaseUrl(),
                "one host: as written");
        assertEquals(hosts + "?ssl=true&targetServerType=any", ServerSettings.load(conf("database_url = " + hosts + "?ssl=true\n"),
                Map.of("LM_DATABASE_TARGET_SERVER_TYPE", "any")).databaseUrl(), "the setting wins");
        assertEquals(hosts + "?targetServerType=preferPrimary", ServerSettings.load(
                conf("database_url = " + hosts + "?targetServerType=preferPrimary\n"), Map.of()).databaseUrl(), "the URL's own wins");
        var both = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(
                conf("database_url = " + hosts + "?targetServerType=any\ndatabase_target_server_type = primary\n"), Map.of()));
        assertTrue(both.getMessage().contains("database_target_server_type"), both.getMessage());
        var bad = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(
                conf("database_url = " + hosts + "\ndatabase_target_server_type = master-ish\n"), Map.of()));
        assertTrue(bad.getMessage().contains("database_target_server_type"), bad.getMessage());
    }

    @Test
    void errorsNameTheKey() throws IOException {
        var unknown = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("http_prot = 80\n"), Map.of()));
        assertTrue(unknown.getMessage().contains("http_prot") && unknown.getMessage().contains(":1:"), unknown.getMessage());
        var port = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(null, Map.of("LM_HTTP_PORT", "eighty")));
        assertTrue(port.getMessage().contains("http_port") && port.getMessage().contains("LM_HTTP_PORT"), port.getMessage());
        var range = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("http_port = 70000\n"), Map.of()));
        assertTrue(range.getMessage().contains("http_port"), range.getMessage());
        var url = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("database_url = postgres://x/y\n"), Map.of()));
        assertTrue(url.getMessage().contains("database_url"), url.getMessage());
        var issuer = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(null, Map.of("LM_AUTH_ISSUER", "keycloak")));
        assertTrue(issuer.getMessage().contains("auth_issuer"), issuer.getMessage());
        // keys fetched over plain http could be swapped on the way: only loopback may use it
        var plain = assertThrows(Config.ConfigException.class,
                () -> ServerSettings.load(null, Map.of("LM_AUTH_ISSUER", "http://keycloak.example.org/realms/hpc")));
        assertTrue(plain.getMessage().contains("auth_issuer") && plain.getMessage().contains("https://"), plain.getMessage());
        for (String ok : new String[] {"https://keycloak.example.org/realms/hpc", "http://127.0.0.1:8080/realms/hpc",
                                       "http://localhost:8080/realms/hpc", "http://[::1]:8080/realms/hpc"}) {
            assertEquals(ok, ServerSettings.load(null, Map.of("LM_AUTH_ISSUER", ok)).authIssuer());
        }
        for (String bad : new String[] {"http://127.0.0.1.evil.example/realms/hpc", "http://10.0.0.1/realms/hpc",
                                        "https://user:pw@kc.example.org/x", "ftp://kc.example.org/x"}) {
            assertThrows(Config.ConfigException.class, () -> ServerSettings.load(null, Map.of("LM_AUTH_ISSUER", bad)), bad);
        }
        assertEquals("lm-api", ServerSettings.load(null, Map.of("LM_AUTH_AUDIENCE", "lm-api")).authAudience());
        assertEquals(null, ServerSettings.load(null, Map.of()).authAudience());
        var syntax = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("just words\n"), Map.of()));
        assertTrue(syntax.getMessage().contains("key = value"), syntax.getMessage());
    }

    @Test
    void theDashboardsLoginClientNeedsTheIdentityProviderItBelongsTo() throws IOException {
        var e = assertThrows(Config.ConfigException.class, () -> ServerSettings.load(conf("ui_client_id = lm-dashboard\n"), Map.of()));
        assertTrue(e.getMessage().contains("ui_client_id") && e.getMessage().contains("auth_issuer"), e.getMessage());
        ServerSettings s = ServerSettings.load(conf("ui_client_id = lm-dashboard\nauth_issuer = https://sso.example.org/realms/hpc\n"), Map.of());
        assertEquals("lm-dashboard", s.uiClientId());
    }
}
