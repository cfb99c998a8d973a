package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.net.URI;
import lm.testing.Http;
import lm.testing.TcpProxy;
import lm.testing.TestApi;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.Test;

/** The database goes away: clear 503s, nothing hangs, and the server recovers by itself. */
class DatabaseOutageTest {
    @Test
    void unreachableDatabaseIs503ThenRecovers() throws Exception {
        String db = TestDatabase.create();
        URI u = URI.create(TestDatabase.url(db).substring("jdbc:".length()));
        try (TcpProxy proxy = new TcpProxy(u.getPort())) {
            HikariConfig hc = new HikariConfig();
            hc.setJdbcUrl("jdbc:postgresql://127.0.0.1:" + proxy.port() + u.getPath());
            hc.setUsername(TestDatabase.user());
            hc.setPassword(TestDatabase.password());
            hc.setMaximumPoolSize(4);
            hc.setConnectionTimeout(1000);
            hc.setValidationTimeout(500);
            hc.setInitializationFailTimeout(-1);
            try (HikariDataSource ds = new HikariDataSource(hc); TestApi api = new TestApi(ds)) {
                String admin = api.admin();
                Http.Res ok = api.http.post("/products", admin, "{\"name\":\"before\"}");
                assertEquals(201, ok.status(), ok::toString);

                proxy.cut();
                Http.Res down = api.http.get("/products", admin);
                assertEquals(503, down.status(), down::toString);
                assertEquals("database_unavailable", down.json().getAsJsonObject().get("code").getAsString());
                assertEquals(503, api.http.get("/health", null).status());
                Http.Res write = api.http.post("/products", admin, "{\"name\":\"during\"}");
                assertEquals(503, write.status(), write::toString);

                proxy.restore();
                Http.Res back = null;
                for (int i = 0; i < 50; i++) {
                    back = api.http.get("/products", admin);
                    if (back.status() == 200) {
                        break;
                    }
                    Thread.sleep(200);
                }
                assertEquals(200, back.status(), String.valueOf(back));
                assertTrue(back.body().contains("before") && !back.body().contains("during"), back.body());
                assertEquals(204, api.http.get("/health", null).status());
            }
        }
    }
}
