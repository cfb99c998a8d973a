package lm.agent;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import lm.agent.servers.BadServerOutputException;
import lm.agent.servers.Parsers;
import lm.agent.servers.ServerReport;

/**
 * Asks the license servers. Configurations are polled in parallel, so one dead server costs the
 * pass at most (servers of the slowest configuration × command_timeout), not the sum over all.
 */
final class Poller {
    // Each poll is a blocked thread waiting on a child process, not CPU work; 16 at once keeps a
    // site with many configurations well inside one interval without a fork storm.
    private static final int MAX_PARALLEL = 16;

    /**
     * What one configuration's poll gave: {@code report} null when every server failed;
     * {@code readNanos} the System.nanoTime() when the server's output was read (the report
     * sends its age, so lm-server orders readings by when they were taken, not by arrival).
     */
    record Outcome(Configuration config, ServerReport report, Configuration.LicenseServer server, long readNanos) {
        Outcome(Configuration config) {
            this(config, null, null, 0);
        }

        boolean failed() {
            return report == null;
        }
    }

    private final AgentSettings settings;
    private final Log log;

    Poller(AgentSettings settings, Log log) {
        this.settings = settings;
        this.log = log;
    }

    List<Outcome> pollAll(List<Configuration> configs) {
        if (configs.isEmpty()) {
            return List.of();
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(configs.size(), MAX_PARALLEL), r -> {
            Thread t = new Thread(r, "lm-agent-poll");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<Outcome>> futures = new ArrayList<>();
            for (Configuration c : configs) {
                futures.add(pool.submit(() -> poll(c)));
            }
            List<Outcome> outcomes = new ArrayList<>();
            for (int i = 0; i < configs.size(); i++) {
                try {
                    outcomes.add(futures.get(i).get());
                } catch (ExecutionException e) {
                    // a bug, not a server failure; still never report zeros for it
                    log.line("configuration " + configs.get(i).name() + ": poll failed: " + e.getCause());
                    outcomes.add(new Outcome(configs.get(i)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    outcomes.add(new Outcome(configs.get(i)));
                }
            }
            return outcomes;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Tries the configuration's servers in order until one gives parseable output. */
    Outcome poll(Configuration c) {
        if (c.licenseServers().isEmpty()) {
            log.line("configuration " + c.name() + ": no license server configured");
            return new Outcome(c);
        }
        for (Configuration.LicenseServer s : c.licenseServers()) {
            String where = "configuration " + c.name() + ": " + c.type() + " server " + s;
            List<String> argv;
            String stdin;
            try {
                argv = Parsers.commandFor(c.type(), settings.tools(), s.host(), s.port());
                stdin = Parsers.stdinFor(c.type(), s.host(), s.port());
            } catch (IllegalArgumentException e) {
                log.line(where + ": skipped: " + e.getMessage());
                continue;
            }
            long start = System.nanoTime();
            Exec.Result r;
            try {
                r = Exec.run(argv, stdin, Map.of(), settings.commandTimeout());
            } catch (IOException e) {
                log.line(where + ": cannot run " + argv.get(0) + ": " + e.getMessage());
                continue;
            }
            long read = System.nanoTime();
            long ms = (read - start) / 1_000_000;
            if (r.timedOut()) {
                log.line(where + ": no answer within command_timeout " + settings.commandTimeout().toSeconds() + "s, killed");
                continue;
            }
            try {
                // Some tools exit 1 on a mere warning and still print the full table: the parser,
                // not the exit status, decides whether the output describes the server.
                ServerReport report = Parsers.forType(c.type()).parse(Parsers.decode(r.stdout()));
                log.line(where + ": ok, " + report.features().size() + " features in " + ms + " ms"
                        + (r.exitCode() == 0 ? "" : " (exit " + r.exitCode() + ")"));
                return new Outcome(c, report, s, read);
            } catch (BadServerOutputException e) {
                log.line(where + ": failed (exit " + r.exitCode() + "): " + e.getMessage()
                        + (r.stderr().isBlank() ? "" : "; stderr: " + r.firstLine()));
            }
        }
        log.line("configuration " + c.name() + ": every license server failed; its features are reported as failed");
        return new Outcome(c);
    }
}
