package lm.http;

import com.google.gson.JsonObject;
import io.undertow.Undertow;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RoutingHandler;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.Methods;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.logging.Level;
import java.util.logging.Logger;
import lm.auth.AuthException;
import lm.auth.Authenticator;
import lm.auth.Principal;

/**
 * Undertow under {@code /lm}. Handlers run on worker threads (JDBC never on an IO thread); every
 * exception ends here and is written as {@code {"code","message","detail"}}: client errors keep
 * their 4xx, an unknown failure is a logged 500 with no internals in the body.
 */
public final class ApiServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("lm.http");
    private static final HttpString TOTAL = new HttpString("X-Total-Count");
    public static final String PREFIX = "/lm";

    private final Undertow undertow;

    public ApiServer(String host, int port, Routes routes, Authenticator auth) {
        RoutingHandler router = new RoutingHandler();
        for (Routes.Route r : routes.all()) {
            router.add(r.method(), PREFIX + r.path(), new Dispatch(r, auth));
        }
        router.setFallbackHandler(ex -> writeError(ex, new ApiException(404, "not_found", "no such path: " + ex.getRequestPath(), null)));
        router.setInvalidMethodHandler(ex -> writeError(ex, new ApiException(405, "method_not_allowed",
                ex.getRequestMethod() + " is not allowed on " + ex.getRequestPath(), null)));
        this.undertow = Undertow.builder()
                .addHttpListener(port, host)
                .setHandler(router)
                .build();
    }

    public void start() {
        undertow.start();
    }

    /** The bound port (useful with port 0 in tests). */
    public int port() {
        return ((InetSocketAddress) undertow.getListenerInfo().get(0).getAddress()).getPort();
    }

    @Override
    public void close() {
        undertow.stop();
    }

    private static final class Dispatch implements HttpHandler {
        private final Routes.Route route;
        private final Authenticator auth;

        Dispatch(Routes.Route route, Authenticator auth) {
            this.route = route;
            this.auth = auth;
        }

        @Override
        public void handleRequest(HttpServerExchange ex) {
            if (ex.isInIoThread()) {
                ex.dispatch(this);
                return;
            }
            try {
                Principal p = null;
                if (route.resource() != null) {
                    p = auth.require(ex.getRequestHeaders().getFirst(Headers.AUTHORIZATION), route.resource(), route.action());
                }
                String body = null;
                if (ex.getRequestMethod().equals(Methods.POST) || ex.getRequestMethod().equals(Methods.PUT)) {
                    body = readBody(ex, route.maxBody());
                }
                Reply reply = route.endpoint().handle(new Call(ex, p, body));
                write(ex, reply);
            } catch (ApiException e) {
                writeError(ex, e);
            } catch (AuthException e) {
                ex.getResponseHeaders().put(Headers.WWW_AUTHENTICATE, "Bearer");
                writeError(ex, new ApiException(e.status(), e.status() == 401 ? "unauthorized" : "forbidden", e.getMessage(), null));
            } catch (SQLException e) {
                ApiException mapped = SqlErrors.toApi(e);
                if (mapped == null) {
                    LOG.log(Level.SEVERE, "lm-server: " + route.method() + " " + route.path() + ": unexpected SQL error " + e.getSQLState(), e);
                    mapped = new ApiException(500, "internal", "internal error (logged)", null);
                } else if (mapped.status() == 503) {
                    LOG.warning("lm-server: " + route.method() + " " + route.path() + ": database unavailable: " + e.getMessage());
                }
                writeError(ex, mapped);
            } catch (Exception e) {
                LOG.log(Level.SEVERE, "lm-server: " + route.method() + " " + route.path() + ": unexpected error", e);
                writeError(ex, new ApiException(500, "internal", "internal error (logged)", null));
            }
        }
    }

    private static String readBody(HttpServerExchange ex, int max) throws IOException {
        ex.startBlocking();
        InputStream in = ex.getInputStream();
        return RequestBody.read(in, ex.getRequestHeaders().getFirst(Headers.CONTENT_ENCODING), max);
    }

    private static void write(HttpServerExchange ex, Reply reply) {
        ex.setStatusCode(reply.status());
        if (reply.totalCount() != null) {
            ex.getResponseHeaders().put(TOTAL, reply.totalCount());
        }
        if (reply.json() == null) {
            ex.endExchange();
            return;
        }
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
        ex.getResponseSender().send(reply.json(), StandardCharsets.UTF_8);
    }

    static void writeError(HttpServerExchange ex, ApiException e) {
        JsonObject o = new JsonObject();
        o.addProperty("code", e.code());
        o.addProperty("message", e.getMessage());
        o.add("detail", Json.GSON.toJsonTree(e.detail()));
        if (ex.isResponseStarted()) {
            return;
        }
        ex.setStatusCode(e.status());
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
        ex.getResponseSender().send(Json.GSON.toJson(o), StandardCharsets.UTF_8);
    }
}
