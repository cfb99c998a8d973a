package lm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** bin/lm-cli against a real lm-server: every resource command, both outputs, the exit codes. */
class CliTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;
    static String url;

    @TempDir
    Path home;
    Cli cli;

    @BeforeAll
    static void start() {
        admin = api.admin();
        url = "http://127.0.0.1:" + api.port() + "/lm";
    }

    @BeforeEach
    void setUp() {
        cli = new Cli(home).env("LM_API_URL", url).env("LM_TOKEN", admin);
    }

    private Cli.Result ok(String... args) throws Exception {
        Cli.Result r = cli.run(args);
        assertEquals(0, r.exit(), () -> String.join(" ", args) + "\n" + r);
        assertEquals("", r.err(), r::toString);
        return r;
    }

    private Cli.Result fails(int exit, String... args) throws Exception {
        Cli.Result r = cli.run(args);
        assertEquals(exit, r.exit(), () -> String.join(" ", args) + "\n" + r);
        assertEquals("", r.out(), r::toString);
        assertTrue(r.err().startsWith("lm-cli: ") || exit == 2, r::toString);
        return r;
    }

    private static JsonElement apiGet(String path) {
        Res r = api.http.get(path, admin);
        assertEquals(200, r.status(), r::toString);
        return r.json();
    }

    private static long id(Cli.Result r) {
        return r.json().getAsJsonObject().get("id").getAsLong();
    }

    /** The data lines of a table (after the header and its rule, before the caption). */
    private static List<List<String>> rows(String table) {
        List<List<String>> out = new ArrayList<>();
        String[] lines = table.split("\n");
        for (int i = 2; i < lines.length; i++) {
            if (lines[i].startsWith("Total items:")) {
                break;
            }
            out.add(List.of(lines[i].strip().split("\\s{2,}")));
        }
        return out;
    }

    private static long caption(String table) {
        Matcher m = Pattern.compile("(?m)^Total items: (\\d+)$").matcher(table);
        assertTrue(m.find(), table);
        return Long.parseLong(m.group(1));
    }

    @Test
    void productsCreateGetUpdateListDelete() throws Exception {
        Cli.Result created = ok("products", "create", "--name", "cliprod", "--json");
        long p = id(created);
        assertEquals(apiGet("/products/" + p), created.json());
        assertEquals("cliprod", created.json().getAsJsonObject().get("name").getAsString());

        Cli.Result one = ok("products", "get-one", "--id", Long.toString(p), "--json");
        assertEquals(apiGet("/products/" + p), one.json());
        Cli.Result human = ok("products", "get-one", "--id", Long.toString(p));
        assertTrue(human.out().matches("(?s)id\\s+" + p + "\nname\\s+cliprod\n"), human.out());

        Cli.Result updated = ok("--json", "products", "update", "--id", Long.toString(p), "--name", "cliprod2");
        assertEquals("cliprod2", updated.json().getAsJsonObject().get("name").getAsString());
        assertEquals("cliprod2", apiGet("/products/" + p).getAsJsonObject().get("name").getAsString());

        Cli.Result table = ok("products", "list", "--search", "cliprod2");
        assertTrue(table.out().matches("(?s) *id  name\n-+  -+\n.*"), table.out());
        assertEquals(List.of(List.of(Long.toString(p), "cliprod2")), rows(table.out()));
        assertEquals(1, caption(table.out()));

        Cli.Result deleted = ok("products", "delete", "--id", Long.toString(p));
        assertEquals("product " + p + " deleted\n", deleted.out());
        assertEquals(404, api.http.get("/products/" + p, admin).status());
        Cli.Result gone = fails(1, "products", "get-one", "--id", Long.toString(p));
        assertEquals("lm-cli: 404 not_found: product " + p + " not found\n", gone.err());
    }

    @Test
    void configurationsWithNestedServersAndFeatures() throws Exception {
        long p = id(ok("products", "create", "--name", "cliconfprod", "--json"));
        Cli.Result created = ok("configurations", "create", "--json", "--name", "cliconf", "--cluster-client-id", "cli-cluster",
                "--grace-time", "120", "--license-server-type", "flexlm", "--license-server", "flex1.example.org:27000",
                "--license-server", "flex2.example.org:27001", "--feature", "solver:" + p + ":2", "--feature", "pre:" + p);
        JsonObject c = created.json().getAsJsonObject();
        long id = c.get("id").getAsLong();
        assertEquals(apiGet("/configurations/" + id), c);
        assertEquals(120, c.get("grace_time").getAsLong());
        assertEquals("flexlm", c.get("type").getAsString());
        assertEquals(3600, c.get("outage_grace").getAsLong(), "server default");
        JsonArray servers = c.getAsJsonArray("license_servers");
        assertEquals(2, servers.size());
        assertEquals("flex1.example.org", servers.get(0).getAsJsonObject().get("host").getAsString());
        assertEquals(27001, servers.get(1).getAsJsonObject().get("port").getAsInt());
        JsonArray features = c.getAsJsonArray("features");
        assertEquals(2, features.size());
        JsonObject solver = features.get(0).getAsJsonObject().get("name").getAsString().equals("solver")
                ? features.get(0).getAsJsonObject() : features.get(1).getAsJsonObject();
        assertEquals(2, solver.get("reserved").getAsLong());

        Cli.Result shown = ok("configurations", "get-one", "--id", Long.toString(id));
        assertTrue(shown.out().contains("cluster_client_id  cli-cluster\n"), shown.out());
        assertTrue(shown.out().contains("license_servers    flex1.example.org:27000,flex2.example.org:27001\n"), shown.out());
        assertTrue(shown.out().contains("\nLicense servers:\nid"), shown.out());
        assertTrue(shown.out().contains("flex2.example.org  27001\n"), shown.out());
        assertTrue(shown.out().contains("\nFeatures:\nid"), shown.out());
        assertTrue(shown.out().contains("cliconfprod  solver"), shown.out());

        Cli.Result updated = ok("configurations", "update", "--json", "--id", Long.toString(id), "--outage-grace", "600",
                "--name", "cliconf-renamed");
        assertEquals(600, updated.json().getAsJsonObject().get("outage_grace").getAsLong());
        assertEquals(120, updated.json().getAsJsonObject().get("grace_time").getAsLong(), "unchanged");
        assertEquals(apiGet("/configurations/" + id), updated.json());

        Cli.Result table = ok("configurations", "list", "--search", "cliconf-renamed");
        List<List<String>> rows = rows(table.out());
        assertEquals(1, rows.size(), table.out());
        assertEquals(List.of(Long.toString(id), "cliconf-renamed", "cli-cluster", "flexlm", "120", "600"), rows.get(0).subList(0, 6));
        assertTrue(rows.get(0).get(7).contains("cliconfprod.solver"), table.out());
        assertEquals(1, caption(table.out()));

        assertEquals("configuration " + id + " deleted\n", ok("configurations", "delete", "--id", Long.toString(id)).out());
        assertEquals(404, api.http.get("/configurations/" + id, admin).status());
        assertEquals(0, apiGet("/features?search=cliconfprod").getAsJsonArray().size(), "features went with it");
    }

    @Test
    void licenseServersCreateGetUpdateListDelete() throws Exception {
        long c = id(ok("configurations", "create", "--json", "--name", "clils", "--cluster-client-id", "cli-ls",
                "--grace-time", "60", "--license-server-type", "rlm"));
        Cli.Result created = ok("license-servers", "create", "--json", "--config-id", Long.toString(c), "--host", "rlm.cli.test",
                "--port", "5053");
        long s = id(created);
        assertEquals(apiGet("/license_servers/" + s), created.json());
        assertEquals(apiGet("/license_servers/" + s), ok("license-servers", "get-one", "--id", Long.toString(s), "--json").json());

        Cli.Result updated = ok("license-servers", "update", "--id", Long.toString(s), "--port", "5054");
        assertTrue(updated.out().contains("port       5054\n"), updated.out());
        assertEquals(5054, apiGet("/license_servers/" + s).getAsJsonObject().get("port").getAsInt());

        Cli.Result table = ok("license-servers", "list", "--search", "rlm.cli.test");
        assertEquals(List.of(List.of(Long.toString(s), Long.toString(c), "rlm.cli.test", "5054")), rows(table.out()));
        assertEquals(1, caption(table.out()));
        Cli.Result json = ok("license-servers", "list", "--search", "rlm.cli.test", "--json");
        assertEquals(apiGet("/license_servers?search=rlm.cli.test"), json.json());

        ok("license-servers", "delete", "--id", Long.toString(s));
        assertEquals(404, api.http.get("/license_servers/" + s, admin).status());
    }

    @Test
    void projectSharesAndPools() throws Exception {
        long p = id(ok("products", "create", "--name", "clishareprod", "--json"));
        long c = id(ok("configurations", "create", "--json", "--name", "clishare", "--cluster-client-id", "cli-share",
                "--grace-time", "600", "--license-server-type", "flexlm", "--license-server", "flex.cli-share:27000"));
        long f = id(ok("features", "create", "--json", "--name", "solver", "--product-id", Long.toString(p),
                "--config-id", Long.toString(c), "--share", "3", "--max-use", "8"));
        assertEquals(8, apiGet("/features/" + f).getAsJsonObject().get("max_use").getAsLong());
        ok("features", "update", "--id", Long.toString(f), "--max-use", "none");
        assertTrue(apiGet("/features/" + f).getAsJsonObject().get("max_use").isJsonNull(), "none lifts the limit");
        assertTrue(fails(2, "features", "update", "--id", Long.toString(f), "--max-use", "lots").err().contains("not a number or none"));

        long s = id(ok("project-shares", "create", "--json", "--feature-id", Long.toString(f), "--account", "chem", "--share", "2",
                "--max-use", "4"));
        Cli.Result list = ok("project-shares", "list", "--search", "chem");
        assertTrue(list.out().matches("(?s) *id  feature_id  cluster_client_id  account  share  max_use\n.*"), list.out());
        assertEquals(List.of(Long.toString(s), Long.toString(f), "cli-share", "chem", "2", "4"), rows(list.out()).get(0));
        ok("project-shares", "update", "--id", Long.toString(s), "--max-use", "none");
        assertTrue(apiGet("/project_shares/" + s).getAsJsonObject().get("max_use").isJsonNull());

        Cli.Result pools = ok("pools", "list", "--search", "clishareprod");
        assertEquals(Long.toString(f), rows(pools.out()).get(0).get(0), pools.out());
        Cli.Result show = ok("pools", "show", "--id", Long.toString(f));
        assertTrue(show.out().contains("Owners:") && show.out().contains("cli-share") && show.out().contains("chem"), show.out());
        assertEquals("project share " + s + " deleted\n", ok("project-shares", "delete", "--id", Long.toString(s)).out());
    }

    @Test
    void featuresWithAvailableColumn() throws Exception {
        long p = id(ok("products", "create", "--name", "clifeatprod", "--json"));
        long c = id(ok("configurations", "create", "--json", "--name", "clifeat", "--cluster-client-id", "cli-feat",
                "--grace-time", "600", "--license-server-type", "flexlm", "--license-server", "flex.cli-feat:27000"));
        Cli.Result created = ok("features", "create", "--json", "--name", "solver", "--product-id", Long.toString(p),
                "--config-id", Long.toString(c), "--reserved", "2");
        long f = id(created);
        assertEquals(apiGet("/features/" + f), created.json());
        long g = id(ok("features", "create", "--json", "--name", "mesher", "--product-id", Long.toString(p),
                "--config-id", Long.toString(c)));
        assertEquals(0, apiGet("/features/" + g).getAsJsonObject().get("reserved").getAsLong(), "server default");
        assertEquals(3, id(ok("features", "update", "--json", "--id", Long.toString(g), "--reserved", "3")) == g
                ? apiGet("/features/" + g).getAsJsonObject().get("reserved").getAsLong() : -1);

        // the agent reports the counts, a job books 2 of solver
        String agent = api.token("cli-feat", "license-manager:feature:update", "license-manager:job:create");
        Res report = api.http.put("/features/bulk", agent, "[{\"product_name\":\"clifeatprod\",\"feature_name\":\"solver\",\"total\":10,\"used\":3,\"expires_at\":\"2027-03-31\"},"
                + "{\"product_name\":\"clifeatprod\",\"feature_name\":\"mesher\",\"total\":5,\"used\":4}]");
        assertEquals(200, report.status(), report::toString);
        Res job = api.http.post("/jobs", agent, "{\"slurm_job_id\":\"7001\",\"username\":\"alice\",\"lead_host\":\"node01\","
                + "\"bookings\":[{\"product_feature\":\"clifeatprod.solver\",\"quantity\":2}]}");
        assertEquals(201, job.status(), job::toString);

        Cli.Result table = ok("features", "list", "--search", "clifeatprod", "--sort-field", "name");
        assertTrue(table.out().matches("(?s) *id  product      name    config_id  total  used  reserved  booked_total  share  max_use  available  expires_at\n.*"),
                table.out());
        List<List<String>> rows = rows(table.out());
        // mesher: 5 - 4 - 3 - 0 = -2, shown as it is (outside usage past what was free); solver: 10 - 3 - 2 - 2 = 3
        assertEquals(List.of(Long.toString(g), "clifeatprod", "mesher", Long.toString(c), "5", "4", "3", "0", "1", "none", "-2"), rows.get(0));
        assertEquals(List.of(Long.toString(f), "clifeatprod", "solver", Long.toString(c), "10", "3", "2", "2", "1", "none", "3", "2027-03-31"), rows.get(1));
        assertEquals(2, caption(table.out()));

        Cli.Result one = ok("features", "get-one", "--id", Long.toString(f));
        assertTrue(one.out().contains("\navailable     3\n"), one.out());
        assertTrue(one.out().contains("\nexpires_at    2027-03-31\n"), one.out());
        assertEquals(apiGet("/features/" + f), ok("features", "get-one", "--id", Long.toString(f), "--json").json());

        assertEquals("feature " + g + " deleted\n", ok("features", "delete", "--id", Long.toString(g)).out());
        assertEquals(404, api.http.get("/features/" + g, admin).status());
        // solver has job 7001's booking: refused, naming it, unless --force
        assertTrue(fails(1, "features", "delete", "--id", Long.toString(f)).err().contains("7001"));
        assertEquals("feature " + f + " deleted, 1 booking(s) released\n", ok("features", "delete", "--id", Long.toString(f), "--force").out());
    }

    @Test
    void jobsAndBookingsList() throws Exception {
        long p = id(ok("products", "create", "--name", "clijobprod", "--json"));
        ok("configurations", "create", "--json", "--name", "clijob", "--cluster-client-id", "cli-job", "--grace-time", "600",
                "--license-server-type", "flexlm", "--license-server", "flex.cli-job:27000", "--feature", "cad:" + p);
        String agent = api.token("cli-job", "license-manager:feature:update", "license-manager:job:create");
        assertEquals(200, api.http.put("/features/bulk", agent,
                "[{\"product_name\":\"clijobprod\",\"feature_name\":\"cad\",\"total\":20,\"used\":0}]").status());
        Res job = api.http.post("/jobs", agent, "{\"slurm_job_id\":\"8123\",\"username\":\"bob\",\"lead_host\":\"node07\","
                + "\"bookings\":[{\"product_feature\":\"clijobprod.cad\",\"quantity\":4}]}");
        assertEquals(201, job.status(), job::toString);
        long jobId = job.json().getAsJsonObject().get("id").getAsLong();

        Cli.Result jobs = ok("jobs", "list", "--search", "node07");
        List<List<String>> rows = rows(jobs.out());
        assertEquals(1, rows.size(), jobs.out());
        assertEquals(List.of(Long.toString(jobId), "8123", "cli-job", "bob", "node07"), rows.get(0).subList(0, 5));
        assertTrue(rows.get(0).get(6).endsWith("x4"), jobs.out());
        assertEquals(1, caption(jobs.out()));
        assertEquals(apiGet("/jobs?search=node07"), ok("jobs", "list", "--search", "node07", "--json").json());
        assertEquals(apiGet("/jobs/" + jobId), ok("jobs", "get-one", "--id", Long.toString(jobId), "--json").json());

        JsonArray all = apiGet("/bookings?sort_field=id&sort_ascending=false&limit=1").getAsJsonArray();
        JsonObject booking = all.get(0).getAsJsonObject();
        assertEquals(jobId, booking.get("job_id").getAsLong());
        Cli.Result bookings = ok("bookings", "list", "--sort-field", "id", "--sort-order", "descending", "--limit", "1");
        List<List<String>> brows = rows(bookings.out());
        assertEquals(1, brows.size(), bookings.out());
        assertEquals(List.of(booking.get("id").getAsString(), Long.toString(jobId), booking.get("feature_id").getAsString(), "4", "true"),
                brows.get(0).subList(0, 5));
        assertEquals(Long.parseLong(api.http.get("/bookings", admin).header("X-Total-Count")), caption(bookings.out()));
        assertEquals(all, ok("bookings", "list", "--json", "--sort-field", "id", "--sort-order", "descending", "--limit", "1").json());
        assertEquals(apiGet("/bookings/" + booking.get("id").getAsLong()),
                ok("bookings", "get-one", "--id", booking.get("id").getAsString(), "--json").json());
        // read only: no create, update or delete
        assertEquals(2, cli.run("jobs", "delete", "--id", Long.toString(jobId)).exit());
        assertEquals(2, cli.run("bookings", "create").exit());
    }

    /**
     * Issue 20, case 7: a user name holding escape sequences (stored through the API, as any
     * prolog could) reaches the terminal escaped, in tables, single records and messages; --json
     * stays JSON with the same value.
     */
    @Test
    void controlCharactersFromTheServerAreEscapedNotRunByTheTerminal() throws Exception {
        // ESC sequences (colour, clear screen, a title), BEL, CR, DEL, a C1 CSI and a bidi override
        String user = "ev\u001b[31mil\u001b[2J\u001b]0;pwned\u0007\r\u007f\u009b1m\u202etxt.exe";
        long p = id(ok("products", "create", "--name", "cliescprod", "--json"));
        ok("configurations", "create", "--json", "--name", "cliesc", "--cluster-client-id", "cli-esc", "--grace-time", "600",
                "--license-server-type", "flexlm", "--license-server", "flex.cli-esc:27000", "--feature", "cad:" + p);
        String agent = api.token("cli-esc", "license-manager:feature:update", "license-manager:job:create");
        assertEquals(200, api.http.put("/features/bulk", agent,
                "[{\"product_name\":\"cliescprod\",\"feature_name\":\"cad\",\"total\":20,\"used\":0}]").status());
        Res job = api.http.post("/jobs", agent, "{\"slurm_job_id\":\"9001\",\"username\":" + lm.http.Json.GSON.toJson(user)
                + ",\"lead_host\":\"n\\u001b[0m1\",\"bookings\":[{\"product_feature\":\"cliescprod.cad\",\"quantity\":1}]}");
        assertEquals(201, job.status(), job::toString);
        String id = job.json().getAsJsonObject().get("id").getAsString();
        // a UTF-8 terminal, so that C1 and bidi characters could reach it as they are
        cli.env("LANG", "C.UTF-8");
        String shown = "ev\\u001b[31mil\\u001b[2J\\u001b]0;pwned\\u0007\\u000d\\u007f\\u009b1m\\u202etxt.exe";
        for (Cli.Result r : List.of(ok("jobs", "list", "--search", "cli-esc"), ok("jobs", "get-one", "--id", id))) {
            assertEquals(List.of(), unsafe(r.out()), r.out());
            assertTrue(r.out().contains(shown), r.out());
            assertTrue(r.out().contains("n\\u001b[0m1"), r.out());
        }
        // the table's columns still line up: the escaped cell is as wide as it is shown
        List<List<String>> rows = rows(ok("jobs", "list", "--search", "cli-esc").out());
        assertEquals(List.of(id, "9001", "cli-esc", shown, "n\\u001b[0m1"), rows.get(0).subList(0, 5));

        Cli.Result json = ok("jobs", "get-one", "--id", id, "--json");
        assertEquals(List.of(), unsafe(json.out()), json.out());
        assertEquals(user, json.json().getAsJsonObject().get("username").getAsString(), "the same value, in JSON's escapes");
        assertEquals(apiGet("/jobs/" + id), json.json());

        // a message of the server that quotes a value: escaped on stderr too
        Cli.Result refused = fails(1, "jobs", "list", "--sort-field", "x\u001b[31m\u009by");
        assertEquals(List.of(), unsafe(refused.err()), refused.err());
        assertTrue(refused.err().contains("x\\u001b[31m\\u009by"), refused.err());
    }

    /** The characters of {@code s} a terminal would act on (a line feed aside). */
    private static List<String> unsafe(String s) {
        List<String> out = new ArrayList<>();
        s.chars().filter(c -> c != '\n' && (c < 0x20 || c >= 0x7f && c <= 0x9f || c >= 0x202a && c <= 0x202e || c >= 0x2066 && c <= 0x2069))
                .forEach(c -> out.add(String.format("U+%04X", c)));
        return out;
    }

    @Test
    void reportDenialsAndJobHistory() throws Exception {
        // two denials, one of them old; one ended job (written as the SQL would, R__history.sql)
        lm.db.Sql.text(api.ds, "INSERT INTO lm.denial_log (cluster_client_id, slurm_job_id, username, account, product_feature, requested,"
                + " available, reason, first_at, last_at, count) VALUES"
                + " ('clirep', '11', 'alice', 'proj,x', 'clirepp.f', 2, 1, 'pool', now() - interval '1 hour', now() - interval '1 minute', 3),"
                + " ('clirep', '12', 'bob', NULL, 'clirepp.f', 1, 0, 'share', now() - interval '30 days', now() - interval '20 days', 1)"
                + " RETURNING 1");
        lm.db.Sql.text(api.ds, "INSERT INTO lm.ended_jobs (job_id, cluster_client_id, slurm_job_id, username, lead_host, bookings, booked_at,"
                + " released_at, reason) VALUES (1, 'clirep', '11', 'alice', 'n1', '[{\"product_feature\":\"clirepp.f\",\"quantity\":2,"
                + "\"booked_at\":null,\"expires_at\":null,\"released_at\":null,\"released_reason\":\"grace\",\"offline\":false}]',"
                + " now() - interval '2 hours', now() - interval '1 hour', 'epilog') RETURNING 1");

        Cli.Result week = ok("report", "denials", "--since", "7d", "--search", "clirep");
        List<List<String>> rows = rows(week.out());
        assertEquals(1, rows.size(), week::toString);
        assertTrue(rows.get(0).containsAll(List.of("clirep", "11", "alice", "clirepp.f", "2", "1", "pool", "3")), week::toString);
        assertEquals(2, rows(ok("report", "denials", "--since", "4w", "--search", "clirep").out()).size());
        assertEquals(2, rows(ok("report", "denials", "--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z", "--search", "clirep").out()).size());
        assertEquals(List.of("12"), rows(ok("report", "denials", "--since", "60d", "--until", "10d", "--search", "clirep").out()).stream().map(r -> r.get(2)).toList());

        Cli.Result csv = ok("report", "denials", "--since", "7d", "--search", "clirep", "--csv");
        String[] lines = csv.out().split("\r\n");
        assertEquals(2, lines.length, csv::toString);
        assertTrue(lines[0].startsWith("last_at,cluster_client_id,slurm_job_id,username,account,product_feature,requested,available,reason,count"), csv::toString);
        assertTrue(lines[1].contains(",clirep,11,alice,\"proj,x\",clirepp.f,2,1,pool,3,"), csv::toString);

        JsonArray json = ok("report", "denials", "--since", "7d", "--search", "clirep", "--json").json().getAsJsonArray();
        assertEquals(1, json.size());
        assertEquals(3, json.get(0).getAsJsonObject().get("count").getAsLong());

        assertEquals(2, cli.run("report", "denials", "--since", "last tuesday").exit());

        Cli.Result hist = ok("job-history", "list", "--search", "clirep");
        assertEquals(1, caption(hist.out()), hist::toString);
        assertTrue(hist.out().contains("clirepp.f x2 (grace)"), hist::toString);
        assertTrue(hist.out().contains("epilog"), hist::toString);
    }

    @Test
    void auditListAndGetOne() throws Exception {
        long p = id(ok("products", "create", "--name", "cliaud", "--json"));
        ok("products", "update", "--id", Long.toString(p), "--name", "cliaud2");

        Cli.Result table = ok("audit", "list", "--search", "cliaud", "--sort-order", "descending");
        List<List<String>> rows = rows(table.out());
        assertEquals(2, rows.size(), table.out());
        List<String> update = rows.get(0);
        assertEquals(List.of("admin-cluster", "admin-cluster", "PUT /lm/products/" + p, "products", "UPDATE", Long.toString(p),
                "name: \"cliaud\" -> \"cliaud2\""), update.subList(2, 9), table.out());
        assertEquals("INSERT", rows.get(1).get(6));
        assertTrue(rows.get(1).get(8).contains("\"name\":\"cliaud\""), table.out());
        assertEquals(apiGet("/audit?search=cliaud"), ok("audit", "list", "--search", "cliaud", "--json").json());
        assertEquals(apiGet("/audit/" + update.get(0)), ok("audit", "get-one", "--id", update.get(0), "--json").json());
        // read only, and only for admins
        assertEquals(2, cli.run("audit", "delete", "--id", update.get(0)).exit());
        assertEquals(4, cli.env("LM_TOKEN", api.token("c", "license-manager:product:read")).run("audit", "list").exit());
    }

    @Test
    void listSortLimitOffsetAndSearch() throws Exception {
        for (String n : List.of("clisort-a", "clisort-b", "clisort-c", "clisort-d")) {
            ok("products", "create", "--name", n);
        }
        String q = "/products?search=clisort&sort_field=name&sort_ascending=false&limit=2&offset=1";
        Cli.Result json = ok("products", "list", "--search", "clisort", "--sort-field", "name", "--sort-order", "descending",
                "--limit", "2", "--offset", "1", "--json");
        assertEquals(apiGet(q), json.json());
        Cli.Result table = ok("products", "list", "--search", "clisort", "--sort-field", "name", "--sort-order", "descending",
                "--limit", "2", "--offset", "1");
        List<List<String>> rows = rows(table.out());
        assertEquals(List.of("clisort-c", "clisort-b"), List.of(rows.get(0).get(1), rows.get(1).get(1)));
        assertEquals(4, caption(table.out()), "the total counts every match, not the page");
        // search terms are OR-ed
        assertEquals(2, caption(ok("products", "list", "--search", "clisort-a clisort-d").out()));
        // a sort field the API doesn't know: its 400, exit 1
        Cli.Result bad = fails(1, "products", "list", "--sort-field", "nope");
        assertTrue(bad.err().startsWith("lm-cli: 400 bad_request: Invalid sorting column requested: nope."), bad.err());
    }

    @Test
    void apiRefusalsExitOne() throws Exception {
        ok("products", "create", "--name", "cliconflict");
        Cli.Result dup = fails(1, "products", "create", "--name", "cliconflict");
        assertTrue(dup.err().startsWith("lm-cli: 409 conflict: "), dup.err());
        assertEquals(1, dup.err().split("\n").length, "one line");

        Cli.Result bad = fails(1, "products", "create", "--name", "has.dot");
        assertTrue(bad.err().startsWith("lm-cli: 422 unprocessable: "), bad.err());

        long c = id(ok("configurations", "create", "--json", "--name", "cli422", "--cluster-client-id", "cli-422",
                "--license-server-type", "lmx"));
        Cli.Result port = fails(1, "license-servers", "create", "--config-id", Long.toString(c), "--host", "h", "--port", "70000");
        assertTrue(port.err().startsWith("lm-cli: 422 unprocessable: "), port.err());
        Cli.Result ref = fails(1, "features", "create", "--name", "f", "--product-id", "999999", "--config-id", Long.toString(c));
        assertTrue(ref.err().startsWith("lm-cli: 422 unknown_reference: "), ref.err());
        assertTrue(ref.err().contains("("), "with the API's detail: " + ref.err());

        assertEquals("lm-cli: 404 not_found: feature 999999 not found\n",
                fails(1, "features", "update", "--id", "999999", "--reserved", "1").err());
        fails(1, "license-servers", "delete", "--id", "999999");
    }

    @Test
    void usageErrorsExitTwo() throws Exception {
        assertEquals(2, cli.run("products", "create").exit(), "missing --name");
        assertEquals(2, cli.run("products", "list", "--bogus").exit());
        assertEquals(2, cli.run("products", "get-one", "--id", "abc").exit());
        assertEquals(2, cli.run("products", "get-one").exit());
        assertEquals(2, cli.run("products", "list", "--sort-order", "sideways").exit());
        assertEquals(2, cli.run("nonsense").exit());
        assertEquals(2, cli.run().exit(), "a command is required");
        assertEquals(2, cli.run("products").exit());
        Cli.Result server = cli.run("configurations", "create", "--name", "x", "--cluster-client-id", "x",
                "--license-server-type", "flexlm", "--license-server", "no-port");
        assertEquals(2, server.exit(), server::toString);
        assertTrue(server.err().contains("'no-port' is not HOST:PORT"), server.err());
        Cli.Result feature = cli.run("configurations", "create", "--name", "x", "--cluster-client-id", "x",
                "--license-server-type", "flexlm", "--feature", "solver:abc");
        assertEquals(2, feature.exit(), feature::toString);
        Cli.Result nothing = cli.run("products", "update", "--id", "1");
        assertEquals(2, nothing.exit(), nothing::toString);
        assertTrue(nothing.err().contains("nothing to update: give at least one of --name"), nothing.err());

        Path conf = home.resolve("bad.conf");
        Files.writeString(conf, "timeout = soon\n");
        Cli.Result badConf = cli.run("--config", conf.toString(), "products", "list");
        assertEquals(2, badConf.exit(), badConf::toString);
        assertTrue(badConf.err().contains("timeout (LM_TIMEOUT) = 'soon'"), badConf.err());
        Files.writeString(conf, "colour = blue\n");
        assertTrue(cli.run("products", "list", "--config", conf.toString()).err().contains("unknown key 'colour'"));

        Cli.Result help = cli.run("products", "list", "--help");
        assertEquals(0, help.exit());
        assertTrue(help.out().contains("--sort-field=FIELD"), help.out());
        assertTrue(help.out().contains("Exit status:"), help.out());
        assertTrue(help.out().contains("  4   authentication"), help.out());
    }

    @Test
    void unreachableServerExitsThree() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Cli.Result refused = fails(3, "products", "list", "--api-url", "http://127.0.0.1:" + closed + "/lm");
        assertEquals("lm-cli: cannot reach http://127.0.0.1:" + closed + "/lm: connection refused\n", refused.err());
        assertEquals(3, cli.run("products", "list", "--api-url", "http://lm.invalid/lm").exit(), "unknown host");

        // accepts the connection and never answers: the timeout (1 s here) ends it
        try (ServerSocket silent = new ServerSocket(0)) {
            Thread acceptor = new Thread(() -> {
                List<Socket> held = new ArrayList<>();
                try {
                    while (true) {
                        held.add(silent.accept());
                    }
                } catch (IOException e) {
                    // closed by the test
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            long t0 = System.nanoTime();
            Cli.Result timeout = cli.env("LM_TIMEOUT", "1").run("products", "list", "--api-url",
                    "http://127.0.0.1:" + silent.getLocalPort() + "/lm");
            assertEquals(3, timeout.exit(), timeout::toString);
            assertTrue(timeout.err().contains("no answer within 1 s"), timeout.err());
            assertTrue(System.nanoTime() - t0 < 30_000_000_000L);
        }
    }

    @Test
    void authFailuresExitFour() throws Exception {
        cli.env("LM_TOKEN", null);
        Cli.Result none = fails(4, "products", "list");
        assertEquals("lm-cli: no token: run 'lm-cli login', set LM_TOKEN or pass --token-file FILE\n", none.err());

        Cli.Result invalid = cli.env("LM_TOKEN", "not.a.token").run("products", "list");
        assertEquals(4, invalid.exit(), invalid::toString);
        assertTrue(invalid.err().startsWith("lm-cli: 401 unauthorized: "), invalid.err());

        String reader = api.token("cli-reader", "license-manager:product:read");
        cli.env("LM_TOKEN", reader);
        ok("products", "list");
        Cli.Result forbidden = fails(4, "products", "create", "--name", "cliforbidden");
        assertEquals("lm-cli: 403 forbidden: missing permission license-manager:product:create\n", forbidden.err());

        Path missing = home.resolve("no-such-token");
        Cli.Result noFile = fails(4, "products", "list", "--token-file", missing.toString());
        assertTrue(noFile.err().contains("cannot read token file " + missing), noFile.err());
    }

    @Test
    void aTokenFileEveryoneCanReadIsRefusedWithTheModeToSet() throws Exception {
        // what `lm-server token ... > FILE` made under a umask of 022 (issue 20, case 3)
        Path file = home.resolve("shared.token");
        Files.writeString(file, admin + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        Cli.Result shared = fails(4, "products", "list", "--token-file", file.toString());
        assertTrue(shared.err().contains("token file " + file + " is readable by every user (mode rw-r--r--)"), shared.err());
        assertTrue(shared.err().contains("chmod 600 " + file), shared.err());
        assertEquals("", shared.out());
        // a group's (0640) is the site's choice
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r-----"));
        ok("products", "list", "--token-file", file.toString());
    }

    @Test
    void tokenSourcesInOrder() throws Exception {
        // --token-file beats LM_TOKEN, which beats the stored login
        Path file = home.resolve("admin.token");
        Files.writeString(file, admin + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        cli.env("LM_TOKEN", "not.a.token");
        assertEquals(4, cli.run("products", "list").exit());
        ok("products", "list", "--token-file", file.toString());
        Files.writeString(file, "{\"access_token\":\"" + admin + "\"}");
        ok("products", "list", "--token-file", file.toString());

        Path store = home.resolve(".local/share/lm/token.json");
        Files.createDirectories(store.getParent());
        Files.writeString(store, "{\"access_token\":\"" + admin + "\"}");
        assertEquals(4, cli.run("products", "list").exit(), "LM_TOKEN first");
        cli.env("LM_TOKEN", null);
        ok("products", "list");
        assertEquals(admin + "\n", ok("show-token").out());
        Cli.Result decoded = ok("show-token", "--decode");
        assertTrue(decoded.out().contains("\"azp\": \"admin-cluster\""), decoded.out());
        assertTrue(decoded.out().contains("license-manager:admin"), decoded.out());
        assertTrue(decoded.out().matches("(?s).*\nExpires \\S+ \\(in \\d+ min\\)\n"), decoded.out());
    }

    @Test
    void configFilesAndEnvironment() throws Exception {
        cli.env("LM_API_URL", null);
        // user config under XDG_CONFIG_HOME
        Path xdg = home.resolve("xdg-config");
        Files.createDirectories(xdg.resolve("lm"));
        Files.writeString(xdg.resolve("lm/cli.conf"), "# mine\napi_url = " + url + "\ntimeout = 5\n");
        cli.env("XDG_CONFIG_HOME", xdg.toString());
        ok("products", "list");
        // the environment wins over the file, --api-url over both
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        cli.env("LM_API_URL", "http://127.0.0.1:" + closed + "/lm");
        assertEquals(3, cli.run("products", "list").exit());
        ok("products", "list", "--api-url", url);
        // ~/.config when XDG_CONFIG_HOME is unset; --config replaces it
        cli.env("XDG_CONFIG_HOME", null).env("LM_API_URL", null);
        Files.createDirectories(home.resolve(".config/lm"));
        Files.writeString(home.resolve(".config/lm/cli.conf"), "api_url = \"" + url + "/\"\n");
        ok("products", "list");
        Path other = home.resolve("other.conf");
        Files.writeString(other, "api_url = http://127.0.0.1:" + closed + "/lm\n");
        assertEquals(3, cli.run("--config", other.toString(), "products", "list").exit());
    }

    @Test
    void shippedConfigListsEveryKeyAtItsDefault() throws IOException {
        String conf = Files.readString(Cli.PROJECT.resolve("etc/lm/cli.conf"));
        for (String key : CliSettings.KEYS) {
            assertTrue(conf.contains("\n#" + key + " ="), key);
        }
        // parsed as shipped: only comments, so the defaults
        CliSettings s = CliSettings.load(Cli.PROJECT.resolve("etc/lm/cli.conf"), java.util.Map.of());
        assertEquals(CliSettings.DEFAULT_API_URL, s.apiUrl());
        assertEquals("lm-cli", s.clientId());
        assertEquals(10, s.timeout().toSeconds());
        assertFalse(conf.lines().anyMatch(l -> !l.isEmpty() && !l.startsWith("#")), "every key commented out");
        try (InputStream in = Files.newInputStream(Cli.SCRIPT)) {
            assertTrue(new String(in.readAllBytes()).startsWith("#!/bin/sh\n"));
        }
    }

    @Test
    void reportsAndCheckoutsAsTablesCsvAndJson() throws Exception {
        lm.db.Sql.update(api.ds, "INSERT INTO lm.usage_rollups VALUES (940001, '2030-07-01 10:00Z', 'clirep.f', 60, 3600, 20, 7.5, 9, 0,"
                + " 1, 2, 3, 4, 5, 6, 0, 1, 0, 0), (940001, '2030-07-01 11:00Z', 'clirep.f', 60, 3600, 20, 2.5, 3, 0, 1, 2, 3, 4, 5, 6, 0, 1, 0, 0)");
        lm.db.Sql.update(api.ds, "INSERT INTO lm.user_rollups VALUES (940001, '2030-07-01 10:00Z', 'zed', 'clirep.f', 5400),"
                + " (940001, '2030-07-01 11:00Z', 'amy', 'clirep.f', 1800)");
        // the day's rollups, as an agent pass makes them from its hours (whole days are read from them)
        lm.db.Sql.text(api.ds, "SELECT lm.roll_up_days('2030-07-01 00:00Z', '2030-07-01 23:00Z', ARRAY[940001]::bigint[])");
        lm.db.Sql.update(api.ds, "INSERT INTO lm.checkouts VALUES (940001, 'zed', 'ws1', 'clirep.f', 'c1', 3, 1, '77', '2030-07-01 11:00Z',"
                + " '2030-07-01 09:30Z')");

        String table = ok("report", "usage", "--feature", "clirep.f", "--since", "2030-07-01", "--until", "2030-07-02", "--by", "day").out();
        assertTrue(table.startsWith("FEATURE   PERIOD"), table);
        assertTrue(table.replaceAll(" +", " ").contains("\nclirep.f 2030-07-01T00:00:00+00:00 20 5.00 9 2 4 6 1 0\n"), table);
        String csv = ok("report", "usage", "--feature", "clirep.f", "--since", "2030-07-01", "--until", "2030-07-02", "--csv").out();
        assertEquals("feature,period,total,used_avg,used_max,booked_max,external_max,demand_max,queued_max,denials\r\n"
                + "clirep.f,2030-07-01T10:00:00+00:00,20,7.50,9,2,4,6,1,0\r\n"
                + "clirep.f,2030-07-01T11:00:00+00:00,20,2.50,3,2,4,6,1,0\r\n", csv);
        assertEquals(2, ok("report", "usage", "--json", "--feature", "clirep.f", "--since", "2030-07-01", "--until", "2030-07-02")
                .json().getAsJsonArray().size());
        String users = ok("report", "users", "--since", "2030-07-01", "--until", "2030-07-02").out();
        assertTrue(users.replaceAll(" +", " ").contains("\nzed clirep.f 1.50\n"), users);
        assertTrue(ok("report", "users", "--feature", "clirep.f", "--user", "zed", "--since", "2030-07-01", "--until", "2030-07-02", "--csv")
                .out().equals("user,feature,license_hours\r\nzed,clirep.f,1.50\r\n"));
        fails(1, "report", "users", "--feature", "no.such");
        // --limit: the biggest only
        assertEquals("user,feature,license_hours\r\nzed,clirep.f,1.50\r\n",
                ok("report", "users", "--feature", "clirep.f", "--limit", "1", "--since", "2030-07-01", "--until", "2030-07-02", "--csv").out());
        assertTrue(ok("report", "users", "--feature", "clirep.f", "--since", "2030-07-01", "--until", "2030-07-02", "--csv").out()
                .endsWith("\r\namy,clirep.f,0.50\r\n"));
        fails(1, "report", "users", "--limit", "0");
        // relative times are the CLI's (the API takes instants), counted back from the real clock:
        // an hour three days ago is in the last 7 days, one ten days ago is not
        lm.db.Sql.update(api.ds, "INSERT INTO lm.usage_rollups SELECT 940001, date_trunc('hour', now()) - d * interval '1 day', 'clirep.f',"
                + " 60, 3600, 20, 1, 1, 0, 1, 2, 3, 4, 5, 6, 0, 1, 0, 0 FROM unnest(ARRAY[3, 10]) d");
        JsonArray recent = ok("report", "usage", "--feature", "clirep.f", "--since", "7d", "--json").json().getAsJsonArray();
        assertEquals(List.of(lm.db.Sql.text(api.ds, "SELECT to_char((date_trunc('hour', now()) - interval '3 days') AT TIME ZONE 'UTC',"
                + " 'YYYY-MM-DD\"T\"HH24:MI:SS+00:00')")), recent.asList().stream().map(e -> e.getAsJsonObject().get("period_start").getAsString()).toList());
        String checkouts = ok("checkouts", "--search", "clirep").out();
        assertTrue(checkouts.replaceAll(" +", " ").contains("\nclirep.f zed ws1 3 1 77 2030-07-01T09:30:00+00:00 2030-07-01T11:00:00+00:00\n"), checkouts);

        // expiry: a license a few days from the server's today, as a table line and as CSV
        lm.db.Sql.update(api.ds, "INSERT INTO lm.products (name) VALUES ('clixp')");
        lm.db.Sql.update(api.ds, "INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES ('clixp', 'clixp', 600, 'flexlm')");
        lm.db.Sql.update(api.ds, "INSERT INTO lm.features (name, product_id, config_id, total, expires_at, expiring) SELECT 'f', p.id, c.id, 8,"
                + " (now() AT TIME ZONE 'UTC')::date + 5, 8 FROM lm.products p, lm.configurations c WHERE p.name = 'clixp' AND c.name = 'clixp'");
        String day = lm.db.Sql.text(api.ds, "SELECT expires_at::text FROM lm.features WHERE name = 'f' AND expiring = 8");
        assertTrue(ok("report", "expiry", "--within-days", "10").out().replaceAll(" +", " ").contains("\n" + day + " 5 clixp.f clixp 8 8"));
        assertTrue(ok("report", "expiry", "--csv").out().contains("\r\n" + day + ",5,clixp.f,clixp,8,8,\r\n"));
        assertFalse(ok("report", "expiry", "--within-days", "4", "--csv").out().contains("clixp.f"));
        fails(1, "report", "expiry", "--within-days", "-3");
        fails(2, "report", "expiry", "--within-days", "soon");

        fails(1, "report", "usage", "--by", "week");
        fails(1, "report", "usage", "--since", "2030-07-02", "--until", "2030-07-01");
        fails(1, "report", "usage", "--feature", "no.such");
        fails(2, "report", "users", "--since", "yesterday");
    }
}
