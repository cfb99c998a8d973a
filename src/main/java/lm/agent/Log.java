package lm.agent;

import java.io.PrintStream;

/**
 * One line per event on stderr, {@code lm-agent: <what>}: journald adds the time, and a pass is
 * short enough that a line per action is readable. Synchronized because polls log concurrently.
 */
final class Log {
    private final PrintStream err;

    Log(PrintStream err) {
        this.err = err;
    }

    synchronized void line(String message) {
        err.println("lm-agent: " + message.replaceAll("[\\r\\n]+", " "));
        err.flush();
    }
}
