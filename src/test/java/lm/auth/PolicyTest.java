package lm.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19, case 7: policy (a feature's share, max_use and reserved) is admin's; the agent role,
 * and any token short of admin, writes readings only. A write that would change a policy field is
 * refused (403, naming the field), never dropped; the value already stored may be sent again.
 */
class PolicyTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;
    static long product;

    @BeforeAll
    static void start() {
        admin = api.admin();
        product = ok(api.http.post("/products", admin, "{\"name\":\"pol\"}"), 201).get("id").getAsLong();
    }

    static JsonObject ok(Res r, int status) {
        assertEquals(status, r.status(), r::toString);
        return r.json().getAsJsonObject();
    }

    /** A configuration of {@code cluster} with feature pol.f, made by the admin; returns the feature's id. */
    static long feature(String cluster) {
        long config = ok(api.http.post("/configurations", admin, "{\"name\":\"p\",\"cluster_client_id\":\"" + cluster
                + "\",\"grace_time\":600,\"type\":\"flexlm\",\"features\":[{\"name\":\"f\",\"product_id\":" + product
                + "}],\"license_servers\":[{\"host\":\"lic-" + cluster + "\",\"port\":27000}]}"), 201).get("id").getAsLong();
        return ok(api.http.get("/configurations/" + config, admin), 200).getAsJsonArray("features").get(0).getAsJsonObject()
                .get("id").getAsLong();
    }

    static String policy(long feature) throws Exception {
        return Sql.text(api.ds, "SELECT concat_ws(',', share, coalesce(max_use::text, 'none'), reserved) FROM lm.features WHERE id = ?", feature);
    }

    static void refused(Res r, String field) {
        assertEquals(403, r.status(), r::toString);
        JsonObject o = r.json().getAsJsonObject();
        assertEquals("forbidden", o.get("code").getAsString(), r::toString);
        assertTrue(o.get("message").getAsString().contains(field), r::toString);
        assertTrue(o.getAsJsonObject("detail").getAsJsonArray("fields").toString().contains("\"" + field + "\""), r::toString);
    }

    static String agent(String cluster) {
        return api.token(cluster, Roles.permissions(Roles.AGENT).toArray(String[]::new));
    }

    @Test
    void anAgentCannotChangePolicyByAnyRoute() throws Exception {
        long f = feature("pol-a");
        String agent = agent("pol-a");
        String before = policy(f);

        refused(api.http.put("/features/" + f, agent, "{\"share\":5}"), "share");
        refused(api.http.put("/features/" + f, agent, "{\"max_use\":3}"), "max_use");
        refused(api.http.put("/features/" + f, agent, "{\"reserved\":2}"), "reserved");
        // a reading carrying a changed policy field is refused whole, not half applied
        refused(api.http.put("/features/" + f, agent, "{\"total\":50,\"used\":1,\"reserved\":9}"), "reserved");
        // the report routes take readings only: a policy field there is an unknown field
        assertEquals(400, api.http.put("/features/bulk", agent,
                "[{\"product_name\":\"pol\",\"feature_name\":\"f\",\"total\":10,\"used\":0,\"share\":9}]").status());
        assertEquals(400, api.http.put("/features/by_client_id", agent,
                "{\"product_name\":\"pol\",\"feature_name\":\"f\",\"total\":10,\"used\":0,\"max_use\":0}").status());
        assertEquals(400, api.http.post("/agent/report", agent,
                "{\"features\":[{\"product_feature\":\"pol.f\",\"total\":10,\"used\":0,\"reserved\":10}]}").status());
        // nor can it create a feature or configuration carrying policy: those need permissions it lacks
        long config = Long.parseLong(Sql.text(api.ds, "SELECT config_id FROM lm.features WHERE id = ?", f));
        assertEquals(403, api.http.post("/features", agent, "{\"name\":\"g\",\"product_id\":" + product + ",\"config_id\":" + config
                + ",\"reserved\":5}").status());
        assertEquals(403, api.http.post("/configurations", agent, "{\"name\":\"r\",\"cluster_client_id\":\"pol-a\",\"grace_time\":60,"
                + "\"type\":\"flexlm\",\"features\":[{\"name\":\"g\",\"product_id\":" + product + ",\"share\":5}]}").status());
        // project shares are a permission of their own, which the agent role never carries
        assertEquals(403, api.http.post("/project_shares", agent, "{\"feature_id\":" + f + ",\"account\":\"a\",\"share\":3}").status());
        assertEquals(before, policy(f));
        assertEquals("0", Sql.text(api.ds, "SELECT total FROM lm.features WHERE id = ?", f), "the refused write wrote nothing");
    }

    @Test
    void aClustersOwnInventoryTokenCannotSetPolicyEither() throws Exception {
        long f = feature("pol-b");
        String owner = api.token("pol-b", "license-manager:config:create", "license-manager:feature:create",
                "license-manager:feature:update");
        refused(api.http.post("/configurations", owner, "{\"name\":\"q\",\"cluster_client_id\":\"pol-b\",\"grace_time\":60,"
                + "\"type\":\"flexlm\",\"features\":[{\"name\":\"g\",\"product_id\":" + product + ",\"reserved\":5}]}"), "reserved");
        long config = Long.parseLong(Sql.text(api.ds, "SELECT config_id FROM lm.features WHERE id = ?", f));
        refused(api.http.post("/features", owner, "{\"name\":\"g\",\"product_id\":" + product + ",\"config_id\":" + config
                + ",\"share\":3}"), "share");
        refused(api.http.put("/features/" + f, owner, "{\"max_use\":0}"), "max_use");
        // the defaults, said explicitly, are no policy of one's own
        assertEquals(201, api.http.post("/features", owner, "{\"name\":\"g\",\"product_id\":" + product + ",\"config_id\":" + config
                + ",\"share\":1,\"reserved\":0,\"max_use\":null}").status());
        assertEquals("1,none,0", policy(f));
    }

    @Test
    void anAdminSetsPolicyAndTheAgentsReadingsStillWork() throws Exception {
        long f = feature("pol-c");
        ok(api.http.put("/features/" + f, admin, "{\"share\":5,\"max_use\":30,\"reserved\":2}"), 200);
        assertEquals("5,30,2", policy(f));
        ok(api.http.put("/features/" + f, admin, "{\"max_use\":null}"), 200);
        assertEquals("5,none,2", policy(f));

        String agent = agent("pol-c");
        ok(api.http.put("/features/bulk", agent, "[{\"product_name\":\"pol\",\"feature_name\":\"f\",\"total\":40,\"used\":3}]"), 200);
        assertEquals("40,3", Sql.text(api.ds, "SELECT concat_ws(',', total, used) FROM lm.features WHERE id = ?", f));
        ok(api.http.post("/agent/report", agent, "{\"features\":[{\"product_feature\":\"pol.f\",\"total\":41,\"used\":4}]}"), 200);
        assertEquals("41,4", Sql.text(api.ds, "SELECT concat_ws(',', total, used) FROM lm.features WHERE id = ?", f));
        // counts by hand are a reading; the stored policy may be sent along unchanged
        ok(api.http.put("/features/" + f, agent, "{\"total\":42,\"used\":5,\"share\":5,\"reserved\":2,\"max_use\":null}"), 200);
        assertEquals("42,5", Sql.text(api.ds, "SELECT concat_ws(',', total, used) FROM lm.features WHERE id = ?", f));
        assertEquals("5,none,2", policy(f));
    }
}
