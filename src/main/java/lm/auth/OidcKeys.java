package lm.auth;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.jose4j.http.Get;
import org.jose4j.http.SimpleResponse;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwx.JsonWebStructure;
import org.jose4j.keys.resolvers.JwksVerificationKeyResolver;
import org.jose4j.keys.resolvers.VerificationKeyResolver;
import org.jose4j.lang.JoseException;
import org.jose4j.lang.UnresolvableKeyException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The signing keys of an OpenID Connect issuer: discovery document → {@code jwks_uri} → JWKS.
 * Nothing is fetched until the first token from that issuer arrives, so the server starts (and
 * serves local tokens) while the identity provider is down.
 *
 * <p>Fetches run on one background thread, never on a request thread: a request that needs
 * keys we don't have (first token, unknown {@code kid}) starts a fetch, or joins the one under
 * way, and waits for it at most {@link #WAIT_MILLIS}. A slow or dead provider, or a storm of
 * forged {@code kid}s, thus costs each request a bounded wait and the provider at most one
 * request at a time, spaced by {@link #MIN_REFETCH_MILLIS} after a success and by a growing
 * backoff after failures.
 */
final class OidcKeys {

    private static final Logger log = LoggerFactory.getLogger(OidcKeys.class);

    // The background fetch may take this long per HTTP request (jose4j's defaults are 20 s x 3).
    private static final int TIMEOUT_MILLIS = 5_000;
    // How long a request waits for a fetch it needs before it is refused (401).
    static final long WAIT_MILLIS = 2_000;
    // Unknown kids refetch the JWKS at most this often: a provider rotating keys is seen at once,
    // made-up kids can't turn into a flood of fetches.
    static final long MIN_REFETCH_MILLIS = 300;
    // After a failed fetch, the next one waits 5 s, then 10 s, 20 s … up to 5 min.
    static final long FIRST_BACKOFF_MILLIS = 5_000;
    private static final long MAX_BACKOFF_MILLIS = 300_000;
    // Keys are refreshed in the background once they are this old (a withdrawn key stops working
    // then), and kept while refreshing fails for at most RETAIN_MILLIS more.
    private static final long MAX_AGE_MILLIS = 3_600_000;
    private static final long RETAIN_MILLIS = 15 * 60_000;

    private record Keys(JwksVerificationKeyResolver resolver, long fetchedAt) {}

    private final String issuer;
    private final LongSupplier millis;
    private final ExecutorService fetcher = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "oidc-keys");
        t.setDaemon(true);
        return t;
    });
    private volatile Keys keys;
    // guarded by this
    private CompletableFuture<Keys> inflight;
    private String jwksUri;
    private long nextFetchAt = Long.MIN_VALUE;
    private int failures;

    OidcKeys(String issuer, LongSupplier millis) {
        this.issuer = issuer;
        this.millis = millis;
    }

    /** The resolver for this issuer's tokens (jose4j calls it during signature verification). */
    VerificationKeyResolver resolver() {
        return this::resolve;
    }

    private java.security.Key resolve(JsonWebSignature jws, List<JsonWebStructure> nesting) throws UnresolvableKeyException {
        long now = millis.getAsLong();
        Keys k = keys;
        if (k != null && now - k.fetchedAt < MAX_AGE_MILLIS + RETAIN_MILLIS) {
            if (now - k.fetchedAt >= MAX_AGE_MILLIS) {
                fetch(now); // in the background; the current keys serve meanwhile
            }
            try {
                return k.resolver.resolveKey(jws, nesting);
            } catch (UnresolvableKeyException unknownKid) {
                // the provider may have rotated its keys: look again, below
            }
        }
        CompletableFuture<Keys> f = fetch(now);
        if (f != null) {
            try {
                f.get(WAIT_MILLIS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // refused below with what we have; a timed-out fetch goes on for the next request
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        k = keys;
        if (k == null || now - k.fetchedAt >= MAX_AGE_MILLIS + RETAIN_MILLIS) {
            throw new Unavailable("cannot verify the token: the keys of issuer " + issuer + " are unavailable");
        }
        return k.resolver.resolveKey(jws, nesting);
    }

    /** Thrown when the issuer's keys could not be had (as opposed to a kid the issuer doesn't have). */
    static final class Unavailable extends UnresolvableKeyException {
        private static final long serialVersionUID = 1L;

        Unavailable(String message) {
            super(message);
        }
    }

    /** The fetch under way, a new one, or null while fetching is paused (spacing or backoff). */
    private synchronized CompletableFuture<Keys> fetch(long now) {
        if (inflight != null) {
            return inflight;
        }
        if (now < nextFetchAt) {
            return null;
        }
        inflight = CompletableFuture.supplyAsync(this::downloadAndRecord, fetcher);
        return inflight;
    }

    // The outcome is recorded before the future completes, so a request woken by it sees the keys.
    private Keys downloadAndRecord() {
        try {
            Keys k = download();
            done(k, null);
            return k;
        } catch (RuntimeException e) {
            done(null, e);
            throw e;
        }
    }

    private synchronized void done(Keys k, Throwable e) {
        inflight = null;
        long now = millis.getAsLong();
        if (e == null) {
            keys = k;
            failures = 0;
            nextFetchAt = now + MIN_REFETCH_MILLIS;
        } else {
            failures++;
            long backoff = Math.min(MAX_BACKOFF_MILLIS, FIRST_BACKOFF_MILLIS << Math.min(failures - 1, 16));
            nextFetchAt = now + backoff;
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            log.warn("auth: fetching the keys of issuer {} failed ({} in a row, next try in {} s): {}",
                    issuer, failures, backoff / 1000, cause.toString());
        }
    }

    // On the fetcher thread.
    private Keys download() {
        try {
            String uri;
            synchronized (this) {
                uri = jwksUri;
            }
            if (uri == null) {
                uri = jwksUri(httpGet().get(discoveryUrl(issuer)));
                synchronized (this) {
                    jwksUri = uri;
                }
                log.info("auth: issuer {} publishes its keys at {}", issuer, uri);
            }
            SimpleResponse r = httpGet().get(uri);
            if (r.getStatusCode() != 200) {
                throw new IOException(uri + ": HTTP " + r.getStatusCode());
            }
            JsonWebKeySet set = new JsonWebKeySet(r.getBody());
            return new Keys(new JwksVerificationKeyResolver(set.getJsonWebKeys()), millis.getAsLong());
        } catch (IOException | JoseException e) {
            throw new java.util.concurrent.CompletionException(e);
        }
    }

    static String discoveryUrl(String issuer) {
        String base = issuer.endsWith("/") ? issuer.substring(0, issuer.length() - 1) : issuer;
        return base + "/.well-known/openid-configuration";
    }

    private String jwksUri(SimpleResponse response) throws IOException {
        if (response.getStatusCode() != 200) {
            throw new IOException("discovery: HTTP " + response.getStatusCode());
        }
        JsonObject doc;
        try {
            doc = JsonParser.parseString(response.getBody()).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new IOException("discovery document is not a JSON object");
        }
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
        get.setRetries(0);
        return get;
    }
}
