package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import lm.agent.AgentHarness.Use;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** OAuth2 client credentials against a minimal identity provider (discovery + token endpoint). */
class ClientCredentialsTest {
    private AgentHarness h;
    private HttpServer idp;
    private String issued;
    private final AtomicInteger tokenCalls = new AtomicInteger();

    @BeforeEach
    void setUp() throws IOException {
        h = new AgentHarness("cluster2");
        h.configuration("abaqus", null, List.<String[]>of(new String[] {"abaqus", "abaqus"}), "lic1:27000");
        h.slurmLicenses("abaqus.abaqus@flexlm", 100, 0);
        h.flexlm("lic1:27000", new Use("abaqus", 100, 20));
        // what the identity provider hands out; lm-server trusts it because the test API signs it
        issued = h.api.token("cluster2", "license-manager:admin");
        idp = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        String base = "http://127.0.0.1:" + idp.getAddress().getPort() + "/realms/hpc";
        idp.createContext("/realms/hpc/.well-known/openid-configuration",
                x -> reply(x, 200, "{\"issuer\":\"" + base + "\",\"token_endpoint\":\"" + base + "/protocol/openid-connect/token\"}"));
        idp.createContext("/realms/hpc/protocol/openid-connect/token", x -> {
            tokenCalls.incrementAndGet();
            String body = new String(x.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String basic = "Basic " + Base64.getEncoder().encodeToString("cluster2:s3cr%3Dt".getBytes(StandardCharsets.UTF_8));
            if (!"POST".equals(x.getRequestMethod()) || !body.equals("grant_type=client_credentials")
                    || !basic.equals(x.getRequestHeaders().getFirst("Authorization"))) {
                reply(x, 401, "{\"error\":\"invalid_client\"}");
                return;
            }
            reply(x, 200, "{\"access_token\":\"" + issued + "\",\"token_type\":\"Bearer\",\"expires_in\":300}");
        });
        idp.start();
        h.conf.put("oidc_issuer", base);
        h.conf.put("client_id", "cluster2");
        // '=' is form-encoded in client_secret_basic (RFC 6749 2.3.1)
        h.conf.put("client_secret", "s3cr=t");
        Files.delete(h.tokenFile);
    }

    private static void reply(HttpExchange x, int status, String json) throws IOException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        x.getResponseHeaders().set("Content-Type", "application/json");
        x.sendResponseHeaders(status, b.length);
        x.getResponseBody().write(b);
        x.close();
    }

    @AfterEach
    void tearDown() {
        idp.stop(0);
        h.close();
    }

    @Test
    void aPassGetsItsTokenFromTheIdentityProvider() throws Exception {
        assertEquals(0, h.reconcile(), h.lastErr);

        assertEquals(1, tokenCalls.get());
        assertEquals(20, h.feature("abaqus.abaqus").get("used").getAsLong());
        // the prolog gets lm-server's prolog-only token of the cluster, not the provider's token
        String prolog = Files.readString(h.prologToken).strip();
        assertFalse(prolog.equals(issued));
        lm.auth.Principal p = h.api.auth.authenticate("Bearer " + prolog);
        assertEquals("cluster2", p.clientId());
        assertEquals(java.util.Set.copyOf(lm.auth.Roles.permissions(lm.auth.Roles.PROLOG)), p.permissions());
        assertTrue(h.lastErr.contains("OAuth2 client cluster2 at http://127.0.0.1:"), h.lastErr);
        assertFalse(h.lastErr.contains("s3cr"), "secret in the log");
    }

    @Test
    void aWrongSecretIsExit3WithoutTheSecretInTheLog() {
        h.conf.put("client_secret", "wrong-secret");

        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("HTTP 401 {\"error\":\"invalid_client\"}"), h.lastErr);
        assertFalse(h.lastErr.contains("wrong-secret"), "secret in the log");
        assertEquals(List.of(), h.calls());
    }
}
