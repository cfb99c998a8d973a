package lm.auth;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.PublicJsonWebKey;
import org.jose4j.jwk.RsaJsonWebKey;
import org.jose4j.jwk.RsaJwkGenerator;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.NumericDate;

/** Builds tokens the way an attacker or another issuer would, with jose4j directly. */
public final class TestTokens {

    private TestTokens() {}

    public static RsaJsonWebKey newRsaKey(String kid) throws Exception {
        RsaJsonWebKey k = RsaJwkGenerator.generateJwk(2048);
        k.setKeyId(kid);
        return k;
    }

    /** The server's own key, read from its keys file as anyone with the file could. */
    public static PublicJsonWebKey localKey(Path keysFile) throws Exception {
        List<JsonWebKey> keys = new JsonWebKeySet(Files.readString(keysFile)).getJsonWebKeys();
        return (PublicJsonWebKey) keys.get(0);
    }

    /** Claims valid for ten minutes from now (seconds since the epoch). */
    public static JwtClaims claims(String iss, long nowSeconds) {
        JwtClaims c = new JwtClaims();
        c.setIssuer(iss);
        c.setSubject("user-1");
        c.setClaim("azp", "cluster-a");
        c.setStringListClaim("permissions", List.of("license-manager:job:read"));
        c.setIssuedAt(NumericDate.fromSeconds(nowSeconds));
        c.setExpirationTime(NumericDate.fromSeconds(nowSeconds + 600));
        c.setGeneratedJwtId();
        return c;
    }

    public static String sign(JwtClaims claims, PublicJsonWebKey key) throws Exception {
        return sign(claims, key, key instanceof RsaJsonWebKey
                ? AlgorithmIdentifiers.RSA_USING_SHA256
                : AlgorithmIdentifiers.ECDSA_USING_P256_CURVE_AND_SHA256);
    }

    static String sign(JwtClaims claims, PublicJsonWebKey key, String alg) throws Exception {
        JsonWebSignature jws = new JsonWebSignature();
        jws.setPayload(claims.toJson());
        jws.setKey(key.getPrivateKey());
        jws.setKeyIdHeaderValue(key.getKeyId());
        jws.setAlgorithmHeaderValue(alg);
        return jws.getCompactSerialization();
    }
}
