package lm.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.auth.Roles;
import lm.testing.DebianPackages;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** GET /lm/metrics: what Prometheus scrapes is true, well-formed (promtool) and guarded by its permission. */
class MetricsTest {
    @RegisterExtension
    private static final TestApi api = new TestApi();
    private static long pool;
    private static long quietPool;
    private static final LocalDate EXPIRES = LocalDate.of(2031, 5, 17);

    @BeforeAll
    static void setUp() throws Exception {
        try (Connection c = api.ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("INSERT INTO lm.products (name) VALUES ('mx')");
            st.execute("INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES"
                    + " ('mx', 'mx-cluster', 600, 'flexlm'), ('quiet', 'mx-cluster', 600, 'rlm')");
            st.execute("INSERT INTO lm.license_servers (config_id, host, port) SELECT id, 'lic1.example', 27000 FROM lm.configurations WHERE name = 'mx'");
            st.execute("INSERT INTO lm.license_servers (config_id, host, port) SELECT id, 'lic9.example', 5053 FROM lm.configurations WHERE name = 'quiet'");
            st.execute("INSERT INTO lm.features (name, product_id, config_id, total, used, reported_at, expires_at)"
                    + " SELECT 'solver', p.id, c.id, 10, 4, now(), '" + EXPIRES + "' FROM lm.products p, lm.configurations c WHERE c.name = 'mx'");
            // a configuration never read: its server is down, its pool has no counts
            st.execute("INSERT INTO lm.features (name, product_id, config_id) SELECT 'mesher', p.id, c.id FROM lm.products p, lm.configurations c WHERE c.name = 'quiet'");
            st.execute("INSERT INTO lm.cluster_statuses (cluster_client_id, interval, last_reported) VALUES ('mx-cluster', 60, now() - interval '120 seconds')");
            var rs = st.executeQuery("SELECT (SELECT pool_id FROM lm.features WHERE name = 'solver'), (SELECT pool_id FROM lm.features WHERE name = 'mesher')");
            rs.next();
            pool = rs.getLong(1);
            quietPool = rs.getLong(2);
            // the pool's usage samples (lm.record_usage): the gauges read the newest one
            st.execute("INSERT INTO lm.usage_samples (pool_id, at, product_feature, seconds, total, used, reserved, booked, external,"
                    + " demand, queued, stale, held) VALUES (" + pool + ", now() - interval '90 seconds', 'mx.solver', 60, 10, 9, 0, 0, 9, 9, 9, false, false),"
                    + " (" + pool + ", now() - interval '30 seconds', 'mx.solver', 60, 10, 4, 0, 0, 1, 2, 5, false, false)");
        }
    }

