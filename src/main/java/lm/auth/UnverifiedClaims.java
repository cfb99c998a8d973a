package lm.auth;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The payload of a JWT read WITHOUT checking its signature: only for a client's own token, to
 * show it or to see that it has expired before sending it (the server verifies it anyway).
 */
public final class UnverifiedClaims {
    private UnverifiedClaims() {}

    /** The claims, or null when {@code jwt} is not a JWT with a JSON object payload. */
    public static JsonObject of(String jwt) {
        String[] parts = jwt == null ? new String[0] : jwt.split("\\.");
        if (parts.length < 2) {
            return null;
        }
        try {
            byte[] payload = Base64.getUrlDecoder().decode(parts[1].replace("=", ""));
            JsonElement e = JsonParser.parseString(new String(payload, StandardCharsets.UTF_8));
            return e.isJsonObject() ? e.getAsJsonObject() : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** The exp claim in epoch seconds, or null when there is none readable (the server's rule, {@link TimeClaim}). */
    public static Long expiry(String jwt) {
        JsonObject c = of(jwt);
        JsonElement exp = c == null ? null : c.get("exp");
        return exp != null && exp.isJsonPrimitive() && exp.getAsJsonPrimitive().isNumber()
                ? TimeClaim.seconds(exp.getAsNumber()) : null;
    }
}
