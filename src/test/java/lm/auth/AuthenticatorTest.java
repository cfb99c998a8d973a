package lm.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.jose4j.jwa.AlgorithmConstraints;
import org.jose4j.jwk.PublicJsonWebKey;
import org.jose4j.jwk.RsaJsonWebKey;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.NumericDate;
import org.jose4j.keys.HmacKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuthenticatorTest {

    private static final String JOB_READ = "license-manager:job:read";

    @TempDir Path dir;
    private MutableClock clock;
    private Authenticator auth;
    private PublicJsonWebKey localKey;

    @BeforeEach
    void setUp() throws Exception {
        clock = new MutableClock(Instant.now().truncatedTo(ChronoUnit.SECONDS));
        auth = new Authenticator(settings("permissions"), clock);
        localKey = TestTokens.localKey(dir.resolve("keys.json"));
    }

    private AuthSettings settings(String claim) {
        return new AuthSettings(dir.resolve("keys.json"), null, null, claim);
    }

    private long nowSeconds() {
        return clock.millis() / 1000;
    }

    private static String bearer(String token) {
        return "Bearer " + token;
    }

    private AuthException rejected(String header) {
        AuthException e = assertThrows(AuthException.class, () -> auth.authenticate(header));
        assertEquals(401, e.status(), e.getMessage());
        return e;
    }

    // --- accepted -----------------------------------------------------------------------------

    @Test
    void mintedTokenVerifies() {
        String token = auth.mint("cluster-a", List.of(JOB_READ), Duration.ofMinutes(5));
        Principal p = auth.authenticate(bearer(token));
        assertEquals("cluster-a", p.clientId());
        assertEquals("cluster-a", p.subject());
        assertEquals(Set.of(JOB_READ), p.permissions());
    }

    @Test
    void schemeIsCaseInsensitiveAndSurroundingSpaceIgnored() {
        String token = auth.mint("cluster-a", List.of(JOB_READ), Duration.ofMinutes(5));
        assertEquals("cluster-a", auth.authenticate("bearer " + token).clientId());
        assertEquals("cluster-a", auth.authenticate("  BEARER   " + token + " ").clientId());
    }

    @Test
    void mintedTokenHasTheAdvertisedClaimsAndKid() throws Exception {
        String token = auth.mint("cluster-a", List.of(JOB_READ), Duration.ofMinutes(5));
        JsonWebSignature jws = (JsonWebSignature) JsonWebSignature.fromCompactSerialization(token);
        assertEquals(localKey.getKeyId(), jws.getKeyIdHeaderValue());
        assertEquals(AlgorithmIdentifiers.RSA_USING_SHA256, jws.getAlgorithmHeaderValue());
        JwtClaims c = JwtClaims.parse(jws.getUnverifiedPayload());
        assertEquals("lm-local", c.getIssuer());
        assertEquals("cluster-a", c.getSubject());
        assertEquals("cluster-a", c.getStringClaimValue("azp"));
        assertEquals(List.of(JOB_READ), c.getStringListClaimValue("permissions"));
        assertEquals(nowSeconds(), c.getIssuedAt().getValue());
        assertEquals(nowSeconds() + 300, c.getExpirationTime().getValue());
        assertFalse(c.getJwtId().isBlank());
        String other = auth.mint("cluster-a", List.of(JOB_READ), Duration.ofMinutes(5));
        JwtClaims c2 = JwtClaims.parse(
                ((JsonWebSignature) JsonWebSignature.fromCompactSerialization(other)).getUnverifiedPayload());
        assertFalse(c.getJwtId().equals(c2.getJwtId()), "jti must differ between tokens");
    }

    @Test
    void configuredLocalIssuerIsMintedAndRequired() throws Exception {
        Authenticator site = new Authenticator(
                new AuthSettings(dir.resolve("keys.json"), "site-x", null, null), clock);
        String token = site.mint("c", List.of(JOB_READ), Duration.ofMinutes(1));
        assertEquals("c", site.authenticate(bearer(token)).clientId());
        // Same key, but the default-issuer server doesn't trust "site-x".
        assertEquals("token issuer is not trusted", rejected(bearer(token)).getMessage());
    }

    @Test
    void audienceWhenSetMustBeInTheToken() throws Exception {
        Authenticator strict = new Authenticator(
                new AuthSettings(dir.resolve("keys.json"), null, null, null, "lm-api"), clock);
        // what the server mints carries its audience, and passes its own check
        String minted = strict.mint("c", List.of(JOB_READ), Duration.ofMinutes(1));
        assertEquals(List.of("lm-api"), JwtClaims.parse(((JsonWebSignature) JsonWebSignature
                .fromCompactSerialization(minted)).getUnverifiedPayload()).getAudience());
        assertEquals("c", strict.authenticate(bearer(minted)).clientId());
        // providers add audiences of their own (Keycloak: "account"): membership is enough
        JwtClaims both = TestTokens.claims("lm-local", nowSeconds());
        both.setAudience("lm-api", "account");
        assertEquals("cluster-a", strict.authenticate(bearer(TestTokens.sign(both, localKey))).clientId());
        // no aud, or only someone else's: refused, and the message says what is expected
        JwtClaims none = TestTokens.claims("lm-local", nowSeconds());
        AuthException e = assertThrows(AuthException.class, () -> strict.authenticate(bearer(TestTokens.sign(none, localKey))));
        assertEquals(401, e.status());
        assertTrue(e.getMessage().contains("lm-api"), e.getMessage());
        JwtClaims other = TestTokens.claims("lm-local", nowSeconds());
        other.setAudience("grafana", "account");
        assertEquals(401, assertThrows(AuthException.class,
                () -> strict.authenticate(bearer(TestTokens.sign(other, localKey)))).status());
        // a token minted for the default audience is not one for "lm-api"
        String loose = auth.mint("c", List.of(JOB_READ), Duration.ofMinutes(1));
        assertEquals(401, assertThrows(AuthException.class, () -> strict.authenticate(bearer(loose))).status());
        // without auth_audience, tokens carry the default audience and none is required
        assertEquals(List.of(AuthSettings.DEFAULT_AUDIENCE), JwtClaims.parse(((JsonWebSignature) JsonWebSignature
                .fromCompactSerialization(loose)).getUnverifiedPayload()).getAudience());
        assertEquals("cluster-a", auth.authenticate(bearer(TestTokens.sign(other, localKey))).clientId());
    }

    @Test
    void mintRejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> auth.mint("c", List.of(), Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> auth.mint("c", List.of(), Duration.ofSeconds(-5)));
        assertThrows(IllegalArgumentException.class, () -> auth.mint(" ", List.of(), Duration.ofMinutes(1)));
    }

    // --- rejected: header ---------------------------------------------------------------------

    @Test
    void missingHeaderIs401() {
        assertEquals("missing Authorization header", rejected(null).getMessage());
        assertEquals("missing Authorization header", rejected("").getMessage());
        assertEquals("missing Authorization header", rejected("   ").getMessage());
    }

    @Test
    void otherSchemesAre401() {
        String token = auth.mint("cluster-a", List.of(JOB_READ), Duration.ofMinutes(5));
        assertEquals("Authorization scheme must be Bearer", rejected("Basic dXNlcjpwYXNz").getMessage());
        assertEquals("Authorization scheme must be Bearer", rejected("Token " + token).getMessage());
        assertEquals("Authorization scheme must be Bearer", rejected(token).getMessage());
        assertEquals("Authorization scheme must be Bearer", rejected("Bearer:" + token).getMessage());
        assertEquals("Bearer token is empty", rejected("Bearer").getMessage());
        assertEquals("Bearer token is empty", rejected("Bearer    ").getMessage());
    }

    @Test
    void garbageIs401() {
        for (String g : List.of("abc", "a.b.c", "..", "a.b", "eyJhbGciOiJSUzI1NiJ9.e30.",
                "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", "\u00e9\u00e9\u00e9.x.y", "x".repeat(20_000))) {
            rejected(bearer(g));
        }
    }

    // --- rejected: signature and algorithm ----------------------------------------------------

    @Test
    void tokenSignedByAnotherKeyWithOurKidIs401() throws Exception {
        RsaJsonWebKey impostor = TestTokens.newRsaKey(localKey.getKeyId());
        String token = TestTokens.sign(TestTokens.claims("lm-local", nowSeconds()), impostor);
        assertEquals("bad signature", rejected(bearer(token)).getMessage());
    }

    @Test
    void tokenSignedByAnotherKeyWithUnknownKidIs401() throws Exception {
        RsaJsonWebKey other = TestTokens.newRsaKey("someone-else");
        String token = TestTokens.sign(TestTokens.claims("lm-local", nowSeconds()), other);
        assertEquals("no known key matches the token's kid", rejected(bearer(token)).getMessage());
    }

    @Test
    void tamperedPayloadIs401EvenAfterTheOriginalWasAccepted() throws Exception {
        String token = TestTokens.sign(TestTokens.claims("lm-local", nowSeconds()), localKey);
        assertEquals(Set.of(JOB_READ), auth.authenticate(bearer(token)).permissions());

        String[] parts = token.split("\\.");
        JwtClaims escalated = TestTokens.claims("lm-local", nowSeconds());
        escalated.setStringListClaim("permissions", List.of("license-manager:admin"));
        String payload = Base64.getUrlEncoder().withoutPadding()
                .encodeToString(escalated.toJson().getBytes(StandardCharsets.UTF_8));
        String tampered = parts[0] + "." + payload + "." + parts[2];
        assertEquals("bad signature", rejected(bearer(tampered)).getMessage());
    }

    @Test
    void signatureStrippedIs401() throws Exception {
        String token = TestTokens.sign(TestTokens.claims("lm-local", nowSeconds()), localKey);
        rejected(bearer(token.substring(0, token.lastIndexOf('.') + 1)));
    }

    @Test
    void algNoneIs401() throws Exception {
        JsonWebSignature jws = new JsonWebSignature();
        jws.setPayload(TestTokens.claims("lm-local", nowSeconds()).toJson());
        jws.setAlgorithmConstraints(AlgorithmConstraints.NO_CONSTRAINTS);
        jws.setAlgorithmHeaderValue(AlgorithmIdentifiers.NONE);
        jws.setKeyIdHeaderValue(localKey.getKeyId());
        String token = jws.getCompactSerialization();
        assertTrue(token.endsWith("."), "an unsigned token has an empty signature part");
        assertEquals("token algorithm none is not accepted", rejected(bearer(token)).getMessage());
    }

    @Test
    void hs256SignedWithOurPublicKeyIs401() throws Exception {
        // The classic confusion attack: the public key (which anyone may have) as an HMAC secret.
        JsonWebSignature jws = new JsonWebSignature();
        jws.setPayload(TestTokens.claims("lm-local", nowSeconds()).toJson());
        jws.setAlgorithmHeaderValue(AlgorithmIdentifiers.HMAC_SHA256);
        jws.setKeyIdHeaderValue(localKey.getKeyId());
        jws.setKey(new HmacKey(localKey.getPublicKey().getEncoded()));
        assertEquals("token algorithm HS256 is not accepted",
                rejected(bearer(jws.getCompactSerialization())).getMessage());
    }

    // --- rejected: claims ---------------------------------------------------------------------

    @Test
    void expiredTokenIs401() {
        String token = auth.mint("cluster-a", List.of(JOB_READ), Duration.ofMinutes(1));
        clock.advance(Duration.ofSeconds(60 + Authenticator.CLOCK_SKEW_SECONDS + 1));
        assertEquals("token expired", rejected(bearer(token)).getMessage());
    }

    @Test
    void notYetValidTokenIs401() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.setNotBefore(NumericDate.fromSeconds(nowSeconds() + 60));
        String token = TestTokens.sign(c, localKey);
        assertEquals("token not yet valid", rejected(bearer(token)).getMessage());
        clock.advance(Duration.ofSeconds(61));
        assertEquals("cluster-a", auth.authenticate(bearer(token)).clientId());
    }

    /**
     * Issue 20 case 7: a signed token with exp 1e30 was a 500 with a stack trace (the cache's
     * expiry in milliseconds overflowed). A time claim beyond any date, or before the epoch, is a
     * 401 naming the claim, whichever of exp, nbf and iat it is; a fractional date is still fine.
     */
    @Test
    void timeClaimsBeyondAnyDateAre401() throws Exception {
        for (String claim : List.of("exp", "nbf", "iat")) {
            for (Object value : List.of(1e30, -1e30, 1e300, Long.MAX_VALUE, Long.MIN_VALUE, 253402300800L, -1L, "soon", true)) {
                JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
                c.setClaim(claim, value);
                String token = TestTokens.sign(c, localKey);
                AuthException e = assertThrows(AuthException.class, () -> auth.authenticate(bearer(token)), claim + " = " + value);
                assertEquals(401, e.status(), claim + " = " + value + ": " + e.getMessage());
                assertEquals("malformed token: " + claim + " is not a time in seconds since 1970 (before year 10000)", e.getMessage(),
                        claim + " = " + value);
            }
        }
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.setClaim("exp", nowSeconds() + 600.5);
        c.setClaim("iat", nowSeconds() - 0.25);
        assertEquals("cluster-a", auth.authenticate(bearer(TestTokens.sign(c, localKey))).clientId());
    }

    @Test
    void tokenWithoutExpIs401() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.unsetClaim("exp");
        assertEquals("token has no exp", rejected(bearer(TestTokens.sign(c, localKey))).getMessage());
    }

    @Test
    void wrongOrMissingIssuerIs401EvenWithOurKey() throws Exception {
        String wrong = TestTokens.sign(TestTokens.claims("https://evil.example", nowSeconds()), localKey);
        assertEquals("token issuer is not trusted", rejected(bearer(wrong)).getMessage());
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.unsetClaim("iss");
        assertEquals("token has no issuer", rejected(bearer(TestTokens.sign(c, localKey))).getMessage());
        c.setClaim("iss", 42);
        rejected(bearer(TestTokens.sign(c, localKey)));
    }

    // --- permissions --------------------------------------------------------------------------

    @Test
    void adminMayDoEverything() {
        String token = auth.mint("c", List.of("license-manager:admin"), Duration.ofMinutes(5));
        for (String r : Permissions.RESOURCES) {
            for (String a : Permissions.ACTIONS) {
                assertEquals("c", auth.require(bearer(token), r, a).clientId());
            }
        }
    }

    @Test
    void specificPermissionGrantsOnlyItself() {
        String token = auth.mint("c", List.of("license-manager:booking:create"), Duration.ofMinutes(5));
        auth.require(bearer(token), "booking", "create");
        AuthException e = assertThrows(AuthException.class,
                () -> auth.require(bearer(token), "booking", "delete"));
        assertEquals(403, e.status());
        assertEquals("missing permission license-manager:booking:delete", e.getMessage());
        assertEquals(403, assertThrows(AuthException.class,
                () -> auth.require(bearer(token), "job", "create")).status());
    }

    @Test
    void requireWithoutValidTokenIs401Not403() {
        AuthException e = assertThrows(AuthException.class, () -> auth.require(null, "job", "read"));
        assertEquals(401, e.status());
    }

    @Test
    void lookalikePermissionsGrantNothing() {
        String token = auth.mint("c", List.of("license-manager:job:*", "license-manager:job",
                "job:read", "LICENSE-MANAGER:JOB:READ", "license-manager:admin:read"), Duration.ofMinutes(5));
        assertEquals(403, assertThrows(AuthException.class,
                () -> auth.require(bearer(token), "job", "read")).status());
    }

    @Test
    void spaceSeparatedPermissionsAreAccepted() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.setClaim("permissions", " license-manager:job:read  license-manager:status:update ");
        Principal p = auth.require(bearer(TestTokens.sign(c, localKey)), "status", "update");
        assertEquals(Set.of(JOB_READ, "license-manager:status:update"), p.permissions());
    }

    @Test
    void customPermissionsClaimName() throws Exception {
        Authenticator roles = new Authenticator(settings("roles"), clock);
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.setStringListClaim("roles", List.of("license-manager:feature:update"));
        // "permissions" (from TestTokens) must now be ignored.
        String token = TestTokens.sign(c, localKey);
        roles.require(bearer(token), "feature", "update");
        assertEquals(403, assertThrows(AuthException.class,
                () -> roles.require(bearer(token), "job", "read")).status());
        // What this server mints it can read back under its own claim name.
        String minted = roles.mint("c", List.of("license-manager:product:read"), Duration.ofMinutes(1));
        roles.require(bearer(minted), "product", "read");
    }

    @Test
    void missingPermissionsClaimMeansNoPermissions() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.unsetClaim("permissions");
        String token = TestTokens.sign(c, localKey);
        assertEquals(Set.of(), auth.authenticate(bearer(token)).permissions());
        assertEquals(403, assertThrows(AuthException.class,
                () -> auth.require(bearer(token), "job", "read")).status());
    }

    @Test
    void permissionsClaimOfAnotherTypeIs401() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.setClaim("permissions", 7);
        rejected(bearer(TestTokens.sign(c, localKey)));
        c.setClaim("permissions", List.of("license-manager:admin", 7));
        rejected(bearer(TestTokens.sign(c, localKey)));
    }

    @Test
    void principalCanRejectsUnknownNames() {
        Principal p = new Principal("c", "s", Set.of("license-manager:admin"));
        assertThrows(IllegalArgumentException.class, () -> p.can("jobs", "read"));
        assertThrows(IllegalArgumentException.class, () -> p.can("job", "write"));
    }

    // --- identity -----------------------------------------------------------------------------

    @Test
    void azpWinsOverClientId() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.setClaim("client_id", "from-client-id");
        assertEquals("cluster-a", auth.authenticate(bearer(TestTokens.sign(c, localKey))).clientId());
    }

    @Test
    void clientIdUsedWithoutAzp() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.unsetClaim("azp");
        c.setClaim("client_id", "cluster-b");
        Principal p = auth.authenticate(bearer(TestTokens.sign(c, localKey)));
        assertEquals("cluster-b", p.clientId());
        assertEquals("user-1", p.subject());
    }

    @Test
    void neitherAzpNorClientIdGivesNullClientId() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.unsetClaim("azp");
        Principal p = auth.authenticate(bearer(TestTokens.sign(c, localKey)));
        assertNull(p.clientId());
        assertEquals("user-1", p.subject());
    }

    @Test
    void subjectFallsBackToClientIdAndOneOfThemIsRequired() throws Exception {
        JwtClaims c = TestTokens.claims("lm-local", nowSeconds());
        c.unsetClaim("sub");
        assertEquals("cluster-a", auth.authenticate(bearer(TestTokens.sign(c, localKey))).subject());
        c.unsetClaim("azp");
        c.setGeneratedJwtId(); // a different token, not served from the cache
        rejected(bearer(TestTokens.sign(c, localKey)));
    }

    // --- cache --------------------------------------------------------------------------------

    @Test
    void repeatedTokenIsServedFromCache() {
        String token = auth.mint("c", List.of(JOB_READ), Duration.ofHours(1));
        Principal first = auth.authenticate(bearer(token));
        // The same instance proves no second verification built a new Principal.
        assertSame(first, auth.authenticate(bearer(token)));
        assertSame(first, auth.require(bearer(token), "job", "read"));
    }

    @Test
    void cachedTokenIsRejectedAfterItsExp() {
        String token = auth.mint("c", List.of(JOB_READ), Duration.ofSeconds(2));
        Principal first = auth.authenticate(bearer(token));
        clock.advance(Duration.ofSeconds(1));
        assertSame(first, auth.authenticate(bearer(token)));
        clock.advance(Duration.ofSeconds(1 + Authenticator.CLOCK_SKEW_SECONDS + 1));
        assertEquals("token expired", rejected(bearer(token)).getMessage());
    }

    @Test
    void cachedTokenIsReverifiedAfterSixtySeconds() {
        String token = auth.mint("c", List.of(JOB_READ), Duration.ofHours(1));
        Principal first = auth.authenticate(bearer(token));
        clock.advance(Duration.ofSeconds(59));
        assertSame(first, auth.authenticate(bearer(token)));
        clock.advance(Duration.ofSeconds(2));
        Principal again = auth.authenticate(bearer(token));
        assertNotSame(first, again);
        assertEquals(first, again);
    }

    @Test
    void cacheIsBoundedAndExpiresEntries() {
        TokenCache cache = new TokenCache(100);
        Authenticator.Verified p = new Authenticator.Verified(new Principal("c", "s", Set.of()), "j", 1L);
        for (int i = 0; i < 1_000; i++) {
            cache.put("t" + i, p, 1_000);
            assertTrue(cache.size() <= 100, "size " + cache.size());
        }
        assertSame(p, cache.get("t999", 999));
        assertNull(cache.get("t999", 1_000));
        assertNull(cache.get("never", 0));
    }

    @Test
    void concurrentRequestsGetTheirOwnPrincipals() throws Exception {
        List<String> tokens = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            tokens.add(auth.mint("cluster-" + i, List.of(JOB_READ), Duration.ofMinutes(5)));
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> results = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                results.add(pool.submit(() -> {
                    for (int n = 0; n < 500; n++) {
                        int i = n % tokens.size();
                        assertEquals("cluster-" + i, auth.authenticate(bearer(tokens.get(i))).clientId());
                    }
                    return null;
                }));
            }
            for (Future<?> f : results) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
