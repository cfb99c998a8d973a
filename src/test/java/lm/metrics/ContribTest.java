package lm.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.testing.DebianPackages;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * contrib/prometheus and contrib/grafana work as shipped: promtool accepts the rules, their unit
 * tests pass, the scrape example is a valid configuration, and every query of the dashboard
 * parses. {@link MetricsTest} checks that the metrics they name are the ones lm-server exports.
 */
class ContribTest {
    static final Path PROMETHEUS = Path.of("contrib/prometheus");
    static final Path GRAFANA = Path.of("contrib/grafana/license-manager.json");

    @TempDir Path tmp;

    @Test
    void alertRulesPassTheirUnitTests() throws Exception {
        assertPromtool(PROMETHEUS, "check", "rules", "lm-alerts.yml");
        assertPromtool(PROMETHEUS, "test", "rules", "lm-alerts.test.yml");
    }

    @Test
    void theScrapeExampleIsAValidConfiguration() throws Exception {
        // as installed: the rules beside it, the token in a file of its own
        Path token = Files.writeString(tmp.resolve("lm.token"), "x.y.z\n");
        Files.writeString(tmp.resolve("prometheus.yml"), Files.readString(PROMETHEUS.resolve("prometheus.yml"))
                .replace("/etc/prometheus/lm.token", token.toString()));
        Files.copy(PROMETHEUS.resolve("lm-alerts.yml"), tmp.resolve("lm-alerts.yml"));
        assertPromtool(tmp, "check", "config", "prometheus.yml");
    }

    @Test
    void everyDashboardQueryParses() throws Exception {
        // promtool parses PromQL only in rules: each query becomes a recording rule
        StringBuilder rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        List<String> exprs = dashboardQueries();
        assertTrue(exprs.size() >= 10, "queries: " + exprs);
        for (int i = 0; i < exprs.size(); i++) {
            String expr = exprs.get(i).replace("$product_feature", ".*");
            rules.append("      - record: lm:dashboard_").append(i).append("\n        expr: '")
                    .append(expr.replace("'", "''")).append("'\n");
        }
        Files.writeString(tmp.resolve("dashboard-rules.yml"), rules);
        assertPromtool(tmp, "check", "rules", "dashboard-rules.yml");
    }

    /** Every PromQL expression of the Grafana dashboard (panels and template variables). */
    static List<String> dashboardQueries() throws Exception {
        JsonObject d = JsonParser.parseString(Files.readString(GRAFANA)).getAsJsonObject();
        List<String> out = new ArrayList<>();
        for (JsonElement p : d.getAsJsonArray("panels")) {
            for (JsonElement t : p.getAsJsonObject().getAsJsonArray("targets")) {
                out.add(t.getAsJsonObject().get("expr").getAsString());
            }
        }
        return out;
    }

    /** The lm_… metric names the shipped rules and dashboard use (without _bucket/_count/_sum). */
    static Set<String> referencedMetrics() throws Exception {
        String text = Files.readString(PROMETHEUS.resolve("lm-alerts.yml")) + String.join("\n", dashboardQueries())
                + Files.readString(GRAFANA);
        Set<String> names = new TreeSet<>();
        Matcher m = Pattern.compile("\\blm_[a-z_]+").matcher(text);
        while (m.find()) {
            names.add(m.group().replaceAll("_(bucket|count|sum)$", ""));
        }
        assertFalse(names.isEmpty());
        return names;
    }

    private static void assertPromtool(Path dir, String... args) throws Exception {
        Path promtool = DebianPackages.ensure("promtool", "prometheus");
        List<String> cmd = new ArrayList<>(List.of(promtool.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", args));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "promtool " + String.join(" ", args) + ":\n" + out);
    }
}
