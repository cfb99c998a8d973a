package lm.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.StringJoiner;

/** The two calls the CLI makes to an OpenID provider: discovery, and form POSTs to its endpoints. */
final class Oidc {
    /** Where to ask for a device code and where to get tokens. */
    record Endpoints(String deviceAuthorization, String token) {}

    /** A JSON answer (an empty object when the body wasn't JSON) and its status. */
    record Answer(int status, JsonObject json) {
        String string(String key) {
            JsonElement e = json.get(key);
            return e == null || e.isJsonNull() ? null : e.getAsString();
        }

        long number(String key, long def) {
            JsonElement e = json.get(key);
            try {
                return e == null || e.isJsonNull() ? def : e.getAsLong();
            } catch (NumberFormatException | UnsupportedOperationException x) {
                return def;
            }
        }

        /** "error: description" for messages. */
        String error() {
            String err = string("error");
            String desc = string("error_description");
            if (err == null) {
                return "HTTP " + status;
            }
            return desc == null ? err : err + ": " + desc;
        }
    }

    private final HttpClient client;
    private final Duration timeout;

    Oidc(Duration timeout) {
        this.client = Api.client(timeout);
        this.timeout = timeout;
    }

    /**
     * The endpoints from {@code <issuer>/.well-known/openid-configuration}; Keycloak's fixed paths
     * when discovery fails or (older Keycloak) doesn't list a device endpoint.
     */
    Endpoints discover(String issuer) {
        String deviceFallback = issuer + "/protocol/openid-connect/auth/device";
        String tokenFallback = issuer + "/protocol/openid-connect/token";
        Answer a = send(HttpRequest.newBuilder(URI.create(issuer + "/.well-known/openid-configuration")).GET(), issuer);
        if (a.status() != 200) {
            return new Endpoints(deviceFallback, tokenFallback);
        }
        String device = a.string("device_authorization_endpoint");
        String token = a.string("token_endpoint");
        return new Endpoints(device == null ? deviceFallback : device, token == null ? tokenFallback : token);
    }

    Answer post(String url, Map<String, String> form) {
        StringJoiner body = new StringJoiner("&");
        form.forEach((k, v) -> {
            if (v != null) {
                body.add(enc(k) + "=" + enc(v));
            }
        });
        return send(HttpRequest.newBuilder(URI.create(url))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())), url);
    }

    private Answer send(HttpRequest.Builder b, String what) {
        HttpRequest req = b.timeout(timeout).header("Accept", "application/json").build();
        HttpResponse<String> r;
        try {
            r = client.send(req, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw Api.unreachable(what, e, timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException(1, "interrupted");
        }
        JsonObject json = new JsonObject();
        try {
            JsonElement e = JsonParser.parseString(r.body());
            if (e.isJsonObject()) {
                json = e.getAsJsonObject();
            }
        } catch (RuntimeException e) {
            // not JSON (an HTML error page of a proxy): the status alone tells the story
        }
        return new Answer(r.statusCode(), json);
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
