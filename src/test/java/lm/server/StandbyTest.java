package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.testing.Http;
import lm.testing.Replication;
import lm.testing.ServerProcess;
import lm.testing.TestApi;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A database that takes no writes: a standby, or one set read-only. 503 database_read_only, never 500. */
class StandbyTest {
    @TempDir
    Path dir;

    /**
     * lm-server started while only a standby is up (its primary killed, never migrated): it
     * listens, /health is 503 database_read_only, and once the standby is promoted it migrates
     * and serves, without a restart. It used to exit (the migration needs a primary).
     */
    @Test
    void startedOnAStandbyWaitsForAPrimaryThenMigrates() throws Exception {
        try (Replication pg = Replication.start()) {
            pg.killPrimary();
            try (ServerProcess server = ServerProcess.start(dir, Map.of("database_url", pg.multiHostUrl(), "database_user", "postgres"))) {
                Http http = new Http("http://127.0.0.1:" + server.port() + "/lm");
                Http.Res waiting = http.get("/health", null);
                assertEquals(503, waiting.status(), waiting::toString);
                assertEquals("database_read_only", waiting.json().getAsJsonObject().get("code").getAsString(), waiting::toString);
                assertEquals("1", waiting.header("Retry-After"));
                String token = new Authenticator(new AuthSettings(server.stateDir.resolve("jwks.json"), "lm-local", null, "permissions"))
                        .mint("c", List.of("license-manager:admin"), Duration.ofHours(1));
                Http.Res early = http.get("/jobs", token);
                assertEquals(503, early.status(), () -> "no request is served before the migrations ran: " + early + "\n" + server.stderrText());
                assertTrue(server.stderrText().contains("waiting for a primary"), server.stderrText());

                pg.promote();
                Http.Res health = null;
                for (int i = 0; i < 150 && (health == null || health.status() != 204); i++) {
                    Thread.sleep(200);
                    health = http.get("/health", null);
                }
                assertEquals(204, health.status(), health + "\n" + server.stderrText());
                try (Connection c = DriverManager.getConnection(Replication.url(pg.standbyPort), "postgres", "");
                        Statement st = c.createStatement();
                        ResultSet rs = st.executeQuery("SELECT count(*) FROM lm.flyway_schema_history WHERE success")) {
                    rs.next();
                    assertTrue(rs.getInt(1) > 10, "migrated on the promoted standby");
                }
                Http.Res product = http.post("/products", token, "{\"name\":\"after-promotion\"}");
                assertEquals(201, product.status(), product::toString);
                assertTrue(server.stderrText().contains("database ready after"), server.stderrText());
            }
        }
    }

    /** default_transaction_read_only on the database: writes and /health answer 503 database_read_only with Retry-After. */
    @Test
    void readOnlyDatabaseIs503WithItsCode() throws Exception {
        String db = TestDatabase.create();
        try (Connection c = DriverManager.getConnection(TestDatabase.url(db), TestDatabase.user(), TestDatabase.password());
                Statement st = c.createStatement()) {
            st.execute("ALTER DATABASE " + db + " SET default_transaction_read_only = on");
        }
        try (HikariDataSource ds = lm.db.Database.pool(TestDatabase.url(db), TestDatabase.user(), TestDatabase.password(), 2);
                TestApi api = new TestApi(ds)) {
            Http.Res write = api.http.post("/products", api.admin(), "{\"name\":\"p\"}");
            assertEquals(503, write.status(), write::toString);
            assertEquals("database_read_only", write.json().getAsJsonObject().get("code").getAsString());
            assertEquals("1", write.header("Retry-After"));
            Http.Res health = api.http.get("/health", null);
            assertEquals(503, health.status(), health::toString);
            assertEquals("database_read_only", health.json().getAsJsonObject().get("code").getAsString());
            assertEquals(200, api.http.get("/products", api.admin()).status(), "reads still work");
        }
    }
}
