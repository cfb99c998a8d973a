package lm.auth;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import org.jose4j.jwk.EllipticCurveJsonWebKey;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.PublicJsonWebKey;
import org.jose4j.jwk.RsaJsonWebKey;
import org.jose4j.jwk.RsaJwkGenerator;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.lang.JoseException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's own key pairs, kept in a JWKS file with their private parts. The first key that
 * has a private part signs; every key in the file verifies, so a new key can be put first while
 * tokens signed by the old one are still in use.
 */
final class LocalKeys {

    private static final Logger log = LoggerFactory.getLogger(LocalKeys.class);

    // RS256 rather than ES256: measured on JDK 17 here, an RS256 verification takes ~50 us and an
    // ES256 one ~1.2 ms (the JDK's P-256 is pure Java). Verification runs on every cache miss at
    // ~8,000 req/s on 2 cores; RSA's slow key generation (~150 ms) happens once.
    private static final int RSA_BITS = 2048;
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    final Path file;
    final PublicJsonWebKey signingKey;
    final String signingAlgorithm;
    final List<JsonWebKey> verificationKeys;

    private LocalKeys(Path file, PublicJsonWebKey signingKey, List<JsonWebKey> verificationKeys) {
        this.file = file;
        this.signingKey = signingKey;
        this.signingAlgorithm = algorithmOf(signingKey);
        this.verificationKeys = verificationKeys;
    }

    /** Reads the keys file, first creating it with a fresh key pair if it doesn't exist. */
    static LocalKeys loadOrCreate(Path file) {
        try {
            if (Files.notExists(file)) {
                create(file);
            } else {
                warnIfShared(file);
            }
            return parse(file, Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("keys file " + file + ": " + e.getMessage(), e);
        }
    }

    static LocalKeys parse(Path file, String json) {
        List<JsonWebKey> keys;
        try {
            keys = new JsonWebKeySet(json).getJsonWebKeys();
        } catch (JoseException e) {
            throw new IllegalStateException("keys file " + file + " is not a valid JWKS: " + e.getMessage(), e);
        }
        PublicJsonWebKey signing = null;
        for (JsonWebKey key : keys) {
            if (key instanceof PublicJsonWebKey pk && pk.getPrivateKey() != null) {
                algorithmOf(pk); // rejects key types we can't sign with, naming the file
                signing = pk;
                break;
            }
        }
        if (signing == null) {
            throw new IllegalStateException(
                    "keys file " + file + " holds no private key: it must be the server's own key pair"
                            + " (delete it to have a new one made)");
        }
        return new LocalKeys(file, signing, List.copyOf(keys));
    }

    private static String algorithmOf(PublicJsonWebKey key) {
        if (key.getAlgorithm() != null) {
            return key.getAlgorithm();
        }
        if (key instanceof RsaJsonWebKey) {
            return AlgorithmIdentifiers.RSA_USING_SHA256;
        }
        if (key instanceof EllipticCurveJsonWebKey ec) {
            switch (ec.getCurveName()) {
                case "P-256": return AlgorithmIdentifiers.ECDSA_USING_P256_CURVE_AND_SHA256;
                case "P-384": return AlgorithmIdentifiers.ECDSA_USING_P384_CURVE_AND_SHA384;
                case "P-521": return AlgorithmIdentifiers.ECDSA_USING_P521_CURVE_AND_SHA512;
                default: break;
            }
        }
        throw new IllegalStateException("unsupported key type " + key.getKeyType() + " (kid " + key.getKeyId() + ")");
    }

    private static void create(Path file) throws IOException {
        RsaJsonWebKey key;
        try {
            key = RsaJwkGenerator.generateJwk(RSA_BITS);
            key.setKeyId(key.calculateBase64urlEncodedThumbprint("SHA-256"));
        } catch (JoseException e) {
            throw new IllegalStateException("cannot generate an RSA key pair", e);
        }
        key.setUse("sig");
        key.setAlgorithm(AlgorithmIdentifiers.RSA_USING_SHA256);
        String json = new JsonWebKeySet(key).toJson(JsonWebKey.OutputControlLevel.INCLUDE_PRIVATE);

        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // Created 0600 from the start: a chmod after writing would leave the private key readable
        // for a moment.
        Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp",
                PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8));
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true); // else a crash could leave an empty keys file behind the rename
            }
            publish(tmp, file);
        } finally {
            Files.deleteIfExists(tmp);
        }
        syncDirectory(dir);
        log.info("auth: created signing key kid={} in {}", key.getKeyId(), file);
    }

    // A hard link, unlike rename(2), fails when the target exists: if the server and `token` both
    // start on a fresh install, the second one reads the first one's key instead of replacing it
    // under the first one's feet.
    private static void publish(Path tmp, Path file) throws IOException {
        try {
            Files.createLink(file, tmp);
        } catch (FileAlreadyExistsException e) {
            log.info("auth: keys file {} appeared while creating it; using that one", file);
        } catch (UnsupportedOperationException | FileSystemException e) {
            if (Files.exists(file)) {
                return;
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Some file systems refuse to open a directory; the file itself is already synced.
        }
    }

    private static void warnIfShared(Path file) {
        try {
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
            if (!OWNER_ONLY.containsAll(mode)) {
                log.warn("auth: keys file {} is accessible by others (mode {}); it holds a private key,"
                        + " chmod 600 it", file, PosixFilePermissions.toString(mode));
            }
        } catch (UnsupportedOperationException | IOException e) {
            // Not a POSIX file system: nothing to check.
        }
    }
}
