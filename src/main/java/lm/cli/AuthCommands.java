package lm.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** login (OAuth 2.0 device authorization grant, RFC 8628), logout and show-token. */
final class AuthCommands {
    static final String DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

    private AuthCommands() {}

    @Command(name = "login",
            description = {
                "Log in with the identity provider (oidc_issuer) by the device code flow: open the URL shown, "
                        + "approve, and the token is stored in ~/.local/share/lm/token.json (mode 0600).",
                "Other lm-cli commands then use it, refreshing it when it expires."
            })
    static final class Login implements Callable<Integer> {
        private final Main main;

        @Option(names = {"-h", "--help"}, usageHelp = true, hidden = true, description = "Show this help and exit.")
        boolean help;

        Login(Main main) {
            this.main = main;
        }

        @Override
        public Integer call() throws InterruptedException {
            CliSettings s = main.settings();
            if (s.oidcIssuer() == null) {
                throw new CliException(Main.EXIT_USAGE,
                        "login: no identity provider: set oidc_issuer in cli.conf (or LM_OIDC_ISSUER)");
            }
            PrintWriter out = main.out();
            Oidc oidc = new Oidc(s.timeout());
            Oidc.Endpoints ep = oidc.discover(s.oidcIssuer());

            Map<String, String> form = new LinkedHashMap<>();
            form.put("client_id", s.clientId());
            form.put("scope", s.scope());
            form.put("audience", s.audience());
            Oidc.Answer code = oidc.post(ep.deviceAuthorization(), form);
            String deviceCode = code.string("device_code");
            String userCode = code.string("user_code");
            String uri = code.string("verification_uri");
            if (uri == null) {
                uri = code.string("verification_url"); // Google's spelling
            }
            if (code.status() != 200 || deviceCode == null || userCode == null || uri == null) {
                throw CliException.auth("login failed: " + ep.deviceAuthorization() + " answered " + code.status()
                        + (code.json().has("error") ? " " + code.error() : " without a device code"));
            }
            String complete = code.string("verification_uri_complete");
            long interval = Math.max(1, code.number("interval", 5));
            Instant deadline = Instant.now().plusSeconds(code.number("expires_in", 600));

            if (complete != null) {
                out.println("To log in, open this URL in a browser and check that it shows the code " + userCode + ":");
                out.println();
                out.println("    " + complete);
            } else {
                out.println("To log in, open this URL in a browser and enter the code " + userCode + ":");
                out.println();
                out.println("    " + uri);
            }
            out.println();
            out.println("Waiting for approval (the code expires at " + deadline + ")...");
            out.flush();

            Map<String, String> poll = new LinkedHashMap<>();
            poll.put("grant_type", DEVICE_GRANT);
            poll.put("device_code", deviceCode);
            poll.put("client_id", s.clientId());
            while (true) {
                Thread.sleep(interval * 1000);
                if (Instant.now().isAfter(deadline)) {
                    throw CliException.auth("login failed: the code expired before it was approved; run 'lm-cli login' again");
                }
                Oidc.Answer a = oidc.post(ep.token(), poll);
                if (a.status() == 200 && a.string("access_token") != null) {
                    Tokens tokens = main.tokens();
                    JsonObject stored = tokens.stored(a.json(), ep.token(), s.clientId());
                    Path file = tokens.storeFile();
                    Tokens.write(file, stored);
                    out.println("Logged in" + who(a.string("access_token")) + ". Token stored in " + file
                            + (stored.get("expires_at").getAsLong() > 0
                                    ? ", valid until " + Instant.ofEpochSecond(stored.get("expires_at").getAsLong()) : "")
                            + ".");
                    return Main.EXIT_OK;
                }
                String error = a.string("error");
                if ("authorization_pending".equals(error)) {
                    continue;
                }
                if ("slow_down".equals(error)) {
                    interval += 5; // RFC 8628 §3.5: for this and every later request
                    continue;
                }
                if ("expired_token".equals(error)) {
                    throw CliException.auth("login failed: the code expired before it was approved; run 'lm-cli login' again");
                }
                if ("access_denied".equals(error)) {
                    throw CliException.auth("login failed: access denied (the request was refused)");
                }
                throw CliException.auth("login failed: " + ep.token() + " answered " + a.status() + " " + a.error());
            }
        }

        private static String who(String accessToken) {
            JsonObject c = Tokens.claims(accessToken);
            if (c == null) {
                return "";
            }
            for (String k : new String[] {"preferred_username", "email", "sub"}) {
                String v = Tokens.string(c, k);
                if (v != null) {
                    return " as " + v;
                }
            }
            return "";
        }
    }

    @Command(name = "logout",
            description = "Forget the stored login (removes ~/.local/share/lm/token.json).")
    static final class Logout implements Callable<Integer> {
        private final Main main;

        @Option(names = {"-h", "--help"}, usageHelp = true, hidden = true, description = "Show this help and exit.")
        boolean help;

        Logout(Main main) {
            this.main = main;
        }

        @Override
        public Integer call() {
            Path file = Tokens.storeFile(main.env);
            try {
                if (Files.deleteIfExists(file)) {
                    main.out().println("Logged out: removed " + file + ".");
                } else {
                    main.out().println("Not logged in (no " + file + ").");
                }
            } catch (IOException e) {
                throw new CliException(Main.EXIT_REFUSED, "cannot remove " + file + ": " + e.getMessage());
            }
            return Main.EXIT_OK;
        }
    }

    @Command(name = "show-token",
            description = "Print the access token lm-cli would send (--token-file, LM_TOKEN or the stored login, "
                    + "refreshed if expired).")
    static final class ShowToken implements Callable<Integer> {
        private final Main main;

        @Option(names = "--decode", description = "Also print the token's claims (decoded, not verified) and its expiry.")
        boolean decode;

        ShowToken(Main main) {
            this.main = main;
        }

        @Override
        public Integer call() {
            String token = main.tokens().accessToken();
            PrintWriter out = main.out();
            JsonObject claims = decode || main.json() ? Tokens.claims(token) : null;
            if (main.json()) {
                JsonObject o = new JsonObject();
                o.addProperty("access_token", token);
                if (decode) {
                    o.add("claims", claims);
                }
                out.println(lm.http.Json.GSON.toJson(o));
                return Main.EXIT_OK;
            }
            out.println(token);
            if (decode) {
                if (claims == null) {
                    out.println("(not a JWT: no claims to show)");
                } else {
                    out.println(new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(claims));
                    long exp = Tokens.jwtExpiry(token);
                    if (exp > 0) {
                        long left = exp - Clock.systemUTC().instant().getEpochSecond();
                        out.println("Expires " + Instant.ofEpochSecond(exp)
                                + (left > 0 ? " (in " + Duration.ofSeconds(left).toMinutes() + " min)" : " (expired)"));
                    }
                }
            }
            return Main.EXIT_OK;
        }
    }
}
