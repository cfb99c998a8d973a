package lm.agent.servers;

import static lm.agent.servers.Fixtures.assertCounts;
import static lm.agent.servers.Fixtures.assertFails;
import static lm.agent.servers.Fixtures.assertUses;
import static lm.agent.servers.Fixtures.feature;
import static lm.agent.servers.Fixtures.names;
import static lm.agent.servers.Fixtures.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RlmParserTest {
    private static final List<String> CONVERGE = List.of(
            "converge", "converge_gui", "converge_gui_polygonica", "converge_super", "converge_tecplot");

    @Test
    void everyPoolFeatureWithItsUses() {
        ServerReport report = parse("rlm", "rlm/rlm_output.txt");
        assertEquals(CONVERGE, names(report));
        assertCounts(feature(report, "converge"), 1, 0);
        assertCounts(feature(report, "converge_gui"), 45, 0);
        assertCounts(feature(report, "converge_gui_polygonica"), 1, 0);
        assertCounts(feature(report, "converge_tecplot"), 45, 0);
        FeatureUsage superFeature = feature(report, "converge_super");
        assertCounts(superFeature, 1000, 93);
        assertUses(superFeature, "asdj13@myserver.example.com 29", "cddcp2@myserver.example.com 27",
                "asdj13@myserver.example.com 37");
        assertUses(feature(report, "converge"));
    }

    @Test
    void trimmedPoolHeaderAndSeveralIsvs() {
        ServerReport report = parse("rlm", "rlm/another_rlm_output.txt");
        Map<String, Long> totals = new LinkedHashMap<>();
        totals.put("powercase", 5L);
        totals.put("powerexport", 5L);
        totals.put("powerflow-decomp", 3000L);
        totals.put("powerflow-disc", 3000L);
        totals.put("powerinsight", 5L);
        totals.put("powerviz", 5L);
        totals.put("powerviz-generator", 2L);
        totals.put("powerviz-soiling", 7L);
        totals.put("exasignalprocessingjob", 6L);
        totals.put("poweracoustics", 1L);
        totals.put("powercool", 1L);
        totals.put("powerdelta", 1L);
        totals.put("powerdelta-meshunion", 1L);
        totals.put("powerdelta-translate2", 1000000L);
        totals.put("powerflow-sim", 7000L);
        totals.put("powerinsight-generator", 1L);
        totals.put("powerthermconnector", 1L);
        totals.put("powertherm", 1L);
        totals.put("powertherm-mp", 3L);
        totals.put("powertherm-multigrid", 1L);
        totals.put("powertherm-sc", 1L);
        totals.put("powertherm-solver", 1L);
        assertEquals(List.copyOf(totals.keySet()), names(report));
        totals.forEach((name, total) -> {
            long used = name.equals("powercase") ? 3 : name.equals("powerdelta") ? 1 : 0;
            assertCounts(feature(report, name), total, used);
        });
        assertUses(feature(report, "powercase"), "dfsdgv@server1 1", "addvbh@server2 1", "wrtgb3@server3 1");
        assertUses(feature(report, "powerdelta"), "ghnds2@server4 1");
        assertUses(feature(report, "powerdelta-meshunion"));
    }

    @Test
    void nothingInUse() {
        ServerReport report = parse("rlm", "rlm/rlm_output_no_licenses.txt");
        assertEquals(CONVERGE, names(report));
        assertCounts(feature(report, "converge_super"), 1000, 0);
        assertCounts(feature(report, "converge_gui"), 45, 0);
        report.features().forEach(f -> assertUses(f));
    }

    @Test
    void connectionErrorsAreFailures() {
        assertFails("rlm", Fixtures.text("rlm/rlm_output_bad.txt"),
                "cannot connect to license server: Error connecting to \"rlm\" server");
        assertFails("rlm", Fixtures.text("rlm/rlm.txt"), "bad hostname");
    }

    @Test
    void usesOfFeaturesOutsideThePoolAreNotInvented() throws BadServerOutputException {
        String text = """
                    powercase v1.0
                        count: 5, # reservations: 0, inuse: 1, exp: 31-dec-2023
                    ghost v1.0: ann@n1 2/0 at 08/15 09:34  (handle: 182)
                    powercase v1.0: bob@n2 1/0 at 08/15 09:34  (handle: 183)
                """;
        ServerReport report = Parsers.forType("rlm").parse(text);
        assertEquals(List.of("powercase"), names(report));
        assertUses(feature(report, "powercase"), "bob@n2 1");
        // the handle tells two checkouts of one user on one host apart (issue 19)
        assertEquals("handle 183", feature(report, "powercase").checkouts().get(0).key());
    }

    @Test
    void onlyUsageLinesIsAFailure() {
        assertFails("rlm", "    powercase v1.0: bob@n2 1/0 at 08/15 09:34  (handle: 183)\n",
                "no feature lines found");
    }
}
