package lm.agent;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import lm.config.Config;
import lm.config.Config.ConfigException;

/** The keys of agent.conf; etc/lm/agent.conf lists them all, commented out at their defaults. */
record AgentSettings(
        URI apiUrl,
        Path tokenFile,
        URI oidcIssuer,
        String clientId,
        String clientSecret,
        Path prologTokenFile,
        String prologTokenGroup,
        Path budgetFile,
        Path offlineDir,
        int interval,
        Duration commandTimeout,
        Map<String, String> tools,
        String scontrol,
        String squeue,
        String slurmConf,
        String reservationName,
        String reservationUser,
        int reservationDuration,
        boolean dryRun) {

    static final Path DEFAULT_FILE = Path.of("/etc/lm/agent.conf");

    static final Set<String> KEYS = Set.of(
            "api_url", "token_file", "oidc_issuer", "client_id", "client_secret",
            "prolog_token_file", "prolog_token_group", "budget_file", "offline_dir", "interval", "command_timeout",
            "tool_flexlm", "tool_rlm", "tool_lsdyna", "tool_lmx", "tool_olicense", "tool_dsls",
            "scontrol", "squeue", "slurm_conf", "reservation_name", "reservation_user",
            "reservation_duration", "dry_run");

    // Goes unquoted into scontrol's argv as ReservationName=/user=: a space or '=' would start
    // another option.
    private static final Pattern SLURM_WORD = Pattern.compile("[A-Za-z0-9_.-]{1,64}");

    /** {@code file} null means /etc/lm/agent.conf when it exists, else defaults and environment only. */
    static AgentSettings load(Path file, Map<String, String> env) {
        if (file == null && Files.isRegularFile(DEFAULT_FILE)) {
            file = DEFAULT_FILE;
        }
        Config c = Config.load(file, env, KEYS);
        String source = file == null ? "defaults" : file.toString();

        URI api = httpUrl(source, "api_url", c.string("api_url", "http://127.0.0.1:8000/lm"));
        String issuer = c.issuerUrl("oidc_issuer");
        String clientId = c.optional("client_id");
        String clientSecret = c.optional("client_secret");
        int credentials = (issuer == null ? 0 : 1) + (clientId == null ? 0 : 1) + (clientSecret == null ? 0 : 1);
        if (credentials != 0 && credentials != 3) {
            throw new ConfigException(source + ": oidc_issuer, client_id and client_secret go together:"
                    + " set all three (OAuth2 client credentials) or none (token_file)");
        }
        Map<String, String> tools = new LinkedHashMap<>();
        tools.put("flexlm", nonEmpty(source, c, "tool_flexlm", "lmutil"));
        tools.put("rlm", nonEmpty(source, c, "tool_rlm", "rlmutil"));
        tools.put("lsdyna", nonEmpty(source, c, "tool_lsdyna", "lstc_qrun"));
        tools.put("lmx", nonEmpty(source, c, "tool_lmx", "lmxendutil"));
        tools.put("olicense", nonEmpty(source, c, "tool_olicense", "olixtool"));
        tools.put("dsls", nonEmpty(source, c, "tool_dsls", "DSLicSrv"));
        return new AgentSettings(
                api,
                c.path("token_file", Path.of("/etc/lm/agent.token")),
                issuer == null ? null : httpUrl(source, "oidc_issuer", issuer),
                clientId,
                clientSecret,
                c.path("prolog_token_file", Path.of("/var/lib/lm-agent/prolog.token")),
                c.string("prolog_token_group", "slurm"),
                c.path("budget_file", Path.of("/var/lib/lm-agent/budget.json")),
                c.path("offline_dir", Path.of("/var/lib/lm-agent/offline")),
                // a day at most: the server marks a cluster unhealthy after one missed interval
                c.integer("interval", 60, 1, 86_400),
                Duration.ofSeconds(c.integer("command_timeout", 6, 1, 3_600)),
                Map.copyOf(tools),
                nonEmpty(source, c, "scontrol", "scontrol"),
                nonEmpty(source, c, "squeue", "squeue"),
                c.optional("slurm_conf"),
                slurmWord(source, "reservation_name", c.string("reservation_name", "lm_reservation")),
                slurmWord(source, "reservation_user", c.string("reservation_user", "root")),
                // at least 2 minutes: with a 60 s interval one late pass must not let the hold lapse
                c.integer("reservation_duration", 30, 2, 525_600),
                bool(source, "dry_run", c.string("dry_run", "false")));
    }

    AgentSettings withDryRun() {
        return new AgentSettings(apiUrl, tokenFile, oidcIssuer, clientId, clientSecret, prologTokenFile, prologTokenGroup,
                budgetFile, offlineDir, interval, commandTimeout, tools, scontrol, squeue, slurmConf, reservationName, reservationUser,
                reservationDuration, true);
    }

    // A record's default toString would print client_secret into any log that shows the settings.
    @Override
    public String toString() {
        return "AgentSettings[api_url=" + apiUrl + ", auth=" + describeAuth() + ", interval=" + interval
                + ", reservation=" + reservationName + ", dry_run=" + dryRun + "]";
    }

    boolean clientCredentials() {
        return oidcIssuer != null;
    }

    /** For the start-up log line: never the secret, and the token only by its file. */
    String describeAuth() {
        return clientCredentials() ? "OAuth2 client " + clientId + " at " + oidcIssuer : "token from " + tokenFile;
    }

    private static URI httpUrl(String source, String key, String value) {
        try {
            URI u = new URI(value.endsWith("/") ? value.substring(0, value.length() - 1) : value);
            if (("http".equals(u.getScheme()) || "https".equals(u.getScheme())) && u.getHost() != null) {
                return u;
            }
        } catch (URISyntaxException e) {
            // reported below with the key
        }
        throw bad(source, key, value, "an http:// or https:// URL");
    }

    private static String nonEmpty(String source, Config c, String key, String def) {
        String v = c.string(key, def);
        if (v.isBlank()) {
            throw bad(source, key, v, "a command name or path");
        }
        return v;
    }

    private static String slurmWord(String source, String key, String value) {
        if (!SLURM_WORD.matcher(value).matches()) {
            throw bad(source, key, value, "1-64 letters, digits, '_', '.' or '-'");
        }
        return value;
    }

    private static boolean bool(String source, String key, String value) {
        return switch (value.toLowerCase()) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw bad(source, key, value, "true or false");
        };
    }

    private static ConfigException bad(String source, String key, String value, String expected) {
        return new ConfigException(source + ": " + key + " (LM_" + key.toUpperCase() + ") = '" + value + "': must be " + expected);
    }
}
