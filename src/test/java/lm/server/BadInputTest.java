package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import lm.db.Sql;
import lm.http.Routes;
import lm.testing.Http;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every write route of the route table gets malformed and hostile bodies (seeded, so a failure
 * replays): the answer is always a 4xx with {code, message, detail} in words (no PostgreSQL
 * text), never a 500, and a refused request changes no table.
 */
class BadInputTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;
    static final Set<Integer> CLIENT_ERRORS = Set.of(400, 403, 404, 409, 413, 422);

    @BeforeAll
    static void start() {
        // the admin token's cluster owns one configuration, so cluster-scoped routes get past lookup
        admin = api.token("fuzz", "license-manager:admin");
        api.http.post("/products", admin, "{\"name\":\"fz\"}");
        api.http.post("/configurations", admin, "{\"name\":\"fz\",\"cluster_client_id\":\"fuzz\",\"type\":\"flexlm\","
                + "\"license_servers\":[{\"host\":\"fz\",\"port\":1}],\"features\":[{\"name\":\"f\",\"product_id\":1}]}");
    }

    static final List<String> VALUES = List.of("null", "true", "-1", "0", "1.5", "1e309", "-9223372036854775809",
            "99999999999999999999999", "\"\"", "\" \"", "\"\\u0000\"", "\"a\\u0000b\"", "\"" + "x".repeat(5000) + "\"",
            "\"\\ud800\"", "\"💥\"", "\"'; DROP TABLE lm.products; --\"", "[]", "{}", "[1,2]", "{\"a\":{}}");

    /** A plausible body for each write route, from which the hostile ones are made. */
    static String validBody(String method, String path) {
        return switch (path) {
            case "/configurations", "/configurations/{id}" -> "{\"name\":\"n\",\"cluster_client_id\":\"fuzz\",\"grace_time\":60,\"type\":\"flexlm\","
                    + "\"license_servers\":[{\"host\":\"h\",\"port\":2}],\"features\":[{\"name\":\"g\",\"product_id\":1,\"reserved\":0}]}";
            case "/license_servers", "/license_servers/{id}" -> "{\"config_id\":1,\"host\":\"h2\",\"port\":27000}";
            case "/products", "/products/{id}" -> "{\"name\":\"p\"}";
            case "/features", "/features/{id}" -> "{\"name\":\"x\",\"product_id\":1,\"config_id\":1,\"reserved\":0}";
            case "/features/bulk" -> "[{\"product_name\":\"fz\",\"feature_name\":\"f\",\"total\":10,\"used\":1}]";
            case "/features/by_client_id" -> "{\"product_name\":\"fz\",\"feature_name\":\"f\",\"total\":10,\"used\":1}";
            case "/jobs" -> "{\"slurm_job_id\":\"7\",\"username\":\"u\",\"lead_host\":\"h\",\"bookings\":[{\"product_feature\":\"fz.f\",\"quantity\":1}]}";
            case "/bookings" -> "{\"job_id\":1,\"feature_id\":1,\"quantity\":1}";
            case "/agent/report", "/agent/report/dry_run" -> "{\"interval\":60,\"features\":[{\"product_feature\":\"fz.f\",\"total\":10,\"used\":1,"
                    + "\"checkouts\":[{\"user\":\"u\",\"host\":\"h\",\"quantity\":1}]}],\"failed\":[],"
                    + "\"slurm\":{\"licenses\":[{\"license\":\"fz.f@flexlm\",\"total\":10,\"used\":0}],\"job_ids\":[1],\"nodes\":[\"h\"],\"squeue_age_ms\":5}}";
            default -> "{}";
        };
    }

    /** Replaces one value somewhere in the JSON tree with a hostile one. */
    static String mutate(String body, Random rnd) {
        JsonElement root = JsonParser.parseString(body);
        List<JsonObject> objects = new ArrayList<>();
        collect(root, objects);
        JsonObject target = objects.get(rnd.nextInt(objects.size()));
        List<String> keys = new ArrayList<>(target.keySet());
        String key = keys.isEmpty() || rnd.nextInt(8) == 0 ? "unexpected" : keys.get(rnd.nextInt(keys.size()));
        target.add(key, JsonParser.parseString(VALUES.get(rnd.nextInt(VALUES.size())).replace("\\u0000", "\\\\u0000")
                .replace("\\\\u0000", "\\u0000")));
        return root.toString();
    }

    static void collect(JsonElement e, List<JsonObject> out) {
        if (e.isJsonObject()) {
            out.add(e.getAsJsonObject());
            e.getAsJsonObject().entrySet().forEach(x -> collect(x.getValue(), out));
        } else if (e.isJsonArray()) {
            e.getAsJsonArray().forEach(x -> collect(x, out));
        }
    }

    static String counts() {
        try {
            return Sql.text(api.ds, "SELECT concat_ws(',', (SELECT count(*) FROM lm.configurations), (SELECT count(*) FROM lm.license_servers),"
                    + " (SELECT count(*) FROM lm.products), (SELECT count(*) FROM lm.features), (SELECT count(*) FROM lm.jobs),"
                    + " (SELECT count(*) FROM lm.bookings), (SELECT sum(total + used) FROM lm.features))");
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void hostileBodiesAreClientErrorsAndWriteNothing() {
        Random rnd = new Random(20261122);
        Routes routes = ApiRoutes.all(api.ds, api.auth);
        int sent = 0;
        for (Routes.Route r : routes.all()) {
            if (!r.method().equals("POST") && !r.method().equals("PUT")) {
                continue;
            }
            String path = r.path().replace("{id}", "1").replace("{slurm_job_id}", "1").replace("{cluster_client_id}", "fuzz");
            if (path.equals("/cluster_statuses")) {
                path += "?interval=60";
            }
            List<String> bodies = new ArrayList<>(List.of("", "null", "[]", "{", "{\"a\":", "\"text\"", "42", "{}", "\u0000",
                    "{\"name\":\"\u0000\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"));
            for (int i = 0; i < 60; i++) {
                bodies.add(mutate(validBody(r.method(), r.path()), rnd));
            }
            for (String body : bodies) {
                String before = counts();
                Http.Res res = api.http.send(r.method(), path, admin, body);
                sent++;
                if (res.status() >= 200 && res.status() < 300) {
                    continue; // a mutation that is still valid (e.g. a new name) may well succeed
                }
                assertTrue(CLIENT_ERRORS.contains(res.status()), r.method() + " " + path + " " + body + " -> " + res);
                JsonObject err = res.json().getAsJsonObject();
                assertEquals(Set.of("code", "message", "detail"), err.keySet(), res::toString);
                assertNull(SqlErrorsTest.rawText(res), r.method() + " " + path + " " + body);
                assertEquals(before, counts(), "a refused request wrote something: " + r.method() + " " + path + " " + body);
            }
        }
        assertTrue(sent > 500, "sent " + sent);
    }

    @Test
    void hostilePathsAndQueries() {
        for (String path : List.of("/products/99999999999999999999999", "/products/-1", "/products/0x10", "/products/%00",
                "/jobs/slurm_job_id/%00", "/cluster_statuses/%00", "/products?limit=1e3", "/products?offset=-0",
                "/products?search=%00", "/products?sort_field=name;drop", "/features?sort_ascending=", "/jobs?search=%25%5F%5C")) {
            Http.Res res = api.http.get(path, admin);
            assertTrue(res.status() == 200 || CLIENT_ERRORS.contains(res.status()), path + " -> " + res);
            assertNull(SqlErrorsTest.rawText(res), path);
        }
        Http.Res s = api.http.put("/cluster_statuses?interval=99999999999", admin, null);
        assertTrue(CLIENT_ERRORS.contains(s.status()), s::toString);
        assertNull(SqlErrorsTest.rawText(s));
    }

    /**
     * Issue 20 case 7: a token signed with the server's own key whose exp is 1e30 was a 500 with
     * a stack trace. Over HTTP it is a 401 {code, message, detail} naming the claim.
     */
    @Test
    void aTokenWithExpBeyondAnyDateIs401() throws Exception {
        org.jose4j.jwt.JwtClaims c = lm.auth.TestTokens.claims("lm-local", System.currentTimeMillis() / 1000);
        c.setClaim("exp", 1e30);
        String token = lm.auth.TestTokens.sign(c, lm.auth.TestTokens.localKey(api.keys));
        Http.Res r = api.http.get("/jobs", token);
        assertEquals(401, r.status(), r.toString());
        JsonObject o = r.json().getAsJsonObject();
        assertEquals("unauthorized", o.get("code").getAsString());
        assertEquals("malformed token: exp is not a time in seconds since 1970 (before year 10000)", o.get("message").getAsString());
        assertEquals("Bearer", r.header("WWW-Authenticate"));
    }
}
