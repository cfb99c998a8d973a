package lm.http;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * The root handler: counts the requests in flight so that a stop lets them finish. Once stopping,
 * a new request is answered 503 at once (a load balancer or the prolog's retry goes elsewhere or
 * comes back later), and every response, those of the requests that finish too, closes its
 * connection: a keep-alive connection left idle is one the final close would cut under a
 * client that is just sending on it.
 */
final class Drain implements HttpHandler {
    private final HttpHandler next;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong lastActivity = new AtomicLong(System.nanoTime());
    private volatile boolean stopping;

    Drain(HttpHandler next) {
        this.next = next;
    }

    boolean stopping() {
        return stopping;
    }

    @Override
    public void handleRequest(HttpServerExchange ex) throws Exception {
        inFlight.incrementAndGet();
        lastActivity.set(System.nanoTime());
        ex.addExchangeCompleteListener((done, nextListener) -> {
            lastActivity.set(System.nanoTime());
            inFlight.decrementAndGet();
            nextListener.proceed();
        });
        ex.addResponseCommitListener(e -> {
            if (stopping) {
                e.setPersistent(false);
                e.getResponseHeaders().put(Headers.CONNECTION, "close");
            }
        });
        if (stopping) {
            ApiServer.writeError(ex, new ApiException(503, "shutting_down",
                    "the server is stopping; try again (another instance, or this one once restarted)", null));
            return;
        }
        next.handleRequest(ex);
    }

    /**
     * Stops taking requests, then waits until none is in flight and none has come for
     * {@code quiet}, at most {@code grace}, and not at all while {@code hopeless} says the
     * requests in flight wait for what cannot come (a database that is gone: the issue saw a
     * stop wait its whole grace for them). Returns how many are still in flight.
     */
    int stop(Duration grace, Duration quiet, BooleanSupplier hopeless) throws InterruptedException {
        stopping = true;
        long deadline = System.nanoTime() + grace.toNanos();
        while (true) {
            long now = System.nanoTime();
            int running = inFlight.get();
            if (running == 0 && now - lastActivity.get() >= quiet.toNanos() || now - deadline >= 0
                    || running > 0 && hopeless.getAsBoolean()) {
                return running;
            }
            Thread.sleep(10);
        }
    }
}
