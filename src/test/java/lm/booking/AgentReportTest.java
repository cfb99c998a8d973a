package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * POST /agent/report's Slurm part (issue 9): job_ids end the jobs squeue no longer lists (the
 * older jobs form too), nodes are checked, and a bad value is a 4xx naming the field that
 * writes nothing.
 */
class AgentReportTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);

    /** A cluster of its own for each test, with one feature {@code <cluster>p.f} of 100. */
    private record Cluster(String name, String agent, String prolog) {
        static Cluster of(String name) {
            long c = pools.config(name, name, "flex-" + name, 27000, 600);
            pools.feature(c, name + "p", "f", 100, 0, 0, Pools.wallClock());
            return new Cluster(name, api.token(name, "license-manager:feature:update"), api.token(name, "license-manager:job:create"));
        }

        /** Books jobs {@code ids} and dates them a minute back, so a report may end them at once. */
        void book(String... ids) throws SQLException {
            for (String id : ids) {
                Res r = api.http.post("/jobs", prolog, JobsApiTest.job(id, name + "p.f", 1));
                assertEquals(201, r.status(), r::toString);
            }
            Sql.update(api.ds, "UPDATE lm.jobs SET created_at = created_at - interval '1 minute' WHERE cluster_client_id = ?", name);
        }

        String jobs() throws SQLException {
            return Sql.text(api.ds, "SELECT coalesce(string_agg(slurm_job_id, ',' ORDER BY slurm_job_id::bigint), '')"
                    + " FROM lm.jobs WHERE cluster_client_id = ?", name);
        }

        /** POST /agent/report of {@code body}, a whole report. */
        Res post(String body) {
            return api.http.post("/agent/report", agent, body);
        }

        Res report(String slurm) {
            return post("{\"slurm\":" + slurm + "}");
        }
    }

    @Test
    void jobIdsEndTheJobsSqueueNoLongerLists() throws Exception {
        Cluster k = Cluster.of("arep1");
        k.book("101", "102", "103", "104");

        Res r = k.report("{\"job_ids\":[101,103,104,999],\"nodes\":[\"node01\",\"gpu-7\",\"n_2\"],\"squeue_age_ms\":10}");

        assertEquals(200, r.status(), r::toString);
        assertEquals(1, r.json().getAsJsonObject().get("ended_jobs").getAsInt());
        assertEquals("101,103,104", k.jobs());
        // an lm-agent from before job_ids still works during an upgrade
        r = k.report("{\"jobs\":[{\"slurm_job_id\":\"101\",\"state\":\"RUNNING\"},{\"slurm_job_id\":104}]}");
        assertEquals(200, r.status(), r::toString);
        assertEquals(1, r.json().getAsJsonObject().get("ended_jobs").getAsInt());
        assertEquals("101,104", k.jobs());
        // no list: Slurm was not read, nothing ends; an empty list: every booked job has ended
        assertEquals(0, k.report("{\"squeue_age_ms\":0}").json().getAsJsonObject().get("ended_jobs").getAsInt());
        assertEquals(2, k.report("{\"job_ids\":[]}").json().getAsJsonObject().get("ended_jobs").getAsInt());
        assertEquals("", k.jobs());
    }

    @Test
    void badJobIdsAndNodesAreClientErrorsThatWriteNothing() throws Exception {
        Cluster k = Cluster.of("arep2");
        k.book("201");
        String[][] cases = {
            {"{\"job_ids\":\"201\"}", "400", "'job_ids' must be an array of integers"},
            {"{\"job_ids\":[\"201\"]}", "400", "report.slurm.job_ids[0] must be an integer"},
            {"{\"job_ids\":[201,1.5]}", "422", "report.slurm.job_ids[1]: a Slurm job id is 1 to 20 digits, not '1.5'"},
            {"{\"job_ids\":[-1]}", "422", "report.slurm.job_ids[0]"},
            {"{\"job_ids\":[123456789012345678901]}", "422", "1 to 20 digits"},
            {"{\"job_ids\":[201],\"jobs\":[]}", "400", "send job_ids or jobs, not both"},
            {"{\"jobs\":[{\"slurm_job_id\":\"x1\"}]}", "422", "report.slurm.jobs[0]: a Slurm job id"},
            {"{\"nodes\":\"node01\",\"job_ids\":[]}", "400", "'nodes' must be an array of strings"},
            {"{\"nodes\":[\"node01\",7],\"job_ids\":[]}", "400", "report.slurm.nodes[1] must be a string"},
            {"{\"nodes\":[\"Node01\"],\"job_ids\":[]}", "422", "report.slurm.nodes[0]: 'Node01' is not a short lowercase host name"},
            {"{\"nodes\":[\"node01.example.org\"],\"job_ids\":[]}", "422", "no domain"},
            {"{\"nodes\":[\"\"],\"job_ids\":[]}", "422", "report.slurm.nodes[0]"},
        };
        for (String[] c : cases) {
            Res r = k.report(c[0]);
            assertEquals(Integer.parseInt(c[1]), r.status(), () -> c[0] + " -> " + r);
            assertTrue(r.json().getAsJsonObject().get("message").getAsString().contains(c[2]), () -> c[0] + " -> " + r);
            assertEquals("201", k.jobs(), c[0]);
        }
    }

    @Test
    void aDryRunAnswersThePlanAndKeepsNothing() throws Exception {
        Cluster k = Cluster.of("arep3");
        k.book("301");
        Res r = api.http.post("/agent/report/dry_run", k.agent(),
                "{\"interval\":60,\"features\":[{\"product_feature\":\"arep3p.f\",\"total\":100,\"used\":40}],\"slurm\":{\"job_ids\":[]}}");
        assertEquals(200, r.status(), r::toString);
        assertTrue(r.json().getAsJsonObject().get("ended_jobs").getAsInt() >= 1, r::toString);
        assertTrue(k.jobs().contains("301"));
        assertEquals("0", Sql.text(api.ds, "SELECT used FROM lm.features f JOIN lm.products p ON p.id = f.product_id WHERE p.name = 'arep3p'"));
        assertEquals(null, Sql.text(api.ds, "SELECT 1 FROM lm.cluster_statuses WHERE cluster_client_id = 'arep3'"));
    }

    @Test
    void queuedReachesTheSamplesAndTheMetric() throws Exception {
        // issue 19 case 9: the report was rebuilt without "queued", so lm_license_queued and the
        // reports' queued_max were always 0
        Cluster k = Cluster.of("arep4");
        Res r = api.http.post("/agent/report", k.agent(), "{\"interval\":60,\"features\":[{\"product_feature\":\"arep4p.f\","
                + "\"total\":100,\"used\":100,\"queued\":7,\"read_age_ms\":0,\"checkouts\":[{\"user\":\"alice\","
                + "\"host\":\"node01\",\"quantity\":100,\"key\":\"lic9/27000 1234 Mon 12/7 9:15\"}]}]}");
        assertEquals(200, r.status(), r::toString);
        assertEquals("7", Sql.text(api.ds, "SELECT s.queued::text FROM lm.usage_samples s JOIN lm.features f ON f.pool_id = s.pool_id"
                + " JOIN lm.products p ON p.id = f.product_id WHERE p.name = 'arep4p' ORDER BY s.at DESC LIMIT 1"));
        Res m = api.http.get("/metrics", api.token("arep4-prom", lm.auth.Roles.permissions(lm.auth.Roles.READER).toArray(String[]::new)));
        assertTrue(m.body().lines().anyMatch(l -> l.startsWith("lm_license_queued{") && l.contains("arep4p.f") && l.endsWith(" 7.0")),
                m::body);
        // the checkout's identity is kept with its key
        assertEquals("lic9/27000 1234 Mon 12/7 9:15", Sql.text(api.ds, "SELECT k.key FROM lm.checkout_covers k WHERE k.username = 'alice'"
                + " AND k.pool_id = (SELECT f.pool_id FROM lm.features f JOIN lm.products p ON p.id = f.product_id WHERE p.name = 'arep4p')"));
        // bad values of the new fields are 4xx that write nothing
        String[][] cases = {
            {"\"queued\":-1", "422"}, {"\"queued\":\"7\"", "400"}, {"\"read_age_ms\":-5", "422"},
            {"\"read_age_ms\":86400001", "422"}, {"\"read_age_ms\":1.5", "400"},
        };
        for (String[] c : cases) {
            Res bad = api.http.post("/agent/report", k.agent(), "{\"features\":[{\"product_feature\":\"arep4p.f\",\"total\":1,\"used\":1,"
                    + c[0] + "}]}");
            assertEquals(Integer.parseInt(c[1]), bad.status(), () -> c[0] + " -> " + bad);
        }
        Res longKey = api.http.post("/agent/report", k.agent(), "{\"features\":[{\"product_feature\":\"arep4p.f\",\"total\":1,\"used\":1,"
                + "\"checkouts\":[{\"user\":\"a\",\"host\":\"h\",\"quantity\":1,\"key\":\"" + "k".repeat(256) + "\"}]}]}");
        assertEquals(422, longKey.status(), longKey::toString);
        assertEquals("100", Sql.text(api.ds, "SELECT f.total::text FROM lm.features f JOIN lm.products p ON p.id = f.product_id WHERE p.name = 'arep4p'"));
    }

    @Test
    void anAdmissionDoesNotWaitWhileTheReportRecordsItsHistory() throws Exception {
        // issue 19: the report held every pool of its cluster until it had also written the plan,
        // the samples and the distribution log, so an admission on any of them waited for all of it
        Cluster k = Cluster.of("arep5");
        String report = "{\"interval\":60,\"features\":[{\"product_feature\":\"arep5p.f\",\"total\":100,\"used\":2,"
                + "\"checkouts\":[{\"user\":\"alice\",\"host\":\"ws1\",\"quantity\":2}]}]}";
        assertEquals(200, k.post(report).status());
        try (Connection hold = api.ds.getConnection(); Statement h = hold.createStatement()) {
            // the pool's history held: the next report's lm.record_usage waits to replace its checkouts
            hold.setAutoCommit(false);
            h.execute("SELECT 1 FROM lm.checkouts k JOIN lm.features f ON f.pool_id = k.pool_id JOIN lm.products p ON p.id = f.product_id"
                    + " WHERE p.name = 'arep5p' FOR UPDATE OF k");
            CompletableFuture<Res> second = CompletableFuture.supplyAsync(() -> k.post(report));
            for (int i = 0; i < 200 && Sql.text(api.ds, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    + " AND query ~ 'agent_report'") == null; i++) {
                Thread.sleep(50);
            }
            // meanwhile a job books on that pool at once
            try (Connection c = api.ds.getConnection(); Statement s = c.createStatement()) {
                c.setAutoCommit(false);
                s.execute("SET LOCAL lock_timeout = '2s'");
                try (ResultSet rs = s.executeQuery("SELECT created FROM lm.book_job('arep5', '501', 'bob', 'node01',"
                        + " '[{\"product_feature\":\"arep5p.f\",\"quantity\":1}]')")) {
                    assertTrue(rs.next() && rs.getBoolean(1));
                }
                c.commit();
            }
            assertTrue(!second.isDone(), "the report waits for the history, not before it");
            hold.rollback();
            assertEquals(200, second.get(30, TimeUnit.SECONDS).status());
        }
    }
}
