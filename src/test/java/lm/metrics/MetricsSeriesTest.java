package lm.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import lm.auth.Roles;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 20, case 6: no inventory makes two samples of one series, which Prometheus' client
 * refuses to write (GET /lm/metrics was a 500 at every scrape). The worst inventory the schema
 * allows: one host:port in two configurations of a cluster, names that differ only in case, and
 * quotes, backslashes, newlines and other control characters in every label value a user sets.
 */
class MetricsSeriesTest {
    @RegisterExtension
    private static final TestApi api = new TestApi();

    // what a cluster's name may hold (lm.configurations only asks for a non-blank one)
    private static final String ODD = "we\"ird\\cluster\nline2\r\t\u001b[31m\u202e ü";

    @Test
    void twoConfigurationsOfAClusterOnOneHostAndPortAreTwoSeriesAndTheScrapeStaysWellFormed() throws Exception {
        // the case as reported: a config:create token (not admin) of cluster dup, twice the same server
        String creator = api.token("dup", "license-manager:config:create");
        for (String name : List.of("abaqus", "ansys")) {
            Res r = api.http.post("/configurations", creator, "{\"name\":\"" + name + "\",\"cluster_client_id\":\"dup\",\"type\":\"flexlm\","
                    + "\"license_servers\":[{\"host\":\"lic.example\",\"port\":27000}]}");
            assertEquals(201, r.status(), r.body());
        }
        String reader = api.token("prometheus", Roles.permissions(Roles.READER).toArray(String[]::new));
        Res first = api.http.get("/metrics", reader);
        assertEquals(200, first.status(), first.body());
        Map<String, Double> up = samples(first.body(), "lm_license_server_up");
        assertEquals(0.0, up.get("cluster_client_id=dup,configuration=abaqus,host=lic.example,port=27000"), up.toString());
        assertEquals(0.0, up.get("cluster_client_id=dup,configuration=ansys,host=lic.example,port=27000"), up.toString());

        adversarialInventory();
        // a refusal by a cluster whose name is odd: lm_denials_total, kept by this instance
        String prolog = api.token(ODD, Roles.permissions(Roles.PROLOG).toArray(String[]::new));
        Res refused = api.http.post("/jobs", prolog, "{\"slurm_job_id\":\"1\",\"username\":\"u\",\"lead_host\":\"n\","
                + "\"bookings\":[{\"product_feature\":\"Mx.solver\",\"quantity\":1000}]}");
        assertEquals(409, refused.status(), refused.body());

        // the database's rows: not one series twice (so the scrape's guard is not what saves it)
        assertEquals(List.of(), duplicateSeries());
        Res r = api.http.get("/metrics", reader);
        assertEquals(200, r.status(), r.body());

        // every row of lm.metric_gauges comes back, label values intact, from the text Prometheus parses
        Set<String> expected = new HashSet<>();
        try (Connection c = api.ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT metric, (SELECT string_agg(key || '=' || value, ',' ORDER BY key COLLATE \"C\")"
                     + " FROM jsonb_each_text(labels)) FROM lm.metric_gauges(now())")) {
            while (rs.next()) {
                expected.add(rs.getString(1) + "{" + rs.getString(2) + "}");
            }
        }
        Set<String> scraped = new HashSet<>();
        for (Sample s : parse(r.body())) {
            scraped.add(s.metric() + "{" + s.labels() + "}");
        }
        Set<String> missing = new HashSet<>(expected);
        missing.removeAll(scraped);
        assertEquals(Set.of(), missing, "rows of lm.metric_gauges not in the scrape");
        assertTrue(scraped.contains("lm_denials_total{cluster_client_id=" + ODD + ",product_feature=Mx.solver}"), r.body());
        // the server of one configuration named in two cases: two series, and the odd configuration's
        Map<String, Double> servers = samples(r.body(), "lm_license_server_up");
        assertEquals(Long.parseLong(lm.db.Sql.text(api.ds, "SELECT count(*) FROM lm.license_servers")), servers.size(), servers.toString());
        assertTrue(servers.containsKey("cluster_client_id=" + ODD + ",configuration=" + ODD + ",host=LIC1,port=27000"), servers.toString());
        assertTrue(servers.containsKey("cluster_client_id=" + ODD + ",configuration=" + ODD + ",host=lic1,port=27000"), servers.toString());

        MetricsTest.assertPromtoolAccepts(r.body(), "\n" + r.body());
    }

    @Test
    void aDuplicateSeriesFromTheDatabaseIsLeftOutNotA500() throws Exception {
        // a later lm.metric_gauges that forgets a label: the scrape keeps answering
        try (Connection c = api.ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("ALTER FUNCTION lm.metric_gauges(timestamptz) RENAME TO metric_gauges_kept");
            st.execute("CREATE FUNCTION lm.metric_gauges(p_now timestamptz) RETURNS TABLE (metric text, help text, labels jsonb, value double precision)"
                    + " LANGUAGE sql AS $$ VALUES ('lm_x', 'x', '{\"a\": \"1\"}'::jsonb, 1.0), ('lm_x', 'x', '{\"a\": \"1\"}', 2.0),"
                    + " ('lm_x', 'x', '{\"a\": \"2\"}', 3.0) $$");
            try {
                Res r = api.http.get("/metrics", api.token("prometheus", "license-manager:metrics:read"));
                assertEquals(200, r.status(), r.body());
                assertEquals(Map.of("a=1", 1.0, "a=2", 3.0), samples(r.body(), "lm_x"));
            } finally {
                st.execute("DROP FUNCTION lm.metric_gauges(timestamptz)");
                st.execute("ALTER FUNCTION lm.metric_gauges_kept(timestamptz) RENAME TO metric_gauges");
            }
        }
    }

    /** Every family that takes a label from what users set, fed the same names in every spelling. */
    private static void adversarialInventory() throws Exception {
        List<String> clusters = List.of(ODD, "Alpha", "alpha", "ALPHA\\", "\"", "\\\"\\n");
        try (Connection c = api.ds.getConnection()) {
            exec(c, "INSERT INTO lm.products (name) VALUES ('Mx'), ('mx'), ('m\"x\\')");
            for (String cluster : clusters) {
                // names that differ in case, quotes, backslashes, control characters, and one
                // server spelled in two cases within a configuration and again in another
                for (String config : List.of(cluster, cluster.toUpperCase(), "c\"\\\n")) {
                    exec(c, "INSERT INTO lm.configurations (name, cluster_client_id, type) VALUES (?, ?, 'flexlm') ON CONFLICT DO NOTHING", config, cluster);
                }
                exec(c, "INSERT INTO lm.license_servers (config_id, host, port) SELECT id, h, 27000 FROM lm.configurations,"
                        + " unnest(ARRAY['LIC1', 'lic1', 'lic1.', 'l\"i\\c']) h WHERE cluster_client_id = ?", cluster);
                exec(c, "INSERT INTO lm.cluster_statuses (cluster_client_id, interval, last_reported) VALUES (?, 60, now())", cluster);
                exec(c, "INSERT INTO lm.offline_rejections (cluster_client_id, reason, entries, last_at) VALUES (?, 'time', 2, now())", cluster);
                for (String license : List.of("Mx.solver", "mx.solver", "m\"x\\.sol\nver", "x@flexlm")) {
                    exec(c, "INSERT INTO lm.untracked_licenses (cluster_client_id, license, stripe, jobs, last_slurm_job_id, last_at)"
                            + " SELECT ?, ?, s, 1, '1', now() FROM generate_series(0, 2) s", cluster, license);
                }
            }
            // features of every product in every configuration, in two cases: pools, their
            // readings, expiry days and usage samples
            exec(c, "INSERT INTO lm.features (name, product_id, config_id, total, used, reported_at, expires_at)"
                    + " SELECT f, p.id, c.id, 5, 1, now(), current_date + 30 FROM lm.products p, lm.configurations c,"
                    + " unnest(ARRAY['solver', 'Solver', 's\"o\\l']) f");
            exec(c, "INSERT INTO lm.usage_samples (pool_id, at, product_feature, seconds, total, used, reserved, booked, external,"
                    + " demand, queued, stale, held) SELECT DISTINCT ON (f.pool_id) f.pool_id, now(), p.name || '.' || f.name, 60, 5, 1, 0, 0, 1, 0, 0, false, false"
                    + " FROM lm.features f JOIN lm.products p ON p.id = f.product_id");
        }
    }

    private static void exec(Connection c, String sql, Object... args) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            ps.execute();
        }
    }

    private static List<String> duplicateSeries() throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection c = api.ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT metric || labels::text FROM lm.metric_gauges(now()) GROUP BY metric, labels HAVING count(*) > 1")) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }

    record Sample(String metric, String labels, double value) {}

    /** The samples of a text exposition, label values unescaped (\\, \", \n), labels sorted: k=v,k=v. */
    static List<Sample> parse(String text) {
        List<Sample> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int i = 0;
            while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') {
                i++;
            }
            String metric = line.substring(0, i);
            Map<String, String> labels = new TreeMap<>();
            if (line.charAt(i) == '{') {
                i++;
                while (line.charAt(i) != '}') {
                    int eq = line.indexOf('=', i);
                    String key = line.substring(i, eq);
                    assertEquals('"', line.charAt(eq + 1), line);
                    StringBuilder v = new StringBuilder();
                    int j = eq + 2;
                    for (; line.charAt(j) != '"'; j++) {
                        char ch = line.charAt(j);
                        if (ch == '\\') {
                            char e = line.charAt(++j);
                            v.append(e == 'n' ? '\n' : e);
                        } else {
                            v.append(ch);
                        }
                    }
                    labels.put(key, v.toString());
                    i = j + 1;
                    if (line.charAt(i) == ',') {
                        i++;
                    }
                }
                i++;
            }
            StringBuilder l = new StringBuilder();
            labels.forEach((k, v) -> l.append(l.length() == 0 ? "" : ",").append(k).append('=').append(v));
            out.add(new Sample(metric, l.toString(), Double.parseDouble(line.substring(i).trim().split(" ")[0])));
        }
        return out;
    }

    /** The samples of one metric, by their labels (k=v,k=v). */
    private static Map<String, Double> samples(String text, String metric) {
        Map<String, Double> out = new TreeMap<>();
        for (Sample s : parse(text)) {
            if (s.metric().equals(metric)) {
                assertEquals(null, out.put(s.labels(), s.value()), "two samples of " + metric + "{" + s.labels() + "}");
            }
        }
        return out;
    }
}
