package lm.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.RsaJsonWebKey;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jwt.JwtClaims;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KeysFileTest {

    @TempDir Path dir;

    private static AuthSettings settings(Path keys) {
        return new AuthSettings(keys, null, null, null);
    }

    @Test
    void createdOnFirstStartWithMode0600AndParentDirs() throws Exception {
        Path keys = dir.resolve("var/lib/lm/keys.json");
        new Authenticator(settings(keys));

        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(keys)));
        List<JsonWebKey> jwks = new JsonWebKeySet(Files.readString(keys)).getJsonWebKeys();
        assertEquals(1, jwks.size());
        RsaJsonWebKey key = (RsaJsonWebKey) jwks.get(0);
        assertNotNull(key.getPrivateKey(), "the file must hold the private part");
        assertEquals(2048, key.getRsaPublicKey().getModulus().bitLength());
        assertEquals(AlgorithmIdentifiers.RSA_USING_SHA256, key.getAlgorithm());
        assertEquals(key.calculateBase64urlEncodedThumbprint("SHA-256"), key.getKeyId());
        try (Stream<Path> files = Files.list(keys.getParent())) {
            assertEquals(List.of(keys), files.toList(), "no temporary file may be left behind");
        }
    }

    @Test
    void keyIsReusedAcrossRestarts() throws Exception {
        Path keys = dir.resolve("keys.json");
        String token = new Authenticator(settings(keys))
                .mint("cluster-a", List.of("license-manager:job:read"), Duration.ofMinutes(5));
        String before = Files.readString(keys);

        Authenticator restarted = new Authenticator(settings(keys));
        assertEquals(before, Files.readString(keys), "a restart must not replace the key");
        assertEquals("cluster-a", restarted.require("Bearer " + token, "job", "read").clientId());
    }

    @Test
    void tokenFromAnotherInstallIsRejected() {
        String foreign = new Authenticator(settings(dir.resolve("a/keys.json")))
                .mint("cluster-a", List.of("license-manager:admin"), Duration.ofMinutes(5));
        Authenticator ours = new Authenticator(settings(dir.resolve("b/keys.json")));
        AuthException e = assertThrows(AuthException.class, () -> ours.authenticate("Bearer " + foreign));
        assertEquals(401, e.status());
    }

    @Test
    void everyKeyInTheFileVerifiesAndTheFirstSigns() throws Exception {
        RsaJsonWebKey next = TestTokens.newRsaKey("next");
        RsaJsonWebKey old = TestTokens.newRsaKey("old");
        Path keys = dir.resolve("keys.json");
        Files.writeString(keys, new JsonWebKeySet(next, old).toJson(JsonWebKey.OutputControlLevel.INCLUDE_PRIVATE));
        Authenticator auth = new Authenticator(settings(keys));

        long now = System.currentTimeMillis() / 1000;
        String byOld = TestTokens.sign(TestTokens.claims("lm-local", now), old);
        assertEquals("cluster-a", auth.authenticate("Bearer " + byOld).clientId());

        String minted = auth.mint("c", List.of(), Duration.ofMinutes(1));
        var jws = (org.jose4j.jws.JsonWebSignature)
                org.jose4j.jws.JsonWebSignature.fromCompactSerialization(minted);
        assertEquals("next", jws.getKeyIdHeaderValue());
        assertEquals("lm-local", JwtClaims.parse(jws.getUnverifiedPayload()).getIssuer());
    }

    @Test
    void fileWithoutPrivateKeyIsRefusedNamingTheFile() throws Exception {
        RsaJsonWebKey k = TestTokens.newRsaKey("pub");
        Path keys = dir.resolve("public.json");
        Files.writeString(keys, new JsonWebKeySet(k).toJson(JsonWebKey.OutputControlLevel.PUBLIC_ONLY));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new Authenticator(settings(keys)));
        assertTrue(e.getMessage().contains(keys.toString()), e.getMessage());
    }

    @Test
    void garbledFileIsRefusedNotReplaced() throws Exception {
        Path keys = dir.resolve("keys.json");
        Files.writeString(keys, "{not json");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new Authenticator(settings(keys)));
        assertTrue(e.getMessage().contains(keys.toString()), e.getMessage());
        assertEquals("{not json", Files.readString(keys), "a broken key file is the admin's to fix");
    }
}
