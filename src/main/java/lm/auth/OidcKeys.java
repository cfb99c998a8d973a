package lm.auth;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.util.function.LongSupplier;
import org.jose4j.http.Get;
import org.jose4j.http.SimpleResponse;
import org.jose4j.jwk.HttpsJwks;
import org.jose4j.keys.resolvers.HttpsJwksVerificationKeyResolver;
import org.jose4j.keys.resolvers.VerificationKeyResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The signing keys of an OpenID Connect issuer: discovery document → {@code jwks_uri} → JWKS.
 * Nothing is fetched until the first token from that issuer arrives, so the server starts (and
 * serves local tokens) while the identity provider is down.
 */
final class OidcKeys {

    private static final Logger log = LoggerFactory.getLogger(OidcKeys.class);

    // Fetches run on request threads: a dead identity provider must cost seconds, not the
    // jose4j defaults of 20 s timeouts times 3 retries.
    private static final int TIMEOUT_MILLIS = 5_000;
    // After a failed discovery, requests are refused at once for this long instead of each one
    // waiting on the identity provider again.
    private static final long RETRY_AFTER_MILLIS = 5_000;
    // If the JWKS can't be refetched when its cache life ends, keep the old keys this long.
    private static final long RETAIN_ON_ERROR_SECONDS = 15 * 60;

    private final String issuer;
    private final LongSupplier millis;
    private volatile VerificationKeyResolver resolver;
    private long failedAt = Long.MIN_VALUE; // guarded by this

    OidcKeys(String issuer, LongSupplier millis) {
        this.issuer = issuer;
        this.millis = millis;
    }

    /**
     * The resolver for this issuer's tokens. jose4j's resolver caches the JWKS (for its HTTP cache
     * life, else an hour) and refetches it when a token names an unknown {@code kid}, at most once
     * every 300 ms, so made-up kids can't turn into a flood of fetches.
     */
    VerificationKeyResolver resolver() {
        VerificationKeyResolver r = resolver;
        return r != null ? r : discover();
    }

    private synchronized VerificationKeyResolver discover() {
        if (resolver != null) {
            return resolver;
        }
        long now = millis.getAsLong();
        if (failedAt != Long.MIN_VALUE && now - failedAt < RETRY_AFTER_MILLIS) {
            throw unreachable();
        }
        String url = discoveryUrl(issuer);
        try {
            String jwksUri = jwksUri(httpGet().get(url));
            HttpsJwks jwks = new HttpsJwks(jwksUri);
            jwks.setSimpleHttpGet(httpGet());
            jwks.setRetainCacheOnErrorDuration(RETAIN_ON_ERROR_SECONDS);
            resolver = new HttpsJwksVerificationKeyResolver(jwks);
            log.info("auth: issuer {} publishes its keys at {}", issuer, jwksUri);
            return resolver;
        } catch (IOException | RuntimeException e) {
            failedAt = now;
            log.warn("auth: OIDC discovery at {} failed: {}", url, e.toString());
            throw unreachable();
        }
    }

    static String discoveryUrl(String issuer) {
        String base = issuer.endsWith("/") ? issuer.substring(0, issuer.length() - 1) : issuer;
        return base + "/.well-known/openid-configuration";
    }

    private String jwksUri(SimpleResponse response) throws IOException {
        if (response.getStatusCode() != 200) {
            throw new IOException("HTTP " + response.getStatusCode());
        }
        JsonObject doc = JsonParser.parseString(response.getBody()).getAsJsonObject();
        // OIDC Discovery 1.0 section 4.3: the document's issuer must be the one we asked about,
        // else a tampered or misrouted document could hand us someone else's keys.
        String claimed = string(doc, "issuer");
        if (!issuer.equals(claimed)) {
            throw new IOException("discovery document names issuer " + claimed + ", expected " + issuer);
        }
        String uri = string(doc, "jwks_uri");
        if (uri == null) {
            throw new IOException("discovery document has no jwks_uri");
        }
        return uri;
    }

    private static String string(JsonObject doc, String name) {
        JsonElement e = doc.get(name);
        return e != null && e.isJsonPrimitive() ? e.getAsString() : null;
    }

    private static Get httpGet() {
        Get get = new Get();
        get.setConnectTimeout(TIMEOUT_MILLIS);
        get.setReadTimeout(TIMEOUT_MILLIS);
        get.setRetries(1);
        return get;
    }

    private AuthException unreachable() {
        return new AuthException(401, "cannot verify the token: the keys of issuer " + issuer
                + " are unavailable");
    }
}
