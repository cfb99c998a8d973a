package lm.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Map;
import lm.config.Config;
import lm.server.ApiRoutes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** lm-cli(1): the command line of administrators and users over lm-server's API. */
@Command(name = "lm-cli", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {
            "License Manager's command line: log in with your identity provider (device code flow), list and change "
                    + "configurations, license servers, products and features, and list jobs and bookings.",
            "Tables are for people; --json prints the API's JSON, for scripts. Control characters in what the server "
                    + "sends (a user name, a message) are printed as \\uXXXX, never run by the terminal."
        },
        footerHeading = "%nFiles:%n",
        footer = {
            "  /etc/lm/cli.conf               system settings",
            "  ~/.config/lm/cli.conf          user settings, over the system's",
            "                                 ($XDG_CONFIG_HOME/lm/cli.conf)",
            "  ~/.local/share/lm/token.json   the stored login, mode 0600",
            "                                 ($XDG_DATA_HOME/lm/token.json)",
            "%nEnvironment:%n",
            "  LM_<KEY>   overrides a setting, e.g. LM_API_URL, LM_OIDC_ISSUER",
            "  LM_TOKEN   a bearer token: used after --token-file, before the stored login",
        })
public final class Main {
    static final int EXIT_OK = 0;
    static final int EXIT_REFUSED = 1;
    static final int EXIT_USAGE = 2;
    static final int EXIT_UNREACHABLE = 3;
    static final int EXIT_AUTH = 4;

    /** The contract, in every command's help. */
    static final Map<String, String> EXIT_CODES = new java.util.LinkedHashMap<>();

    static {
        EXIT_CODES.put("0", "done");
        EXIT_CODES.put("1", "the API refused the request (4xx other than 401/403, or 5xx)");
        EXIT_CODES.put("2", "usage error: a bad option or argument, or an invalid configuration");
        EXIT_CODES.put("3", "cannot reach the server: connection refused, timeout, unknown host");
        EXIT_CODES.put("4", "authentication: no token, 401, 403, or the login failed");
    }

    @Option(names = "--config", paramLabel = "FILE", scope = ScopeType.INHERIT,
            description = "Read settings from FILE instead of /etc/lm/cli.conf and ~/.config/lm/cli.conf.")
    Path config;

    @Option(names = "--api-url", paramLabel = "URL", scope = ScopeType.INHERIT,
            description = "Base URL of the API (overrides api_url; default http://127.0.0.1:8000/lm).")
    String apiUrl;

    @Option(names = "--json", scope = ScopeType.INHERIT,
            description = "Print the API's JSON instead of tables: the same values, control characters as \\uXXXX.")
    boolean json;

    @Option(names = "--token-file", paramLabel = "FILE", scope = ScopeType.INHERIT,
            description = "Read the bearer token from FILE (a JWT, or JSON with an access_token); "
                    + "comes before LM_TOKEN and the stored login.")
    Path tokenFile;

    final Map<String, String> env;
    private CliSettings settings;
    private final PrintWriter out;

    Main(Map<String, String> env, PrintWriter out) {
        this.env = env;
        this.out = out;
    }

    public static void main(String[] args) {
        CommandLine cl = commandLine(System.getenv(), System.out, System.err);
        int exit = cl.execute(args);
        cl.getOut().flush(); // tables are written with print, which autoflush leaves buffered
        cl.getErr().flush();
        System.exit(exit);
    }

    static CommandLine commandLine(Map<String, String> env, PrintStream stdout, PrintStream stderr) {
        PrintWriter out = Terminal.writer(stdout);
        Main main = new Main(env, out);
        CommandLine cl = new CommandLine(main);
        cl.addSubcommand("login", new AuthCommands.Login(main));
        cl.addSubcommand("logout", new AuthCommands.Logout(main));
        cl.addSubcommand("show-token", new AuthCommands.ShowToken(main));
        for (Resource r : Resource.ALL) {
            cl.addSubcommand(r.command(), ResourceCommands.group(main, r));
        }
        cl.addSubcommand("checkouts", UsageCommands.checkouts(main));
        cl.addSubcommand("report", ReportCommands.group(main, Clock.systemUTC()));
        for (CommandLine sub : cl.getSubcommands().values()) {
            globalsOnlyInRootHelp(sub);
        }
        withExitCodes(cl);
        // after the subcommands, so that theirs (help, usage errors) go the same way: values
        // from the server reach the terminal with their control characters escaped (Terminal);
        // picocli's colours would be escape sequences too, so help is plain
        cl.setOut(out);
        cl.setErr(Terminal.writer(stderr));
        cl.setColorScheme(CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF));
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof CliException c) {
                cmd.getErr().println("lm-cli: " + c.getMessage());
                return c.exit();
            }
            if (e instanceof Config.ConfigException) {
                cmd.getErr().println("lm-cli: configuration error: " + e.getMessage());
                return EXIT_USAGE;
            }
            throw e;
        });
        return cl;
    }

    /**
     * The global options work after any command too (lm-cli products list --json), but each
     * command's help shows only its own options and points at lm-cli --help for the rest: the
     * same four options under each of thirty commands would bury what differs.
     */
    private static void globalsOnlyInRootHelp(CommandLine cl) {
        CommandSpec spec = cl.getCommandSpec();
        for (OptionSpec o : new ArrayList<>(spec.options())) {
            if (o.inherited() && !o.hidden()) {
                spec.remove(o);
                // LOCAL: every command already has its own copy, bound to the same field of Main
                spec.addOption(o.toBuilder().hidden(true).scopeType(ScopeType.LOCAL).build());
            }
        }
        spec.usageMessage().footer("%nGlobal options (see lm-cli --help) may be given here too: --config FILE, "
                + "--api-url URL, --json, --token-file FILE.");
        for (CommandLine sub : cl.getSubcommands().values()) {
            globalsOnlyInRootHelp(sub);
        }
    }

    /** The hidden -h/--help of every command below the root (the root has -h and -V visible). */
    static OptionSpec help() {
        return OptionSpec.builder("-h", "--help").usageHelp(true).hidden(true).description("Show this help and exit.").build();
    }

    private static void withExitCodes(CommandLine cl) {
        CommandSpec spec = cl.getCommandSpec();
        spec.usageMessage().exitCodeListHeading("%nExit status:%n").exitCodeList(EXIT_CODES);
        for (CommandLine sub : cl.getSubcommands().values()) {
            withExitCodes(sub);
        }
    }

    /** cli.conf with --api-url over it; read once, when a command first needs it (not for --help). */
    CliSettings settings() {
        if (settings == null) {
            CliSettings s = CliSettings.load(config, env);
            settings = apiUrl == null ? s : s.withApiUrl(apiUrl);
        }
        return settings;
    }

    Tokens tokens() {
        return new Tokens(tokenFile, env, settings().timeout(), Clock.systemUTC());
    }

    Api api() {
        CliSettings s = settings();
        Tokens t = tokens();
        return new Api(s.apiUrl(), s.timeout(), t::accessToken);
    }

    boolean json() {
        return json;
    }

    PrintWriter out() {
        return out;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"lm-cli " + ApiRoutes.version()};
        }
    }
}
