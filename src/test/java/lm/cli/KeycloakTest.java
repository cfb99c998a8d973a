package lm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.auth.Roles;
import lm.http.ApiServer;
import lm.server.LmServer;
import lm.testing.Http;
import lm.testing.Keycloak;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * OIDC against a real Keycloak (src/test/java/lm/testing/Keycloak.java): a realm made through its
 * admin API as a site would make it, lm-server checking issuer, keys and audience, lm-cli logging
 * in by the device flow approved on Keycloak's own forms.
 */
class KeycloakTest {
    static final String AUDIENCE = "lm-api";
    static Keycloak kc;
    static String issuer;
    static String clusterSecret;
    static String strangerSecret;
    static HikariDataSource ds;
    static ApiServer server;
    static Http http;
    @TempDir static Path keys;

    @BeforeAll
    static void start() throws Exception {
        kc = Keycloak.get();
        issuer = kc.realm("hpc");
        // people log in with lm-cli (device grant); what they may do comes from the mapper
        kc.deviceClient("hpc", "lm-cli", Keycloak.permissionsMapper("license-manager:admin"), Keycloak.audienceMapper(AUDIENCE));
        kc.user("hpc", "alice", "alice-pw");
        // one confidential client per cluster, named after it, with the agent role's permissions
        clusterSecret = kc.serviceClient("hpc", "cluster-a",
                Keycloak.permissionsMapper(Roles.permissions(Roles.AGENT).toArray(new String[0])), Keycloak.audienceMapper(AUDIENCE));
        // a client of the same realm for another application: right permissions claim, no audience
        strangerSecret = kc.serviceClient("hpc", "grafana", Keycloak.permissionsMapper("license-manager:admin"));

        ds = TestDatabase.pool(4);
        Authenticator auth = new Authenticator(new AuthSettings(keys.resolve("jwks.json"), "lm-local", issuer, "permissions", AUDIENCE));
        server = LmServer.serve(ds, auth, "127.0.0.1", 0);
        http = new Http("http://127.0.0.1:" + server.port() + "/lm");
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (ds != null) {
            ds.close();
        }
    }

    @Test
    void loginByDeviceCodeThenCommandsThenLogout(@TempDir Path home) throws Exception {
        Cli cli = new Cli(home).env("LM_API_URL", "http://127.0.0.1:" + server.port() + "/lm")
                .env("LM_OIDC_ISSUER", issuer).env("XDG_DATA_HOME", home.resolve("data").toString());
        Path out = home.resolve("login.txt");
        Process login = cli.start(out, "login");
        // the URL lm-cli shows the person, with the code in it
        String url = null;
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (url == null && System.nanoTime() < until && login.isAlive()) {
            Matcher m = Pattern.compile("(http\\S+/device\\S*)").matcher(Files.readString(out));
            url = m.find() ? m.group(1) : null;
            Thread.sleep(100);
        }
        assertTrue(url != null, "lm-cli login showed no verification URL: " + Files.readString(out));
        kc.approveDevice(url, "alice", "alice-pw");
        assertTrue(login.waitFor(60, TimeUnit.SECONDS), "login did not finish after approval: " + Files.readString(out));
        assertEquals(0, login.exitValue(), Files.readString(out));
        assertTrue(Files.readString(out).contains("Logged in"), Files.readString(out));

        Cli.Result list = cli.run("products", "list");
        assertEquals(0, list.exit(), list::toString);
        Cli.Result created = cli.run("products", "create", "--name", "kcprod");
        assertEquals(0, created.exit(), created::toString);
        assertTrue(cli.run("products", "list").out().contains("kcprod"));

        assertEquals(0, cli.run("logout").exit());
        Cli.Result after = cli.run("products", "list");
        assertEquals(4, after.exit(), "no token after logout: " + after);
    }

    @Test
    void aClusterClientActsWithItsPermissionsAndATokenForAnotherAudienceIsRefused() throws Exception {
        String cluster = kc.clientToken(issuer, "cluster-a", clusterSecret);
        assertEquals(200, http.get("/configurations/by_client_id", cluster).status());
        assertEquals(201, http.post("/prolog_token", cluster, null).status(), "the agent role may fetch the prolog's token");
        assertEquals(403, http.delete("/configurations/1", cluster).status(), "and no more");

        String stranger = kc.clientToken(issuer, "grafana", strangerSecret);
        Http.Res refused = http.get("/products", stranger);
        assertEquals(401, refused.status(), refused.toString());
        assertTrue(refused.body().contains(AUDIENCE), refused.body());
        assertFalse(refused.body().contains("internal"));
    }
}
