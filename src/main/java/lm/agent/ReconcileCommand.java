package lm.agent;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code reconcile}: one pass, what the systemd timer runs every interval. */
@Command(name = "reconcile", mixinStandardHelpOptions = true,
        description = "Run one pass: poll the license servers, report to lm-server, apply the plan to Slurm.",
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {
            "0:pass complete",
            "1:pass complete, but some license server failed (last known values used)",
            "2:usage or configuration error, or prolog_token_file not writable",
            "3:lm-server unreachable or refused the token: nothing applied",
            "4:Slurm could not be read or a scontrol change failed"})
final class ReconcileCommand implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE",
            description = "agent configuration (default: /etc/lm/agent.conf when it exists)")
    Path config;

    @Option(names = "--dry-run", description = "change nothing anywhere (as dry_run = true): print the report, the plan"
            + " lm-server computed and rolled back, and the scontrol changes the pass would run")
    boolean dryRun;

    private final Main parent;
    private final Map<String, String> env;
    private final PrintStream out;
    private final PrintStream err;

    ReconcileCommand(Main parent, Map<String, String> env, PrintStream out, PrintStream err) {
        this.parent = parent;
        this.env = env;
        this.out = out;
        this.err = err;
    }

    @Override
    public Integer call() {
        AgentSettings s = AgentSettings.load(config != null ? config : parent.config, env);
        if (dryRun) {
            s = s.withDryRun();
        }
        Log log = new Log(err);
        log.line("pass start: lm-server " + s.apiUrl() + ", " + s.describeAuth() + (s.dryRun() ? ", dry run" : ""));
        return new Pass(s, log, out).run();
    }
}
