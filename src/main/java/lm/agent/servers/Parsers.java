package lm.agent.servers;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** The one place that lists the supported server types, their status commands and parsers. */
public final class Parsers {
    private Parsers() {}

    public static final List<String> TYPES = List.of("flexlm", "rlm", "lsdyna", "lmx", "olicense", "dsls");

    // Host goes into argv and, for dsls, into a command script on stdin: a leading '-' would be
    // read as an option and a newline would smuggle in another admin command.
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9_.:\\[\\]][A-Za-z0-9_.:\\[\\]-]*");

    public static LicenseServerParser forType(String type) {
        return switch (known(type)) {
            case "flexlm" -> new FlexLmParser();
            case "rlm" -> new RlmParser();
            case "lsdyna" -> new LsDynaParser();
            case "lmx" -> new LmxParser();
            case "olicense" -> new OLicenseParser();
            case "dsls" -> new DslsParser();
            default -> throw new AssertionError(type);
        };
    }

    /**
     * The argv that asks a server for its usage. {@code toolPaths} maps a type to the tool's path;
     * a type without an entry runs the bare tool name from PATH.
     */
    public static List<String> commandFor(String type, Map<String, String> toolPaths, String host, int port) {
        String tool = toolPaths.getOrDefault(known(type), defaultTool(type));
        String h = checkedHost(host);
        int p = checkedPort(port);
        return switch (type) {
            case "flexlm" -> List.of(tool, "lmstat", "-c", p + "@" + h, "-a");
            case "rlm" -> List.of(tool, "rlmstat", "-c", p + "@" + h, "-a", "-p");
            case "lsdyna" -> List.of(tool, "-s", p + "@" + h, "-R");
            case "lmx" -> List.of(tool, "-licstat", "-host", h, "-port", String.valueOf(p));
            case "olicense" -> List.of(tool, "-sv", h + ":" + p);
            case "dsls" -> List.of(tool, "-admin");
            default -> throw new AssertionError(type);
        };
    }

    /** What to write to the tool's stdin; null when it reads none. DSLicSrv is driven by a script. */
    public static String stdinFor(String type, String host, int port) {
        if (!known(type).equals("dsls")) {
            return null;
        }
        return "connect " + checkedHost(host) + " " + checkedPort(port) + "\ngetLicenseUsage -csv\nquit\n";
    }

    /**
     * Status tools print user names in the server's code page: strict UTF-8 first, and
     * ISO-8859-1 (which maps every byte) when that fails, so a Latin-1 "jürgen" stays readable.
     */
    public static String decode(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            return new String(bytes, StandardCharsets.ISO_8859_1);
        }
    }

    private static String defaultTool(String type) {
        return switch (type) {
            case "flexlm" -> "lmutil";
            case "rlm" -> "rlmutil";
            case "lsdyna" -> "lstc_qrun";
            case "lmx" -> "lmxendutil";
            case "olicense" -> "olixtool";
            case "dsls" -> "DSLicSrv";
            default -> throw new AssertionError(type);
        };
    }

    private static String known(String type) {
        if (type == null || !TYPES.contains(type)) {
            throw new IllegalArgumentException(
                    "unknown license server type '" + type + "'; allowed: " + String.join(", ", TYPES));
        }
        return type;
    }

    private static String checkedHost(String host) {
        if (host == null || !HOST.matcher(host).matches()) {
            throw new IllegalArgumentException("bad license server host '" + host + "'");
        }
        return host;
    }

    private static int checkedPort(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("bad license server port " + port + " (1-65535)");
        }
        return port;
    }
}
