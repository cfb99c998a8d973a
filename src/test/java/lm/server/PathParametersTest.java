package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.http.Routes;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 20 case 5: a query parameter named like a path parameter overrode it ({@code DELETE
 * /lm/products/1?id=2} deleted product 2, {@code GET /lm/jobs/999?id=1} returned job 1). The
 * path names the resource; a query parameter of the same name is a 400, even with the same value
 * (lm-server(8), ERRORS), and nothing is read or written.
 */
class PathParametersTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    private static final Pattern PARAM = Pattern.compile("\\{([^}]+)}");

    private static long create(String path, String body) {
        Res r = api.http.post(path, api.admin(), body);
        assertEquals(201, r.status(), r.toString());
        return r.json().getAsJsonObject().get("id").getAsLong();
    }

    private static void assertConflict(Res r, String name) {
        assertEquals(400, r.status(), r.toString());
        JsonObject o = r.json().getAsJsonObject();
        assertEquals("bad_request", o.get("code").getAsString(), r.toString());
        assertTrue(o.get("message").getAsString().contains("'" + name + "'"), r.toString());
    }

    @Test
    void aQueryIdNeitherDeletesNorReadsAnotherProduct() {
        String admin = api.admin();
        long one = create("/products", "{\"name\":\"pathq-one\"}");
        long two = create("/products", "{\"name\":\"pathq-two\"}");
        assertConflict(api.http.delete("/products/" + one + "?id=" + two, admin), "id");
        assertConflict(api.http.delete("/products/" + one + "?id=" + one, admin), "id");
        assertConflict(api.http.get("/products/" + one + "?id=" + two, admin), "id");
        assertConflict(api.http.put("/products/" + one + "?id=" + two, admin, "{\"name\":\"pathq-renamed\"}"), "id");
        assertEquals("pathq-one", api.http.get("/products/" + one, admin).json().getAsJsonObject().get("name").getAsString());
        assertEquals("pathq-two", api.http.get("/products/" + two, admin).json().getAsJsonObject().get("name").getAsString());
        // other query parameters stay what they were: ignored where a route reads none
        assertEquals(200, api.http.get("/products/" + one + "?search=x", admin).status());
    }

    @Test
    void aQueryIdDoesNotReturnAnotherJob() throws Exception {
        Licenses.setUp(api.ds.getJdbcUrl(), TestDatabase.user(), TestDatabase.password(), "pathq", "a", "b");
        String prolog = api.token("pathq", "license-manager:job:create", "license-manager:job:read");
        Res booked = api.http.post("/jobs", prolog, Licenses.job(77, "pathq", "a", "b"));
        assertEquals(201, booked.status(), booked.toString());
        long job = booked.json().getAsJsonObject().get("id").getAsLong();
        long missing = job + 1000;
        assertEquals(404, api.http.get("/jobs/" + missing, api.admin()).status());
        assertConflict(api.http.get("/jobs/" + missing + "?id=" + job, api.admin()), "id");
        assertConflict(api.http.delete("/jobs/" + missing + "?id=" + job, api.admin()), "id");
        assertConflict(api.http.get("/jobs/slurm_job_id/999?slurm_job_id=77", prolog), "slurm_job_id");
        assertEquals(200, api.http.get("/jobs/" + job, api.admin()).status(), "the job is still there");
    }

    /** Every route with a path parameter: the same query parameter is refused before anything else. */
    @Test
    void everyRouteWithAPathParameterRefusesTheSameNameInTheQuery() {
        Routes routes = ApiRoutes.all(api.ds, api.auth);
        List<String> checked = new ArrayList<>();
        for (Routes.Route r : routes.all()) {
            Matcher m = PARAM.matcher(r.path());
            if (!m.find()) {
                continue;
            }
            String name = m.group(1);
            String path = PARAM.matcher(r.path()).replaceAll("1") + "?" + name + "=2";
            String body = r.method().equals("POST") || r.method().equals("PUT") ? "{}" : null;
            assertConflict(api.http.send(r.method(), path, api.admin(), body), name);
            checked.add(r.method() + " " + r.path());
        }
        assertTrue(checked.size() >= 10, "routes with path parameters: " + checked);
    }
}
