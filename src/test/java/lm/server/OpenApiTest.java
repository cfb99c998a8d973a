package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.ParseOptions;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import lm.http.Routes;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Keeps src/main/resources/lm/openapi.json true: the document served at /lm/openapi.json has
 * exactly the routes of {@link ApiRoutes}, names each route's permission, and every response the
 * real server gives (one call per route at least, errors included) is documented for that
 * operation and matches its schema property for property. swagger-parser reads it with no
 * message; what that parser does not check (a default outside its enum, type or range) is
 * checked here, and each declared default and sort field is sent to the server.
 */
class OpenApiTest {
    private static final Set<String> METHODS = Set.of("get", "put", "post", "delete", "patch", "head", "options", "trace");
    private static final String CLUSTER = "oa-cluster";

    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;
    static JsonObject doc;

    @BeforeAll
    static void start() {
        admin = api.admin();
        Res r = api.http.get("/openapi.json", null);
        assertEquals(200, r.status(), r::toString);
        doc = r.json().getAsJsonObject();
    }

    // ---------------------------------------------------------------- (a) the document itself

    @Test
    void documentIsServedWithoutTokenAsValidJson() throws Exception {
        Res r = api.http.get("/openapi.json", null);
        assertEquals(200, r.status(), r::toString);
        assertTrue(r.header("Content-Type").startsWith("application/json"), r.header("Content-Type"));
        JsonElement served = JsonParser.parseString(r.body()); // throws when not JSON
        assertTrue(served.isJsonObject());
        JsonObject o = served.getAsJsonObject();
        assertEquals("3.0.3", o.get("openapi").getAsString());
        assertEquals("/lm", o.getAsJsonArray("servers").get(0).getAsJsonObject().get("url").getAsString());
        assertTrue(o.getAsJsonObject("info").has("title") && o.getAsJsonObject("info").has("version"));
        assertEquals("http", o.getAsJsonObject("components").getAsJsonObject("securitySchemes")
                .getAsJsonObject("bearerAuth").get("type").getAsString());
        // the served text is the classpath resource, byte for byte
        assertEquals(ApiRoutes.resource("lm/openapi.json"), r.body());
    }

    @Test
    void everyReferenceResolves() {
        List<String> refs = new ArrayList<>();
        collectRefs(doc, refs);
        assertFalse(refs.isEmpty());
        for (String ref : refs) {
            assertNotNull(lookup(ref), "unresolved $ref " + ref);
        }
        for (String name : List.of("Configuration", "LicenseServer", "Product", "Feature", "Job", "Booking", "ClusterStatus",
                "AgentReport", "AgentPlan", "Error")) {
            assertNotNull(lookup("#/components/schemas/" + name), "missing component schema " + name);
        }
    }

    @Test
    void realOpenApiParserFindsNoProblem() {
        ParseOptions options = new ParseOptions();
        options.setResolve(true);
        SwaggerParseResult parsed = new OpenAPIV3Parser().readContents(ApiRoutes.resource("lm/openapi.json"), null, options);
        assertNotNull(parsed.getOpenAPI(), () -> "not parsed: " + parsed.getMessages());
        assertEquals(List.of(), parsed.getMessages());
        assertEquals(operations().size(), parsed.getOpenAPI().getPaths().values().stream()
                .mapToInt(item -> item.readOperations().size()).sum());
    }

    /** What swagger-parser does not check: a default outside its own schema (enum, type, range). */
    @Test
    void everyDefaultConformsToItsSchema() {
        List<String> problems = new ArrayList<>();
        defaults(doc, "#", problems);
        assertEquals(List.of(), problems);
        // the checker itself sees a default outside its enum
        JsonObject bad = JsonParser.parseString("{\"type\":\"string\",\"enum\":[\"name\"],\"default\":\"id\"}").getAsJsonObject();
        assertFalse(check(bad.get("default"), bad, false).isEmpty());
    }

    private static void defaults(JsonElement e, String at, List<String> problems) {
        if (e.isJsonObject()) {
            JsonObject o = e.getAsJsonObject();
            if (o.has("default") && (o.has("type") || o.has("enum") || o.has("$ref"))) {
                for (String p : check(o.get("default"), o, false)) {
                    problems.add(at + " default " + o.get("default") + ": " + p);
                }
            }
            for (Map.Entry<String, JsonElement> x : o.entrySet()) {
                defaults(x.getValue(), at + "/" + x.getKey(), problems);
            }
        } else if (e.isJsonArray()) {
            int i = 0;
            for (JsonElement x : e.getAsJsonArray()) {
                defaults(x, at + "/" + i++, problems);
            }
        }
    }

    /**
     * A client that sends what the document declares as a default gets what it would get
     * without it (2xx, same body); and every value of a documented sort_field enum is one the
     * server sorts by, while a value outside it is a 400.
     */
    @Test
    void declaredDefaultsAndSortFieldsWorkOnTheServer() {
        int calls = 0;
        for (Map.Entry<String, JsonObject> e : operations().entrySet()) {
            String path = e.getKey().substring(e.getKey().indexOf(' ') + 1);
            if (!e.getKey().startsWith("GET ") || path.contains("{")) {
                continue;
            }
            List<String> withDefaults = new ArrayList<>();
            for (JsonObject p : parameters(e.getValue())) {
                JsonObject schema = p.has("schema") ? resolve(p.getAsJsonObject("schema")) : new JsonObject();
                if (!p.get("in").getAsString().equals("query")) {
                    continue;
                }
                String name = p.get("name").getAsString();
                if (schema.has("default")) {
                    String q = name + "=" + schema.get("default").getAsString();
                    withDefaults.add(q);
                    assertEquals(JsonParser.parseString(api.http.get(path, admin).body()), call("GET", path + "?" + q, admin, null, 200),
                            e.getKey() + " with its declared default " + q);
                    calls++;
                }
                if (name.equals("sort_field")) {
                    for (JsonElement field : schema.getAsJsonArray("enum")) {
                        call("GET", path + "?sort_field=" + field.getAsString() + "&sort_ascending=false", admin, null, 200);
                        calls++;
                    }
                    errorBody(call("GET", path + "?sort_field=no_such_field", admin, null, 400));
                }
            }
            if (!withDefaults.isEmpty()) {
                call("GET", path + "?" + String.join("&", withDefaults), admin, null, 200);
            }
        }
        assertTrue(calls > 20, "calls " + calls);
    }

