package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.util.List;
import java.util.Set;
import lm.agent.AgentHarness.Use;
import lm.auth.AuthSettings;
import lm.auth.Principal;
import lm.auth.Roles;
import lm.auth.UnverifiedClaims;
import lm.testing.Keycloak;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;

/**
 * An agent pass with client credentials from a real Keycloak (see lm.testing.Keycloak): the
 * cluster's confidential client carries the agent role only, and what the prolog gets is
 * lm-server's own narrow token for that cluster, never the provider's.
 */
class KeycloakAgentTest {
    @Test
    void aPassWithClientCredentialsLeavesANarrowPrologToken() throws Exception {
        Keycloak kc = Keycloak.get();
        String issuer = kc.realm("agents");
        String secret = kc.serviceClient("agents", "cluster-kc",
                Keycloak.permissionsMapper(Roles.permissions(Roles.AGENT).toArray(new String[0])), Keycloak.audienceMapper("lm-api"));
        TestApi api = new TestApi(new AuthSettings(Files.createTempDirectory("lm-keys").resolve("jwks.json"), "lm-local", issuer,
                "permissions", "lm-api"));
        try (AgentHarness h = new AgentHarness("cluster-kc", api)) {
            h.configuration("abaqus", null, List.<String[]>of(new String[] {"abaqus", "abaqus"}), "lic1:27000");
            h.slurmLicenses("abaqus.abaqus@flexlm", 100, 0);
            h.flexlm("lic1:27000", new Use("abaqus", 100, 20));
            h.conf.put("oidc_issuer", issuer);
            h.conf.put("client_id", "cluster-kc");
            h.conf.put("client_secret", secret);
            Files.delete(h.tokenFile);

            assertEquals(0, h.reconcile(), h.lastErr);
            assertEquals(20, h.feature("abaqus.abaqus").get("used").getAsLong(), "the report was applied");
            String prolog = Files.readString(h.prologToken).strip();
            assertEquals("lm-local", UnverifiedClaims.of(prolog).get("iss").getAsString(), "signed by lm-server, not Keycloak");
            Principal p = api.auth.authenticate("Bearer " + prolog);
            assertEquals("cluster-kc", p.clientId());
            assertEquals(Set.copyOf(Roles.permissions(Roles.PROLOG)), p.permissions());
            assertFalse(p.can("feature", "update"), "the prolog cannot change the cluster's counts");
        }
    }
}
