package lm.server;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import sun.misc.Signal;

/**
 * SIGTERM and SIGINT as an event the main thread waits for, so that the stop runs as ordinary
 * code: in a shutdown hook, java.util.logging is torn down by its own hook at the same time and
 * the stop's log lines are lost. sun.misc.Signal is the JDK's supported-but-internal API for this
 * (module jdk.unsupported, JEP 260); javac warns about it here, and only here.
 */
final class StopSignal {
    /** The exit status when the database is lost for good (EX_UNAVAILABLE): systemd restarts the service. */
    static final int DATABASE_LOST = 69;

    private final CompletableFuture<Integer> received = new CompletableFuture<>();

    private StopSignal() {}

    static StopSignal install() {
        StopSignal s = new StopSignal();
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), sig -> s.received.complete(128 + sig.getNumber()));
        }
        return s;
    }

    /** Stops the server as a signal would, to exit with {@code status}. */
    void fail(int status) {
        received.complete(status);
    }

    /** Waits for the first of them (or {@link #fail}); returns the exit status: 128 + the signal's number, or fail's. */
    int await() throws InterruptedException {
        try {
            return received.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }
}