    @Test
    void theScrapeTellsTheDatabaseAndThisInstancesAdmissionsInAFormatPromtoolAccepts() throws Exception {
        String prolog = api.token("mx-cluster", Roles.permissions(Roles.PROLOG).toArray(String[]::new));
        assertEquals(201, api.http.post("/jobs", prolog, job(1, 3)).status());
        Res refused = api.http.post("/jobs", prolog, job(2, 5));
        assertEquals(409, refused.status(), refused.body());
        assertEquals(400, api.http.post("/jobs", prolog, "{\"slurm_job_id\":\"3\"}").status(), "missing fields");

        Res r = api.http.get("/metrics", api.token("prometheus", Roles.permissions(Roles.READER).toArray(String[]::new)));
        assertEquals(200, r.status(), r.body());
        assertTrue(r.header("Content-Type").startsWith("text/plain; version=0.0.4"), r.header("Content-Type"));
        Map<String, Double> m = samples(r.body());
        String p = "{pool=\"" + pool + "\",product_feature=\"mx.solver\"}";
        assertEquals(10.0, m.get("lm_license_issued" + p));
        assertEquals(4.0, m.get("lm_license_used" + p));
        assertEquals(3.0, m.get("lm_license_booked" + p));
        assertEquals(3.0, m.get("lm_license_available" + p));
        assertEquals(0.0, m.get("lm_license_held" + p));
        assertEquals(1.0, m.get("lm_license_external" + p));
        assertEquals(2.0, m.get("lm_license_demand" + p));
        assertEquals(5.0, m.get("lm_license_queued" + p));
        assertFalse(r.body().contains("lm_license_queued{pool=\"" + quietPool), "no usage sample: no queue");
        // the expiry day's 00:00 UTC; a pool whose server prints no expiry has no sample
        assertEquals((double) EXPIRES.atStartOfDay(ZoneOffset.UTC).toEpochSecond(), m.get("lm_license_expiry_timestamp_seconds" + p));
        assertFalse(r.body().contains("lm_license_expiry_timestamp_seconds{pool=\"" + quietPool), "no expiry: no sample");
        assertFalse(r.body().contains("lm_license_issued{pool=\"" + quietPool), "a pool never read has no total, not a made-up 0");
        assertEquals(1.0, m.get("lm_license_held{pool=\"" + quietPool + "\",product_feature=\"mx.mesher\"}"));
        double age = m.get("lm_agent_last_report_age_seconds{cluster_client_id=\"mx-cluster\"}");
        assertTrue(age >= 120 && age < 300, "age " + age);
        assertEquals(1.0, m.get("lm_license_server_up{cluster_client_id=\"mx-cluster\",configuration=\"mx\",host=\"lic1.example\",port=\"27000\"}"));
        assertEquals(0.0, m.get("lm_license_server_up{cluster_client_id=\"mx-cluster\",configuration=\"quiet\",host=\"lic9.example\",port=\"5053\"}"));
        assertEquals(1.0, m.get("lm_admissions_total{outcome=\"admitted\"}"));
        assertEquals(1.0, m.get("lm_admissions_total{outcome=\"refused\"}"));
        assertEquals(1.0, m.get("lm_admissions_total{outcome=\"error\"}"));
        assertEquals(1.0, m.get("lm_denials_total{cluster_client_id=\"mx-cluster\",product_feature=\"mx.solver\"}"));
        assertEquals(3.0, m.get("lm_admission_duration_seconds_count"));

        // every metric the shipped alerts and dashboard use is one lm-server exports
        Set<String> exported = new TreeSet<>();
        Matcher help = Pattern.compile("(?m)^# HELP (\\S+) ").matcher(r.body());
        while (help.find()) {
            exported.add(help.group(1));
        }
        Set<String> missing = new TreeSet<>(ContribTest.referencedMetrics());
        missing.removeAll(exported);
        assertEquals(Set.of(), missing, "contrib/ uses metrics lm-server does not export; it exports " + exported);

        assertPromtoolAccepts(r.body(), "");
    }

    /** The real `promtool check metrics` accepts the exposition (what it said, and {@code context}, on failure). */
    static void assertPromtoolAccepts(String exposition, String context) throws Exception {
        Path promtool = DebianPackages.ensure("promtool", "prometheus");
        Process check = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
        check.getOutputStream().write(exposition.getBytes(StandardCharsets.UTF_8));
        check.getOutputStream().close();
        assertTrue(check.waitFor(60, TimeUnit.SECONDS));
        String said = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, check.exitValue(), "promtool check metrics: " + said + context);
    }

    @Test
    void metricsNeedTheirPermission() {
        assertEquals(401, api.http.get("/metrics", null).status());
        assertEquals(403, api.http.get("/metrics", api.token("mx-cluster", "license-manager:job:read")).status());
        assertEquals(200, api.http.get("/metrics", api.token("prometheus", "license-manager:metrics:read")).status());
    }

    private static String job(long id, int quantity) {
        return "{\"slurm_job_id\":\"" + id + "\",\"username\":\"u\",\"lead_host\":\"n01\",\"bookings\":["
                + "{\"product_feature\":\"mx.solver\",\"quantity\":" + quantity + "}]}";
    }

    /** name{labels} → value, for every sample line. */
    private static Map<String, Double> samples(String text) {
        Map<String, Double> out = new HashMap<>();
        Matcher x = Pattern.compile("(?m)^([a-z_]+(?:\\{[^}]*})?) (\\S+)$").matcher(text);
        while (x.find()) {
            out.put(x.group(1), Double.parseDouble(x.group(2)));
        }
        assertNotNull(out.get("lm_admission_duration_seconds_count"), text);
        return out;
    }
}
