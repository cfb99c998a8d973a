package lm.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One config format for every component: {@code key = value} lines, {@code #} comments, every key
 * overridable by the environment as {@code LM_<KEY>}. Unknown keys and bad values fail at startup
 * with a message that names the key, because a typo silently falling back to a default is how a
 * site ends up fail-open without knowing it.
 */
public final class Config {
    private static final Pattern DURATION = Pattern.compile("(\\d{1,12})([smhd]?)");

    private final String source;
    private final Map<String, String> values;
    private final Set<String> known;

    private Config(String source, Map<String, String> values, Set<String> known) {
        this.source = source;
        this.values = values;
        this.known = known;
    }

    /**
     * Reads {@code file} (may be null: then only defaults and the environment count) and overlays
     * {@code LM_<KEY>} variables from {@code env}. {@code known} lists every accepted key.
     */
    public static Config load(Path file, Map<String, String> env, Set<String> known) {
        Map<String, String> values = new LinkedHashMap<>();
        String source = "defaults";
        if (file != null) {
            source = file.toString();
            List<String> lines;
            try {
                lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new ConfigException(file + ": cannot read: " + e.getMessage());
            }
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                int eq = line.indexOf('=');
                if (eq <= 0) {
                    throw new ConfigException(file + ":" + (i + 1) + ": expected 'key = value', got: " + line);
                }
                String key = line.substring(0, eq).strip().toLowerCase();
                if (!known.contains(key)) {
                    throw new ConfigException(file + ":" + (i + 1) + ": unknown key '" + key + "' (known: " + new TreeSet<>(known) + ")");
                }
                values.put(key, unquote(line.substring(eq + 1).strip()));
            }
        }
        for (String key : known) {
            String v = env.get("LM_" + key.toUpperCase());
            if (v != null) {
                values.put(key, v.strip());
            }
        }
        return new Config(source, values, known);
    }

    private static String unquote(String v) {
        if (v.length() >= 2 && (v.startsWith("\"") && v.endsWith("\"") || v.startsWith("'") && v.endsWith("'"))) {
            return v.substring(1, v.length() - 1);
        }
        return v;
    }

    private String checkKnown(String key) {
        if (!known.contains(key)) {
            throw new IllegalArgumentException("undeclared config key " + key);
        }
        return key;
    }

    public String string(String key, String def) {
        String v = values.get(checkKnown(key));
        return v == null ? def : v;
    }

    /** Empty means "not set" for optional keys such as database_url. */
    public String optional(String key) {
        String v = values.get(checkKnown(key));
        return v == null || v.isEmpty() ? null : v;
    }

    public int integer(String key, int def, int min, int max) {
        String v = values.get(checkKnown(key));
        if (v == null || v.isEmpty()) {
            return def;
        }
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) {
                throw bad(key, v, "an integer from " + min + " to " + max);
            }
            return n;
        } catch (NumberFormatException e) {
            throw bad(key, v, "an integer from " + min + " to " + max);
        }
    }

    public String choice(String key, String def, Set<String> allowed) {
        String v = string(key, def);
        if (!allowed.contains(v)) {
            throw bad(key, v, "one of " + new TreeSet<>(allowed));
        }
        return v;
    }

    /** A duration as {@link #parseDuration} reads it, from {@code min} to {@code max}. */
    public Duration duration(String key, Duration def, Duration min, Duration max) {
        String v = values.get(checkKnown(key));
        if (v == null || v.isEmpty()) {
            return def;
        }
        String expected = "a duration from " + text(min) + " to " + text(max) + " (30s, 15m, 1h, 7d, or plain seconds)";
        Duration d;
        try {
            d = parseDuration(v);
        } catch (IllegalArgumentException e) {
            throw bad(key, v, expected);
        }
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw bad(key, v, expected);
        }
        return d;
    }

    /** The shortest of the forms {@link #parseDuration} reads: 90s, 15m, 2h, 7d. */
    public static String text(Duration d) {
        long s = d.getSeconds();
        if (s != 0 && s % 86_400 == 0) {
            return s / 86_400 + "d";
        }
        if (s != 0 && s % 3_600 == 0) {
            return s / 3_600 + "h";
        }
        if (s != 0 && s % 60 == 0) {
            return s / 60 + "m";
        }
        return s + "s";
    }

    /**
     * Parses {@code 30s}, {@code 15m}, {@code 1h}, {@code 7d} or plain seconds ({@code 90}): the
     * one duration syntax of the config files and the command lines.
     *
     * @throws IllegalArgumentException for anything else, including negative numbers
     */
    public static Duration parseDuration(String text) {
        Matcher m = DURATION.matcher(text == null ? "" : text.strip().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not a duration: expected a number"
                    + " followed by s, m, h or d (30s, 15m, 1h, 7d), or plain seconds");
        }
        long n = Long.parseLong(m.group(1)); // at most 12 digits: can't overflow, nor can the units
        switch (m.group(2)) {
            case "m": return Duration.ofMinutes(n);
            case "h": return Duration.ofHours(n);
            case "d": return Duration.ofDays(n);
            default: return Duration.ofSeconds(n);
        }
    }

    public Path path(String key, Path def) {
        String v = optional(key);
        return v == null ? def : Path.of(v);
    }

    /**
     * An identity provider's URL, or null when unset. https, or http to a loopback host only:
     * its keys, and the tokens and client secrets sent to it, must not cross a network in clear
     * text, where anyone on the path could swap the keys and mint admin tokens.
     */
    public String issuerUrl(String key) {
        String v = optional(key);
        if (v != null && !secureIssuer(v)) {
            throw bad(key, v, ISSUER_RULE);
        }
        return v;
    }

    public static final String ISSUER_RULE = "an https:// URL (http:// only to a loopback host: localhost, 127.0.0.1, [::1])";

    /** See {@link #issuerUrl}. */
    public static boolean secureIssuer(String url) {
        try {
            java.net.URI u = new java.net.URI(url);
            String host = u.getHost();
            if (host == null || u.getRawUserInfo() != null) {
                return false;
            }
            return "https".equals(u.getScheme())
                    || "http".equals(u.getScheme()) && (host.equalsIgnoreCase("localhost") || host.equals("[::1]")
                            || host.matches("127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"));
        } catch (java.net.URISyntaxException e) {
            return false;
        }
    }

    private ConfigException bad(String key, String value, String expected) {
        return new ConfigException(source + ": " + key + " (LM_" + key.toUpperCase() + ") = '" + value + "': must be " + expected);
    }

    /** Startup refuses to go on; the message names the key. */
    public static final class ConfigException extends RuntimeException {
        public ConfigException(String message) {
            super(message);
        }
    }
}
