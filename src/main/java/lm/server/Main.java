package lm.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.logging.Logger;
import lm.auth.TokenCommand;
import lm.config.Config;
import lm.config.ServerSettings;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** lm-server(8): serves the REST API until stopped; {@code token} mints a local token. */
@Command(name = "lm-server", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "License Manager REST API server (see lm-server(8)).")
public final class Main implements Callable<Integer> {
    private static final Logger LOG = Logger.getLogger("lm.server");

    @Option(names = "--config", paramLabel = "FILE", description = "configuration file (default: /etc/lm/lm.conf when it exists)")
    Path config;

    @Option(names = "--print-token", description = "print an admin token (24 h, signed with the local key) and usage hints at startup")
    boolean printToken;

    /**
     * Libraries that narrate their start-up at INFO (Flyway prints every migration, XNIO its
     * version): only their warnings reach the journal. Held here because JUL keeps loggers weakly.
     */
    static final List<Logger> QUIET = List.of(Logger.getLogger("org.flywaydb"), Logger.getLogger("org.xnio"),
            Logger.getLogger("io.undertow"), Logger.getLogger("org.jboss"), Logger.getLogger("com.zaxxer.hikari"),
            Logger.getLogger("io.zonky"));

    public static void main(String[] args) {
        System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tFT%1$tT %4$s %5$s%6$s%n");
        QUIET.forEach(l -> l.setLevel(java.util.logging.Level.WARNING));
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        Main main = new Main();
        CommandLine cl = new CommandLine(main);
        cl.addSubcommand("token", new TokenCommand(() -> LmServer.authSettings(ServerSettings.load(main.config, System.getenv()))));
        cl.getSubcommands().get("token").addSubcommand("revoke", new RevokeCommand(() -> ServerSettings.load(main.config, System.getenv())));
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof Config.ConfigException) {
                cmd.getErr().println("lm-server: configuration error: " + e.getMessage());
                return 78; // EX_CONFIG
            }
            if (e instanceof StartupConflict) {
                cmd.getErr().println("lm-server: cannot start: " + e.getMessage());
                return StartupConflict.EXIT;
            }
            throw e;
        });
        return cl;
    }

    @Override
    public Integer call() throws Exception {
        ServerSettings s = ServerSettings.load(config, System.getenv());
        LOG.info("lm-server " + ApiRoutes.version() + " starting: database " + s.databaseDescription());
        StopSignal signal = StopSignal.install();
        LmServer server = LmServer.start(s, why -> {
            LOG.severe("lm-server: " + why + "; exiting (" + StopSignal.DATABASE_LOST + ") so that it is started again");
            signal.fail(StopSignal.DATABASE_LOST);
        });
        // any other way the JVM ends (SIGHUP, an uncaught error): close what can be closed
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "lm-server-stop"));
        String url = "http://" + s.httpHost() + ":" + server.port() + "/lm";
        LOG.info("lm-server listening on " + url);
        if (printToken) {
            String token = server.auth().mint("lm-admin", lm.auth.Roles.permissions(lm.auth.Roles.ADMIN), Duration.ofHours(24));
            System.out.println();
            System.out.println("License Manager is running at " + url);
            System.out.println("Admin token (24 h):");
            System.out.println("  export LM_TOKEN=" + token);
            System.out.println("Try:");
            System.out.println("  curl -s " + url + "/health -o /dev/null -w '%{http_code}\\n'");
            System.out.println("  curl -s -H \"Authorization: Bearer $LM_TOKEN\" " + url + "/configurations");
            // the dashboard takes the token pasted, never in its address (a browser's history keeps addresses)
            System.out.println("Dashboard (paste the token there): " + url + "/ui/");
            if (server.database().embeddedPsql() != null) {
                System.out.println("Database (reporting views, see README):");
                System.out.println("  " + server.database().embeddedPsql());
            }
            System.out.println("Stop with Ctrl-C.");
            System.out.flush();
        }
        int exit = signal.await();
        if (exit > 128) {
            LOG.info("lm-server: signal " + (exit - 128) + " received");
        }
        server.close();
        return exit;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"lm-server " + ApiRoutes.version()};
        }
    }
}
