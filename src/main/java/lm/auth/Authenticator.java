package lm.auth;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.jose4j.jwa.AlgorithmConstraints;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.MalformedClaimException;
import org.jose4j.jwt.NumericDate;
import org.jose4j.jwt.consumer.ErrorCodes;
import org.jose4j.jwt.consumer.InvalidJwtException;
import org.jose4j.jwt.consumer.JwtConsumer;
import org.jose4j.jwt.consumer.JwtConsumerBuilder;
import org.jose4j.jwt.consumer.JwtContext;
import org.jose4j.jwx.JsonWebStructure;
import org.jose4j.keys.resolvers.JwksVerificationKeyResolver;
import org.jose4j.keys.resolvers.VerificationKeyResolver;
import org.jose4j.lang.JoseException;
import org.jose4j.lang.UnresolvableKeyException;

/**
 * Verifies bearer tokens (signed by the server's local key or by the configured OIDC issuer) and
 * mints tokens with the local key. Thread-safe; make one per server.
 */
public final class Authenticator {

    // Asymmetric algorithms only: with HS256 allowed, a token "signed" with our public key as the
    // HMAC secret would verify. "none" is not here either.
    private static final String[] ALGORITHMS = {
        AlgorithmIdentifiers.RSA_USING_SHA256, AlgorithmIdentifiers.RSA_USING_SHA384,
        AlgorithmIdentifiers.RSA_USING_SHA512, AlgorithmIdentifiers.RSA_PSS_USING_SHA256,
        AlgorithmIdentifiers.RSA_PSS_USING_SHA384, AlgorithmIdentifiers.RSA_PSS_USING_SHA512,
        AlgorithmIdentifiers.ECDSA_USING_P256_CURVE_AND_SHA256,
        AlgorithmIdentifiers.ECDSA_USING_P384_CURVE_AND_SHA384,
        AlgorithmIdentifiers.ECDSA_USING_P521_CURVE_AND_SHA512,
    };
    private static final Set<String> ALLOWED = Set.of(ALGORITHMS);
    private static final AlgorithmConstraints CONSTRAINTS =
            new AlgorithmConstraints(AlgorithmConstraints.ConstraintType.PERMIT, ALGORITHMS);

    // Tolerance for an identity provider's clock running ahead of ours (nbf, iat) or behind
    // (exp). Small, because a token is refused this much later than its exp says.
    static final int CLOCK_SKEW_SECONDS = 5;
    // A cached token is trusted without a signature check for at most this long, which bounds
    // how long a key the issuer has withdrawn keeps working.
    private static final long CACHE_MILLIS = 60_000;
    private static final int CACHE_ENTRIES = 10_000;
    // Longer headers are refused before parsing: no real token is near this, and parsing cost
    // grows with size.
    private static final int MAX_HEADER_CHARS = 16_384;
    // checked before the consumer, which takes 1e30 for a date (Long.MAX_VALUE seconds)
    private static final List<String> TIME_CLAIMS = List.of("exp", "nbf", "iat");

    // First pass: reads header and claims without trusting them, to pick the issuer's keys.
    private static final JwtConsumer PARSER = new JwtConsumerBuilder()
            .setSkipAllValidators()
            .setDisableRequireSignature()
            .setSkipSignatureVerification()
            .build();

    private final AuthSettings settings;
    private final Clock clock;
    private final LocalKeys localKeys;
    private final VerificationKeyResolver localResolver;
    private final OidcKeys oidcKeys;
    private final TokenCache cache = new TokenCache(CACHE_ENTRIES);
    private volatile Revocations revocations;

    /** Loads the local keys file, creating it with a new key pair if it's missing. */
    public Authenticator(AuthSettings s) {
        this(s, Clock.systemUTC());
    }

    /** The clock decides token expiry here and in jose4j, so tests can move time. */
    Authenticator(AuthSettings s, Clock clock) {
        this.settings = Objects.requireNonNull(s, "settings");
        this.clock = clock;
        this.localKeys = LocalKeys.loadOrCreate(s.keysFile());
        this.localResolver = new JwksVerificationKeyResolver(localKeys.verificationKeys);
        this.oidcKeys = s.oidcIssuer() == null ? null : new OidcKeys(s.oidcIssuer(), clock::millis);
    }

    /**
     * The principal of a request's {@code Authorization} header.
     *
     * @throws AuthException 401 when the header is missing or the token isn't valid
     */
    public Principal authenticate(String authorizationHeader) {
        String token = bearerToken(authorizationHeader);
        long now = clock.millis();
        Verified v = cache.get(token, now);
        if (v == null) {
            JwtClaims claims = verify(token, now);
            v = new Verified(principal(claims), jti(claims), issuedAt(claims));
            cache.put(token, v, Math.min(expiry(claims), now + CACHE_MILLIS));
        }
        // on every request, cached or not: a revocation must not wait for the cache to expire
        Revocations r = revocations;
        if (r != null && r.revoked(v.jti, v.principal.clientId(), v.issuedAt)) {
            throw unauthorized("token revoked");
        }
        return v.principal;
    }

