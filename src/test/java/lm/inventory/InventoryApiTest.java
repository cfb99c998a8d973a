package lm.inventory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every inventory endpoint against a real lm-server and PostgreSQL. */
class InventoryApiTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;

    @BeforeAll
    static void start() {
        admin = api.admin();
    }

    static JsonObject ok(Res r, int status) {
        assertEquals(status, r.status(), r::toString);
        return r.json().getAsJsonObject();
    }

    static void error(Res r, int status, String code) {
        assertEquals(status, r.status(), r::toString);
        JsonObject o = r.json().getAsJsonObject();
        assertEquals(code, o.get("code").getAsString(), r::toString);
        assertTrue(o.has("message") && o.has("detail"), r::toString);
    }

    static long product(String name) {
        return ok(api.http.post("/products", admin, "{\"name\":\"" + name + "\"}"), 201).get("id").getAsLong();
    }

    static long config(String name, String cluster, String host, int port) {
        return ok(api.http.post("/configurations", admin, "{\"name\":\"" + name + "\",\"cluster_client_id\":\"" + cluster
                + "\",\"grace_time\":30,\"type\":\"flexlm\",\"license_servers\":[{\"host\":\"" + host + "\",\"port\":" + port + "}]}"), 201)
                .get("id").getAsLong();
    }

    static long feature(String name, long product, long config, int reserved) {
        return ok(api.http.post("/features", admin, "{\"name\":\"" + name + "\",\"product_id\":" + product + ",\"config_id\":" + config
                + ",\"reserved\":" + reserved + "}"), 201).get("id").getAsLong();
    }

    static long count(String table) {
        try {
            return Long.parseLong(lm.db.Sql.text(api.ds, "SELECT count(*) FROM lm." + table));
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void healthNeedsNoTokenAndVersionAnswers() {
        assertEquals(204, api.http.get("/health", null).status());
        assertFalse(api.http.get("/version", null).json().getAsJsonObject().get("version").getAsString().isBlank());
        error(api.http.get("/no/such/path", admin), 404, "not_found");
        error(api.http.send("PATCH", "/products", admin, "{}"), 405, "method_not_allowed");
    }

    @Test
    void productCrud() {
        long id = product("crudprod");
        JsonObject got = ok(api.http.get("/products/" + id, admin), 200);
        assertEquals("crudprod", got.get("name").getAsString());
        JsonObject upd = ok(api.http.put("/products/" + id, admin, "{\"name\":\"crudprod2\"}"), 200);
        assertEquals("crudprod2", upd.get("name").getAsString());
        error(api.http.post("/products", admin, "{\"name\":\"crudprod2\"}"), 409, "conflict");
        assertEquals(200, api.http.delete("/products/" + id, admin).status());
        error(api.http.get("/products/" + id, admin), 404, "not_found");
        error(api.http.delete("/products/" + id, admin), 404, "not_found");
        error(api.http.put("/products/" + id, admin, "{\"name\":\"x\"}"), 404, "not_found");
        error(api.http.get("/products/abc", admin), 404, "not_found");
    }

    @Test
    void badInputIsAClearErrorAndWritesNothing() {
        long before = count("products");
        error(api.http.post("/products", admin, "{\"name\": "), 400, "bad_request");
        error(api.http.post("/products", admin, "{name: 'x'}"), 400, "bad_request");
        error(api.http.post("/products", admin, "[1,2]"), 400, "bad_request");
        error(api.http.post("/products", admin, ""), 400, "bad_request");
        error(api.http.post("/products", admin, "{\"name\": 12}"), 400, "bad_request");
        error(api.http.post("/products", admin, "{\"nmae\": \"typo\"}"), 400, "bad_request");
        error(api.http.post("/products", admin, "{\"name\": \"\"}"), 422, "unprocessable");
        error(api.http.post("/products", admin, "{\"name\": \"has.dot\"}"), 422, "unprocessable");
        assertEquals(before, count("products"));

        long p = product("badinput");
        long c = config("badinput", "cl-bad", "lic.example.org", 27000);
        long features = count("features");
        error(api.http.post("/features", admin, "{\"name\":\"f\",\"product_id\":" + p + ",\"config_id\":" + c + ",\"reserved\":-1}"), 422, "unprocessable");
        error(api.http.post("/features", admin, "{\"name\":\"f\",\"product_id\":" + p + ",\"config_id\":" + c + ",\"reserved\":1.5}"), 400, "bad_request");
        error(api.http.post("/features", admin, "{\"name\":\"f\",\"product_id\":" + p + ",\"config_id\":" + c + ",\"reserved\":\"3\"}"), 400, "bad_request");
        error(api.http.post("/features", admin, "{\"name\":\"f\",\"product_id\":" + p + ",\"config_id\":" + c + ",\"reserved\":1e40}"), 422, "unprocessable");
        error(api.http.post("/features", admin, "{\"name\":\"f\",\"product_id\":999999,\"config_id\":" + c + "}"), 422, "unknown_reference");
        assertEquals(features, count("features"));

        long servers = count("license_servers");
        error(api.http.post("/license_servers", admin, "{\"config_id\":" + c + ",\"host\":\"h\",\"port\":0}"), 422, "unprocessable");
        error(api.http.post("/license_servers", admin, "{\"config_id\":" + c + ",\"host\":\"h\",\"port\":65536}"), 422, "unprocessable");
        error(api.http.post("/license_servers", admin, "{\"config_id\":" + c + ",\"host\":\"h\",\"port\":99999999999}"), 422, "unprocessable");
        error(api.http.post("/license_servers", admin, "{\"config_id\":99999,\"host\":\"h\",\"port\":1}"), 422, "unknown_reference");
        assertEquals(servers, count("license_servers"));

        // a nested create with one bad server writes neither the configuration nor anything else
        long configs = count("configurations");
        error(api.http.post("/configurations", admin, "{\"name\":\"nested\",\"cluster_client_id\":\"cl-bad\",\"type\":\"flexlm\","
                + "\"license_servers\":[{\"host\":\"a\",\"port\":1},{\"host\":\"b\",\"port\":70000}],"
                + "\"features\":[{\"name\":\"f\",\"product_id\":" + p + "}]}"), 422, "unprocessable");
        error(api.http.post("/configurations", admin, "{\"name\":\"nested\",\"cluster_client_id\":\"cl-bad\",\"type\":\"nope\"}"), 422, "unprocessable");
        error(api.http.post("/configurations", admin, "{\"name\":\"nested\",\"cluster_client_id\":\"cl-bad\",\"type\":\"rlm\",\"grace_time\":0}"), 422, "unprocessable");
        assertEquals(configs, count("configurations"));
        assertEquals(servers, count("license_servers"));
    }

    @Test
    void configurationWithNestedServersAndFeaturesCascadesOnDelete() {
        long p = product("nestprod");
        Res r = api.http.post("/configurations", admin, "{\"name\":\"nest\",\"cluster_client_id\":\"cl-nest\",\"grace_time\":120,\"type\":\"rlm\","
                + "\"license_servers\":[{\"host\":\"rlm1\",\"port\":5053},{\"host\":\"rlm2\",\"port\":5053}],"
                + "\"features\":[{\"name\":\"solver\",\"product_id\":" + p + ",\"reserved\":2},{\"name\":\"gui\",\"product_id\":" + p + "}]}");
        JsonObject c = ok(r, 201);
        assertEquals(2, c.getAsJsonArray("license_servers").size());
        assertEquals("rlm1", c.getAsJsonArray("license_servers").get(0).getAsJsonObject().get("host").getAsString());
        JsonArray fs = c.getAsJsonArray("features");
        assertEquals(2, fs.size());
        JsonObject solver = fs.get(0).getAsJsonObject();
        assertEquals("solver", solver.get("name").getAsString());
        assertEquals(2, solver.get("reserved").getAsLong());
        assertEquals("nestprod", solver.getAsJsonObject("product").get("name").getAsString());
        assertEquals(0, solver.get("booked_total").getAsLong());
        assertEquals(120, c.get("grace_time").getAsInt());

        long id = c.get("id").getAsLong();
        JsonObject upd = ok(api.http.put("/configurations/" + id, admin, "{\"grace_time\":300}"), 200);
        assertEquals(300, upd.get("grace_time").getAsInt());
        assertEquals("rlm", upd.get("type").getAsString());

        // the product is still used by the features: refused, nothing deleted
        error(api.http.delete("/products/" + p, admin), 409, "still_referenced");
        assertEquals(200, api.http.delete("/configurations/" + id, admin).status());
        assertEquals(0, Long.parseLong(sqlText("SELECT count(*) FROM lm.features WHERE config_id = " + id)));
        assertEquals(0, Long.parseLong(sqlText("SELECT count(*) FROM lm.license_servers WHERE config_id = " + id)));
        assertEquals(200, api.http.delete("/products/" + p, admin).status());
    }

    static String sqlText(String sql) {
        try {
            return lm.db.Sql.text(api.ds, sql);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void licenseServerAndFeatureCrud() {
        long p = product("lsprod");
        long c = config("ls", "cl-ls", "flex1", 27000);
        JsonObject s = ok(api.http.post("/license_servers", admin, "{\"config_id\":" + c + ",\"host\":\"flex2\",\"port\":27001}"), 201);
        long sid = s.get("id").getAsLong();
        assertEquals(27001, ok(api.http.get("/license_servers/" + sid, admin), 200).get("port").getAsInt());
        assertEquals(27005, ok(api.http.put("/license_servers/" + sid, admin, "{\"port\":27005}"), 200).get("port").getAsInt());
        error(api.http.post("/license_servers", admin, "{\"config_id\":" + c + ",\"host\":\"flex2\",\"port\":27005}"), 409, "conflict");
        JsonArray types = api.http.get("/license_servers/types", admin).json().getAsJsonArray();
        assertEquals(6, types.size());
        assertTrue(types.toString().contains("dsls"));
        assertEquals(200, api.http.delete("/license_servers/" + sid, admin).status());

        long f = feature("lsfeat", p, c, 1);
        error(api.http.post("/features", admin, "{\"name\":\"lsfeat\",\"product_id\":" + p + ",\"config_id\":" + c + "}"), 409, "conflict");
        JsonObject upd = ok(api.http.put("/features/" + f, admin, "{\"reserved\":5,\"total\":100,\"used\":7}"), 200);
        assertEquals(5, upd.get("reserved").getAsLong());
        assertEquals(100, upd.get("total").getAsLong());
        assertEquals(7, upd.get("used").getAsLong());
        error(api.http.put("/features/" + f, admin, "{\"used\":-1}"), 422, "unprocessable");
        assertEquals(7, ok(api.http.get("/features/" + f, admin), 200).get("used").getAsLong());
        assertEquals(200, api.http.delete("/features/" + f, admin).status());
        error(api.http.get("/features/" + f, admin), 404, "not_found");
    }

    @Test
    void listsSearchSortAndPage() {
        List<Long> ids = new ArrayList<>();
        for (String n : List.of("zeta-list", "alpha-list", "Mid-List", "other")) {
            ids.add(product(n));
        }
        Res r = api.http.get("/products?search=LIST&sort_field=name&sort_ascending=true", admin);
        assertEquals(200, r.status());
        JsonArray a = r.json().getAsJsonArray();
        assertEquals(List.of("alpha-list", "Mid-List", "zeta-list"), names(a));
        assertEquals("3", r.header("X-Total-Count"));

        Res desc = api.http.get("/products?search=alpha%20zeta&sort_field=name&sort_ascending=false", admin);
        assertEquals(List.of("zeta-list", "alpha-list"), names(desc.json().getAsJsonArray()));

        Res page = api.http.get("/products?search=list&sort_field=name&limit=1&offset=1", admin);
        assertEquals(List.of("Mid-List"), names(page.json().getAsJsonArray()));
        assertEquals("3", page.header("X-Total-Count"));
        Res beyond = api.http.get("/products?search=list&limit=5&offset=10", admin);
        assertEquals(0, beyond.json().getAsJsonArray().size());
        assertEquals("3", beyond.header("X-Total-Count"));

        // wildcards in the search are literal
        assertEquals(0, api.http.get("/products?search=%25", admin).json().getAsJsonArray().size());

        Res bad = api.http.get("/products?sort_field=password", admin);
        error(bad, 400, "bad_request");
        assertTrue(bad.body().contains("Invalid sorting column requested: password"), bad::toString);
        assertTrue(bad.body().contains("name"), bad::toString);
        error(api.http.get("/products?limit=0", admin), 400, "bad_request");
        error(api.http.get("/products?limit=abc", admin), 400, "bad_request");
        error(api.http.get("/products?offset=-1", admin), 400, "bad_request");
        error(api.http.get("/products?sort_ascending=maybe", admin), 400, "bad_request");

        for (String path : List.of("/configurations?sort_field=id", "/license_servers?sort_field=port", "/features?sort_field=booked_total",
                "/cluster_statuses?sort_field=last_reported")) {
            Res l = api.http.get(path + "&sort_ascending=false&limit=2", admin);
            assertEquals(200, l.status(), path + " " + l);
            assertTrue(l.json().isJsonArray());
            assertTrue(l.header("X-Total-Count") != null, path);
            error(api.http.get(path.replaceAll("=.*", "=nope"), admin), 400, "bad_request");
        }
    }

    static List<String> names(JsonArray a) {
        List<String> out = new ArrayList<>();
        for (JsonElement e : a) {
            out.add(e.getAsJsonObject().get("name").getAsString());
        }
        return out;
    }

    @Test
    void authenticationAndPermissions() {
        error(api.http.get("/products", null), 401, "unauthorized");
        error(api.http.get("/products", "garbage"), 401, "unauthorized");
        String foreign = new lm.testing.TestApi(api.ds).admin(); // same claims, other signing key
        error(api.http.get("/products", foreign), 401, "unauthorized");
        String reader = api.token("cl-x", "license-manager:product:read");
        assertEquals(200, api.http.get("/products", reader).status());
        error(api.http.post("/products", reader, "{\"name\":\"nope\"}"), 403, "forbidden");
        error(api.http.get("/features", reader), 403, "forbidden");
        String creator = api.token("cl-x", "license-manager:product:create");
        assertEquals(201, api.http.post("/products", creator, "{\"name\":\"byperm\"}").status());
    }

    @Test
    void bulkAndByClientIdUpdateOnlyTheCallersCluster() {
        long p = product("shared");
        long ca = config("abaqus", "cluster-a", "lic-a", 27000);
        long cb = config("abaqus", "cluster-b", "lic-b", 27000);
        long fa = feature("abaqus", p, ca, 0);
        long fb = feature("abaqus", p, cb, 0);
        String agentA = api.token("cluster-a", "license-manager:feature:update");
        Res r = api.http.put("/features/bulk", agentA, "[{\"product_name\":\"shared\",\"feature_name\":\"abaqus\",\"total\":100,\"used\":40}]");
        assertEquals(200, r.status(), r::toString);
        assertEquals(100, ok(api.http.get("/features/" + fa, admin), 200).get("total").getAsLong());
        assertEquals(0, ok(api.http.get("/features/" + fb, admin), 200).get("total").getAsLong());

        String agentB = api.token("cluster-b", "license-manager:feature:update");
        assertEquals(200, api.http.put("/features/by_client_id", agentB,
                "{\"product_name\":\"shared\",\"feature_name\":\"abaqus\",\"total\":50,\"used\":5}").status());
        assertEquals(50, ok(api.http.get("/features/" + fb, admin), 200).get("total").getAsLong());
        assertEquals(100, ok(api.http.get("/features/" + fa, admin), 200).get("total").getAsLong());

        // one unknown item refuses the whole report
        Res partial = api.http.put("/features/bulk", agentA, "[{\"product_name\":\"shared\",\"feature_name\":\"abaqus\",\"total\":1,\"used\":1},"
                + "{\"product_name\":\"shared\",\"feature_name\":\"missing\",\"total\":1,\"used\":1}]");
        error(partial, 404, "not_found");
        assertEquals(100, ok(api.http.get("/features/" + fa, admin), 200).get("total").getAsLong());
        error(api.http.put("/features/bulk", agentA, "[{\"product_name\":\"shared\",\"feature_name\":\"abaqus\",\"total\":-1,\"used\":1}]"), 422, "unprocessable");
        error(api.http.put("/features/bulk", agentA, "{\"product_name\":\"shared\"}"), 400, "bad_request");

        String readerA = api.token("cluster-a", "license-manager:config:read");
        JsonArray mine = api.http.get("/configurations/by_client_id", readerA).json().getAsJsonArray();
        assertEquals(1, mine.size());
        assertEquals("cluster-a", mine.get(0).getAsJsonObject().get("cluster_client_id").getAsString());
    }

    @Test
    void clusterStatuses() throws Exception {
        String agent = api.token("cl-status", "license-manager:status:update", "license-manager:status:read");
        assertEquals(202, api.http.put("/cluster_statuses?interval=60", agent, null).status());
        JsonObject s = ok(api.http.get("/cluster_statuses/cl-status", agent), 200);
        assertEquals(60, s.get("interval").getAsInt());
        assertTrue(s.get("is_healthy").getAsBoolean());
        assertEquals(0, s.getAsJsonArray("failing_servers").size(), "no license server yet");

        // its license server: failing while never read, not once read, failing again after a failed poll
        // (the rule of the metric lm_license_server_up: lm.license_server_states)
        lm.db.Sql.update(api.ds, "INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES ('cl-status-lic', 'cl-status', 600, 'flexlm')");
        lm.db.Sql.update(api.ds, "INSERT INTO lm.license_servers (config_id, host, port) SELECT id, 'lic9.example.org', 27009 FROM lm.configurations WHERE name = 'cl-status-lic'");
        lm.db.Sql.update(api.ds, "INSERT INTO lm.products (name) VALUES ('clstatus')");
        lm.db.Sql.update(api.ds, "INSERT INTO lm.features (name, product_id, config_id) SELECT 'solver', p.id, c.id"
                + " FROM lm.products p, lm.configurations c WHERE p.name = 'clstatus' AND c.name = 'cl-status-lic'");
        JsonArray failing = ok(api.http.get("/cluster_statuses/cl-status", agent), 200).getAsJsonArray("failing_servers");
        assertEquals(1, failing.size());
        JsonObject server = failing.get(0).getAsJsonObject();
        assertEquals("lic9.example.org", server.get("host").getAsString());
        assertEquals(27009, server.get("port").getAsInt());
        assertEquals("cl-status-lic", server.get("configuration").getAsString());
        assertTrue(server.get("reported_at").isJsonNull(), "never read");
        String feature = "config_id = (SELECT id FROM lm.configurations WHERE name = 'cl-status-lic')";
        lm.db.Sql.update(api.ds, "UPDATE lm.features SET reported_at = now() - interval '1 minute' WHERE " + feature);
        assertEquals(0, ok(api.http.get("/cluster_statuses/cl-status", agent), 200).getAsJsonArray("failing_servers").size());
        lm.db.Sql.update(api.ds, "UPDATE lm.features SET failed_at = now() WHERE " + feature);
        failing = ok(api.http.get("/cluster_statuses/cl-status", agent), 200).getAsJsonArray("failing_servers");
        assertEquals(1, failing.size());
        assertFalse(failing.get(0).getAsJsonObject().get("reported_at").isJsonNull(), "the last good reading");
        error(api.http.put("/cluster_statuses?interval=abc", agent, null), 400, "bad_request");
        error(api.http.put("/cluster_statuses?interval=0", agent, null), 422, "unprocessable");
        error(api.http.get("/cluster_statuses/unknown", agent), 404, "not_found");
    }

    @Test
    void deletingWhatActiveBookingsDependOnNeedsForce() {
        long p = product("inuseprod");
        long cfg = config("inuse", "inuse", "lic-inuse", 27400);
        long f = feature("f", p, cfg, 0);
        long g = feature("g", p, cfg, 0);
        String agent = api.token("inuse", "license-manager:feature:update", "license-manager:job:create");
        ok(api.http.put("/features/bulk", agent, "[{\"product_name\":\"inuseprod\",\"feature_name\":\"f\",\"total\":10,\"used\":0},"
                + "{\"product_name\":\"inuseprod\",\"feature_name\":\"g\",\"total\":10,\"used\":0}]"), 200);
        ok(api.http.post("/jobs", agent, "{\"slurm_job_id\":\"31\",\"username\":\"alice\",\"lead_host\":\"n1\","
                + "\"bookings\":[{\"product_feature\":\"inuseprod.f\",\"quantity\":2}]}"), 201);
        long second = ok(api.http.post("/license_servers", admin, "{\"config_id\":" + cfg + ",\"host\":\"lic-inuse-2\",\"port\":27400}"), 201)
                .get("id").getAsLong();
        long first = ok(api.http.get("/configurations/" + cfg, admin), 200).getAsJsonArray("license_servers").get(0).getAsJsonObject()
                .get("id").getAsLong();

        // the feature job 31 booked: 409 naming the booking, nothing deleted
        Res refused = api.http.delete("/features/" + f, admin);
        error(refused, 409, "still_referenced");
        JsonObject named = refused.json().getAsJsonObject().getAsJsonArray("detail").get(0).getAsJsonObject();
        assertEquals("31", named.get("slurm_job_id").getAsString());
        assertEquals("inuseprod.f", named.get("product_feature").getAsString());
        assertEquals(2, named.get("quantity").getAsLong());
        assertTrue(refused.json().getAsJsonObject().get("message").getAsString().contains("1 active booking"), refused::toString);
        error(api.http.delete("/configurations/" + cfg, admin), 409, "still_referenced");
        error(api.http.delete("/features/" + f + "?force=maybe", admin), 400, "bad_request");
        assertEquals(200, api.http.get("/features/" + f, admin).status());
        // a feature nobody booked, and one of two servers, go without force
        assertEquals(0, ok(api.http.delete("/features/" + g, admin), 200).get("released_bookings").getAsLong());
        assertEquals(0, ok(api.http.delete("/license_servers/" + second, admin), 200).get("released_bookings").getAsLong());
        // the last server is what the bookings depend on
        error(api.http.delete("/license_servers/" + first, admin), 409, "still_referenced");
        // force: the bookings are released, and the answer says how many
        JsonObject forced = ok(api.http.delete("/license_servers/" + first + "?force=true", admin), 200);
        assertEquals(1, forced.get("released_bookings").getAsLong());
        assertEquals("inventory", api.http.get("/jobs/slurm_job_id/31", api.token("inuse", "license-manager:job:read"))
                .json().getAsJsonObject().getAsJsonArray("bookings").get(0).getAsJsonObject().get("released_reason").getAsString());
        assertEquals(0, ok(api.http.delete("/configurations/" + cfg, admin), 200).get("released_bookings").getAsLong());
        error(api.http.delete("/configurations/" + cfg + "?force=true", admin), 404, "not_found");

        long cfg2 = config("inuse2", "inuse", "lic-inuse-3", 27400);
        feature("f", p, cfg2, 0);
        ok(api.http.put("/features/bulk", agent, "[{\"product_name\":\"inuseprod\",\"feature_name\":\"f\",\"total\":10,\"used\":0}]"), 200);
        ok(api.http.post("/jobs", agent, "{\"slurm_job_id\":\"32\",\"username\":\"alice\",\"lead_host\":\"n1\","
                + "\"bookings\":[{\"product_feature\":\"inuseprod.f\",\"quantity\":3}]}"), 201);
        assertEquals(1, ok(api.http.delete("/configurations/" + cfg2 + "?force=true", admin), 200).get("released_bookings").getAsLong());
        assertEquals(0, count("bookings b JOIN lm.features f ON f.id = b.feature_id WHERE f.config_id = " + cfg2));
    }
}
