package lm.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.StringJoiner;
import java.util.function.Supplier;
import lm.http.Json;

/** lm-server's API as the CLI calls it: one request, a 2xx answer or a {@link CliException}. */
final class Api {
    /** A successful answer: the body as sent (printed by --json, control characters escaped: Terminal) and X-Total-Count. */
    record Answer(int status, String body, Long total) {
        JsonElement json() {
            return JsonParser.parseString(body);
        }
    }

    private final String base;
    private final Duration timeout;
    private final Supplier<String> token;
    private final HttpClient client;

    Api(String base, Duration timeout, Supplier<String> token) {
        this.base = base;
        this.timeout = timeout;
        this.token = token;
        this.client = client(timeout);
    }

    static HttpClient client(Duration timeout) {
        // HTTP/1.1: the default (HTTP/2) would send an h2c upgrade with every plain-http request
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NORMAL).build();
    }

    Answer get(String path, Map<String, String> query) {
        return send("GET", path + queryString(query), null);
    }

    Answer send(String method, String path, JsonElement body) {
        String bearer = token.get(); // before connecting: "not logged in" beats "server down"
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(timeout)
                .header("Accept", "application/json")
                .header("Authorization", "Bearer " + bearer);
        if (body != null) {
            b.header("Content-Type", "application/json");
            b.method(method, HttpRequest.BodyPublishers.ofString(Json.GSON.toJson(body)));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpResponse<String> r;
        try {
            r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw unreachable(base, e, timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException(1, "interrupted");
        }
        int status = r.statusCode();
        if (status >= 200 && status < 300) {
            Long total = r.headers().firstValue("X-Total-Count").map(Long::valueOf).orElse(null);
            return new Answer(status, r.body(), total);
        }
        int exit = status == 401 || status == 403 ? Main.EXIT_AUTH : Main.EXIT_REFUSED;
        throw new CliException(exit, describe(status, r.body()));
    }

    /** "<status> <code>: <message> (<detail>)" from the API's error body, or the status and body text. */
    static String describe(int status, String body) {
        try {
            JsonElement e = JsonParser.parseString(body);
            if (e.isJsonObject() && e.getAsJsonObject().has("message")) {
                JsonObject o = e.getAsJsonObject();
                String code = Table.scalar(o.get("code"));
                StringBuilder s = new StringBuilder().append(status).append(' ')
                        .append(code.isEmpty() ? "error" : code).append(": ").append(Table.scalar(o.get("message")));
                JsonElement detail = o.get("detail");
                if (detail != null && !detail.isJsonNull() && !Table.scalar(detail).isEmpty()) {
                    s.append(" (").append(Table.scalar(detail)).append(')');
                }
                return s.toString().replace('\n', ' ');
            }
        } catch (RuntimeException e) {
            // not the API's JSON: e.g. a proxy's HTML page
        }
        String text = body == null ? "" : body.strip().replaceAll("\\s+", " ");
        if (text.length() > 200) {
            text = text.substring(0, 200) + "…";
        }
        return status + (text.isEmpty() ? "" : " " + text);
    }

    /** Connection refused, unknown host, timeout, reset: all "cannot reach", exit 3. */
    static CliException unreachable(String where, IOException e, Duration timeout) {
        String why;
        if (e instanceof HttpTimeoutException) {
            why = "no answer within " + timeout.toSeconds() + " s";
        } else if (hasCause(e, UnresolvedAddressException.class) || hasCause(e, UnknownHostException.class)) {
            why = "unknown host";
        } else if (e instanceof ConnectException) {
            why = "connection refused";
        } else {
            why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        }
        return CliException.unreachable("cannot reach " + where + ": " + why);
    }

    private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }

    private static String queryString(Map<String, String> query) {
        StringJoiner q = new StringJoiner("&", "?", "");
        q.setEmptyValue("");
        query.forEach((k, v) -> {
            if (v != null) {
                // %20, not '+': a space is a space in a query string whatever the server's form rules
                q.add(k + "=" + URLEncoder.encode(v, StandardCharsets.UTF_8).replace("+", "%20"));
            }
        });
        return q.toString();
    }
}
