package lm.server;

import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import lm.config.ServerSettings;
import lm.db.Database;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code token revoke}: refuses a token, or all of a client's tokens so far, before they expire. */
@Command(
        name = "revoke",
        mixinStandardHelpOptions = true,
        description = {
            "Revokes one token (by its jti claim, e.g. from `lm-cli show-token`) or every token of a client"
                    + " issued up to now, without rotating the signing key. Every lm-server instance refuses"
                    + " them within 5 seconds. Tokens minted later for the same client work."
        },
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:revoked", "1:the database can't be reached", "2:invalid option"})
final class RevokeCommand implements Callable<Integer> {

    static final class Target {
        @Parameters(arity = "1", paramLabel = "JTI", description = "The token's jti claim.")
        String jti;

        @Option(names = "--client-id", required = true, paramLabel = "ID",
                description = "Revoke every token of this client (azp / client_id) issued up to now.")
        String clientId;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Target target;

    @Spec CommandSpec spec;

    private final Supplier<ServerSettings> settings;

    RevokeCommand(Supplier<ServerSettings> settings) {
        this.settings = settings;
    }

    @Override
    public Integer call() throws IOException {
        String value = target.jti != null ? target.jti.strip() : target.clientId.strip();
        if (value.isEmpty() || value.length() > 255) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "the jti or client id must be 1 to 255 characters");
        }
        ServerSettings s = settings.get();
        try (Database db = open(s)) {
            try (Connection c = db.dataSource().getConnection();
                 PreparedStatement ps = c.prepareStatement(target.jti != null
                         ? "INSERT INTO lm.revoked_tokens (jti) VALUES (?)"
                         : "INSERT INTO lm.revoked_tokens (client_id) VALUES (?)")) {
                ps.setString(1, value);
                ps.executeUpdate();
            }
        } catch (SQLException | RuntimeException e) {
            spec.commandLine().getErr().println("lm-server token revoke: " + e.getMessage());
            return 1;
        }
        spec.commandLine().getOut().println("revoked " + (target.jti != null ? "token " : "tokens of client ") + value);
        return 0;
    }

    /**
     * The site's database. With the embedded one, a running lm-server already holds its data
     * directory: connect to that server's PostgreSQL (its port is line 4 of postmaster.pid)
     * instead of starting a second one on the same files.
     */
    private static Database open(ServerSettings s) throws IOException {
        if (!s.embeddedDatabase()) {
            return Database.open(s.databaseUrl(), s.databaseUser(), s.databasePassword(), 1, null, s.databaseTimeouts());
        }
        int port = Database.runningPort(s.stateDir().resolve("pg"));
        if (port > 0) {
            lm.db.EmbeddedAccess access = lm.db.EmbeddedAccess.read(s.stateDir().resolve("pg"));
            return Database.open(access.jdbcUrl(port), access.user(), access.password(), 1, null, s.databaseTimeouts());
        }
        return Database.open(null, null, null, 1, s.stateDir().resolve("pg"), s.databaseTimeouts());
    }
}
