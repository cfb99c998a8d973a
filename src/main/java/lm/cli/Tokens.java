package lm.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import lm.config.AtomicFile;
import lm.config.SecretFile;
import lm.http.Json;

/**
 * Where the bearer token comes from: {@code --token-file}, then {@code LM_TOKEN}, then the login
 * stored by {@code lm-cli login} (refreshed with its refresh token once expired).
 */
final class Tokens {
    /** Refresh a little early: a token that expires on the way to the server is a 401. */
    private static final long SKEW_SECONDS = 30;

    private final Path tokenFile;
    private final Map<String, String> env;
    private final Duration timeout;
    private final Clock clock;

    Tokens(Path tokenFile, Map<String, String> env, Duration timeout, Clock clock) {
        this.tokenFile = tokenFile;
        this.env = env;
        this.timeout = timeout;
        this.clock = clock;
    }

    /** $XDG_DATA_HOME/lm/token.json, by default ~/.local/share/lm/token.json. */
    static Path storeFile(Map<String, String> env) {
        return Dirs.dataHome(env).resolve("lm/token.json");
    }

    Path storeFile() {
        return storeFile(env);
    }

    /** The access token to send; a {@link CliException} with exit 4 when there is none. */
    String accessToken() {
        if (tokenFile != null) {
            return fromFile(tokenFile);
        }
        String t = env.get("LM_TOKEN");
        if (t != null && !t.isBlank()) {
            return t.strip();
        }
        Path store = storeFile();
        JsonObject stored = read(store);
        if (stored == null) {
            throw CliException.auth("no token: run 'lm-cli login', set LM_TOKEN or pass --token-file FILE");
        }
        String access = string(stored, "access_token");
        long expiresAt = stored.has("expires_at") ? stored.get("expires_at").getAsLong() : 0;
        long now = clock.instant().getEpochSecond();
        if (access != null && (expiresAt == 0 || now + SKEW_SECONDS < expiresAt)) {
            return access;
        }
        return refresh(store, stored, expiresAt).get("access_token").getAsString();
    }

    private JsonObject refresh(Path store, JsonObject stored, long expiredAt) {
        String refreshToken = string(stored, "refresh_token");
        String endpoint = string(stored, "token_endpoint");
        String expired = "the stored login expired at " + Instant.ofEpochSecond(expiredAt);
        if (refreshToken == null || endpoint == null) {
            throw CliException.auth(expired + " and has no refresh token: run 'lm-cli login'");
        }
        Map<String, String> form = new LinkedHashMap<>();
        form.put("grant_type", "refresh_token");
        form.put("refresh_token", refreshToken);
        form.put("client_id", string(stored, "client_id"));
        Oidc.Answer a = new Oidc(timeout).post(endpoint, form);
        if (a.status() != 200 || a.string("access_token") == null) {
            throw CliException.auth(expired + " and refreshing it failed (" + a.error() + "): run 'lm-cli login'");
        }
        JsonObject fresh = stored(a.json(), endpoint, string(stored, "client_id"));
        if (!fresh.has("refresh_token")) {
            // RFC 6749 §6: the provider may keep the old refresh token valid and send no new one
            fresh.addProperty("refresh_token", refreshToken);
        }
        write(store, fresh);
        return fresh;
    }

    /** The token response as stored: the provider's fields, plus expires_at and where to refresh. */
    JsonObject stored(JsonObject response, String tokenEndpoint, String clientId) {
        JsonObject o = response.deepCopy();
        long now = clock.instant().getEpochSecond();
        long expiresIn = o.has("expires_in") ? o.get("expires_in").getAsLong() : 0;
        long expiresAt = expiresIn > 0 ? now + expiresIn : jwtExpiry(string(o, "access_token"));
        o.addProperty("expires_at", expiresAt);
        o.addProperty("obtained_at", now);
        o.addProperty("token_endpoint", tokenEndpoint);
        o.addProperty("client_id", clientId);
        return o;
    }

    private static String fromFile(Path file) {
        String text;
        try {
            String exposed = SecretFile.exposure(file, "token file " + file);
            if (exposed != null) {
                throw CliException.auth(exposed);
            }
            text = Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw CliException.auth("cannot read token file " + file + ": " + reason(e));
        }
        if (text.startsWith("{")) {
            // a token.json of another login, or a provider's raw token response
            try {
                String t = string(JsonParser.parseString(text).getAsJsonObject(), "access_token");
                if (t != null) {
                    text = t;
                }
            } catch (RuntimeException e) {
                throw CliException.auth("token file " + file + ": not a token and not JSON with an access_token");
            }
        }
        if (text.isEmpty()) {
            throw CliException.auth("token file " + file + " is empty");
        }
        return text;
    }

    /** The stored login, or null when there is none. */
    static JsonObject read(Path store) {
        String text;
        try {
            text = Files.readString(store, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw CliException.auth("cannot read " + store + ": " + reason(e));
        }
        try {
            return JsonParser.parseString(text).getAsJsonObject();
        } catch (RuntimeException e) {
            throw CliException.auth(store + " is not a stored login (run 'lm-cli login' again): " + e.getMessage());
        }
    }

    /**
     * Writes through a 0600 temporary file and a rename: the token is never readable by others,
     * not even for a moment, and a crash leaves the old file or the new one, never half of one.
     */
    static void write(Path store, JsonObject o) {
        Path dir = store.getParent();
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            }
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            AtomicFile.write(store, Json.GSON.toJson(o) + "\n", "rw-------", tmp -> { });
        } catch (IOException e) {
            throw CliException.auth("cannot store the token in " + store + ": " + reason(e));
        }
    }

    /** The claims of a JWT, not verified: for display and for an expiry the response didn't give. */
    static JsonObject claims(String jwt) {
        return lm.auth.UnverifiedClaims.of(jwt);
    }

    /** The exp claim, 0 when the token isn't a JWT or has none. */
    static long jwtExpiry(String jwt) {
        Long exp = lm.auth.UnverifiedClaims.expiry(jwt);
        return exp == null ? 0 : exp;
    }

    static String string(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    private static String reason(IOException e) {
        return e instanceof NoSuchFileException ? "no such file" : e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