    // ---------------------------------------------------------------- (b) routes, both directions

    /** lm-server(8) ROUTES names every route and page tree of the server, and nothing else. */
    @Test
    void theManPageListsExactlyTheRoutesOfTheServer() throws Exception {
        Set<String> routes = new TreeSet<>();
        Routes all = ApiRoutes.all(api.ds, api.auth);
        for (Routes.Route r : all.all()) {
            routes.add(r.method() + " /lm" + r.path());
        }
        for (Routes.WebTree t : all.webTrees()) {
            routes.add("GET /lm" + t.prefix() + "/");
        }
        String page = java.nio.file.Files.readString(java.nio.file.Path.of("man/lm-server.8"));
        String section = page.substring(page.indexOf("\n.SH ROUTES"), page.indexOf("\n.SH ", page.indexOf("\n.SH ROUTES") + 1));
        Set<String> listed = new TreeSet<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^\\.B \"([A-Z]+ /lm\\S*)\"$").matcher(section);
        while (m.find()) {
            listed.add(m.group(1));
        }
        assertEquals(routes, listed, "lm-server(8) ROUTES vs the server's routes");
    }

    @Test
    void documentHasExactlyTheRoutesOfTheServer() {
        Set<String> routes = new TreeSet<>();
        for (Routes.Route r : ApiRoutes.all(api.ds, api.auth).all()) {
            routes.add(r.method() + " " + r.path());
        }
        Set<String> documented = new TreeSet<>(operations().keySet());
        Set<String> missing = new TreeSet<>(routes);
        missing.removeAll(documented);
        Set<String> extra = new TreeSet<>(documented);
        extra.removeAll(routes);
        assertTrue(missing.isEmpty(), "routes missing from openapi.json: " + missing);
        assertTrue(extra.isEmpty(), "openapi.json documents routes the server doesn't have: " + extra);
    }

    @Test
    void pathParametersMatchTemplates() {
        for (Map.Entry<String, JsonObject> e : operations().entrySet()) {
            String path = e.getKey().substring(e.getKey().indexOf(' ') + 1);
            Set<String> placeholders = new TreeSet<>();
            Matcher m = Pattern.compile("\\{([^}]+)}").matcher(path);
            while (m.find()) {
                placeholders.add(m.group(1));
            }
            Set<String> declared = new TreeSet<>();
            for (JsonObject p : parameters(e.getValue())) {
                if (p.get("in").getAsString().equals("path")) {
                    assertTrue(p.get("required").getAsBoolean(), e.getKey() + ": path parameter must be required");
                    declared.add(p.get("name").getAsString());
                }
            }
            assertEquals(placeholders, declared, e.getKey() + ": path parameters");
        }
    }

    // ---------------------------------------------------------------- (c) permissions and security

    @Test
    void permissionsAreDocumentedAndPublicRoutesNeedNoToken() {
        JsonArray global = doc.getAsJsonArray("security");
        for (Routes.Route r : ApiRoutes.all(api.ds, api.auth).all()) {
            String key = r.method() + " " + r.path();
            JsonObject op = operations().get(key);
            assertNotNull(op, key);
            String description = op.has("description") ? op.get("description").getAsString() : "";
            if (r.resource() == null) {
                assertTrue(op.has("security") && op.getAsJsonArray("security").isEmpty(), key + ": public route must have security: []");
            } else {
                String permission = "license-manager:" + r.resource() + ":" + r.action();
                assertTrue(description.contains(permission), key + ": description must name " + permission);
                JsonArray security = op.has("security") ? op.getAsJsonArray("security") : global;
                assertTrue(security != null && !security.isEmpty() && security.get(0).getAsJsonObject().has("bearerAuth"),
                        key + ": must require the bearer token");
                assertTrue(op.getAsJsonObject("responses").has("401") && op.getAsJsonObject("responses").has("403"),
                        key + ": must document 401 and 403");
            }
        }
    }

    // ---------------------------------------------------------------- request schemas

    @Test
    void requestBodiesRejectUnknownFields() {
        for (Map.Entry<String, JsonObject> e : operations().entrySet()) {
            JsonObject op = e.getValue();
            boolean write = e.getKey().startsWith("POST ") || e.getKey().startsWith("PUT ");
            if (!op.has("requestBody")) {
                continue;
            }
            assertTrue(write, e.getKey() + " has a request body");
            requireClosedObjects(requestSchema(op), e.getKey(), new java.util.HashSet<>());
        }
    }

    private static void requireClosedObjects(JsonObject schema, String where, Set<String> seen) {
        if (schema.has("$ref")) {
            String ref = schema.get("$ref").getAsString();
            if (seen.add(ref)) {
                requireClosedObjects(lookup(ref), where + " " + ref, seen);
            }
            return;
        }
        if (schema.has("properties") || "object".equals(str(schema, "type"))) {
            assertTrue(schema.has("additionalProperties") && !schema.get("additionalProperties").getAsBoolean(),
                    where + ": request objects must have additionalProperties: false");
            for (Map.Entry<String, JsonElement> p : schema.getAsJsonObject("properties").entrySet()) {
                requireClosedObjects(p.getValue().getAsJsonObject(), where + "." + p.getKey(), seen);
            }
        }
        if (schema.has("items")) {
            requireClosedObjects(schema.getAsJsonObject("items"), where + "[]", seen);
        }
        for (String k : List.of("oneOf", "anyOf", "allOf")) {
            if (schema.has(k)) {
                for (JsonElement alt : schema.getAsJsonArray(k)) {
                    requireClosedObjects(alt.getAsJsonObject(), where, seen);
                }
            }
        }
    }

    // ---------------------------------------------------------------- sort fields

    /** The server names its sortable fields in the 400 for an unknown one: they must be the enum. */
    @Test
    void sortFieldEnumsAreTheServersSortableFields() {
        int lists = 0;
        for (Map.Entry<String, JsonObject> e : operations().entrySet()) {
            for (JsonObject p : parameters(e.getValue())) {
                if (!p.get("name").getAsString().equals("sort_field")) {
                    continue;
                }
                lists++;
                Set<String> documented = new TreeSet<>();
                p.getAsJsonObject("schema").getAsJsonArray("enum").forEach(x -> documented.add(x.getAsString()));
                String path = e.getKey().substring(e.getKey().indexOf(' ') + 1);
                JsonObject err = call("GET", path + "?sort_field=no_such_field", admin, null, 400).getAsJsonObject();
                Matcher m = Pattern.compile("Must be one of \\[(.*)]").matcher(err.get("message").getAsString());
                assertTrue(m.find(), err.toString());
                Set<String> actual = new TreeSet<>(Arrays.asList(m.group(1).split(", ")));
                assertEquals(actual, documented, e.getKey() + ": sort_field enum");
                // each documented field sorts
                for (String f : documented) {
                    call("GET", path + "?sort_field=" + f + "&sort_ascending=false&limit=5&offset=0&search=x", admin, null, 200);
                }
            }
        }
        assertTrue(lists > 0);
        // a list (X-Total-Count) takes exactly the list parameters, and only lists take them
        for (Map.Entry<String, JsonObject> e : operations().entrySet()) {
            JsonObject ok = e.getValue().getAsJsonObject("responses").getAsJsonObject("200");
            boolean list = ok != null && resolve(ok).has("headers") && resolve(ok).getAsJsonObject("headers").has("X-Total-Count");
            Set<String> query = new TreeSet<>();
            for (JsonObject p : parameters(e.getValue())) {
                if (p.get("in").getAsString().equals("query")) {
                    query.add(p.get("name").getAsString());
                }
            }
            Set<String> listParams = Set.of("search", "sort_field", "sort_ascending", "limit", "offset");
            if (list) {
                // history lists (denials, job history) also take a time window, /jobs a pool, the users report its filters
                Set<String> extra = new TreeSet<>(query);
                extra.removeAll(listParams);
                assertTrue(query.containsAll(listParams) && Set.of("since", "until", "pool_id", "product_feature", "username").containsAll(extra),
                        e.getKey() + ": list query parameters " + query);
            } else {
                assertTrue(query.stream().noneMatch(listParams::contains), e.getKey() + ": list parameters on a non-list");
            }
        }
    }

    // ---------------------------------------------------------------- (d) real responses conform

    @Test
    void everyRouteAnswersAsDocumented() throws java.sql.SQLException {
        Set<String> covered = new TreeSet<>();
        String cl = api.token(CLUSTER, "license-manager:prolog-token:create", "license-manager:job:create", "license-manager:job:read", "license-manager:job:delete",
                "license-manager:feature:update", "license-manager:status:update", "license-manager:config:read");

        // public
        call(covered, "GET", "/health", null, null, 204);
        assertEquals(Set.of("version"), call(covered, "GET", "/version", null, null, 200).getAsJsonObject().keySet());
        call(covered, "GET", "/openapi.json", null, null, 200);
        call(covered, "GET", "/metrics", admin, null, 200);

        // inventory
        long product = id(call(covered, "POST", "/products", admin, "{\"name\":\"oaprod\"}", 201));
        long spare = id(call(covered, "POST", "/products", admin, "{\"name\":\"oaspare\"}", 201));
        JsonObject cfg = call(covered, "POST", "/configurations", admin, "{\"name\":\"oa\",\"cluster_client_id\":\"" + CLUSTER
                + "\",\"grace_time\":300,\"type\":\"flexlm\",\"outage_grace\":600,"
                + "\"license_servers\":[{\"host\":\"lic1.example\",\"port\":27000}],"
                + "\"features\":[{\"name\":\"solver\",\"product_id\":" + product + ",\"reserved\":0}]}", 201).getAsJsonObject();
        long config = cfg.get("id").getAsLong();
        assertEquals(1, cfg.getAsJsonArray("features").size());
        assertEquals(1, cfg.getAsJsonArray("license_servers").size());
        long server = id(call(covered, "POST", "/license_servers", admin,
                "{\"config_id\":" + config + ",\"host\":\"lic2.example\",\"port\":27001}", 201));
        long feature = id(call(covered, "POST", "/features", admin,
                "{\"name\":\"mesher\",\"product_id\":" + product + ",\"config_id\":" + config + ",\"reserved\":1}", 201));
        assertEquals(2, call(covered, "PUT", "/features/bulk", cl,
                "[{\"product_name\":\"oaprod\",\"feature_name\":\"solver\",\"total\":10,\"used\":0},"
                        + "{\"product_name\":\"oaprod\",\"feature_name\":\"mesher\",\"total\":5,\"used\":0}]", 200)
                .getAsJsonObject().get("updated").getAsInt());
        call(covered, "PUT", "/features/by_client_id", cl,
                "{\"product_name\":\"oaprod\",\"feature_name\":\"mesher\",\"total\":6,\"used\":1}", 200);

        // admission
        String jobBody = "{\"slurm_job_id\":4242,\"username\":\"alice\",\"lead_host\":\"node01\","
                + "\"bookings\":[{\"product_feature\":\"oaprod.solver\",\"quantity\":2}]}";
        JsonObject job = call(covered, "POST", "/jobs", cl, jobBody, 201).getAsJsonObject();
        long jobId = job.get("id").getAsLong();
        assertEquals(1, job.getAsJsonArray("bookings").size());
        assertEquals(jobId, id(call(covered, "POST", "/jobs", cl, jobBody, 200)), "a retried prolog gets the same job");
        JsonElement refused = call(covered, "POST", "/jobs", cl, "{\"slurm_job_id\":\"4243\",\"username\":\"alice\",\"lead_host\":\"node01\","
                + "\"bookings\":[{\"product_feature\":\"oaprod.solver\",\"quantity\":1000}]}", 409);
        assertEquals(List.of(), check(refused, ref("NotEnoughLicenses"), true));
        assertEquals(1, refused.getAsJsonObject().getAsJsonArray("detail").size());
        long booking = id(call(covered, "POST", "/bookings", admin,
                "{\"job_id\":" + jobId + ",\"feature_id\":" + feature + ",\"quantity\":1}", 201));

        // the agent
        call(covered, "POST", "/prolog_token", cl, null, 201);
        call(covered, "PUT", "/cluster_statuses?interval=60", cl, null, 202);
        String report = "{\"interval\":60,"
                + "\"features\":[{\"product_feature\":\"oaprod.solver\",\"total\":10,\"used\":1,\"queued\":0,"
                + "\"expires_at\":\"2031-12-31\",\"expiring\":10,"
                + "\"checkouts\":[{\"user\":\"bob\",\"host\":\"ws1\",\"quantity\":1}]}],\"failed\":[],"
                + "\"slurm\":{\"licenses\":[{\"license\":\"oaprod.solver@flexlm\",\"total\":10,\"used\":2}],"
                + "\"job_ids\":[4242,4250],\"nodes\":[\"node01\",\"node02\"],\"squeue_age_ms\":100,"
                + "\"pending\":[{\"job_id\":4250,\"account\":\"proj1\",\"license\":\"oaprod.solver@flexlm\",\"quantity\":2}]}}";
        JsonObject dry = call(covered, "POST", "/agent/report/dry_run", cl, report, 200).getAsJsonObject();
        JsonObject plan = call(covered, "POST", "/agent/report", cl, report, 200).getAsJsonObject();
        assertEquals(1, plan.getAsJsonArray("reservations").size(), plan::toString);
        assertEquals(dry, plan, "a dry run answers the plan the real report then applies");
        // offline operation: the budget, and a ledger replayed (a booking and its release)
        // a dry run's budget records no lease (the real one does)
        long leases = Long.parseLong(lm.db.Sql.text(api.ds, "SELECT count(*)::text FROM lm.budget_leases"));
        assertEquals(2, call(covered, "GET", "/budget/dry_run", cl, null, 200).getAsJsonObject().getAsJsonArray("licenses").size());
        assertEquals(leases, Long.parseLong(lm.db.Sql.text(api.ds, "SELECT count(*)::text FROM lm.budget_leases")));
        JsonObject budget = call(covered, "GET", "/budget", cl, null, 200).getAsJsonObject();
        assertEquals(2, budget.getAsJsonArray("licenses").size(), budget::toString);
        long t = java.time.Instant.now().getEpochSecond() - 60;
        JsonObject replayed = call(covered, "POST", "/agent/offline", cl, "{\"entries\":["
                + "{\"op\":\"book\",\"id\":\"" + t + ".1\",\"time\":" + t + ",\"bookings\":[{\"license\":\"oaprod.solver@flexlm\","
                + "\"product_feature\":\"oaprod.solver\",\"quantity\":1}],\"slurm_job_id\":\"4260\",\"username\":\"alice\",\"lead_host\":\"node01\"},"
                + "{\"op\":\"release\",\"id\":\"" + t + ".2\",\"time\":" + (t + 1) + ",\"slurm_job_id\":\"4260\"}]}", 200).getAsJsonObject();
        assertEquals(List.of("booked", "released"), replayed.getAsJsonArray("entries").asList().stream()
                .map(e -> e.getAsJsonObject().get("result").getAsString()).toList());

        // reads: single resources and lists (lists must not be empty, so their items are checked)
        JsonObject got = call(covered, "GET", "/configurations/" + config, admin, null, 200).getAsJsonObject();
        assertEquals(2, got.getAsJsonArray("features").size());
        assertEquals(2, got.getAsJsonArray("license_servers").size());
        nonEmpty(call(covered, "GET", "/configurations", admin, null, 200));
        nonEmpty(call(covered, "GET", "/configurations/by_client_id?limit=10", cl, null, 200));
        nonEmpty(call(covered, "GET", "/license_servers/types", admin, null, 200));
        call(covered, "GET", "/license_servers/" + server, admin, null, 200);
        nonEmpty(call(covered, "GET", "/license_servers", admin, null, 200));
        call(covered, "GET", "/products/" + product, admin, null, 200);
        nonEmpty(call(covered, "GET", "/products?search=oa&sort_field=name", admin, null, 200));
        JsonObject f = call(covered, "GET", "/features/" + feature, admin, null, 200).getAsJsonObject();
        assertEquals(product, f.getAsJsonObject("product").get("id").getAsLong());
        nonEmpty(call(covered, "GET", "/features", admin, null, 200));
        call(covered, "GET", "/cluster_statuses/" + CLUSTER, admin, null, 200);
        nonEmpty(call(covered, "GET", "/cluster_statuses", admin, null, 200));
        call(covered, "GET", "/jobs/" + jobId, admin, null, 200);
        call(covered, "GET", "/jobs/slurm_job_id/4242", cl, null, 200);
        nonEmpty(call(covered, "GET", "/jobs", admin, null, 200));
        // a pool's jobs (the dashboard's pool page): the job booking oaprod.solver (and mesher), none in a pool without bookings
        long solverPool = cfg.getAsJsonArray("features").get(0).getAsJsonObject().get("id").getAsLong();
        JsonArray inPool = call(covered, "GET", "/jobs?pool_id=" + solverPool, admin, null, 200).getAsJsonArray();
        assertEquals(List.of(jobId), inPool.asList().stream().map(OpenApiTest::id).toList());
        assertEquals(0, call(covered, "GET", "/jobs?pool_id=" + (feature + 1000), admin, null, 200).getAsJsonArray().size());
        errorBody(call(covered, "GET", "/jobs?pool_id=x", admin, null, 400));
        nonEmpty(call(covered, "GET", "/jobs/by_client_id", cl, null, 200));
        call(covered, "GET", "/bookings/" + booking, admin, null, 200);
        nonEmpty(call(covered, "GET", "/bookings?sort_field=created_at&sort_ascending=false", admin, null, 200));

        // shares: a project's share of a feature, and the pools' distribution
        long share = id(call(covered, "POST", "/project_shares", admin,
                "{\"feature_id\":" + feature + ",\"account\":\"proj1\",\"share\":2,\"max_use\":5}", 201));
        nonEmpty(call(covered, "GET", "/project_shares?search=proj", admin, null, 200));
        call(covered, "GET", "/project_shares/" + share, admin, null, 200);
        assertTrue(call(covered, "PUT", "/project_shares/" + share, admin, "{\"share\":3,\"max_use\":null}", 200)
                .getAsJsonObject().get("max_use").isJsonNull());
        nonEmpty(call(covered, "GET", "/pools", admin, null, 200));
        long pool = cfg.getAsJsonArray("features").get(0).getAsJsonObject().get("id").getAsLong();
        assertFalse(call(covered, "GET", "/pools/" + pool, admin, null, 200).getAsJsonObject().getAsJsonArray("owners").isEmpty());
        call(covered, "DELETE", "/project_shares/" + share, admin, null, 200);

        // usage history: checkouts now and the reports over the rollups (empty here: no agent report)
        call(covered, "GET", "/checkouts?sort_field=username", admin, null, 200);
        call(covered, "GET", "/reports/usage?since=2026-11-01&until=2026-11-08T00:00:00Z&by=day", admin, null, 200);
        call(covered, "GET", "/reports/users?since=2026-11-01", admin, null, 200);

        // updates
        call(covered, "PUT", "/configurations/" + config, admin, "{\"grace_time\":301,\"name\":null}", 200);
        call(covered, "PUT", "/license_servers/" + server, admin, "{\"port\":27002}", 200);
        call(covered, "PUT", "/products/" + spare, admin, "{\"name\":\"oaspare2\"}", 200);
        call(covered, "PUT", "/features/" + feature, admin, "{\"reserved\":0,\"total\":7,\"share\":2,\"max_use\":null,\"expires_at\":\"2031-06-30\"}", 200);
        nonEmpty(call(covered, "GET", "/reports/expiry?within_days=36500", admin, null, 200)); // the expiry just set

        // errors: each documented for its operation, each exactly {code, message, detail}
        errorBody(call(covered, "GET", "/products", null, null, 401));
        errorBody(call(covered, "GET", "/products", api.token(CLUSTER), null, 403));
        errorBody(call(covered, "POST", "/jobs", cl, "{\"slurm_job_id\":\"1\",\"cluster_client_id\":\"other\","
                + "\"username\":\"a\",\"lead_host\":\"h\"}", 403));
        errorBody(call(covered, "GET", "/products/999999999", admin, null, 404));
        errorBody(call(covered, "GET", "/jobs/slurm_job_id/999999", cl, null, 404));
        errorBody(call(covered, "POST", "/products", admin, "{\"name\":\"x\",\"bogus\":1}", 400));
        errorBody(call(covered, "POST", "/products", admin, "{\"name\":", 400));
        errorBody(call(covered, "GET", "/products?limit=0", admin, null, 400));
        errorBody(call(covered, "GET", "/reports/usage?by=week", admin, null, 422));
        errorBody(call(covered, "GET", "/reports/usage?product_feature=no.such", admin, null, 404));
        errorBody(call(covered, "PUT", "/cluster_statuses", cl, null, 400));
        errorBody(call(covered, "POST", "/license_servers", admin, "{\"config_id\":" + config + ",\"host\":\"h\",\"port\":0}", 422));
        errorBody(call(covered, "POST", "/products", admin, "{\"name\":\"oaprod\"}", 409));
        errorBody(call(covered, "DELETE", "/products/" + product, admin, null, 409));
        errorBody(call(covered, "POST", "/agent/report", cl, "{\"failed\":[\"nope.nothing\"]}", 404));
        errorBody(call(covered, "POST", "/agent/offline", cl, "{\"entries\":{}}", 400));

        // deletes
        call(covered, "DELETE", "/bookings/" + booking, admin, null, 200);
        call(covered, "DELETE", "/jobs/slurm_job_id/4242", cl, null, 200);
        errorBody(call(covered, "DELETE", "/jobs/slurm_job_id/4242", cl, null, 404));
        errorBody(call(covered, "POST", "/jobs", cl, "{\"slurm_job_id\":\"4244\",\"username\":\"bob\",\"lead_host\":\"node02\",\"bookings\":[]}", 422));
        long other = id(call(covered, "POST", "/jobs", cl, "{\"slurm_job_id\":\"4244\",\"username\":\"bob\",\"lead_host\":\"node02\","
                + "\"bookings\":[{\"product_feature\":\"oaprod.solver\",\"quantity\":1}]}", 201));
        call(covered, "DELETE", "/jobs/" + other, admin, null, 200);
        call(covered, "POST", "/jobs", cl, "{\"slurm_job_id\":\"4245\",\"username\":\"bob\",\"lead_host\":\"node02\","
                + "\"bookings\":[{\"product_feature\":\"oaprod.mesher\",\"quantity\":1}]}", 201);
        // a refusal: a denial (GET /denials below)
        errorBody(call(covered, "POST", "/jobs", cl, "{\"slurm_job_id\":\"4246\",\"username\":\"bob\",\"lead_host\":\"node02\","
                + "\"bookings\":[{\"product_feature\":\"oaprod.solver\",\"quantity\":100000}]}", 409));
        // a feature active bookings depend on: 409 naming them, unless force
        errorBody(call(covered, "DELETE", "/features/" + feature, admin, null, 409));
        errorBody(call(covered, "DELETE", "/features/" + feature + "?force=yes", admin, null, 400));
        assertEquals(1, call(covered, "DELETE", "/features/" + feature + "?force=true", admin, null, 200).getAsJsonObject()
                .get("released_bookings").getAsLong());
        call(covered, "DELETE", "/license_servers/" + server, admin, null, 200);
        call(covered, "DELETE", "/products/" + spare, admin, null, 200);
        call(covered, "DELETE", "/configurations/" + config, admin, null, 200);
        call(covered, "DELETE", "/products/" + product, admin, null, 200);

        // the audit trail of all the above
        JsonElement audit = call(covered, "GET", "/audit?search=oaprod&sort_field=at&sort_ascending=false", admin, null, 200);
        nonEmpty(audit);
        call(covered, "GET", "/audit/" + id(audit.getAsJsonArray().get(0)), admin, null, 200);

        // history: job 4244 ended (forced), job 4246 refused
        JsonElement denials = call(covered, "GET", "/denials?search=oaprod&sort_field=last_at&since=2000-01-01T00:00:00Z", admin, null, 200);
        nonEmpty(denials);
        call(covered, "GET", "/denials/" + id(denials.getAsJsonArray().get(0)), admin, null, 200);
        JsonElement ended = call(covered, "GET", "/job_history?search=4244&sort_field=released_at&until=2999-01-01T00:00:00Z", admin, null, 200);
        nonEmpty(ended);
        call(covered, "GET", "/job_history/" + id(ended.getAsJsonArray().get(0)), admin, null, 200);

        Set<String> notCovered = new TreeSet<>(operations().keySet());
        notCovered.removeAll(covered);
        assertTrue(notCovered.isEmpty(), "operations this test never saw succeed (add a call): " + notCovered);
    }

    private static void nonEmpty(JsonElement list) {
        assertTrue(list.isJsonArray() && !list.getAsJsonArray().isEmpty(), "expected a non-empty list: " + list);
    }

    private static void errorBody(JsonElement e) {
        assertEquals(Set.of("code", "message", "detail"), e.getAsJsonObject().keySet(), e::toString);
    }

    private static long id(JsonElement e) {
        return e.getAsJsonObject().get("id").getAsLong();
    }

    // ---------------------------------------------------------------- calling an operation

    private static JsonElement call(String method, String path, String token, String body, int expected) {
        return call(new TreeSet<>(), method, path, token, body, expected);
    }

    /**
     * Sends the request and checks it against the operation the document has for it: a 2xx
     * request's body and query parameters are the documented ones; the status is documented;
     * the body matches that response's schema exactly (or is empty when none is documented);
     * X-Total-Count is there exactly when documented.
     */
    private static JsonElement call(Set<String> covered, String method, String path, String token, String body, int expected) {
        String key = operationFor(method, path);
        JsonObject op = operations().get(key);
        String where = method + " " + path;
        String query = path.contains("?") ? path.substring(path.indexOf('?') + 1) : "";
        boolean success = expected / 100 == 2;
        if (success) {
            Set<String> declared = new TreeSet<>();
            for (JsonObject p : parameters(op)) {
                if (p.get("in").getAsString().equals("query")) {
                    declared.add(p.get("name").getAsString());
                    if (p.has("required") && p.get("required").getAsBoolean()) {
                        assertTrue(("&" + query).contains("&" + p.get("name").getAsString() + "="), where + ": required query parameter missing");
                    }
                }
            }
            for (String kv : query.isEmpty() ? new String[0] : query.split("&")) {
                assertTrue(declared.contains(kv.split("=")[0]), where + ": undocumented query parameter " + kv);
            }
            if (body != null) {
                assertTrue(op.has("requestBody"), where + ": body sent, none documented");
                assertEquals(List.of(), check(JsonParser.parseString(body), requestSchema(op), false), where + ": request body vs schema");
            }
        }
        Res r = api.http.send(method, path, token, body);
        assertEquals(expected, r.status(), () -> where + ": " + r);
        JsonObject responses = op.getAsJsonObject("responses");
        assertTrue(responses.has(Integer.toString(r.status())), where + ": status " + r.status() + " is not documented for " + key);
        JsonObject response = resolve(responses.getAsJsonObject(Integer.toString(r.status())));
        boolean totalDocumented = response.has("headers") && response.getAsJsonObject("headers").has("X-Total-Count");
        String total = r.header("X-Total-Count");
        assertEquals(totalDocumented, total != null, where + ": X-Total-Count documented vs sent");
        if (total != null) {
            assertTrue(total.matches("[0-9]+"), total);
        }
        JsonElement json = null;
        if (response.has("content") && response.getAsJsonObject("content").has("text/plain")) {
            // GET /metrics: Prometheus' text format (MetricsTest checks it with promtool)
            assertTrue(r.header("Content-Type") != null && r.header("Content-Type").startsWith("text/plain"), where);
        } else if (response.has("content")) {
            JsonObject media = response.getAsJsonObject("content").getAsJsonObject("application/json");
            assertNotNull(media, where + ": documented content must be application/json");
            assertTrue(r.header("Content-Type") != null && r.header("Content-Type").startsWith("application/json"), where);
            json = JsonParser.parseString(r.body());
            assertEquals(List.of(), check(json, media.getAsJsonObject("schema"), true), where + ": response vs schema, body " + r.body());
        } else {
            assertEquals("", r.body(), where + ": no body documented");
        }
        if (success) {
            covered.add(key);
        }
        return json;
    }

    /** The template the server would route the path to: literal segments win over parameters. */
    private static String operationFor(String method, String path) {
        String bare = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
        String best = null;
        int bestParams = Integer.MAX_VALUE;
        for (String key : operations().keySet()) {
            if (!key.startsWith(method + " ")) {
                continue;
            }
            String template = key.substring(method.length() + 1);
            int params = template.length() - template.replace("{", "").length();
            String re = Arrays.stream(template.split("/", -1))
                    .map(seg -> seg.startsWith("{") && seg.endsWith("}") ? "[^/]+" : Pattern.quote(seg))
                    .collect(Collectors.joining("/"));
            if (bare.matches(re) && params < bestParams) {
                best = key;
                bestParams = params;
            }
        }
        assertNotNull(best, "no documented operation for " + method + " " + path);
        return best;
    }

    // ---------------------------------------------------------------- the document, walked

    /** "METHOD /path" → operation object. */
    private static Map<String, JsonObject> operations() {
        Map<String, JsonObject> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> p : doc.getAsJsonObject("paths").entrySet()) {
            for (Map.Entry<String, JsonElement> m : p.getValue().getAsJsonObject().entrySet()) {
                if (METHODS.contains(m.getKey())) {
                    out.put(m.getKey().toUpperCase(java.util.Locale.ROOT) + " " + p.getKey(), m.getValue().getAsJsonObject());
                }
            }
        }
        return out;
    }

    private static List<JsonObject> parameters(JsonObject op) {
        List<JsonObject> out = new ArrayList<>();
        if (op.has("parameters")) {
            for (JsonElement p : op.getAsJsonArray("parameters")) {
                out.add(resolve(p.getAsJsonObject()));
            }
        }
        return out;
    }

    private static JsonObject requestSchema(JsonObject op) {
        return resolve(op.getAsJsonObject("requestBody")).getAsJsonObject("content").getAsJsonObject("application/json")
                .getAsJsonObject("schema");
    }

    private static JsonObject ref(String schema) {
        JsonObject o = new JsonObject();
        o.addProperty("$ref", "#/components/schemas/" + schema);
        return o;
    }

    private static JsonObject lookup(String ref) {
        if (!ref.startsWith("#/")) {
            return null;
        }
        JsonElement at = doc;
        for (String part : ref.substring(2).split("/")) {
            if (at == null || !at.isJsonObject()) {
                return null;
            }
            at = at.getAsJsonObject().get(part.replace("~1", "/").replace("~0", "~"));
        }
        return at != null && at.isJsonObject() ? at.getAsJsonObject() : null;
    }

    private static JsonObject resolve(JsonObject o) {
        int hops = 0;
        while (o.has("$ref")) {
            String ref = o.get("$ref").getAsString();
            o = lookup(ref);
            assertNotNull(o, "unresolved $ref " + ref);
            assertTrue(++hops < 20, "$ref loop at " + ref);
        }
        return o;
    }

    private static void collectRefs(JsonElement e, List<String> out) {
        if (e.isJsonObject()) {
            for (Map.Entry<String, JsonElement> x : e.getAsJsonObject().entrySet()) {
                if (x.getKey().equals("$ref")) {
                    out.add(x.getValue().getAsString());
                } else {
                    collectRefs(x.getValue(), out);
                }
            }
        } else if (e.isJsonArray()) {
            e.getAsJsonArray().forEach(x -> collectRefs(x, out));
        }
    }

    private static String str(JsonObject o, String k) {
        return o.has(k) && o.get(k).isJsonPrimitive() ? o.get(k).getAsString() : null;
    }

    // ---------------------------------------------------------------- the schema checker

    /**
     * The problems of {@code v} against {@code schema} (empty: it conforms). Handles $ref,
     * oneOf/anyOf, nullable, type (integer, number, string, boolean, array, object), enum,
     * pattern, minimum/maximum and date-time. Objects: in a response every documented property
     * must be there and nothing else; in a request the required ones must be there and, with
     * additionalProperties false, nothing undocumented.
     */
    static List<String> check(JsonElement v, JsonObject schema, boolean response) {
        List<String> problems = new ArrayList<>();
        check(v, schema, response, "$", problems);
        return problems;
    }

    private static void check(JsonElement v, JsonObject schema, boolean response, String at, List<String> problems) {
        schema = resolve(schema);
        for (String combinator : List.of("oneOf", "anyOf")) {
            if (schema.has(combinator)) {
                int matches = 0;
                List<String> why = new ArrayList<>();
                for (JsonElement alt : schema.getAsJsonArray(combinator)) {
                    List<String> p = new ArrayList<>();
                    check(v, alt.getAsJsonObject(), response, at, p);
                    if (p.isEmpty()) {
                        matches++;
                    }
                    why.addAll(p);
                }
                if (matches == 0 || (combinator.equals("oneOf") && matches > 1)) {
                    problems.add(at + ": " + matches + " alternatives of " + combinator + " match " + why);
                }
                return;
            }
        }
        if (v == null || v.isJsonNull()) {
            if (schema.has("type") && !(schema.has("nullable") && schema.get("nullable").getAsBoolean())) {
                problems.add(at + ": null, but not nullable");
            }
            return;
        }
        String type = str(schema, "type");
        if (type == null) {
            return; // any JSON
        }
        switch (type) {
            case "integer", "number" -> {
                if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
                    problems.add(at + ": expected " + type + ", got " + v);
                    return;
                }
                BigDecimal n = new BigDecimal(v.getAsString());
                if (type.equals("integer") && n.signum() != 0 && n.stripTrailingZeros().scale() > 0) {
                    problems.add(at + ": expected integer, got " + v);
                }
                if (schema.has("minimum") && n.compareTo(schema.get("minimum").getAsBigDecimal()) < 0) {
                    problems.add(at + ": " + v + " below minimum " + schema.get("minimum"));
                }
                if (schema.has("maximum") && n.compareTo(schema.get("maximum").getAsBigDecimal()) > 0) {
                    problems.add(at + ": " + v + " above maximum " + schema.get("maximum"));
                }
            }
            case "string" -> {
                if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                    problems.add(at + ": expected string, got " + v);
                    return;
                }
                String s = v.getAsString();
                if (schema.has("pattern") && !Pattern.compile(schema.get("pattern").getAsString()).matcher(s).find()) {
                    problems.add(at + ": '" + s + "' doesn't match " + schema.get("pattern"));
                }
                if ("date".equals(str(schema, "format"))) {
                    try {
                        LocalDate.parse(s);
                    } catch (DateTimeParseException e) {
                        problems.add(at + ": '" + s + "' is not a date");
                    }
                }
                if ("date-time".equals(str(schema, "format"))) {
                    try {
                        OffsetDateTime.parse(s);
                    } catch (DateTimeParseException e) {
                        problems.add(at + ": '" + s + "' is not a date-time");
                    }
                }
            }
            case "boolean" -> {
                if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isBoolean()) {
                    problems.add(at + ": expected boolean, got " + v);
                }
            }
            case "array" -> {
                if (!v.isJsonArray()) {
                    problems.add(at + ": expected array, got " + v);
                    return;
                }
                int i = 0;
                for (JsonElement x : v.getAsJsonArray()) {
                    check(x, schema.getAsJsonObject("items"), response, at + "[" + i++ + "]", problems);
                }
            }
            case "object" -> {
                if (!v.isJsonObject()) {
                    problems.add(at + ": expected object, got " + v);
                    return;
                }
                if (!schema.has("properties")) {
                    return; // a free-form object
                }
                JsonObject props = schema.getAsJsonObject("properties");
                Set<String> actual = v.getAsJsonObject().keySet();
                Set<String> documented = props.keySet();
                Set<String> required = new TreeSet<>();
                if (schema.has("required")) {
                    schema.getAsJsonArray("required").forEach(x -> required.add(x.getAsString()));
                }
                Set<String> mustHave = response ? documented : required;
                for (String k : mustHave) {
                    if (!actual.contains(k)) {
                        problems.add(at + ": missing property '" + k + "'");
                    }
                }
                boolean closed = response || (schema.has("additionalProperties") && !schema.get("additionalProperties").getAsBoolean());
                for (String k : actual) {
                    if (!documented.contains(k)) {
                        if (closed) {
                            problems.add(at + ": undocumented property '" + k + "'");
                        }
                    } else {
                        check(v.getAsJsonObject().get(k), props.getAsJsonObject(k), response, at + "." + k, problems);
                    }
                }
            }
            default -> problems.add(at + ": schema type '" + type + "' unknown to this checker");
        }
        if (schema.has("enum") && !v.isJsonNull()) {
            boolean found = false;
            for (JsonElement x : schema.getAsJsonArray("enum")) {
                found |= x.equals(v);
            }
            if (!found) {
                problems.add(at + ": " + v + " not in enum " + schema.get("enum"));
            }
        }
    }

    /** The checker itself must catch what it claims to: a quick self-test. */
    @Test
    void checkerCatchesMismatches() {
        JsonObject product = ref("Product");
        assertEquals(List.of(), check(JsonParser.parseString("{\"id\":1,\"name\":\"a\"}"), product, true));
        assertFalse(check(JsonParser.parseString("{\"id\":1}"), product, true).isEmpty(), "missing property");
        assertFalse(check(JsonParser.parseString("{\"id\":1,\"name\":\"a\",\"x\":2}"), product, true).isEmpty(), "extra property");
        assertFalse(check(JsonParser.parseString("{\"id\":\"1\",\"name\":\"a\"}"), product, true).isEmpty(), "wrong type");
        assertFalse(check(JsonParser.parseString("{\"id\":1.5,\"name\":\"a\"}"), product, true).isEmpty(), "not integral");
        assertFalse(check(JsonParser.parseString("{\"id\":1,\"name\":null}"), product, true).isEmpty(), "not nullable");
        JsonObject feature = ref("Feature");
        JsonObject f = JsonParser.parseString("{\"id\":1,\"name\":\"a\",\"product\":{\"id\":1,\"name\":\"p\",\"extra\":0},\"config_id\":1,"
                + "\"reserved\":0,\"total\":0,\"used\":0,\"booked_total\":0}").getAsJsonObject();
        assertFalse(check(f, feature, true).isEmpty(), "nested extra property");
        JsonObject error = ref("Error");
        assertEquals(List.of(), check(JsonParser.parseString("{\"code\":\"c\",\"message\":\"m\",\"detail\":null}"), error, true));
        assertEquals(List.of(), check(JsonParser.parseString("{\"code\":\"c\",\"message\":\"m\",\"detail\":[1]}"), error, true));
        assertFalse(check(JsonParser.parseString("{\"code\":\"c\",\"message\":\"m\"}"), error, true).isEmpty());
        JsonObject create = ref("ProductCreate");
        assertFalse(check(JsonParser.parseString("{\"name\":\"a\",\"nam\":\"b\"}"), create, false).isEmpty(), "request extra");
        assertFalse(check(JsonParser.parseString("{}"), create, false).isEmpty(), "request required");
        assertEquals(List.of(), check(JsonParser.parseString("{}"), ref("ProductUpdate"), false));
        assertEquals(List.of(), check(new JsonPrimitive(1), resolve(ref("JobCreate")).getAsJsonObject("properties")
                .getAsJsonObject("slurm_job_id"), false));
        assertFalse(check(new JsonPrimitive(true), resolve(ref("JobCreate")).getAsJsonObject("properties")
                .getAsJsonObject("slurm_job_id"), false).isEmpty());
    }
}
