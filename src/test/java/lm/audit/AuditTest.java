package lm.audit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.sql.DataSource;
import lm.auth.Roles;
import lm.auth.TestTokens;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import lm.testing.TestDatabase;
import org.jose4j.jwt.JwtClaims;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The audit trail (issue 10 part 6): every inventory write through the API is one audit row per
 * changed row, with the caller's sub and cluster, the route and the row before and after; manual
 * deletes of jobs and bookings are recorded; the prolog's bookings, the epilog's release and the
 * agent's reports are not; a refused write leaves nothing; GET /lm/audit is for admins.
 */
class AuditTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    /** An admin whose sub ("alice") is not its cluster ("ops-console"): both must land in their own column. */
    static String alice;

    @BeforeAll
    static void start() throws Exception {
        api.admin(); // the keys file exists from here on
        JwtClaims c = TestTokens.claims("lm-local", System.currentTimeMillis() / 1000);
        c.setSubject("alice");
        c.setClaim("azp", "ops-console");
        c.setStringListClaim("permissions", List.of("license-manager:admin"));
        alice = TestTokens.sign(c, TestTokens.localKey(api.keys));
    }

    static JsonObject ok(Res r, int status) {
        assertEquals(status, r.status(), r::toString);
        return r.json().getAsJsonObject();
    }

    static long mark() throws SQLException {
        return mark(api.ds);
    }

    static long mark(DataSource ds) throws SQLException {
        return Long.parseLong(Sql.text(ds, "SELECT coalesce(max(id), 0) FROM lm.audit_log"));
    }

    static List<JsonObject> since(long mark) throws SQLException {
        return since(api.ds, mark);
    }

    /** The audit rows after {@code mark}, oldest first, as the psql view lm.audit shows them. */
    static List<JsonObject> since(DataSource ds, long mark) throws SQLException {
        String json = Sql.text(ds, "SELECT coalesce(json_agg(to_json(a) ORDER BY a.id), '[]') FROM lm.audit a WHERE a.id > ?", mark);
        List<JsonObject> out = new ArrayList<>();
        JsonParser.parseString(json).getAsJsonArray().forEach(e -> out.add(e.getAsJsonObject()));
        return out;
    }

    static String str(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    /** One row: table, operation, who and route as expected. */
    static void row(JsonObject a, String table, String operation, String route) {
        assertEquals(table, str(a, "table_name"), a::toString);
        assertEquals(operation, str(a, "operation"), a::toString);
        assertEquals("alice", str(a, "sub"), a::toString);
        assertEquals("ops-console", str(a, "cluster_client_id"), a::toString);
        assertEquals(route, str(a, "route"), a::toString);
        assertEquals(operation.equals("INSERT"), a.get("old").isJsonNull(), a::toString);
        assertEquals(operation.equals("DELETE"), a.get("new").isJsonNull(), a::toString);
    }

    static JsonObject json(JsonObject a, String key) {
        return a.getAsJsonObject(key);
    }

    /** A cluster with a product, a configuration (one server, one feature with 10 licenses). */
    record Cluster(String name, long product, long config, long feature, String agent, String prolog) {
        static Cluster of(String name) {
            long product = ok(api.http.post("/products", alice, "{\"name\":\"" + name + "p\"}"), 201).get("id").getAsLong();
            JsonObject cfg = ok(api.http.post("/configurations", alice, "{\"name\":\"" + name + "\",\"cluster_client_id\":\"" + name
                    + "\",\"grace_time\":300,\"type\":\"flexlm\",\"license_servers\":[{\"host\":\"" + name + ".example\",\"port\":27000}],"
                    + "\"features\":[{\"name\":\"f\",\"product_id\":" + product + "}]}"), 201);
            long feature = cfg.getAsJsonArray("features").get(0).getAsJsonObject().get("id").getAsLong();
            String agent = api.token(name, Roles.permissions("agent").toArray(String[]::new));
            assertEquals(200, api.http.put("/features/bulk", agent, "[{\"product_name\":\"" + name + "p\",\"feature_name\":\"f\","
                    + "\"total\":10,\"used\":0}]").status());
            return new Cluster(name, product, cfg.get("id").getAsLong(), feature, agent,
                    api.token(name, "license-manager:job:create", "license-manager:job:read", "license-manager:job:delete"));
        }

        long book(String slurmJobId, int quantity) {
            return ok(api.http.post("/jobs", prolog, "{\"slurm_job_id\":\"" + slurmJobId + "\",\"username\":\"bob\",\"lead_host\":\"n1\","
                    + "\"bookings\":[{\"product_feature\":\"" + name + "p.f\",\"quantity\":" + quantity + "}]}"), 201).get("id").getAsLong();
        }
    }

    @Test
    void everyInventoryWriteIsOneRowPerChangedRow() throws Exception {
        long m = mark();
        long product = ok(api.http.post("/products", alice, "{\"name\":\"audprod\"}"), 201).get("id").getAsLong();
        List<JsonObject> a = since(m);
        assertEquals(1, a.size(), a::toString);
        row(a.get(0), "products", "INSERT", "POST /lm/products");
        assertEquals(product, a.get(0).get("row_id").getAsLong());
        assertEquals("audprod", json(a.get(0), "new").get("name").getAsString());

        m = mark();
        JsonObject cfg = ok(api.http.post("/configurations", alice, "{\"name\":\"aud\",\"cluster_client_id\":\"aud-cl\",\"type\":\"flexlm\","
                + "\"license_servers\":[{\"host\":\"lic.aud\",\"port\":27000}],"
                + "\"features\":[{\"name\":\"solver\",\"product_id\":" + product + ",\"reserved\":1}]}"), 201);
        long config = cfg.get("id").getAsLong();
        long server = cfg.getAsJsonArray("license_servers").get(0).getAsJsonObject().get("id").getAsLong();
        long feature = cfg.getAsJsonArray("features").get(0).getAsJsonObject().get("id").getAsLong();
        a = since(m);
        assertEquals(3, a.size(), a::toString);
        row(a.get(0), "configurations", "INSERT", "POST /lm/configurations");
        row(a.get(1), "license_servers", "INSERT", "POST /lm/configurations");
        row(a.get(2), "features", "INSERT", "POST /lm/configurations");
        assertEquals(List.of(config, server, feature), a.stream().map(x -> x.get("row_id").getAsLong()).toList());
        assertFalse(json(a.get(2), "new").has("pool_id"), "derived, and stale in the trigger");

        // an update: before, after, and what changed
        m = mark();
        ok(api.http.put("/products/" + product, alice, "{\"name\":\"audprod2\"}"), 200);
        a = since(m);
        assertEquals(1, a.size(), a::toString);
        row(a.get(0), "products", "UPDATE", "PUT /lm/products/" + product);
        assertEquals("audprod", json(a.get(0), "old").get("name").getAsString());
        assertEquals("audprod2", json(a.get(0), "new").get("name").getAsString());
        assertEquals(JsonParser.parseString("{\"name\":[\"audprod\",\"audprod2\"]}"), a.get(0).get("changes"));
        // one that changes nothing is no event
        m = mark();
        ok(api.http.put("/products/" + product, alice, "{\"name\":\"audprod2\"}"), 200);
        assertEquals(List.of(), since(m));

        // counts set by hand are recorded (an agent's are not: agentReportsArePaidForByNoOne)
        m = mark();
        ok(api.http.put("/features/" + feature, alice, "{\"used\":3}"), 200);
        a = since(m);
        assertEquals(1, a.size(), a::toString);
        row(a.get(0), "features", "UPDATE", "PUT /lm/features/" + feature);
        assertEquals(0, json(a.get(0), "old").get("used").getAsLong());
        assertEquals(3, json(a.get(0), "new").get("used").getAsLong());
        assertTrue(a.get(0).getAsJsonObject("changes").has("used"), a.get(0)::toString);

        m = mark();
        ok(api.http.put("/license_servers/" + server, alice, "{\"port\":27001}"), 200);
        ok(api.http.put("/configurations/" + config, alice, "{\"grace_time\":90}"), 200);
        a = since(m);
        assertEquals(2, a.size(), a::toString);
        row(a.get(0), "license_servers", "UPDATE", "PUT /lm/license_servers/" + server);
        row(a.get(1), "configurations", "UPDATE", "PUT /lm/configurations/" + config);

        // a delete takes its rows with it, and each is recorded; the query is part of the route
        m = mark();
        long second = ok(api.http.post("/license_servers", alice, "{\"config_id\":" + config + ",\"host\":\"lic2.aud\",\"port\":27000}"), 201)
                .get("id").getAsLong();
        long mesher = ok(api.http.post("/features", alice, "{\"name\":\"mesher\",\"product_id\":" + product + ",\"config_id\":" + config + "}"), 201)
                .get("id").getAsLong();
        ok(api.http.delete("/features/" + mesher, alice), 200);
        a = since(m);
        assertEquals(3, a.size(), a::toString);
        row(a.get(0), "license_servers", "INSERT", "POST /lm/license_servers");
        row(a.get(1), "features", "INSERT", "POST /lm/features");
        row(a.get(2), "features", "DELETE", "DELETE /lm/features/" + mesher);
        assertEquals(json(a.get(1), "new"), json(a.get(2), "old"));

        m = mark();
        ok(api.http.delete("/license_servers/" + second + "?force=false", alice), 200);
        a = since(m);
        assertEquals(1, a.size(), a::toString);
        row(a.get(0), "license_servers", "DELETE", "DELETE /lm/license_servers/" + second + "?force=false");
        assertEquals("lic2.aud", json(a.get(0), "old").get("host").getAsString());

        m = mark();
        ok(api.http.delete("/configurations/" + config, alice), 200);
        a = since(m);
        assertEquals(3, a.size(), a::toString);
        for (JsonObject x : a) {
            assertEquals("DELETE", str(x, "operation"));
            assertEquals("DELETE /lm/configurations/" + config, str(x, "route"));
        }
        assertEquals(List.of("configurations", "features", "license_servers"),
                a.stream().map(x -> str(x, "table_name")).sorted().toList());

        m = mark();
        ok(api.http.delete("/products/" + product, alice), 200);
        a = since(m);
        assertEquals(1, a.size(), a::toString);
        row(a.get(0), "products", "DELETE", "DELETE /lm/products/" + product);
    }

    @Test
    void aRefusedWriteLeavesNoRow() throws Exception {
        Cluster k = Cluster.of("audref");
        k.book("1", 2);
        long m = mark();
        assertEquals(409, api.http.post("/products", alice, "{\"name\":\"audrefp\"}").status());
        assertEquals(422, api.http.put("/features/" + k.feature(), alice, "{\"reserved\":-1}").status());
        // the feature's active booking refuses the delete: nothing deleted, nothing recorded
        assertEquals(409, api.http.delete("/features/" + k.feature(), alice).status());
        assertEquals(409, api.http.delete("/products/" + k.product(), alice).status());
        // the configuration row is inserted before its bad feature is refused: all rolled back
        assertEquals(422, api.http.post("/configurations", alice, "{\"name\":\"audref2\",\"cluster_client_id\":\"audref\",\"type\":\"flexlm\","
                + "\"features\":[{\"name\":\"g\",\"product_id\":999999999}]}").status());
        assertEquals(404, api.http.delete("/jobs/999999999", alice).status());
        assertEquals(404, api.http.put("/products/999999999", alice, "{\"name\":\"x\"}").status());
        assertEquals(List.of(), since(m));
    }

    @Test
    void manualDeletesOfJobsAndBookingsAreRecorded() throws Exception {
        Cluster k = Cluster.of("audman");
        long job = k.book("11", 2);
        long booking = ok(api.http.get("/jobs/" + job, alice), 200).getAsJsonArray("bookings").get(0).getAsJsonObject().get("id").getAsLong();
        long other = k.book("12", 1);

        long m = mark();
        ok(api.http.delete("/bookings/" + booking, alice), 200);
        List<JsonObject> a = since(m);
        assertEquals(1, a.size(), a::toString);
        row(a.get(0), "bookings", "DELETE", "DELETE /lm/bookings/" + booking);
        assertEquals(job, json(a.get(0), "old").get("job_id").getAsLong());
        assertEquals(2, json(a.get(0), "old").get("quantity").getAsLong());

        m = mark();
        ok(api.http.delete("/jobs/" + other, alice), 200);
        a = since(m);
        assertEquals(1, a.size(), a::toString);
        row(a.get(0), "jobs", "DELETE", "DELETE /lm/jobs/" + other);
        JsonObject old = json(a.get(0), "old");
        assertEquals("12", old.get("slurm_job_id").getAsString());
        assertEquals("audman", old.get("cluster_client_id").getAsString());
        JsonArray bookings = old.getAsJsonArray("bookings");
        assertEquals(1, bookings.size(), old::toString);
        assertEquals(k.feature(), bookings.get(0).getAsJsonObject().get("feature_id").getAsLong());

        // by id is a person's delete whoever's token it is: the cluster's own, here
        long third = k.book("13", 1);
        m = mark();
        ok(api.http.delete("/jobs/" + third, k.prolog()), 200);
        a = since(m);
        assertEquals(1, a.size(), a::toString);
        assertEquals("audman", str(a.get(0), "sub"));
        assertEquals("audman", str(a.get(0), "cluster_client_id"));
        assertEquals("DELETE /lm/jobs/" + third, str(a.get(0), "route"));
    }

    /**
     * A person deleting jobs while their epilogs release them: each job goes once, and the trail
     * has exactly the deletes the person's requests made (an epilog that got there first leaves
     * the person a 404 and no event).
     */
    @Test
    void manualDeletesRacingEpilogsRecordExactlyTheirOwn() throws Exception {
        Cluster k = Cluster.of("audrace");
        int n = 40;
        assertEquals(200, api.http.put("/features/bulk", k.agent(), "[{\"product_name\":\"audracep\",\"feature_name\":\"f\","
                + "\"total\":" + n + ",\"used\":0}]").status());
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = k.book(Integer.toString(100 + i), 1);
        }
        long m = mark();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<Integer>> manual = new ArrayList<>();
        List<Future<Integer>> epilog = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                long id = ids[i];
                String slurm = Integer.toString(100 + i);
                manual.add(pool.submit(() -> api.http.delete("/jobs/" + id, alice).status()));
                epilog.add(pool.submit(() -> api.http.delete("/jobs/slurm_job_id/" + slurm, k.prolog()).status()));
            }
            int manualDeletes = 0;
            for (int i = 0; i < n; i++) {
                int a = manual.get(i).get();
                int b = epilog.get(i).get();
                assertEquals(Set.of(200, 404), Set.of(a, b), "job " + ids[i] + ": one delete wins, the other finds nothing");
                manualDeletes += a == 200 ? 1 : 0;
            }
            List<JsonObject> events = since(m);
            assertEquals(manualDeletes, events.size(), events::toString);
            Set<Long> deleted = new HashSet<>();
            for (JsonObject e : events) {
                row(e, "jobs", "DELETE", "DELETE /lm/jobs/" + e.get("row_id").getAsLong());
                assertTrue(deleted.add(e.get("row_id").getAsLong()), e::toString);
            }
            for (int i = 0; i < n; i++) {
                assertEquals(deleted.contains(ids[i]), manual.get(i).get() == 200, "job " + ids[i]);
            }
            assertEquals("0", Sql.text(api.ds, "SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'audrace'"));
        } finally {
            pool.shutdownNow();
        }
    }

    /** The prolog's bookings, the epilog's release and the agent's reports: history, not audit. */
    @Test
    void prologEpilogAndAgentReportsAreNotRecorded() throws Exception {
        Cluster k = Cluster.of("audagent");
        long m = mark();
        long job = k.book("21", 3);
        k.book("22", 1);
        k.book("23", 1);
        assertEquals(200, api.http.put("/features/bulk", k.agent(), "[{\"product_name\":\"audagentp\",\"feature_name\":\"f\","
                + "\"total\":12,\"used\":4}]").status());
        assertEquals(200, api.http.put("/features/by_client_id", k.agent(), "{\"product_name\":\"audagentp\",\"feature_name\":\"f\","
                + "\"total\":12,\"used\":5}").status());
        // a full report: readings, a checkout matched to job 21, and job 23 ended (Slurm lists it no more)
        Sql.update(api.ds, "UPDATE lm.jobs SET created_at = created_at - interval '1 minute' WHERE cluster_client_id = 'audagent'");
        Res r = api.http.post("/agent/report", k.agent(), "{\"interval\":60,\"features\":[{\"product_feature\":\"audagentp.f\","
                + "\"total\":12,\"used\":6,\"queued\":0,\"checkouts\":[{\"user\":\"bob\",\"host\":\"n1\",\"quantity\":3}]}],"
                + "\"failed\":[],\"slurm\":{\"job_ids\":[21,22],\"squeue_age_ms\":10}}");
        assertEquals(200, r.status(), r::toString);
        assertEquals(1, r.json().getAsJsonObject().get("ended_jobs").getAsInt(), r::toString);
        assertEquals(200, api.http.delete("/jobs/slurm_job_id/22", k.prolog()).status());
        // what happened did happen (so the empty trail below means something)
        assertEquals("6", Sql.text(api.ds, "SELECT used FROM lm.features WHERE id = ?", k.feature()));
        assertEquals("21", Sql.text(api.ds, "SELECT string_agg(slurm_job_id, ',') FROM lm.jobs WHERE cluster_client_id = 'audagent'"));
        assertEquals(job, Long.parseLong(Sql.text(api.ds, "SELECT id FROM lm.jobs WHERE cluster_client_id = 'audagent'")));
        assertEquals(List.of(), since(m));
    }

    /** psql: recorded with no sub, cluster or route, and db_user; readings typed there are not. */
    @Test
    void changesInPsqlAreRecordedWithoutATokenAndSettingsNeverLeakToTheNextUser() throws Exception {
        // one connection: the API's write and the "psql" session after it share it
        try (HikariDataSource one = TestDatabase.pool(1); TestApi solo = new TestApi(one, api.keys)) {
            long product = ok(solo.http.post("/products", alice, "{\"name\":\"audpsql\"}"), 201).get("id").getAsLong();
            long m = mark(one);
            try (Connection c = one.getConnection(); Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE lm.products SET name = 'audpsql2' WHERE id = " + product);
            }
            List<JsonObject> a = since(one, m);
            assertEquals(1, a.size(), a::toString);
            assertEquals("products", str(a.get(0), "table_name"));
            assertEquals("UPDATE", str(a.get(0), "operation"));
            assertEquals(null, str(a.get(0), "sub"), a.get(0)::toString);
            assertEquals(null, str(a.get(0), "cluster_client_id"));
            assertEquals(null, str(a.get(0), "route"));
            assertEquals(TestDatabase.user(), str(a.get(0), "db_user"));
        }
        Cluster k = Cluster.of("audpsqlr");
        long m = mark();
        Sql.update(api.ds, "UPDATE lm.features SET total = 20, used = 2, reported_at = now() WHERE id = ?", k.feature());
        assertEquals(List.of(), since(m), "readings are the agent's, not inventory");
        Sql.update(api.ds, "UPDATE lm.features SET reserved = 1 WHERE id = ?", k.feature());
        assertEquals(1, since(m).size());
    }

    /**
     * Why admission, releases and agent reports pay nothing: no audit trigger on what they write
     * (jobs, bookings, pools, counters, cluster statuses), and the features' fires only for the
     * inventory columns, the very ones that take the inventory lock (features_lock), never for
     * the readings (total, used, reported_at, failed_at) or the derived pool_id.
     */
    @Test
    void auditTriggersAreOnTheInventoryOnlyAndNotOnReadings() throws Exception {
        assertEquals("configurations,features,license_servers,products,project_shares", Sql.text(api.ds,
                "SELECT string_agg(DISTINCT tgrelid::regclass::text, ',' ORDER BY tgrelid::regclass::text) FROM pg_trigger"
                        + " WHERE tgfoid = 'lm.audit_row'::regproc").replace("lm.", ""));
        String columns = "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_trigger t"
                + " JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr) WHERE t.tgname = ?";
        // the inventory columns and the fair-share policy: those of the inventory lock
        assertEquals("config_id,max_use,name,product_id,reserved,share", Sql.text(api.ds, columns, "features_audit_update"));
        assertEquals("config_id,max_use,name,product_id,reserved,share", Sql.text(api.ds, columns, "features_lock"));
    }

    @Test
    void onlyAdminsReadTheTrailWithSearchSortAndPaging() throws Exception {
        Cluster.of("audread");
        assertEquals(401, api.http.get("/audit", null).status());
        assertEquals(403, api.http.get("/audit", api.token("audread", "license-manager:config:read", "license-manager:job:read",
                "license-manager:feature:update")).status());
        String reader = api.token("auditor", Roles.permissions("reader").toArray(String[]::new));
        assertEquals(403, api.http.get("/audit", reader).status());
        assertEquals(403, api.http.get("/audit/1", reader).status());
        assertEquals(200, api.http.get("/audit?limit=1", api.token("auditor", "license-manager:audit:read")).status());

        Res all = api.http.get("/audit?search=audreadp", alice);
        assertEquals(200, all.status(), all::toString);
        JsonArray items = all.json().getAsJsonArray();
        // the product's INSERT only: the other rows name the cluster, not the product
        assertEquals(1, items.size(), items::toString);
        assertEquals("1", all.header("X-Total-Count"));
        JsonObject p = items.get(0).getAsJsonObject();
        assertEquals("products", p.get("table_name").getAsString());
        assertEquals("POST /lm/products", p.get("route").getAsString());
        assertEquals("alice", p.get("sub").getAsString());

        Res cl = api.http.get("/audit?search=audread&sort_field=table_name&sort_ascending=false&limit=2&offset=1", alice);
        assertEquals(200, cl.status(), cl::toString);
        // product, configuration, license server (the feature's row names neither): the 2nd and 3rd
        assertEquals("3", cl.header("X-Total-Count"));
        JsonArray page = cl.json().getAsJsonArray();
        assertEquals(2, page.size());
        assertEquals("license_servers", page.get(0).getAsJsonObject().get("table_name").getAsString(), page::toString);
        assertEquals("configurations", page.get(1).getAsJsonObject().get("table_name").getAsString(), page::toString);

        long id = p.get("id").getAsLong();
        assertEquals(p, ok(api.http.get("/audit/" + id, alice), 200));
        assertEquals(404, api.http.get("/audit/999999999", alice).status());
        assertEquals(400, api.http.get("/audit?sort_field=old", alice).status());
    }
}
