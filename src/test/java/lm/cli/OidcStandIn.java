package lm.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small OpenID provider on 127.0.0.1 for the device flow: discovery, a device authorization
 * endpoint (interval 1 s) and a token endpoint answering from a script of canned replies.
 */
final class OidcStandIn implements AutoCloseable {
    static final String DEVICE_CODE = "dev-code-123";
    static final String USER_CODE = "WDJB-MJHT";

    /** One request as received: when, path and the form it posted. */
    record Request(long nanos, String method, String path, Map<String, String> form) {}

    record Reply(int status, String json) {}

    private final HttpServer server;
    private final List<Request> requests = new ArrayList<>();
    private final Deque<Reply> tokenReplies = new ArrayDeque<>();
    /** false: discovery answers 404, as an old Keycloak without the device endpoint listed would not */
    volatile boolean discovery = true;

    OidcStandIn() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    String base() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    String issuer() {
        return base() + "/realms/test";
    }

    String tokenEndpoint() {
        return base() + "/oauth/token";
    }

    synchronized OidcStandIn reply(int status, String json) {
        tokenReplies.add(new Reply(status, json));
        return this;
    }

    synchronized OidcStandIn error(String error) {
        return reply(400, "{\"error\":\"" + error + "\"}");
    }

    synchronized List<Request> requests() {
        return List.copyOf(requests);
    }

    synchronized List<Request> requests(String path) {
        return requests.stream().filter(r -> r.path().equals(path)).toList();
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        Reply reply;
        synchronized (this) {
            requests.add(new Request(System.nanoTime(), ex.getRequestMethod(), path, form(body)));
            reply = answer(path);
        }
        byte[] bytes = reply.json().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(reply.status(), bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private Reply answer(String path) {
        String keycloak = "/realms/test/protocol/openid-connect";
        if (path.equals("/realms/test/.well-known/openid-configuration")) {
            if (!discovery) {
                return new Reply(404, "{\"error\":\"not found\"}");
            }
            return new Reply(200, "{\"issuer\":\"" + issuer() + "\",\"device_authorization_endpoint\":\"" + base()
                    + "/oauth/device\",\"token_endpoint\":\"" + tokenEndpoint() + "\"}");
        }
        if (path.equals("/oauth/device") || path.equals(keycloak + "/auth/device")) {
            return new Reply(200, "{\"device_code\":\"" + DEVICE_CODE + "\",\"user_code\":\"" + USER_CODE
                    + "\",\"verification_uri\":\"" + base() + "/activate\",\"verification_uri_complete\":\"" + base()
                    + "/activate?user_code=" + USER_CODE + "\",\"expires_in\":60,\"interval\":1}");
        }
        if (path.equals("/oauth/token") || path.equals(keycloak + "/token")) {
            Reply r = tokenReplies.poll();
            return r == null ? new Reply(400, "{\"error\":\"invalid_request\",\"error_description\":\"no reply scripted\"}") : r;
        }
        return new Reply(404, "{\"error\":\"not found\"}");
    }

    private static Map<String, String> form(String body) {
        Map<String, String> m = new LinkedHashMap<>();
        if (body.isEmpty()) {
            return m;
        }
        for (String pair : body.split("&")) {
            int eq = pair.indexOf('=');
            m.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                    URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
        }
        return m;
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
