package lm.testing;

import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.http.ApiServer;
import lm.server.LmServer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real lm-server (HTTP, auth, SQL) on a fresh database, for API tests. A test class holds one
 * in a {@code @RegisterExtension static final} field: made when the class starts, and after its
 * last test the server stops and the database pool it made closes (one it was given stays open).
 */
public final class TestApi implements AutoCloseable, AfterAllCallback {
    public final HikariDataSource ds;
    public final Authenticator auth;
    public final Path keys;
    private final ApiServer server;
    public final Http http;
    private final boolean ownsPool;

    public TestApi() {
        this(TestDatabase.pool(8), newKeys(), true);
    }

    public TestApi(HikariDataSource ds) {
        this(ds, newKeys(), false);
    }

    /** A second instance on the same database and keys: what scaling out looks like. */
    public TestApi(HikariDataSource ds, Path keys) {
        this(ds, keys, false);
    }

    private TestApi(HikariDataSource ds, Path keys, boolean ownsPool) {
        this(ds, new AuthSettings(keys, "lm-local", null, "permissions"), ownsPool);
    }

    /** A server with these auth settings (an identity provider, an audience) on a fresh database. */
    public TestApi(AuthSettings settings) {
        this(TestDatabase.pool(8), settings, true);
    }

    private TestApi(HikariDataSource ds, AuthSettings settings, boolean ownsPool) {
        this.ds = ds;
        this.ownsPool = ownsPool;
        this.keys = settings.keysFile();
        this.auth = new Authenticator(settings);
        this.server = LmServer.serve(ds, auth, "127.0.0.1", 0);
        this.http = new Http("http://127.0.0.1:" + server.port() + "/lm");
    }

    private static Path newKeys() {
        try {
            return Files.createTempDirectory("lm-keys").resolve("jwks.json");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public int port() {
        return server.port();
    }

    public String admin() {
        return token("admin-cluster", "license-manager:admin");
    }

    public String token(String clientId, String... permissions) {
        return auth.mint(clientId, List.of(permissions), Duration.ofHours(1));
    }

    @Override
    public void close() {
        server.close();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
        if (ownsPool) {
            ds.close();
        }
    }
}
