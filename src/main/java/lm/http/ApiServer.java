package lm.http;

import com.google.gson.JsonObject;
import io.undertow.Undertow;
import io.undertow.UndertowOptions;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RoutingHandler;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.Methods;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.Logger;
import lm.auth.AuthException;
import lm.auth.Authenticator;
import lm.auth.Principal;
import org.xnio.Options;

/**
 * Undertow under {@code /lm}. A request body is received without holding any thread (the IO
 * thread reads it as it arrives, bounded in size and in idle time); handlers then run on worker
 * threads (JDBC never on an IO thread); every exception ends here and is written as
 * {@code {"code","message","detail"}}: client errors keep their 4xx, an unknown failure is a
 * logged 500 with no internals in the body.
 */
public final class ApiServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("lm.http");
    private static final HttpString TOTAL = new HttpString("X-Total-Count");
    private static final HttpString RETRY_AFTER = new HttpString("Retry-After");
    /**
     * A stop waits this long with nothing in flight before it closes the connections: the
     * clients of the last requests to finish come back at once (their next job, a retry), and a
     * connection accepted while the listener closes would be reset; these get their 503 first.
     * Long enough for a client on a busy host to read its answer and reconnect.
     */
    private static final Duration QUIET = Duration.ofMillis(500);
    public static final String PREFIX = "/lm";

    private final Undertow undertow;
    private final Drain drain;

    /** {@code limits}: what a request may take (read timeout, body memory, read statement timeout). */
    public ApiServer(String host, int port, Routes routes, Authenticator auth, Limits limits) {
        RoutingHandler router = new RoutingHandler();
        // the dashboard and the API docs: whole trees of files, before the API's exact routes
        io.undertow.server.handlers.PathHandler paths = new io.undertow.server.handlers.PathHandler(router);
        for (Routes.WebTree t : routes.webTrees()) {
            paths.addPrefixPath(PREFIX + t.prefix(), t.handler());
        }
        this.drain = new Drain(paths);
        BodyMemory memory = new BodyMemory(limits.bodyMemory());
        Reads reads = new Reads(limits.readStatementTimeout(), limits.searches());
        for (Routes.Route r : routes.all()) {
            router.add(r.method(), PREFIX + r.path(), new Dispatch(r, auth, drain, memory, reads));
        }
        router.setFallbackHandler(ex -> writeError(ex, new ApiException(404, "not_found", "no such path: " + ex.getRequestPath(), null)));
        router.setInvalidMethodHandler(ex -> writeError(ex, new ApiException(405, "method_not_allowed",
                ex.getRequestMethod() + " is not allowed on " + ex.getRequestPath(), null)));
        int ms = (int) Math.min(Integer.MAX_VALUE, limits.readTimeout().toMillis());
        this.undertow = Undertow.builder()
                .addHttpListener(port, host)
                // mid-body, mid-headers or idle between requests: a silent client holds no
                // thread, but its connection and buffer would be held forever
                .setSocketOption(Options.READ_TIMEOUT, ms)
                .setServerOption(UndertowOptions.REQUEST_PARSE_TIMEOUT, ms)
                .setHandler(drain)
                .build();
    }

    public void start() {
        undertow.start();
    }

    /** The bound port (useful with port 0 in tests). */
    public int port() {
        return ((InetSocketAddress) undertow.getListenerInfo().get(0).getAddress()).getPort();
    }

    /**
     * Answers 503 to new requests from now on and waits for those in flight, at most
     * {@code grace}; returns how many are still running. The listener stays open: call
     * {@link #close} next.
     */
    public int stop(Duration grace) throws InterruptedException {
        return stop(grace, () -> false);
    }

    /** {@link #stop(Duration)}, but returns at once when {@code hopeless}: what they wait for cannot come. */
    public int stop(Duration grace, java.util.function.BooleanSupplier hopeless) throws InterruptedException {
        return drain.stop(grace, QUIET, hopeless);
    }

    /** Closes the listener and every connection. */
    @Override
    public void close() {
        undertow.stop();
    }

    private static final class Dispatch implements HttpHandler {
        private final Routes.Route route;
        private final Authenticator auth;
        private final Drain drain;
        private final BodyMemory memory;
        private final Reads reads;

        Dispatch(Routes.Route route, Authenticator auth, Drain drain, BodyMemory memory, Reads reads) {
            this.route = route;
            this.auth = auth;
            this.drain = drain;
            this.memory = memory;
            this.reads = reads;
        }

        /**
         * On the IO thread: everything else on a worker, the token check first (it may fetch an
         * issuer's keys or read revocations from the database).
         */
        @Override
        public void handleRequest(HttpServerExchange ex) {
            ex.dispatch(this::authorized);
        }

        /**
         * The token, then the path parameters, then the body: a caller without the right token
         * gets its 401 or 403 before a byte of the body is read, and the connection closes under
         * the unread rest (issue 20: 140 unauthenticated uploads announcing 1 GiB had run a
         * 256 MiB server out of memory).
         */
        private void authorized(HttpServerExchange ex) {
            Principal p;
            try {
                p = route.resource() == null ? null
                        : auth.require(ex.getRequestHeaders().getFirst(Headers.AUTHORIZATION), route.resource(), route.action());
                Call.pathParameters(ex);
            } catch (Exception e) {
                if (ex.getRequestContentLength() > 0 || ex.getRequestHeaders().contains(Headers.TRANSFER_ENCODING)) {
                    // a body announced and never to be read: Undertow would drain it to keep the connection
                    ex.setPersistent(false);
                }
                fail(ex, e);
                return;
            }
            if (!ex.getRequestMethod().equals(Methods.POST) && !ex.getRequestMethod().equals(Methods.PUT)) {
                run(ex, p, null);
                return;
            }
            new Upload(ex, route.maxBody(), memory, route.method() + " " + route.path()).receive(bytes -> run(ex, p, bytes));
        }

        private void run(HttpServerExchange ex, Principal p, byte[] bytes) {
            try {
                String body = bytes == null ? null
                        : RequestBody.decode(bytes, ex.getRequestHeaders().getFirst(Headers.CONTENT_ENCODING), route.maxBody());
                Reply reply = route.endpoint().handle(new Call(ex, p, body, reads));
                write(ex, reply);
            } catch (Exception e) {
                fail(ex, e);
            }
        }

        /** Every failure of a request, as its answer: client errors keep their 4xx, the rest is a logged 500. */
        private void fail(HttpServerExchange ex, Exception failure) {
            if (failure instanceof ApiException e) {
                writeError(ex, e);
            } else if (failure instanceof AuthException e) {
                ex.getResponseHeaders().put(Headers.WWW_AUTHENTICATE, "Bearer");
                String code = switch (e.status()) {
                    case 401 -> "unauthorized";
                    case 503 -> "database_unavailable";
                    default -> "forbidden";
                };
                writeError(ex, new ApiException(e.status(), code, e.getMessage(), null));
            } else if (failure instanceof SQLException e) {
                ApiException mapped = SqlErrors.toApi(e);
                if (mapped == null && drain.stopping()) {
                    // past shutdown_grace the pool is closed under the request: that is the stop's doing
                    mapped = stoppedUnder();
                } else if (mapped == null) {
                    LOG.log(Level.SEVERE, "lm-server: " + route.method() + " " + route.path() + ": unexpected SQL error " + e.getSQLState(), e);
                    mapped = new ApiException(500, "internal", "internal error (logged)", null);
                } else if (mapped.status() == 503) {
                    LOG.warning("lm-server: " + route.method() + " " + route.path() + ": " + mapped.code() + ": " + e.getMessage());
                }
                writeError(ex, mapped);
            } else if (drain.stopping()) {
                writeError(ex, stoppedUnder());
            } else {
                LOG.log(Level.SEVERE, "lm-server: " + route.method() + " " + route.path() + ": unexpected error", failure);
                writeError(ex, new ApiException(500, "internal", "internal error (logged)", null));
            }
        }

        private ApiException stoppedUnder() {
            LOG.warning("lm-server: " + route.method() + " " + route.path() + ": cut short by the stop (shutdown_grace passed)");
            return new ApiException(503, "shutting_down", "the server stopped before this request finished; try again", null);
        }
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
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, reply.contentType());
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
        if (e.status() == 503) {
            // every 503 is a moment's trouble (database, timeout, stop); lm-prolog waits its own
            // retry_delay, other clients get told
            ex.getResponseHeaders().put(RETRY_AFTER, "1");
        }
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
        ex.getResponseSender().send(Json.GSON.toJson(o), StandardCharsets.UTF_8);
    }
}
