package lm.shares;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Shares over HTTP: share and max_use on features, /lm/project_shares (CRUD, list, permissions,
 * the caller's cluster), the job's account on POST /lm/jobs, and GET /lm/pools.
 */
class SharesApiTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;
    static long featureA;
    static long featureB;

    static final String[] SHARES = {
        "license-manager:project-share:create", "license-manager:project-share:read",
        "license-manager:project-share:update", "license-manager:project-share:delete",
    };

    @BeforeAll
    static void start() {
        admin = api.admin();
        long product = ok(api.http.post("/products", admin, "{\"name\":\"shp\"}"), 201).get("id").getAsLong();
        // two clusters on one server: one pool
        featureA = featureOf(config("sh-a", product));
        featureB = featureOf(config("sh-b", product));
        for (long f : new long[] {featureA, featureB}) { // a reading, else the pools are held
            ok(api.http.put("/features/" + f, admin, "{\"total\":10,\"used\":0}"), 200);
        }
    }

    static JsonObject ok(Res r, int status) {
        assertEquals(status, r.status(), r.toString());
        return r.json().getAsJsonObject();
    }

    static long config(String cluster, long product) {
        return ok(api.http.post("/configurations", admin, "{\"name\":\"sh\",\"cluster_client_id\":\"" + cluster
                + "\",\"grace_time\":600,\"type\":\"flexlm\",\"features\":[{\"name\":\"f\",\"product_id\":" + product
                + ",\"share\":2}],\"license_servers\":[{\"host\":\"lic-sh\",\"port\":27000}]}"), 201).get("id").getAsLong();
    }

    static long featureOf(long config) {
        JsonObject f = ok(api.http.get("/configurations/" + config, admin), 200).getAsJsonArray("features").get(0).getAsJsonObject();
        assertEquals(2, f.get("share").getAsInt());
        return f.get("id").getAsLong();
    }

    @Test
    void shareAndMaxUseAreSetAndCheckedOnFeatures() {
        JsonObject f = ok(api.http.put("/features/" + featureA, admin, "{\"share\":3,\"max_use\":4}"), 200);
        assertEquals(3, f.get("share").getAsInt());
        assertEquals(4, f.get("max_use").getAsLong());
        assertEquals(422, api.http.put("/features/" + featureA, admin, "{\"share\":-1}").status());
        assertEquals(422, api.http.put("/features/" + featureA, admin, "{\"max_use\":-1}").status());
        assertEquals(400, api.http.put("/features/" + featureA, admin, "{\"share\":\"x\"}").status());
        // absent keeps it, null lifts it
        assertEquals(4, ok(api.http.put("/features/" + featureA, admin, "{\"reserved\":0}"), 200).get("max_use").getAsLong());
        assertTrue(ok(api.http.put("/features/" + featureA, admin, "{\"max_use\":null,\"share\":2}"), 200).get("max_use").isJsonNull());
    }

    @Test
    void projectSharesAreTheirClustersToWrite() {
        String a = api.token("sh-a", SHARES);
        JsonObject s = ok(api.http.post("/project_shares", a, "{\"feature_id\":" + featureA + ",\"account\":\"chem\",\"share\":3}"), 201);
        long id = s.get("id").getAsLong();
        assertEquals("sh-a", s.get("cluster_client_id").getAsString());
        assertTrue(s.get("max_use").isJsonNull());
        assertEquals(409, api.http.post("/project_shares", a, "{\"feature_id\":" + featureA + ",\"account\":\"chem\"}").status());
        assertEquals(422, api.http.post("/project_shares", a, "{\"feature_id\":" + featureA + ",\"account\":\" \"}").status());
        assertEquals(422, api.http.post("/project_shares", a, "{\"feature_id\":" + featureA + ",\"account\":\"x\",\"share\":-2}").status());
        assertEquals(400, api.http.post("/project_shares", a, "{\"feature_id\":" + featureA + ",\"account\":\"x\",\"bogus\":1}").status());
        // another cluster's feature or share: not found, nothing written
        String b = api.token("sh-b", SHARES);
        assertEquals(404, api.http.post("/project_shares", b, "{\"feature_id\":" + featureA + ",\"account\":\"bio\"}").status());
        assertEquals(404, api.http.put("/project_shares/" + id, b, "{\"share\":9}").status());
        assertEquals(404, api.http.delete("/project_shares/" + id, b).status());
        assertEquals(3, ok(api.http.get("/project_shares/" + id, a), 200).get("share").getAsInt());
        // without the permission: 403
        assertEquals(403, api.http.get("/project_shares", api.token("sh-a", "license-manager:feature:read")).status());
        // list, search, sort, paging
        ok(api.http.post("/project_shares", admin, "{\"feature_id\":" + featureB + ",\"account\":\"bio\",\"max_use\":2}"), 201);
        Res list = api.http.get("/project_shares?search=chem%20bio&sort_field=account&sort_ascending=false&limit=1", admin);
        assertEquals(200, list.status(), list.toString());
        JsonArray items = list.json().getAsJsonArray();
        assertEquals(1, items.size());
        assertEquals("chem", items.get(0).getAsJsonObject().get("account").getAsString());
        assertEquals("2", list.header("X-Total-Count"));
        JsonObject up = ok(api.http.put("/project_shares/" + id, a, "{\"max_use\":5,\"share\":1}"), 200);
        assertEquals(5, up.get("max_use").getAsLong());
        assertEquals(1, up.get("share").getAsInt());
        ok(api.http.delete("/project_shares/" + id, a), 200);
        assertEquals(404, api.http.get("/project_shares/" + id, a).status());
    }

    @Test
    void theJobsAccountIsItsProjectAndPoolsShowTheOwners() {
        String cl = api.token("sh-b", "license-manager:job:create", "license-manager:job:delete");
        JsonObject job = ok(api.http.post("/jobs", cl, "{\"slurm_job_id\":\"77\",\"username\":\"u\",\"lead_host\":\"n\",\"account\":\"bio\","
                + "\"bookings\":[{\"product_feature\":\"shp.f\",\"quantity\":2}]}"), 201);
        assertEquals("bio", job.get("account").getAsString());
        JsonObject none = ok(api.http.post("/jobs", cl, "{\"slurm_job_id\":\"78\",\"username\":\"u\",\"lead_host\":\"n\",\"account\":\"(null)\","
                + "\"bookings\":[{\"product_feature\":\"shp.f\",\"quantity\":1}]}"), 201);
        assertTrue(none.get("account").isJsonNull(), "Slurm's (null) is no account");

        long pool = Math.min(featureA, featureB);
        JsonObject p = ok(api.http.get("/pools/" + pool, admin), 200);
        assertEquals("shp.f", p.get("product_feature").getAsString());
        assertEquals(3, p.get("booked").getAsLong());
        JsonObject clusterB = null;
        for (var o : p.getAsJsonArray("owners")) {
            JsonObject x = o.getAsJsonObject();
            if (x.get("cluster_client_id").getAsString().equals("sh-b") && x.get("account").isJsonNull()) {
                clusterB = x;
            }
        }
        assertTrue(clusterB != null, p.toString());
        assertEquals(3, clusterB.get("in_use").getAsLong());
        assertEquals(1, api.http.get("/pools?search=shp.f", admin).json().getAsJsonArray().size());
        ok(api.http.delete("/jobs/slurm_job_id/77", cl), 200);
        ok(api.http.delete("/jobs/slurm_job_id/78", cl), 200);
    }
}
