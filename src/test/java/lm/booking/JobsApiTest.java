package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The jobs and bookings API over HTTP, including two lm-server instances on one database. */
class JobsApiTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static TestApi second;
    static final Pools pools = new Pools(api.ds);
    static String admin;

    @BeforeAll
    static void start() {
        second = new TestApi(api.ds, api.keys); // scaled out: same database, same keys
        admin = api.admin();
    }

    @AfterAll
    static void stop() {
        second.close();
    }

    static String job(String id, String pf, int qty) {
        return "{\"slurm_job_id\":\"" + id + "\",\"username\":\"alice\",\"lead_host\":\"node01\",\"bookings\":[{\"product_feature\":\""
                + pf + "\",\"quantity\":" + qty + "}]}";
    }

    @Test
    void twoInstancesOverHttpNeverOverbook() throws Exception {
        long c = pools.config("http-race", "race", "flex-http", 27000, 600);
        long f = pools.feature(c, "httpp", "solver", 40, 10, 10, Pools.wallClock()); // 20 available
        String token = api.token("http-race", "license-manager:job:create");
        int clients = 64;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Integer>> results = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            TestApi target = i % 2 == 0 ? api : second;
            String body = job(Integer.toString(100 + i), "httpp.solver", 1);
            results.add(pool.submit(() -> {
                go.await();
                return target.http.post("/jobs", token, body).status();
            }));
        }
        go.countDown();
        int created = 0;
        int refused = 0;
        for (Future<Integer> r : results) {
            int s = r.get(60, TimeUnit.SECONDS);
            if (s == 201) {
                created++;
            } else if (s == 409) {
                refused++;
            }
        }
        pool.shutdown();
        assertEquals(20, created);
        assertEquals(clients - 20, refused);
        assertEquals(20, pools.activeBooked(f, Pools.wallClock()));
    }

    @Test
    void prologFlowOverHttp() {
        long c = pools.config("flow", "flow", "flex-flow", 27000, 600);
        long f = pools.feature(c, "flowp", "abaqus", 10, 2, 0, Pools.wallClock());
        String prolog = api.token("flow", "license-manager:job:create", "license-manager:job:read", "license-manager:job:delete");

        Res created = api.http.post("/jobs", prolog, job("55", "flowp.abaqus", 5));
        assertEquals(201, created.status(), created::toString);
        JsonObject j = created.json().getAsJsonObject();
        assertEquals("55", j.get("slurm_job_id").getAsString());
        assertEquals("flow", j.get("cluster_client_id").getAsString());
        JsonArray bookings = j.getAsJsonArray("bookings");
        assertEquals(1, bookings.size());
        assertEquals(5, bookings.get(0).getAsJsonObject().get("quantity").getAsLong());
        assertEquals(f, bookings.get(0).getAsJsonObject().get("feature_id").getAsLong());
        assertEquals(5, api.http.get("/features/" + f, admin).json().getAsJsonObject().get("booked_total").getAsLong());

        // retried prolog: same job, 200, no second booking
        Res retry = second.http.post("/jobs", prolog, job("55", "flowp.abaqus", 5));
        assertEquals(200, retry.status(), retry::toString);
        assertEquals(j.get("id"), retry.json().getAsJsonObject().get("id"));
        assertEquals(5, pools.activeBooked(f, Pools.wallClock()));

        Res refused = api.http.post("/jobs", prolog, job("56", "flowp.abaqus", 4));
        assertEquals(409, refused.status(), refused::toString);
        JsonObject err = refused.json().getAsJsonObject();
        assertEquals("not_enough_licenses", err.get("code").getAsString());
        JsonObject shortOne = err.getAsJsonArray("detail").get(0).getAsJsonObject();
        assertEquals("flowp.abaqus", shortOne.get("product_feature").getAsString());
        assertEquals(3, shortOne.get("available").getAsLong());
        assertEquals(404, api.http.get("/jobs/slurm_job_id/56", prolog).status());

        Res unknown = api.http.post("/jobs", prolog, job("57", "nope.nothing", 1));
        assertEquals(404, unknown.status(), unknown::toString);

        assertEquals(200, api.http.get("/jobs/slurm_job_id/55", prolog).status());
        // another cluster's token sees no job 55 in its cluster
        String other = api.token("other-cluster", "license-manager:job:read", "license-manager:job:delete");
        Res notHere = api.http.get("/jobs/slurm_job_id/55", other);
        assertEquals(404, notHere.status());
        assertTrue(notHere.body().contains("The job doesn't exist in this cluster."));
        assertEquals(404, api.http.delete("/jobs/slurm_job_id/55", other).status());
        assertEquals(1, api.http.get("/jobs/by_client_id", prolog).json().getAsJsonArray().size());
        assertEquals(0, api.http.get("/jobs/by_client_id", other).json().getAsJsonArray().size());

        // epilog
        assertEquals(200, api.http.delete("/jobs/slurm_job_id/55", prolog).status());
        assertEquals(404, api.http.delete("/jobs/slurm_job_id/55", prolog).status());
        assertEquals(0, pools.activeBooked(f, Pools.wallClock()));
    }

    @Test
    void badJobRequestsAreClearErrors() {
        pools.feature(pools.config("badjob", "b", "flex-badjob", 27000, 600), "badjobp", "f", 10, 0, 0, Pools.wallClock());
        String t = api.token("badjob", "license-manager:job:create");
        long jobs = pools.one("SELECT count(*) FROM lm.jobs");
        assertEquals(422, api.http.post("/jobs", t, job("1", "badjobp.f", 0)).status());
        assertEquals(422, api.http.post("/jobs", t, job("1", "badjobp.f", -3)).status());
        assertEquals(422, api.http.post("/jobs", t, job("1", "nodot", 1)).status());
        assertEquals(422, api.http.post("/jobs", t, job("x1", "badjobp.f", 1)).status(), "slurm ids are numbers");
        assertEquals(400, api.http.post("/jobs", t, "{\"slurm_job_id\":1,\"username\":\"u\",\"lead_host\":\"h\",\"bookings\":{}}").status());
        assertEquals(400, api.http.post("/jobs", t, "{\"slurm_job_id\":1,\"username\":\"u\"").status());
        assertEquals(400, api.http.post("/jobs", t, "{\"slurm_job_id\":1.5,\"username\":\"u\",\"lead_host\":\"h\",\"bookings\":[]}").status());
        assertEquals(422, api.http.post("/jobs", t, job("1", "badjobp.f", 1).replace("\"quantity\":1", "\"quantity\":99999999999999999999")).status());
        // another cluster's id in the body is refused for a non-admin
        assertEquals(403, api.http.post("/jobs", t, job("1", "badjobp.f", 1).replace("{\"slurm_job_id\"", "{\"cluster_client_id\":\"x\",\"slurm_job_id\"")).status());
        assertEquals(jobs, pools.one("SELECT count(*) FROM lm.jobs"));
        // numeric slurm_job_id is accepted, as existing clients send it
        assertEquals(201, api.http.post("/jobs", t, job("1", "badjobp.f", 1).replace("\"1\"", "1")).status());
    }

    @Test
    void bookingsEndpoints() {
        long c = pools.config("bk", "bk", "flex-bk", 27000, 600);
        long f = pools.feature(c, "bkp", "f", 10, 0, 0, Pools.wallClock());
        long g = pools.feature(c, "bkp", "g", 3, 0, 0, Pools.wallClock());
        String t = api.token("bk", "license-manager:job:create");
        long jobId = api.http.post("/jobs", t, job("9", "bkp.f", 2)).json().getAsJsonObject().get("id").getAsLong();
        Res ok = api.http.post("/bookings", admin, "{\"job_id\":" + jobId + ",\"feature_id\":" + g + ",\"quantity\":3}");
        assertEquals(201, ok.status(), ok::toString);
        long bid = ok.json().getAsJsonObject().get("id").getAsLong();
        assertEquals(3, api.http.get("/bookings/" + bid, admin).json().getAsJsonObject().get("quantity").getAsLong());
        assertEquals(2, api.http.get("/jobs/" + jobId, admin).json().getAsJsonObject().getAsJsonArray("bookings").size());
        Res full = api.http.post("/bookings", admin, "{\"job_id\":" + jobId + ",\"feature_id\":" + f + ",\"quantity\":9}");
        assertEquals(409, full.status(), full::toString);
        assertEquals(404, api.http.post("/bookings", admin, "{\"job_id\":999999,\"feature_id\":" + f + ",\"quantity\":1}").status());
        assertEquals(422, api.http.post("/bookings", admin, "{\"job_id\":" + jobId + ",\"feature_id\":" + f + ",\"quantity\":0}").status());
        assertTrue(api.http.get("/bookings?sort_field=quantity", admin).json().getAsJsonArray().size() >= 2);
        assertEquals(200, api.http.delete("/bookings/" + bid, admin).status());
        assertEquals(404, api.http.get("/bookings/" + bid, admin).status());
        assertEquals(0, pools.activeBooked(g, Pools.wallClock()));
        assertEquals(200, api.http.delete("/jobs/" + jobId, admin).status());
        assertEquals(0, pools.activeBooked(f, Pools.wallClock()));
        assertEquals(404, api.http.delete("/jobs/" + jobId, admin).status());
    }

    @Test
    void agentReportReturnsThePlan() {
        long c = pools.config("rep", "rep", "flex-rep", 27000, 600);
        long f = pools.feature(c, "repp", "f", 100, 0, 0, Pools.wallClock());
        String prolog = api.token("rep", "license-manager:job:create");
        assertEquals(201, api.http.post("/jobs", prolog, job("1", "repp.f", 10)).status());
        String agent = api.token("rep", "license-manager:feature:update");
        Res r = api.http.post("/agent/report", agent, "{\"interval\":60,\"features\":[{\"product_feature\":\"repp.f\",\"total\":100,\"used\":30,"
                + "\"checkouts\":[{\"user\":\"desk\",\"host\":\"pc1\",\"quantity\":30}]}],\"failed\":[],"
                + "\"slurm\":{\"licenses\":[{\"license\":\"repp.f@flexlm\",\"total\":100,\"used\":10}],\"jobs\":[{\"slurm_job_id\":\"1\",\"state\":\"RUNNING\"}],\"squeue_age_ms\":10}}");
        assertEquals(200, r.status(), r::toString);
        JsonObject plan = r.json().getAsJsonObject();
        JsonObject res = plan.getAsJsonArray("reservations").get(0).getAsJsonObject();
        assertEquals("repp.f@flexlm", res.get("license").getAsString());
        // 100 - 10 - (100 - 30 - 10) = 30: the desktop usage is held, the job's own licenses cancel
        assertEquals(30, res.get("count").getAsLong());
        assertEquals(0, plan.get("ended_jobs").getAsInt());
        assertEquals(30, api.http.get("/features/" + f, admin).json().getAsJsonObject().get("used").getAsLong());
        assertEquals(200, api.http.get("/cluster_statuses/rep", api.admin()).status());
        assertEquals(422, api.http.post("/agent/report", agent, "{\"features\":[{\"product_feature\":\"repp.f\",\"total\":-1,\"used\":0}]}").status());
        assertEquals(404, api.http.post("/agent/report", agent, "{\"features\":[{\"product_feature\":\"repp.zz\",\"total\":1,\"used\":0}]}").status());
        assertEquals(400, api.http.post("/agent/report", agent, "{\"failed\":\"repp.f\"}").status());
        assertEquals(30, api.http.get("/features/" + f, admin).json().getAsJsonObject().get("used").getAsLong());
    }

    @Test
    void aJobThatBooksNothingIs422AndFeaturesSayHeldAndAvailable() {
        long c = pools.config("nothing", "n", "flex-nothing", 27000, 600);
        long f = pools.feature(c, "nothingp", "f", 10, 12, 0, Pools.wallClock()); // outside usage past total
        String t = api.token("nothing", "license-manager:job:create");
        Res none = api.http.post("/jobs", t, "{\"slurm_job_id\":\"1\",\"username\":\"u\",\"lead_host\":\"h\",\"bookings\":[]}");
        assertEquals(422, none.status(), none::toString);
        assertEquals(422, api.http.post("/jobs", t, "{\"slurm_job_id\":\"1\",\"username\":\"u\",\"lead_host\":\"h\"}").status());
        assertEquals(0, pools.one("SELECT count(*) FROM lm.jobs WHERE cluster_client_id = 'nothing'"));
        // GET /features: the pool's true available, and whether it is held
        JsonObject got = api.http.get("/features/" + f, admin).json().getAsJsonObject();
        assertEquals(-2, got.get("available").getAsLong());
        assertEquals(false, got.get("held").getAsBoolean());
        long g = pools.feature(c, "nothingp", "g", 10, 0, 0, null); // never read
        got = api.http.get("/features/" + g, admin).json().getAsJsonObject();
        assertEquals(true, got.get("held").getAsBoolean());
        assertEquals(true, got.get("stale").getAsBoolean());
        assertEquals(0, got.get("available").getAsLong());
        // counts an admin sets by hand are a reading (a site without an agent)
        assertEquals(200, api.http.put("/features/" + g, admin, "{\"total\":4,\"used\":1}").status());
        got = api.http.get("/features/" + g, admin).json().getAsJsonObject();
        assertEquals(false, got.get("held").getAsBoolean());
        assertEquals(3, got.get("available").getAsLong());
    }

    @Test
    void agentReportTakesTheClustersNodes() {
        long c = pools.config("withnodes", "wn", "flex-withnodes", 27000, 600);
        pools.feature(c, "wnp", "f", 10, 0, 0, Pools.wallClock());
        String prolog = api.token("withnodes", "license-manager:job:create");
        assertEquals(201, api.http.post("/jobs", prolog, "{\"slurm_job_id\":\"1\",\"username\":\"alice\",\"lead_host\":\"node01\","
                + "\"bookings\":[{\"product_feature\":\"wnp.f\",\"quantity\":1}]}").status());
        String agent = api.token("withnodes", "license-manager:feature:update");
        String usage = "\"features\":[{\"product_feature\":\"wnp.f\",\"total\":10,\"used\":1,"
                + "\"checkouts\":[{\"user\":\"alice\",\"host\":\"node01.example.org\",\"quantity\":1}]}]";
        Res other = api.http.post("/agent/report", agent, "{" + usage + ",\"slurm\":{\"nodes\":[\"node02\"]}}");
        assertEquals(200, other.status(), other::toString);
        assertEquals(0, other.json().getAsJsonObject().get("released_checkouts").getAsInt());
        Res mine = api.http.post("/agent/report", agent, "{" + usage + ",\"slurm\":{\"nodes\":[\"node01\",\"node02\"]}}");
        assertEquals(1, mine.json().getAsJsonObject().get("released_checkouts").getAsInt(), mine::toString);
        assertEquals(400, api.http.post("/agent/report", agent, "{\"slurm\":{\"nodes\":\"node01\"}}").status());
        assertEquals(400, api.http.post("/agent/report", agent, "{\"slurm\":{\"nodes\":[1]}}").status());
    }
}
