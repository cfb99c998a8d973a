package lm.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.jose4j.jwk.EcJwkGenerator;
import org.jose4j.jwk.EllipticCurveJsonWebKey;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.PublicJsonWebKey;
import org.jose4j.jwk.RsaJsonWebKey;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.keys.EllipticCurves;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A stand-in identity provider on 127.0.0.1, over plain http, serving discovery and JWKS. */
class OidcTest {

    @TempDir Path dir;
    private HttpServer server;
    private String issuer;
    private volatile String discoveredIssuer;
    private volatile List<PublicJsonWebKey> published;
    private final AtomicInteger discoveryHits = new AtomicInteger();
    private final AtomicInteger jwksHits = new AtomicInteger();
    private RsaJsonWebKey k1;

    @BeforeEach
    void startIssuer() throws Exception {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        issuer = "http://127.0.0.1:" + server.getAddress().getPort() + "/realms/hpc";
        discoveredIssuer = issuer;
        server.createContext("/realms/hpc/.well-known/openid-configuration", ex -> {
            discoveryHits.incrementAndGet();
            reply(ex, "{\"issuer\":\"" + discoveredIssuer + "\",\"jwks_uri\":\"" + issuer
                    + "/protocol/openid-connect/certs\",\"token_endpoint\":\"" + issuer + "/token\"}");
        });
        server.createContext("/realms/hpc/protocol/openid-connect/certs", ex -> {
            jwksHits.incrementAndGet();
            reply(ex, new JsonWebKeySet(published.toArray(new JsonWebKey[0])).toJson());
        });
        server.start();
        k1 = TestTokens.newRsaKey("k1");
        published = List.of(k1);
    }

    @AfterEach
    void stopIssuer() {
        server.stop(0);
    }

