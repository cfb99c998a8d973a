package lm.server;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import lm.auth.Authenticator;
import lm.auth.Roles;
import lm.auth.UnverifiedClaims;
import lm.http.Json;
import lm.http.Reply;
import lm.http.Routes;

/**
 * POST /lm/prolog_token: the token a cluster's agent leaves for its PrologSlurmctld. Signed with
 * the server's local key whatever signed the agent's own token (local or OIDC), for the caller's
 * cluster only, with the prolog role only, for prolog_token_ttl: so the slurm group, which can
 * read the file, holds the right to book and release its own cluster's jobs and nothing more.
 */
final class PrologToken {
    private PrologToken() {}

    static void routes(Routes r, Authenticator auth) {
        r.post("/prolog_token", "prolog-token", "create", c -> {
            String cluster = c.cluster();
            Duration ttl = auth.settings().prologTokenTtl();
            List<String> permissions = Roles.permissions(Roles.PROLOG);
            String token = auth.mint(cluster, permissions, ttl);
            JsonObject o = new JsonObject();
            o.addProperty("token", token);
            o.addProperty("client_id", cluster);
            JsonArray p = new JsonArray();
            permissions.forEach(p::add);
            o.add("permissions", p);
            o.addProperty("expires_at", Instant.ofEpochSecond(UnverifiedClaims.expiry(token)).toString());
            return Reply.created(Json.GSON.toJson(o));
        });
    }
}