    /** A verified token: who, and what a revocation can name it by. */
    record Verified(Principal principal, String jti, Long issuedAt) {}

    /** From now on tokens listed in lm.revoked_tokens are refused (lm-server(8), token revoke). */
    public void checkRevocations(javax.sql.DataSource ds) {
        this.revocations = new Revocations(ds, clock::millis);
    }

    private static String jti(JwtClaims claims) {
        try {
            return claims.getJwtId();
        } catch (MalformedClaimException e) {
            throw unauthorized("malformed token: jti is not a string");
        }
    }

    private static Long issuedAt(JwtClaims claims) {
        try {
            NumericDate iat = claims.getIssuedAt();
            return iat == null ? null : iat.getValue();
        } catch (MalformedClaimException e) {
            throw unauthorized("malformed token: iat is not a number");
        }
    }

    /**
     * Like {@link #authenticate} and then checks that the principal may do {@code action} on
     * {@code resource}.
     *
     * @throws AuthException 401 as in authenticate, 403 when the permission is missing
     */
    public Principal require(String authorizationHeader, String resource, String action) {
        Principal p = authenticate(authorizationHeader);
        if (!p.can(resource, action)) {
            throw new AuthException(403, "missing permission " + Permissions.of(resource, action));
        }
        return p;
    }

    public AuthSettings settings() {
        return settings;
    }

    /** A token for {@code clientId} signed with the local key, valid for {@code ttl}. */
    public String mint(String clientId, List<String> permissions, Duration ttl) {
        if (clientId == null || clientId.isBlank()) {
            throw new IllegalArgumentException("client id must not be blank");
        }
        Objects.requireNonNull(permissions, "permissions");
        if (ttl == null || ttl.getSeconds() < 1) {
            throw new IllegalArgumentException("ttl must be at least one second, not " + ttl);
        }
        long nowSeconds = clock.millis() / 1000;
        JwtClaims claims = new JwtClaims();
        claims.setIssuer(settings.localIssuer());
        claims.setSubject(clientId);
        claims.setAudience(settings.mintedAudience());
        claims.setClaim("azp", clientId);
        // Written under the configured name so that the server reads back what it minted.
        claims.setStringListClaim(settings.permissionsClaim(), List.copyOf(permissions));
        claims.setIssuedAt(NumericDate.fromSeconds(nowSeconds));
        claims.setExpirationTime(NumericDate.fromSeconds(Math.addExact(nowSeconds, ttl.getSeconds())));
        claims.setGeneratedJwtId();

        JsonWebSignature jws = new JsonWebSignature();
        jws.setPayload(claims.toJson());
        jws.setKey(localKeys.signingKey.getPrivateKey());
        jws.setKeyIdHeaderValue(localKeys.signingKey.getKeyId());
        jws.setAlgorithmHeaderValue(localKeys.signingAlgorithm);
        jws.setHeader("typ", "JWT");
        try {
            return jws.getCompactSerialization();
        } catch (JoseException e) {
            throw new IllegalStateException("cannot sign with the key in " + localKeys.file, e);
        }
    }

    private static String bearerToken(String header) {
        if (header == null || header.isBlank()) {
            throw unauthorized("missing Authorization header");
        }
        if (header.length() > MAX_HEADER_CHARS) {
            throw unauthorized("Authorization header too long");
        }
        String h = header.strip();
        int space = h.indexOf(' ');
        String scheme = space < 0 ? h : h.substring(0, space);
        // RFC 7235: the scheme is case-insensitive.
        if (!scheme.toLowerCase(Locale.ROOT).equals("bearer")) {
            throw unauthorized("Authorization scheme must be Bearer");
        }
        String token = space < 0 ? "" : h.substring(space + 1).strip();
        if (token.isEmpty()) {
            throw unauthorized("Bearer token is empty");
        }
        return token;
    }