    private static void reply(HttpExchange ex, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, b.length);
        ex.getResponseBody().write(b);
        ex.close();
    }

    private Authenticator authenticator() {
        return new Authenticator(new AuthSettings(dir.resolve("keys.json"), null, issuer, null));
    }

    private static long now() {
        return System.currentTimeMillis() / 1000;
    }

    private JwtClaims issuerClaims() {
        JwtClaims c = TestTokens.claims(issuer, now());
        c.setClaim("aud", "account"); // as Keycloak sends it: must not cause a rejection
        return c;
    }

    @Test
    void issuerTokenVerifiesAndNothingIsFetchedBeforeTheFirstOne() throws Exception {
        Authenticator auth = authenticator();
        assertEquals(0, discoveryHits.get() + jwksHits.get(), "OIDC setup must be lazy");

        Principal p = auth.require("Bearer " + TestTokens.sign(issuerClaims(), k1), "job", "read");
        assertEquals("cluster-a", p.clientId());
        assertEquals(Set.of("license-manager:job:read"), p.permissions());
        assertEquals(1, discoveryHits.get());
        assertEquals(1, jwksHits.get());

        // The JWKS is cached: a second token with the same kid costs no fetch.
        auth.authenticate("Bearer " + TestTokens.sign(issuerClaims(), k1));
        assertEquals(1, jwksHits.get());
        assertEquals(1, discoveryHits.get());
    }

    @Test
    void localTokensStillWorkWithAnIssuerConfigured() {
        Authenticator auth = authenticator();
        String local = auth.mint("c", List.of("license-manager:admin"), java.time.Duration.ofMinutes(1));
        auth.require("Bearer " + local, "config", "delete");
        assertEquals(0, discoveryHits.get(), "a local token needs no identity provider");
    }

    @Test
    void rotatedKeyIsFetchedOnUnknownKid() throws Exception {
        Authenticator auth = authenticator();
        auth.authenticate("Bearer " + TestTokens.sign(issuerClaims(), k1));
        assertEquals(1, jwksHits.get());

        RsaJsonWebKey k2 = TestTokens.newRsaKey("k2");
        published = List.of(k2);
        // jose4j refetches at most every 300 ms; don't let the test race that guard.
        Thread.sleep(400);
        Principal p = auth.authenticate("Bearer " + TestTokens.sign(issuerClaims(), k2));
        assertEquals("cluster-a", p.clientId());
        assertEquals(2, jwksHits.get(), "unknown kid must trigger exactly one refetch");
    }

    @Test
    void ecKeysFromTheIssuerAreAccepted() throws Exception {
        EllipticCurveJsonWebKey ec = EcJwkGenerator.generateJwk(EllipticCurves.P256);
        ec.setKeyId("ec1");
        published = List.of(k1, ec);
        Principal p = authenticator().authenticate("Bearer " + TestTokens.sign(issuerClaims(), ec));
        assertEquals("user-1", p.subject());
    }

    @Test
    void madeUpKidsDoNotFloodTheIssuer() throws Exception {
        Authenticator auth = authenticator();
        auth.authenticate("Bearer " + TestTokens.sign(issuerClaims(), k1));
        RsaJsonWebKey fake = TestTokens.newRsaKey("fake");
        for (int i = 0; i < 50; i++) {
            fake.setKeyId("fake-" + i);
            String token = TestTokens.sign(issuerClaims(), fake);
            assertEquals(401, assertThrows(AuthException.class,
                    () -> auth.authenticate("Bearer " + token)).status());
        }
        // jose4j refetches on an unknown kid at most every 300 ms; 50 tokens take far less than
        // 300 ms x 10 here, so one fetch per token would mean the guard is gone.
        assertTrue(jwksHits.get() <= 10, "JWKS fetched " + jwksHits.get() + " times for 50 made-up kids");
    }

    @Test
    void wrongIssuerIs401EvenWithTheIssuersKey() throws Exception {
        Authenticator auth = authenticator();
        JwtClaims other = issuerClaims();
        other.setIssuer(issuer.replace("/hpc", "/other"));
        AuthException e = assertThrows(AuthException.class,
                () -> auth.authenticate("Bearer " + TestTokens.sign(other, k1)));
        assertEquals(401, e.status());
        assertEquals("token issuer is not trusted", e.getMessage());
        assertEquals(0, discoveryHits.get() + jwksHits.get(), "an untrusted issuer must cost no network call");

        // Nor may the issuer's key sign for the local issuer: each issuer has its own key set.
        JwtClaims local = issuerClaims();
        local.setIssuer("lm-local");
        assertEquals(401, assertThrows(AuthException.class,
                () -> auth.authenticate("Bearer " + TestTokens.sign(local, k1))).status());
    }

    @Test
    void tokenWithTheIssuersNameButAnotherKeyIs401() throws Exception {
        Authenticator auth = authenticator();
        RsaJsonWebKey impostor = TestTokens.newRsaKey("k1");
        AuthException e = assertThrows(AuthException.class,
                () -> auth.authenticate("Bearer " + TestTokens.sign(issuerClaims(), impostor)));
        assertEquals("bad signature", e.getMessage());
    }

    @Test
    void discoveryNamingAnotherIssuerIsRefused() throws Exception {
        discoveredIssuer = "https://evil.example/realms/hpc";
        Authenticator auth = authenticator();
        AuthException e = assertThrows(AuthException.class,
                () -> auth.authenticate("Bearer " + TestTokens.sign(issuerClaims(), k1)));
        assertEquals(401, e.status());
        assertTrue(e.getMessage().contains("unavailable"), e.getMessage());
        assertEquals(0, jwksHits.get(), "keys from a mismatched discovery document must not be fetched");
    }

    @Test
    void unreachableIssuerIs401() throws Exception {
        server.stop(0);
        Authenticator auth = authenticator();
        String token = TestTokens.sign(issuerClaims(), k1);
        AuthException e = assertThrows(AuthException.class, () -> auth.authenticate("Bearer " + token));
        assertEquals(401, e.status());
        assertTrue(e.getMessage().contains(issuer), e.getMessage());
    }

    @Test
    void failedDiscoveryIsRetriedOnlyAfterAPauseThatGrows() throws Exception {
        discoveredIssuer = "https://evil.example/realms/hpc";
        MutableClock clock = new MutableClock(java.time.Instant.now());
        Authenticator auth = new Authenticator(
                new AuthSettings(dir.resolve("keys.json"), null, issuer, null), clock);
        String token = TestTokens.sign(issuerClaims(), k1);
        assertThrows(AuthException.class, () -> auth.authenticate("Bearer " + token));
        assertEquals(1, discoveryHits.get());
        assertThrows(AuthException.class, () -> auth.authenticate("Bearer " + token));
        assertEquals(1, discoveryHits.get(), "a failed discovery must not be retried on every request");

        clock.advance(java.time.Duration.ofSeconds(6)); // past the first pause of 5 s
        assertThrows(AuthException.class, () -> auth.authenticate("Bearer " + token));
        assertEquals(2, discoveryHits.get());
        clock.advance(java.time.Duration.ofSeconds(6)); // the second pause is 10 s
        discoveredIssuer = issuer; // the provider is fixed, but we wait before asking again
        assertThrows(AuthException.class, () -> auth.authenticate("Bearer " + token));
        assertEquals(2, discoveryHits.get(), "the pause must grow after a second failure");

        clock.advance(java.time.Duration.ofSeconds(5));
        assertEquals("cluster-a", auth.authenticate("Bearer " + token).clientId());
        assertEquals(3, discoveryHits.get());
    }

    @Test
    void aSlowProviderCostsEachRequestABoundedWaitAndOneFetch() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        server.removeContext("/realms/hpc/protocol/openid-connect/certs");
        server.createContext("/realms/hpc/protocol/openid-connect/certs", ex -> {
            jwksHits.incrementAndGet();
            try {
                release.await(30, java.util.concurrent.TimeUnit.SECONDS); // the provider hangs
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            reply(ex, new JsonWebKeySet(published.toArray(new JsonWebKey[0])).toJson());
        });
        Authenticator auth = authenticator();
        String token = TestTokens.sign(issuerClaims(), k1);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(16);
        try {
            List<java.util.concurrent.Future<Long>> waits = new java.util.ArrayList<>();
            for (int i = 0; i < 16; i++) {
                waits.add(pool.submit(() -> {
                    long t0 = System.nanoTime();
                    AuthException e = assertThrows(AuthException.class, () -> auth.authenticate("Bearer " + token));
                    assertTrue(e.getMessage().contains("unavailable"), e.getMessage());
                    return (System.nanoTime() - t0) / 1_000_000;
                }));
            }
            for (java.util.concurrent.Future<Long> w : waits) {
                // the bound is OidcKeys.WAIT_MILLIS (2 s); the provider would have held them 30 s
                assertTrue(w.get(20, java.util.concurrent.TimeUnit.SECONDS) < 10_000, "a request waited " + w.get() + " ms");
            }
            assertEquals(1, jwksHits.get(), "16 waiting requests share one fetch");
        } finally {
            pool.shutdownNow();
        }
        release.countDown();
        // once the fetch completes, tokens verify without another fetch
        long until = System.currentTimeMillis() + 10_000;
        Principal p = null;
        while (p == null && System.currentTimeMillis() < until) {
            try {
                p = auth.authenticate("Bearer " + token);
            } catch (AuthException e) {
                Thread.sleep(50);
            }
        }
        assertEquals("cluster-a", p == null ? null : p.clientId());
        assertEquals(1, jwksHits.get());
    }
}
