package lm.inventory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.sql.SQLException;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19, case 6: one license server is one pool whatever the spelling of its host, and a
 * cluster joins a pool another cluster uses only through an admin. Each test uses hosts of its
 * own (the database is shared by the class).
 */
class PoolIdentityTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;
    static final java.util.concurrent.atomic.AtomicInteger NAMES = new java.util.concurrent.atomic.AtomicInteger();

    /** Everything a cluster's own inventory token may carry, short of admin. */
    static final String[] INVENTORY = {
        "license-manager:config:create", "license-manager:config:read", "license-manager:config:update", "license-manager:config:delete",
        "license-manager:license-server:create", "license-manager:license-server:update",
        "license-manager:feature:create", "license-manager:feature:read", "license-manager:feature:update",
    };

    @BeforeAll
    static void start() {
        admin = api.admin();
        ok(api.http.post("/products", admin, "{\"name\":\"pid\"}"), 201);
    }

    static JsonObject ok(Res r, int status) {
        assertEquals(status, r.status(), r::toString);
        return r.json().getAsJsonObject();
    }

    static long productId() throws SQLException {
        return Long.parseLong(Sql.text(api.ds, "SELECT id FROM lm.products WHERE name = 'pid'"));
    }

    static String configBody(String cluster, String host, String feature) throws SQLException {
        return "{\"name\":\"c" + NAMES.incrementAndGet() + "\",\"cluster_client_id\":\"" + cluster + "\",\"grace_time\":600,\"type\":\"flexlm\","
                + "\"license_servers\":[{\"host\":\"" + host + "\",\"port\":1055}]"
                + (feature == null ? "" : ",\"features\":[{\"name\":\"" + feature + "\",\"product_id\":" + productId() + "}]") + "}";
    }

    /** A configuration of {@code cluster} made by the admin, with feature pid.{@code feature} read as 10 of 10 free. */
    static long configured(String cluster, String host, String feature) throws SQLException {
        long config = ok(api.http.post("/configurations", admin, configBody(cluster, host, feature)), 201).get("id").getAsLong();
        long f = featureOf(config);
        ok(api.http.put("/features/" + f, admin, "{\"total\":10,\"used\":0}"), 200);
        return f;
    }

    static long featureOf(long config) {
        return ok(api.http.get("/configurations/" + config, admin), 200).getAsJsonArray("features").get(0).getAsJsonObject()
                .get("id").getAsLong();
    }

    static Res book(String cluster, String slurmId, String feature, int quantity) {
        return api.http.post("/jobs", api.token(cluster, "license-manager:job:create"), "{\"slurm_job_id\":\"" + slurmId
                + "\",\"username\":\"u\",\"lead_host\":\"n1\",\"bookings\":[{\"product_feature\":\"pid." + feature
                + "\",\"quantity\":" + quantity + "}]}");
    }

    static long pools(long... features) throws SQLException {
        StringBuilder ids = new StringBuilder();
        for (long f : features) {
            ids.append(ids.length() == 0 ? "" : ",").append(f);
        }
        return Long.parseLong(Sql.text(api.ds, "SELECT count(DISTINCT pool_id) FROM lm.features WHERE id IN (" + ids + ")"));
    }

    static long total(long feature) throws SQLException {
        return Long.parseLong(Sql.text(api.ds, "SELECT total FROM lm.pool_state(?)", feature));
    }

    static long count(String table) throws SQLException {
        return Long.parseLong(Sql.text(api.ds, "SELECT count(*) FROM lm." + table));
    }

    @Test
    void theSpellingsOfOneServerAreOnePool() throws Exception {
        long a = configured("pid-1", "lic9", "f");
        long b = configured("pid-2", "lic9.example.org", "f");
        long c = configured("pid-3", "LIC9.example.org.", "f");
        // another port, and another host whose first label differs, are other servers
        long d = configured("pid-4", "lic9x.example.org", "f");

        assertEquals(1, pools(a, b, c));
        assertEquals(2, pools(a, d));
        assertEquals(201, book("pid-1", "1", "f", 10).status());
        Res second = book("pid-2", "2", "f", 10);
        assertEquals(409, second.status(), second::toString);
        assertEquals(409, book("pid-3", "3", "f", 1).status());
    }

    @Test
    void withTheShortNameRuleOffAShortNameIsAnotherServer() throws Exception {
        Sql.update(api.ds, "UPDATE lm.settings SET license_server_short_names = false");
        try {
            long a = configured("pid-5", "lic8", "g");
            long b = configured("pid-6", "lic8.example.org", "g");
            long c = configured("pid-7", "LIC8.EXAMPLE.ORG.", "g");
            assertEquals(2, pools(a, b));
            assertEquals(1, pools(b, c), "case and a trailing dot still name one server");
            assertEquals(201, book("pid-5", "5", "g", 10).status());
            assertEquals(201, book("pid-6", "6", "g", 10).status());
            assertEquals(409, book("pid-7", "7", "g", 1).status());

            // turning the rule on again (lm-server at its next start) joins them at once
            Sql.update(api.ds, "UPDATE lm.settings SET license_server_short_names = true");
            assertEquals(1, pools(a, b, c));
            assertEquals(20L, Long.parseLong(Sql.text(api.ds, "SELECT booked FROM lm.pool_state(?)", a)));
        } finally {
            Sql.update(api.ds, "UPDATE lm.settings SET license_server_short_names = true");
        }
    }

    @Test
    void lmServerWritesTheSettingOfLmConfAtStartup(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        long a = configured("pid-8", "lic6", "k");
        long b = configured("pid-9", "lic6.example.org", "k");
        assertEquals(1, pools(a, b));
        java.nio.file.Path conf = dir.resolve("lm.conf");
        java.nio.file.Files.writeString(conf, "state_dir = " + dir + "\nhttp_port = 0\ndatabase_url = " + api.ds.getJdbcUrl()
                + "\ndatabase_user = " + lm.testing.TestDatabase.user() + "\ndatabase_password = " + lm.testing.TestDatabase.password()
                + "\ndatabase_pool_size = 1\nlicense_server_short_names = false\n");
        try (lm.server.LmServer started = lm.server.LmServer.start(lm.config.ServerSettings.load(conf, java.util.Map.of()))) {
            assertEquals("false", Sql.text(api.ds, "SELECT license_server_short_names::text FROM lm.settings"));
            assertEquals(2, pools(a, b));
        } finally {
            Sql.update(api.ds, "UPDATE lm.settings SET license_server_short_names = true");
        }
        assertEquals(1, pools(a, b));
    }

    @Test
    void aClusterCannotJoinAnotherClustersPoolWithoutAdmin() throws Exception {
        long theirs = configured("pid-own", "lic7", "h");
        String other = api.token("pid-join", INVENTORY);
        long configs = count("configurations");

        // a configuration on the other cluster's server, under another spelling
        Res r = api.http.post("/configurations", other, configBody("pid-join", "lic7.example.org", "h"));
        assertEquals(403, r.status(), r::toString);
        JsonObject e = r.json().getAsJsonObject();
        assertEquals("forbidden", e.get("code").getAsString());
        String pool = Sql.text(api.ds, "SELECT pool_id FROM lm.features WHERE id = ?", theirs);
        assertTrue(e.get("message").getAsString().contains("pool " + pool) && e.get("message").getAsString().contains("pid-own"), r::toString);
        assertEquals(Long.parseLong(pool), e.getAsJsonObject("detail").get("pool_id").getAsLong(), r::toString);
        assertEquals("pid-own", e.getAsJsonObject("detail").getAsJsonArray("clusters").get(0).getAsString(), r::toString);
        assertEquals(configs, count("configurations"), "nothing of the refused configuration is kept");

        // the refused cluster's agent has no feature there: its readings move nothing of the pool
        String agent = api.token("pid-join", lm.auth.Roles.permissions(lm.auth.Roles.AGENT).toArray(String[]::new));
        assertEquals(404, api.http.put("/features/bulk", agent,
                "[{\"product_name\":\"pid\",\"feature_name\":\"h\",\"total\":100000,\"used\":0}]").status());
        assertEquals(404, api.http.post("/agent/report", agent,
                "{\"features\":[{\"product_feature\":\"pid.h\",\"total\":0,\"used\":0}]}").status());
        assertEquals(404, api.http.put("/features/" + theirs, agent, "{\"total\":100000,\"used\":0}").status());
        assertEquals(10, total(theirs));

        // its own server: allowed; then renaming the host onto the other cluster's server is not
        long own = ok(api.http.post("/configurations", other, configBody("pid-join", "lic7-own", "h")), 201).get("id").getAsLong();
        JsonObject ownConfig = ok(api.http.get("/configurations/" + own, admin), 200);
        long server = ownConfig.getAsJsonArray("license_servers").get(0).getAsJsonObject().get("id").getAsLong();
        assertEquals(403, api.http.put("/license_servers/" + server, other, "{\"host\":\"LIC7\"}").status());
        assertEquals(403, api.http.post("/license_servers", other, "{\"config_id\":" + own + ",\"host\":\"lic7.\",\"port\":1055}").status());
        assertEquals("lic7-own", Sql.text(api.ds, "SELECT string_agg(host, ',') FROM lm.license_servers WHERE config_id = ?", own));

        // a configuration on the server with a feature nobody else has there: its own pool, allowed;
        // renaming the feature, or adding one, into the other cluster's pool is not
        long sharedServer = ok(api.http.post("/configurations", other, configBody("pid-join", "lic7", "h2")), 201).get("id").getAsLong();
        long h2 = featureOf(sharedServer);
        assertEquals(403, api.http.put("/features/" + h2, other, "{\"name\":\"h\"}").status());
        assertEquals(403, api.http.post("/features", other, "{\"name\":\"h\",\"product_id\":" + productId() + ",\"config_id\":"
                + sharedServer + "}").status());
        assertEquals(1, pools(theirs));
        assertEquals(1L, Long.parseLong(Sql.text(api.ds, "SELECT count(*) FROM lm.features WHERE pool_id = ?", Long.parseLong(pool))));
        assertEquals(10, total(theirs));

        // the admin may join them: then one pool
        Res joined = api.http.post("/configurations", admin, configBody("pid-join", "lic7.example.org", "h"));
        assertEquals(201, joined.status(), joined::toString);
        assertEquals(1, pools(theirs, featureOf(joined.json().getAsJsonObject().get("id").getAsLong())));
    }
}
