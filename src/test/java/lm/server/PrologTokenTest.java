package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.google.gson.JsonObject;
import java.util.Set;
import lm.auth.Principal;
import lm.auth.Roles;
import lm.auth.UnverifiedClaims;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** POST /lm/prolog_token: the agent gets a narrow token of its own cluster for the prolog. */
class PrologTokenTest {
    @RegisterExtension
    static final TestApi api = new TestApi();

    static String agentToken(String cluster) {
        return api.token(cluster, Roles.permissions(Roles.AGENT).toArray(new String[0]));
    }

    @Test
    void theAgentGetsAPrologOnlyTokenOfItsOwnCluster() {
        Res r = api.http.post("/prolog_token", agentToken("cluster-a"), null);
        assertEquals(201, r.status(), r.toString());
        JsonObject o = r.json().getAsJsonObject();
        String token = o.get("token").getAsString();
        Principal p = api.auth.authenticate("Bearer " + token);
        assertEquals("cluster-a", p.clientId());
        assertEquals(Set.copyOf(Roles.permissions(Roles.PROLOG)), p.permissions());
        // valid for prolog_token_ttl (24 h by default), not for the agent token's ten years
        JsonObject claims = UnverifiedClaims.of(token);
        assertEquals(86_400, claims.get("exp").getAsLong() - claims.get("iat").getAsLong());
        assertEquals(claims.get("exp").getAsLong(), java.time.Instant.parse(o.get("expires_at").getAsString()).getEpochSecond());

        // what the prolog may do, and what it may not
        assertEquals(200, api.http.get("/jobs", token).status());
        assertEquals(403, api.http.get("/configurations", token).status());
        assertEquals(403, api.http.put("/features/bulk", token, "[]").status());
        assertEquals(403, api.http.post("/prolog_token", token, null).status(), "a prolog token makes no tokens");
        assertFalse(p.permissions().contains("license-manager:admin"));
    }

    @Test
    void onlyTheAgentRoleOrAdminMayAsk() {
        String reader = api.token("cluster-a", Roles.permissions(Roles.READER).toArray(new String[0]));
        assertEquals(403, api.http.post("/prolog_token", reader, null).status());
        assertEquals(401, api.http.post("/prolog_token", null, null).status());
        assertEquals(201, api.http.post("/prolog_token", api.admin(), null).status());
    }
}
