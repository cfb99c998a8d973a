package lm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import lm.testing.TestApi;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** lm-cli login (RFC 8628 device flow) against {@link OidcStandIn}, then the stored token in use. */
class LoginTest {
    static final String GRANT = "urn:ietf:params:oauth:grant-type:device_code";
    @RegisterExtension
    static final TestApi api = new TestApi();

    @TempDir
    Path home;
    OidcStandIn idp;
    Cli cli;
    Path store;

    @BeforeEach
    void setUp() throws Exception {
        idp = new OidcStandIn();
        Path data = home.resolve("data");
        store = data.resolve("lm/token.json");
        cli = new Cli(home).env("LM_API_URL", "http://127.0.0.1:" + api.port() + "/lm").env("LM_OIDC_ISSUER", idp.issuer())
                .env("XDG_DATA_HOME", data.toString());
    }

    @AfterEach
    void tearDown() {
        idp.close();
    }

    private String userToken(Duration ttl) {
        return api.auth.mint("alice", List.of("license-manager:admin"), ttl);
    }

    private static String tokenReply(String access, String refresh) {
        return "{\"access_token\":\"" + access + "\",\"token_type\":\"Bearer\",\"expires_in\":300"
                + (refresh == null ? "" : ",\"refresh_token\":\"" + refresh + "\"") + "}";
    }

    private JsonObject stored() throws Exception {
        return JsonParser.parseString(Files.readString(store)).getAsJsonObject();
    }

    private static double seconds(long nanos) {
        return nanos / 1e9;
    }

