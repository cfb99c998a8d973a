package lm.auth;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import lm.config.AtomicFile;
import lm.config.Config;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/** {@code token}: prints a bearer token signed with the server's local key. */
@Command(
        name = "token",
        mixinStandardHelpOptions = true,
        description = {
            "Prints a bearer token signed with the server's local key (the keys file is created if"
                    + " missing), for sites without an identity provider, or writes it to --output FILE (mode 0600).",
            "Roles: admin (everything), agent (one cluster's lm-agent: config:read, feature:update,"
                    + " prolog-token:create), prolog (job:create, job:read, job:delete), reader (every :read but audit:read).",
            "Permissions: license-manager:admin or license-manager:<resource>:<action>, resource one of"
                    + " config, license-server, product, feature, job, booking, status, metrics, prolog-token, audit;"
                    + " action one of create, read, update, delete."
        },
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:token printed or written", "1:the keys file can't be read or created, or FILE can't be written",
            "2:invalid option"})
public final class TokenCommand implements Callable<Integer> {

    // Ten years is already more than any agent needs (tokens can be revoked: token revoke).
    private static final Duration MAX_TTL = Duration.ofDays(3650);

    @Option(names = "--client-id", paramLabel = "ID",
            description = "The cluster's client id (the token's sub and azp). Required.")
    String clientId;

    @Option(names = "--role", paramLabel = "ROLE",
            description = "A role whose permissions to grant: admin, agent, prolog or reader; repeat for more.")
    List<String> roles = new java.util.ArrayList<>();

    @Option(names = "--permission", paramLabel = "P",
            description = "A permission to grant; repeat for more. At least one --role or --permission.")
    List<String> permissions = new java.util.ArrayList<>();

    @Option(names = "--ttl", defaultValue = "1h", paramLabel = "DURATION", converter = TtlConverter.class,
            description = "How long the token is valid: 30s, 15m, 1h, 7d or plain seconds (default: ${DEFAULT-VALUE}).")
    Duration ttl;

    @Option(names = "--output", paramLabel = "FILE",
            description = "Write the token to FILE instead of standard output: created mode 0600 (0640 with --group),"
                    + " through a new file renamed into place, so it is never readable by others and a link at FILE"
                    + " is replaced, not followed.")
    java.nio.file.Path output;

    @Option(names = "--group", paramLabel = "GROUP",
            description = "With --output: the file's group, readable by it (mode 0640), e.g. the SlurmUser lm-agent runs as.")
    String group;

    @Spec CommandSpec spec;

    private final Supplier<AuthSettings> settings;

    /** The settings are asked for only when the command runs, not for --help. */
    public TokenCommand(Supplier<AuthSettings> settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    @Override
    public Integer call() {
        if (clientId == null || clientId.isBlank()) {
            throw new ParameterException(spec.commandLine(), "--client-id is required and must not be blank");
        }
        java.util.Set<String> granted = new java.util.LinkedHashSet<>();
        for (String r : roles) {
            try {
                granted.addAll(Roles.permissions(r));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage());
            }
        }
        for (String p : permissions) {
            if (!Permissions.isKnown(p)) {
                throw new ParameterException(spec.commandLine(), "unknown permission '" + p
                        + "': expected license-manager:admin or license-manager:<resource>:<action>");
            }
            granted.add(p);
        }
        if (granted.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "give at least one --role or --permission");
        }
        if (group != null && output == null) {
            throw new ParameterException(spec.commandLine(), "--group goes with --output FILE");
        }
        GroupPrincipal g = null;
        if (group != null) {
            try {
                g = FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
            } catch (IOException e) {
                throw new ParameterException(spec.commandLine(), "--group " + group + ": no such group");
            }
        }
        String token = new Authenticator(settings.get()).mint(clientId, List.copyOf(granted), ttl);
        if (output == null) {
            spec.commandLine().getOut().println(token);
            spec.commandLine().getOut().flush();
            return 0;
        }
        GroupPrincipal owners = g;
        try {
            // `> FILE` in a shell makes it 0644 (umask 022) and follows a link at FILE
            AtomicFile.write(output, token + "\n", owners == null ? "rw-------" : "rw-r-----", tmp -> {
                if (owners != null) {
                    Files.getFileAttributeView(tmp, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS).setGroup(owners);
                }
            });
        } catch (IOException e) {
            spec.commandLine().getErr().println("lm-server: cannot write " + output + ": " + e.getMessage());
            return 1;
        }
        spec.commandLine().getErr().println("lm-server: token for " + clientId + " written to " + output
                + (owners == null ? " (mode 0600)" : " (mode 0640, group " + group + ")"));
        return 0;
    }

    static final class TtlConverter implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            Duration d;
            try {
                d = Config.parseDuration(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
            if (d.isZero()) {
                throw new TypeConversionException("the ttl must be more than zero");
            }
            if (d.compareTo(MAX_TTL) > 0) {
                throw new TypeConversionException("the ttl must be at most " + MAX_TTL.toDays() + "d");
            }
            return d;
        }
    }
}