    private JwtClaims verify(String token, long nowMillis) {
        JwtContext ctx;
        try {
            ctx = PARSER.process(token);
        } catch (InvalidJwtException e) {
            throw unauthorized("malformed token");
        }
        List<JsonWebStructure> objects = ctx.getJoseObjects();
        if (objects.size() != 1 || !(objects.get(0) instanceof JsonWebSignature jws)) {
            throw unauthorized("token must be a signed JWT (JWS)");
        }
        String alg = jws.getAlgorithmHeaderValue();
        if (!ALLOWED.contains(alg)) {
            throw unauthorized("token algorithm " + alg + " is not accepted");
        }
        String iss;
        try {
            iss = ctx.getJwtClaims().getIssuer();
        } catch (MalformedClaimException e) {
            throw unauthorized("malformed token: iss is not a string");
        }
        VerificationKeyResolver resolver;
        if (settings.localIssuer().equals(iss)) {
            resolver = localResolver;
        } else if (oidcKeys != null && settings.oidcIssuer().equals(iss)) {
            resolver = oidcKeys.resolver();
        } else {
            throw unauthorized(iss == null ? "token has no issuer" : "token issuer is not trusted");
        }
        for (String claim : TIME_CLAIMS) {
            Object value = ctx.getJwtClaims().getClaimValue(claim);
            if (value != null && TimeClaim.seconds(value) == null) {
                throw unauthorized("malformed token: " + claim + " is not a time in seconds since 1970 (before year 10000)");
            }
        }
        // Built per token because the evaluation time is part of the consumer; that's cheap next
        // to the signature check it guards.
        JwtConsumerBuilder builder = new JwtConsumerBuilder()
                .setEvaluationTime(NumericDate.fromMilliseconds(nowMillis))
                // nbf in the future is refused with the same tolerance as exp
                .setAllowedClockSkewInSeconds(CLOCK_SKEW_SECONDS)
                .setRequireExpirationTime()
                .setExpectedIssuer(iss)
                .setJwsAlgorithmConstraints(CONSTRAINTS)
                .setVerificationKeyResolver(resolver);
        if (settings.audience() != null) {
            // Without it any token of the realm that has the permissions claim would do, e.g. one
            // issued to another application. Providers add audiences of their own (Keycloak:
            // "account"), so aud must contain ours, not equal it.
            builder.setExpectedAudience(true, settings.audience());
        } else {
            builder.setSkipDefaultAudienceValidation();
        }
        JwtConsumer consumer = builder.build();
        try {
            consumer.processContext(ctx);
        } catch (InvalidJwtException e) {
            throw unauthorized(reason(e));
        }
        return ctx.getJwtClaims();
    }

    private String reason(InvalidJwtException e) {
        if (e.hasExpired()) {
            return "token expired";
        }
        if (e.hasErrorCode(ErrorCodes.NOT_YET_VALID)) {
            return "token not yet valid";
        }
        if (e.hasErrorCode(ErrorCodes.EXPIRATION_MISSING)) {
            return "token has no exp";
        }
        if (e.hasErrorCode(ErrorCodes.AUDIENCE_MISSING) || e.hasErrorCode(ErrorCodes.AUDIENCE_INVALID)) {
            return "token is not meant for this server (aud must contain " + settings.audience() + ")";
        }
        if (e.hasErrorCode(ErrorCodes.ISSUER_INVALID)) {
            return "wrong issuer";
        }
        if (e.hasErrorCode(ErrorCodes.SIGNATURE_INVALID)) {
            return "bad signature";
        }
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
            if (c instanceof OidcKeys.Unavailable) {
                return c.getMessage();
            }
            if (c instanceof UnresolvableKeyException) {
                return "no known key matches the token's kid";
            }
        }
        return "invalid token";
    }

    private Principal principal(JwtClaims claims) {
        try {
            String clientId = claims.getStringClaimValue("azp");
            if (clientId == null) {
                clientId = claims.getStringClaimValue("client_id");
            }
            String subject = claims.getSubject();
            if (subject == null) {
                subject = clientId;
            }
            if (subject == null) {
                throw unauthorized("token has neither sub nor azp/client_id");
            }
            return new Principal(clientId, subject, permissions(claims.getClaimValue(settings.permissionsClaim())));
        } catch (MalformedClaimException e) {
            throw unauthorized("malformed token: sub, azp and client_id must be strings");
        }
    }

    // Keycloak and Auth0 send a JSON array; scope-style providers send one space-separated string.
    private Set<String> permissions(Object value) {
        Set<String> out = new LinkedHashSet<>();
        if (value == null) {
            return out;
        }
        if (value instanceof String s) {
            for (String p : s.trim().split("\\s+")) {
                if (!p.isEmpty()) {
                    out.add(p);
                }
            }
            return out;
        }
        if (value instanceof List<?> list) {
            List<String> strings = new ArrayList<>(list.size());
            for (Object o : list) {
                if (!(o instanceof String s)) {
                    throw unauthorized("claim " + settings.permissionsClaim() + " must hold only strings");
                }
                strings.add(s);
            }
            out.addAll(strings);
            return out;
        }
        throw unauthorized("claim " + settings.permissionsClaim() + " must be an array of strings or a string");
    }

    private static long expiry(JwtClaims claims) {
        try {
            return claims.getExpirationTime().getValueInMillis();
        } catch (MalformedClaimException e) {
            throw unauthorized("malformed token: exp");  // not reached: the consumer checked exp
        }
    }

    private static AuthException unauthorized(String message) {
        return new AuthException(401, message);
    }
}
