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
    private final CompletableFuture<Signal> received = new CompletableFuture<>();

    private StopSignal() {}

    static StopSignal install() {
        StopSignal s = new StopSignal();
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), s.received::complete);
        }
        return s;
    }

    /** Waits for the first of them; returns the exit status that reports it, 128 + its number. */
    int await() throws InterruptedException {
        try {
            Signal sig = received.get();
            return 128 + sig.getNumber();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }
}
