package lm.agent;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import lm.agent.servers.ParseCommand;
import lm.config.Config;
import lm.server.ApiRoutes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * lm-agent(8): runs on each cluster's Slurm controller, once per interval from a systemd timer.
 *
 * <p>Exit status of {@code reconcile}, a contract for the timer's OnFailure= and for monitoring.
 * When several problems occur in one pass, the first of 3, 4, 2, 1 that applies is returned.
 * <ul>
 *   <li>0: pass complete;</li>
 *   <li>1: pass complete, but some license server could not be read (or a configured feature
 *       was missing from its output): those features were reported as failed and lm-server used
 *       their last known values, or held them in full once the outage grace had passed;</li>
 *   <li>2: usage or configuration error (nothing done), or the prolog token could not be
 *       fetched or prolog_token_file written, or the offline ledger replayed or budget_file
 *       written (the rest of the pass was done);</li>
 *   <li>3: lm-server unreachable or refused the request (token missing, expired or lacking a
 *       permission): nothing was applied to Slurm;</li>
 *   <li>4: Slurm could not be read (usage was still reported) or a scontrol change failed.</li>
 * </ul>
 */
@Command(name = "lm-agent", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "License Manager agent: polls the license servers, reports to lm-server and keeps"
                + " the Slurm license reservation up to date (see lm-agent(8)).",
        subcommandsRepeatable = false)
public final class Main implements Runnable {
    static final int OK = 0;
    static final int STALE = 1;
    static final int USAGE = 2;
    static final int SERVER = 3;
    static final int SLURM = 4;

    @Option(names = "--config", paramLabel = "FILE",
            description = "agent configuration (default: /etc/lm/agent.conf when it exists)")
    Path config;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(commandLine(System.getenv(), System.out, System.err).execute(args));
    }

    /** The whole command tree; tests pass their own environment and streams. */
    static CommandLine commandLine(Map<String, String> env, PrintStream out, PrintStream err) {
        Main main = new Main();
        CommandLine cl = new CommandLine(main);
        cl.addSubcommand("reconcile", new ReconcileCommand(main, env, out, err));
        cl.addSubcommand("parse", new ParseCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof Config.ConfigException) {
                cmd.getErr().println("lm-agent: configuration error: " + e.getMessage());
                cmd.getErr().flush();
                return USAGE;
            }
            throw e;
        });
        return cl;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command: reconcile or parse");
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"lm-agent " + ApiRoutes.version()};
        }
    }
}