    @Test
    void deviceFlowStoresTokenThatCommandsUse() throws Exception {
        String token = userToken(Duration.ofMinutes(5));
        idp.error("authorization_pending").error("authorization_pending").reply(200, tokenReply(token, "refresh-1"));
        cli.env("LM_AUDIENCE", "lm-api");

        Cli.Result login = cli.run("login");
        assertEquals(0, login.exit(), login::toString);
        assertTrue(login.out().contains(idp.base() + "/activate?user_code=" + OidcStandIn.USER_CODE), login.out());
        assertTrue(login.out().contains(OidcStandIn.USER_CODE), login.out());
        assertTrue(login.out().contains("Logged in as alice. Token stored in " + store), login.out());

        // the requests: discovery, one device authorization, three polls a second apart
        List<OidcStandIn.Request> device = idp.requests("/oauth/device");
        assertEquals(1, device.size());
        assertEquals("lm-cli", device.get(0).form().get("client_id"));
        assertEquals("lm-api", device.get(0).form().get("audience"));
        List<OidcStandIn.Request> polls = idp.requests("/oauth/token");
        assertEquals(3, polls.size());
        for (OidcStandIn.Request p : polls) {
            assertEquals("POST", p.method());
            assertEquals(GRANT, p.form().get("grant_type"));
            assertEquals(OidcStandIn.DEVICE_CODE, p.form().get("device_code"));
            assertEquals("lm-cli", p.form().get("client_id"));
        }
        assertTrue(polls.get(0).nanos() - device.get(0).nanos() >= 900_000_000L, "waits the interval before the first poll");
        for (int i = 1; i < polls.size(); i++) {
            long gap = polls.get(i).nanos() - polls.get(i - 1).nanos();
            assertTrue(gap >= 900_000_000L && gap < 5_000_000_000L, "poll gap " + seconds(gap) + " s");
        }

        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(store)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(store.getParent())));
        JsonObject s = stored();
        assertEquals(token, s.get("access_token").getAsString());
        assertEquals("refresh-1", s.get("refresh_token").getAsString());
        long expiresAt = s.get("expires_at").getAsLong();
        assertTrue(Math.abs(expiresAt - (Instant.now().getEpochSecond() + 300)) < 60, s.toString());
        assertEquals(idp.tokenEndpoint(), s.get("token_endpoint").getAsString());

        // no LM_TOKEN, no --token-file: the stored login is what the API sees
        Cli.Result list = cli.run("products", "list");
        assertEquals(0, list.exit(), list::toString);
        assertTrue(list.out().contains("Total items: "), list.out());
        assertEquals(token + "\n", cli.run("show-token").out());

        Cli.Result logout = cli.run("logout");
        assertEquals(0, logout.exit(), logout::toString);
        assertFalse(Files.exists(store));
        Cli.Result after = cli.run("products", "list");
        assertEquals(4, after.exit(), after::toString);
        assertEquals(0, cli.run("logout").exit(), "logging out twice is fine");
    }

    @Test
    void slowDownAddsFiveSecondsToTheInterval() throws Exception {
        idp.error("slow_down").reply(200, tokenReply(userToken(Duration.ofMinutes(5)), null));
        Cli.Result login = cli.run("login");
        assertEquals(0, login.exit(), login::toString);
        List<OidcStandIn.Request> polls = idp.requests("/oauth/token");
        assertEquals(2, polls.size());
        long gap = polls.get(1).nanos() - polls.get(0).nanos();
        assertTrue(gap >= 5_900_000_000L, "1 s + 5 s after slow_down, was " + seconds(gap) + " s");
        assertTrue(Files.exists(store));
    }

    @Test
    void accessDeniedFailsWithoutStoring() throws Exception {
        idp.error("authorization_pending").error("access_denied");
        Cli.Result login = cli.run("login");
        assertEquals(4, login.exit(), login::toString);
        assertEquals("lm-cli: login failed: access denied (the request was refused)\n", login.err());
        assertEquals(2, idp.requests("/oauth/token").size());
        assertFalse(Files.exists(store));
    }

    @Test
    void expiredCodeFails() throws Exception {
        idp.error("expired_token");
        Cli.Result login = cli.run("login");
        assertEquals(4, login.exit(), login::toString);
        assertTrue(login.err().contains("the code expired"), login.err());
        assertFalse(Files.exists(store));
    }

    @Test
    void keycloakPathsWithoutDiscovery() throws Exception {
        idp.discovery = false;
        String token = userToken(Duration.ofMinutes(5));
        idp.reply(200, tokenReply(token, null));
        Cli.Result login = cli.run("login");
        assertEquals(0, login.exit(), login::toString);
        assertEquals(1, idp.requests("/realms/test/protocol/openid-connect/auth/device").size());
        assertEquals(1, idp.requests("/realms/test/protocol/openid-connect/token").size());
        assertEquals(token, stored().get("access_token").getAsString());
    }

    @Test
    void expiredLoginIsRefreshed() throws Exception {
        Files.createDirectories(store.getParent());
        JsonObject old = new JsonObject();
        old.addProperty("access_token", "expired.access.token");
        old.addProperty("refresh_token", "refresh-old");
        old.addProperty("expires_at", Instant.now().getEpochSecond() - 10);
        old.addProperty("token_endpoint", idp.tokenEndpoint());
        old.addProperty("client_id", "lm-cli");
        Files.writeString(store, old.toString());
        String fresh = userToken(Duration.ofMinutes(5));
        idp.reply(200, tokenReply(fresh, null));

        Cli.Result list = cli.run("products", "list");
        assertEquals(0, list.exit(), list::toString);
        List<OidcStandIn.Request> refresh = idp.requests("/oauth/token");
        assertEquals(1, refresh.size());
        assertEquals("refresh_token", refresh.get(0).form().get("grant_type"));
        assertEquals("refresh-old", refresh.get(0).form().get("refresh_token"));
        assertEquals("lm-cli", refresh.get(0).form().get("client_id"));
        JsonObject s = stored();
        assertEquals(fresh, s.get("access_token").getAsString());
        assertEquals("refresh-old", s.get("refresh_token").getAsString(), "kept when the provider sends no new one");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(store)));

        // still valid now: no second refresh
        assertEquals(0, cli.run("products", "list").exit());
        assertEquals(1, idp.requests("/oauth/token").size());

        // a refresh the provider refuses: log in again
        s.addProperty("expires_at", Instant.now().getEpochSecond() - 10);
        Files.writeString(store, s.toString());
        idp.error("invalid_grant");
        Cli.Result refused = cli.run("products", "list");
        assertEquals(4, refused.exit(), refused::toString);
        assertTrue(refused.err().contains("refreshing it failed (invalid_grant): run 'lm-cli login'"), refused.err());
    }

    @Test
    void loginNeedsAReachableConfiguredIssuer() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Cli.Result down = cli.env("LM_OIDC_ISSUER", "http://127.0.0.1:" + closed + "/realms/x").run("login");
        assertEquals(3, down.exit(), down::toString);
        Cli.Result none = cli.env("LM_OIDC_ISSUER", null).run("login");
        assertEquals(2, none.exit(), none::toString);
        assertTrue(none.err().contains("oidc_issuer"), none.err());
    }
}
