package lm.cli;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import lm.config.Config;

/**
 * The keys of cli.conf: /etc/lm/cli.conf, then the user's ~/.config/lm/cli.conf over it, then
 * LM_&lt;KEY&gt; variables over both. {@code --config FILE} replaces the two files.
 */
record CliSettings(String apiUrl, String oidcIssuer, String clientId, String audience, String scope, Duration timeout) {

    static final Path SYSTEM_FILE = Path.of("/etc/lm/cli.conf");
    static final Set<String> KEYS = Set.of("api_url", "oidc_issuer", "client_id", "audience", "scope", "timeout");
    static final String DEFAULT_API_URL = "http://127.0.0.1:8000/lm";

    static CliSettings load(Path explicit, Map<String, String> env) {
        Config top;
        Config below;
        if (explicit != null) {
            top = Config.load(explicit, env, KEYS);
            below = Config.load(null, Map.of(), KEYS);
        } else {
            Path user = Dirs.configHome(env).resolve("lm/cli.conf");
            top = Config.load(Files.isRegularFile(user) ? user : null, env, KEYS);
            below = Config.load(Files.isRegularFile(SYSTEM_FILE) ? SYSTEM_FILE : null, Map.of(), KEYS);
        }
        // each layer validates its own value, so the message names the file that holds a bad one
        String apiUrl = top.string("api_url", below.string("api_url", DEFAULT_API_URL));
        checkUrl("api_url", apiUrl);
        String issuer = top.string("oidc_issuer", below.string("oidc_issuer", ""));
        if (!issuer.isEmpty()) {
            checkUrl("oidc_issuer", issuer);
            if (!Config.secureIssuer(issuer)) {
                throw new Config.ConfigException("oidc_issuer = '" + issuer + "': must be " + Config.ISSUER_RULE);
            }
        }
        int timeout = top.integer("timeout", below.integer("timeout", 10, 1, 3600), 1, 3600);
        return new CliSettings(
                stripSlash(apiUrl),
                issuer.isEmpty() ? null : stripSlash(issuer),
                top.string("client_id", below.string("client_id", "lm-cli")),
                emptyToNull(top.string("audience", below.string("audience", ""))),
                emptyToNull(top.string("scope", below.string("scope", ""))),
                Duration.ofSeconds(timeout));
    }

    CliSettings withApiUrl(String url) {
        checkUrl("--api-url", url);
        return new CliSettings(stripSlash(url), oidcIssuer, clientId, audience, scope, timeout);
    }

    private static void checkUrl(String key, String v) {
        try {
            URI u = new URI(v);
            if (("http".equals(u.getScheme()) || "https".equals(u.getScheme())) && u.getHost() != null) {
                return;
            }
        } catch (java.net.URISyntaxException e) {
            // fall through
        }
        throw new Config.ConfigException(key + " = '" + v + "': must be an http:// or https:// URL");
    }

    private static String stripSlash(String s) {
        return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
    }

    private static String emptyToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
