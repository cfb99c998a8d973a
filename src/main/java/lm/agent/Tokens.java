package lm.agent;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import lm.config.SecretFile;

/**
 * The bearer token for this pass: from token_file, or fetched from the identity provider with
 * OAuth2 client credentials. Each pass is a new process, so nothing is cached.
 */
final class Tokens {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private Tokens() {}

    static String current(AgentSettings s, HttpClient http) throws LmServerException {
        return s.clientCredentials() ? clientCredentials(s, http) : fromFile(s);
    }

    private static String fromFile(AgentSettings s) throws LmServerException {
        String token;
        try {
            String exposed = SecretFile.exposure(s.tokenFile(), "token_file " + s.tokenFile());
            if (exposed != null) {
                throw new LmServerException(exposed);
            }
            token = Files.readString(s.tokenFile(), StandardCharsets.UTF_8).strip();
        } catch (NoSuchFileException e) {
            throw new LmServerException("token_file " + s.tokenFile() + " does not exist; create it with"
                    + " 'lm-server token --client-id CLUSTER --role agent --ttl 3650d --output " + s.tokenFile() + " --group slurm'"
                    + " (the group lm-agent.service runs as),"
                    + " or set oidc_issuer, client_id and client_secret");
        } catch (java.nio.file.AccessDeniedException e) {
            // an install from before lm-agent.service ran the agent as SlurmUser: the file was root's, 0600
            throw new LmServerException("token_file " + s.tokenFile() + ": cannot read it as " + System.getProperty("user.name")
                    + " (permission denied); lm-agent.service runs as SlurmUser: 'chown root:" + System.getProperty("user.name")
                    + " " + s.tokenFile() + "; chmod 640 " + s.tokenFile() + "'");
        } catch (IOException e) {
            throw new LmServerException("token_file " + s.tokenFile() + ": cannot read: " + e.getMessage());
        }
        if (token.isEmpty()) {
            throw new LmServerException("token_file " + s.tokenFile() + " is empty");
        }
        // Said here rather than by the server's 401, because only here do we know which file to renew.
        Instant exp = expiry(token);
        if (exp != null && exp.isBefore(Instant.now())) {
            throw new LmServerException("the token in token_file " + s.tokenFile() + " expired at " + exp + "; renew it");
        }
        return token;
    }

    private static String clientCredentials(AgentSettings s, HttpClient http) throws LmServerException {
        String discovery = s.oidcIssuer() + "/.well-known/openid-configuration";
        JsonObject meta = getJson(http, HttpRequest.newBuilder(URI.create(discovery)).timeout(TIMEOUT).GET().build(), discovery);
        if (!meta.has("token_endpoint") || !meta.get("token_endpoint").isJsonPrimitive()) {
            throw new LmServerException(discovery + ": no token_endpoint");
        }
        String endpoint = meta.get("token_endpoint").getAsString();
        // client_secret_basic: the method every OAuth2 server must support (RFC 6749 2.3.1)
        String basic = Base64.getEncoder().encodeToString(
                (form(s.clientId()) + ":" + form(s.clientSecret())).getBytes(StandardCharsets.UTF_8));
        HttpRequest req = HttpRequest.newBuilder(URI.create(endpoint))
                .timeout(TIMEOUT)
                .header("Authorization", "Basic " + basic)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("grant_type=client_credentials"))
                .build();
        JsonObject answer = getJson(http, req, "token endpoint " + endpoint + " (client " + s.clientId() + ")");
        if (!answer.has("access_token") || !answer.get("access_token").isJsonPrimitive()) {
            throw new LmServerException("token endpoint " + endpoint + ": no access_token in the answer");
        }
        return answer.get("access_token").getAsString();
    }

    private static JsonObject getJson(HttpClient http, HttpRequest req, String what) throws LmServerException {
        HttpResponse<String> r;
        try {
            r = http.send(req, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new LmServerException(what + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LmServerException(what + ": interrupted", e);
        }
        if (r.statusCode() != 200) {
            // an OAuth2 error body ({"error":"invalid_client"}) holds no secret
            throw new LmServerException(what + ": HTTP " + r.statusCode() + " " + LmApi.shorten(r.body()));
        }
        try {
            JsonElement e = JsonParser.parseString(r.body());
            if (e.isJsonObject()) {
                return e.getAsJsonObject();
            }
        } catch (JsonParseException e) {
            // below
        }
        throw new LmServerException(what + ": not a JSON object");
    }

    private static String form(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** The exp claim of a JWT, read without checking the signature (the server does that); null if none. */
    static Instant expiry(String token) {
        Long exp = lm.auth.UnverifiedClaims.expiry(token);
        return exp == null ? null : Instant.ofEpochSecond(exp);
    }
}
