package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A cluster acts on its own jobs, bookings, feature counts and inventory only: a second cluster's
 * token with every job, booking, feature, configuration and license-server permission is refused
 * on each write against the first cluster's rows, and nothing changes; the same writes on its own
 * rows, or by an admin, work.
 */
class ClusterIsolationTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;
    static long featureA;
    static long featureB;
    static long configA;
    static long configB;
    static long product;

    static final String[] ALL = {
        "license-manager:job:create", "license-manager:job:read", "license-manager:job:update", "license-manager:job:delete",
        "license-manager:booking:create", "license-manager:booking:read", "license-manager:booking:update", "license-manager:booking:delete",
        "license-manager:feature:create", "license-manager:feature:read", "license-manager:feature:update", "license-manager:feature:delete",
        "license-manager:config:create", "license-manager:config:read", "license-manager:config:update", "license-manager:config:delete",
        "license-manager:license-server:create", "license-manager:license-server:read", "license-manager:license-server:update",
        "license-manager:license-server:delete",
    };

    @BeforeAll
    static void start() {
        admin = api.admin();
        product = ok(api.http.post("/products", admin, "{\"name\":\"isop\"}"), 201).get("id").getAsLong();
        configA = config("iso-a", product, "lic-a");
        configB = config("iso-b", product, "lic-b");
        featureA = featureOf(configA);
        featureB = featureOf(configB);
        for (long f : new long[] {featureA, featureB}) { // a reading, else the pools are held
            ok(api.http.put("/features/" + f, admin, "{\"total\":100,\"used\":0}"), 200);
        }
    }

    static JsonObject ok(Res r, int status) {
        assertEquals(status, r.status(), r.toString());
        return r.json().getAsJsonObject();
    }

    static long config(String cluster, long product, String host) {
        return ok(api.http.post("/configurations", admin, "{\"name\":\"iso\",\"cluster_client_id\":\"" + cluster
                + "\",\"grace_time\":600,\"type\":\"flexlm\",\"features\":[{\"name\":\"f\",\"product_id\":" + product
                + "}],\"license_servers\":[{\"host\":\"" + host + "\",\"port\":27000}]}"), 201).get("id").getAsLong();
    }

    static long featureOf(long config) {
        return ok(api.http.get("/configurations/" + config, admin), 200).getAsJsonArray("features").get(0).getAsJsonObject()
                .get("id").getAsLong();
    }

    /** A job of {@code cluster} booking 2 of its isop.f; returns {job id, booking id}. */
    static long[] job(String cluster, String slurmId) {
        JsonObject j = ok(api.http.post("/jobs", api.token(cluster, ALL), "{\"slurm_job_id\":\"" + slurmId
                + "\",\"username\":\"u\",\"lead_host\":\"n1\",\"bookings\":[{\"product_feature\":\"isop.f\",\"quantity\":2}]}"), 201);
        return new long[] {j.get("id").getAsLong(), j.getAsJsonArray("bookings").get(0).getAsJsonObject().get("id").getAsLong()};
    }

    static String snapshot() throws Exception {
        return Sql.text(api.ds, "SELECT concat_ws(' | ',"
                + " (SELECT string_agg(concat_ws(',', id, cluster_client_id, slurm_job_id), ';' ORDER BY id) FROM lm.jobs),"
                + " (SELECT string_agg(concat_ws(',', id, job_id, feature_id, quantity, released_at), ';' ORDER BY id) FROM lm.bookings),"
                + " (SELECT string_agg(concat_ws(',', id, config_id, total, used, reserved, name), ';' ORDER BY id) FROM lm.features),"
                + " (SELECT string_agg(concat_ws(',', id, name, cluster_client_id, grace_time), ';' ORDER BY id) FROM lm.configurations),"
                + " (SELECT string_agg(concat_ws(',', id, config_id, host, port), ';' ORDER BY id) FROM lm.license_servers))");
    }

    @Test
    void anotherClustersTokenChangesNothingOfThisCluster() throws Exception {
        long[] a = job("iso-a", "100");
        long[] b = job("iso-b", "200");
        String other = api.token("iso-b", ALL);
        String before = snapshot();

        assertEquals(404, api.http.delete("/jobs/" + a[0], other).status(), "DELETE another cluster's job");
        assertEquals(404, api.http.delete("/bookings/" + a[1], other).status(), "DELETE another cluster's booking");
        assertEquals(404, api.http.post("/bookings", other, "{\"job_id\":" + a[0] + ",\"feature_id\":" + featureA + ",\"quantity\":1}")
                .status(), "POST /bookings to another cluster's job");
        assertEquals(422, api.http.post("/bookings", other, "{\"job_id\":" + b[0] + ",\"feature_id\":" + featureA + ",\"quantity\":1}")
                .status(), "POST /bookings of another cluster's feature to its own job");
        assertEquals(404, api.http.put("/features/" + featureA, other, "{\"total\":999,\"used\":999}").status(),
                "PUT another cluster's feature counts");
        assertEquals(404, api.http.put("/features/" + featureB, other, "{\"config_id\":" + configA + "}").status(),
                "PUT its own feature into another cluster's configuration");
        assertEquals(before, snapshot(), "nothing changed");

        // the inventory of another cluster: its configuration, features and license servers
        long serverA = ok(api.http.get("/configurations/" + configA, admin), 200).getAsJsonArray("license_servers").get(0)
                .getAsJsonObject().get("id").getAsLong();
        assertEquals(403, api.http.post("/configurations", other, "{\"name\":\"x\",\"cluster_client_id\":\"iso-a\",\"grace_time\":600,"
                + "\"type\":\"flexlm\"}").status(), "POST a configuration of another cluster");
        assertEquals(404, api.http.put("/configurations/" + configA, other, "{\"grace_time\":1}").status(), "PUT another cluster's configuration");
        assertEquals(404, api.http.put("/configurations/" + configB, other, "{\"cluster_client_id\":\"iso-a\"}").status(),
                "PUT its own configuration into another cluster");
        assertEquals(404, api.http.delete("/configurations/" + configA + "?force=true", other).status(), "DELETE another cluster's configuration");
        assertEquals(404, api.http.post("/features", other, "{\"name\":\"g\",\"product_id\":" + product + ",\"config_id\":" + configA + "}")
                .status(), "POST a feature into another cluster's configuration");
        assertEquals(404, api.http.delete("/features/" + featureA + "?force=true", other).status(), "DELETE another cluster's feature");
        assertEquals(404, api.http.post("/license_servers", other, "{\"config_id\":" + configA + ",\"host\":\"evil\",\"port\":1}").status(),
                "POST a license server into another cluster's configuration");
        assertEquals(404, api.http.put("/license_servers/" + serverA, other, "{\"host\":\"evil\"}").status(), "PUT another cluster's license server");
        assertEquals(404, api.http.delete("/license_servers/" + serverA + "?force=true", other).status(), "DELETE another cluster's license server");
        assertEquals(before, snapshot(), "nothing changed");

        // its own rows: allowed
        assertEquals(201, api.http.post("/features", other, "{\"name\":\"g\",\"product_id\":" + product + ",\"config_id\":" + configB + "}")
                .status(), "a feature in its own configuration");
        assertEquals(200, api.http.put("/configurations/" + configB, other, "{\"grace_time\":700}").status());
        // counts by hand are a reading of its own (policy such as reserved is admin's: PolicyTest)
        assertEquals(200, api.http.put("/features/" + featureB, other, "{\"total\":100,\"used\":1}").status());
        assertEquals(200, api.http.delete("/bookings/" + b[1], other).status());
        assertEquals(200, api.http.delete("/jobs/" + b[0], other).status());
        // the admin acts on every cluster
        assertEquals(200, api.http.delete("/jobs/" + a[0], admin).status());
    }
}
