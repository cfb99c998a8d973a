package lm.slurm;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Collectors;

/**
 * A tiny stand-in for lm-server on 127.0.0.1 (random port) that records every
 * request and answers from a script: queued one-shot answers first, then the
 * standing answer per method.  It only exercises the HTTP contract of
 * lm-prolog/lm-epilog; the real server is tested with its own tests.
 */
final class LmStandIn implements AutoCloseable {

    /** query: the raw query string, null without one. */
    record Request(String method, String path, String authorization, String contentType, String body, String query) {}

    record Answer(int status, String body, Duration delay) {
        static Answer of(int status, String body) {
            return new Answer(status, body, Duration.ZERO);
        }
    }

    private final HttpServer server;
    private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "lm-stand-in");
        t.setDaemon(true);
        return t;
    });
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final Queue<Answer> queued = new ConcurrentLinkedQueue<>();
    private volatile Answer postAnswer = Answer.of(201, "{\"slurm_job_id\":\"1\"}");
    private volatile Answer deleteAnswer = Answer.of(204, "");

    LmStandIn() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        server.setExecutor(pool);
        server.createContext("/", this::handle);
        server.start();
    }

    /** Base URL, as api_url. */
    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/lm";
    }

    /** The standing answer to POST (and any method but DELETE). */
    LmStandIn onPost(int status, String body) {
        postAnswer = Answer.of(status, body);
        return this;
    }

    LmStandIn onPost(Answer answer) {
        postAnswer = answer;
        return this;
    }

    LmStandIn onDelete(int status, String body) {
        deleteAnswer = Answer.of(status, body);
        return this;
    }

    /** One answer for the next request, whatever its method, before the standing ones. */
    LmStandIn thenOnce(int status, String body) {
        queued.add(Answer.of(status, body));
        return this;
    }

    List<Request> requests() {
        return List.copyOf(requests);
    }

    List<Request> requests(String method) {
        return requests.stream().filter(r -> r.method().equals(method)).collect(Collectors.toList());
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String body;
            try (InputStream in = ex.getRequestBody()) {
                body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            requests.add(new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(),
                    ex.getRequestHeaders().getFirst("Authorization"),
                    ex.getRequestHeaders().getFirst("Content-Type"), body, ex.getRequestURI().getRawQuery()));
            Answer a = queued.poll();
            if (a == null) {
                a = "DELETE".equals(ex.getRequestMethod()) ? deleteAnswer : postAnswer;
            }
            if (!a.delay().isZero()) {
                try {
                    Thread.sleep(a.delay().toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            byte[] out = a.status() == 204 ? new byte[0] : a.body().getBytes(StandardCharsets.UTF_8);
            if (out.length > 0) {
                ex.getResponseHeaders().set("Content-Type", "application/json");
            }
            try {
                ex.sendResponseHeaders(a.status(), out.length == 0 ? -1 : out.length);
                if (out.length > 0) {
                    try (OutputStream os = ex.getResponseBody()) {
                        os.write(out);
                    }
                }
            } catch (IOException gone) {
                // the client gave up (curl --max-time): nothing to answer
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow();
    }
}
