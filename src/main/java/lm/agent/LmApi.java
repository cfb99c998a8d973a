package lm.agent;

import com.google.gson.FieldNamingPolicy;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.reflect.TypeToken;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.zip.GZIPOutputStream;

/** The calls a pass makes to lm-server. Every failure is an {@link LmServerException}. */
final class LmApi {
    static final Gson GSON = new GsonBuilder()
            .setFieldNamingPolicy(FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES)
            .disableHtmlEscaping()
            .create();
    // The report makes the server lock every pool of the cluster; under load that can take a few
    // seconds, but a minute means something is wrong and the next pass will try again.
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);

    static final String DRY_RUN = "/agent/report/dry_run";

    private final URI base;
    private final HttpClient http;

    LmApi(URI base, HttpClient http) {
        this.base = base;
        this.http = http;
    }

    static HttpClient newClient() {
        return HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    /** This cluster's configurations, servers in the order to try them. */
    List<Configuration> configurations(String token) throws LmServerException {
        String body = send("GET", "/configurations/by_client_id", token, null);
        try {
            List<Configuration> list = GSON.fromJson(body, new TypeToken<List<Configuration>>() {}.getType());
            if (list == null) {
                throw new LmServerException("GET /configurations/by_client_id: empty answer");
            }
            for (Configuration c : list) {
                if (c.name() == null || c.type() == null) {
                    throw new LmServerException("GET /configurations/by_client_id: a configuration without name or type");
                }
            }
            return list;
        } catch (JsonParseException e) {
            throw new LmServerException("GET /configurations/by_client_id: not the expected JSON: " + e.getMessage());
        }
    }

    /**
     * Sends the pass's report, JSON gzipped by {@link #gzip}: job ids and checkouts shrink about
     * fivefold, which keeps a 150,000-job report far below lm-server's limit. {@code dryRun}:
     * lm-server computes the plan and rolls it back. Returns the plan.
     */
    JsonObject report(String token, byte[] gzippedJson, boolean dryRun) throws LmServerException {
        String path = dryRun ? DRY_RUN : "/agent/report";
        return object("POST /agent/report", send("POST", path, token, gzippedJson));
    }

    /**
     * A token for this cluster's prolog from POST /prolog_token: signed by lm-server, carrying the
     * prolog role only (book, read, release jobs), valid for the server's prolog_token_ttl. The
     * agent's own token, which may change the cluster's counts, never leaves the agent.
     */
    String prologToken(String token) throws LmServerException {
        String body = send("POST", "/prolog_token", token, null);
        try {
            JsonElement e = JsonParser.parseString(body);
            if (e.isJsonObject() && e.getAsJsonObject().has("token") && e.getAsJsonObject().get("token").isJsonPrimitive()) {
                return e.getAsJsonObject().get("token").getAsString();
            }
        } catch (JsonParseException e) {
            // reported below
        }
        throw new LmServerException("POST /prolog_token: expected {\"token\": …}, got " + shorten(body));
    }

    /**
     * This cluster's offline budget (GET /budget): per Slurm license, how many its jobs may book
     * while lm-server is unreachable.
     */
    JsonObject budget(String token, boolean dryRun) throws LmServerException {
        String path = dryRun ? "/budget/dry_run" : "/budget";
        return object("GET " + path, send("GET", path, token, null));
    }

    /**
     * Replays ledger entries (POST /agent/offline, JSON gzipped as the report is); the answer
     * has one result per entry, in order, and the pools now short.
     */
    JsonObject replayOffline(String token, byte[] gzippedJson) throws LmServerException {
        return object("POST /agent/offline", send("POST", "/agent/offline", token, gzippedJson));
    }

    private static JsonObject object(String call, String body) throws LmServerException {
        try {
            JsonElement e = JsonParser.parseString(body);
            if (e.isJsonObject()) {
                return e.getAsJsonObject();
            }
        } catch (JsonParseException e) {
            // reported below
        }
        throw new LmServerException(call + ": expected a JSON object, got " + shorten(body));
    }

    static byte[] gzip(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out, 64 * 1024)) {
            z.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e); // in memory: cannot happen
        }
        return out.toByteArray();
    }

    /** {@code gzippedJson}: a JSON body, gzipped; null for none. */
    private String send(String method, String path, String token, byte[] gzippedJson) throws LmServerException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(REQUEST_TIMEOUT)
                .header("Authorization", "Bearer " + token)
                .header("Accept", "application/json");
        if (gzippedJson != null) {
            b.header("Content-Type", "application/json").header("Content-Encoding", "gzip");
        }
        b.method(method, gzippedJson == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(gzippedJson));
        HttpResponse<String> r;
        try {
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (ConnectException e) {
            throw new LmServerException(method + " " + base + path + ": cannot connect (is lm-server running?)", e);
        } catch (HttpTimeoutException e) {
            throw new LmServerException(method + " " + base + path + ": no answer within the timeout", e);
        } catch (IOException e) {
            throw new LmServerException(method + " " + base + path + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LmServerException(method + " " + path + ": interrupted", e);
        }
        int status = r.statusCode();
        if (status == 200 || status == 201) {
            return r.body();
        }
        String why = errorMessage(r.body());
        if (status == 401) {
            throw new LmServerException(method + " " + path + ": lm-server refused the token (401 " + why
                    + "); renew it (lm-server token --client-id CLUSTER --role agent)");
        }
        if (status == 404 && path.equals(DRY_RUN)) {
            // the route is separate so that an older lm-server refuses it instead of applying the report
            throw new LmServerException("POST " + path + ": this lm-server has no dry runs (404, older than lm-agent);"
                    + " nothing was applied");
        }
        if (status == 403) {
            throw new LmServerException(method + " " + path + ": the token lacks a permission (403 " + why
                    + "); the agent needs the agent role (lm-server token --role agent: config:read, feature:update,"
                    + " prolog-token:create)");
        }
        throw new LmServerException(method + " " + path + ": HTTP " + status + " " + why);
    }

    // lm-server answers {code, message, detail}; anything else (a proxy's HTML page) is shortened.
    private static String errorMessage(String body) {
        try {
            JsonElement e = JsonParser.parseString(body);
            if (e.isJsonObject()) {
                JsonObject o = e.getAsJsonObject();
                StringBuilder s = new StringBuilder();
                for (String k : List.of("message", "detail")) {
                    if (o.has(k) && o.get(k).isJsonPrimitive()) {
                        if (s.length() > 0) {
                            s.append(": ");
                        }
                        s.append(o.get(k).getAsString());
                    }
                }
                if (s.length() > 0) {
                    return shorten(s.toString());
                }
            }
        } catch (JsonParseException | IllegalStateException e) {
            // not JSON: fall through
        }
        return shorten(body);
    }

    static String shorten(String s) {
        String one = s == null ? "" : s.strip().replaceAll("\\s+", " ");
        return one.length() <= 200 ? one : one.substring(0, 200) + "...";
    }
}
