package lm.agent.servers;

import static lm.agent.servers.Fixtures.assertCounts;
import static lm.agent.servers.Fixtures.assertFails;
import static lm.agent.servers.Fixtures.assertUses;
import static lm.agent.servers.Fixtures.feature;
import static lm.agent.servers.Fixtures.names;
import static lm.agent.servers.Fixtures.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DslsParserTest {
    private static final Map<String, Long> TOTALS = Map.of("PAC", 1L, "PAJ", 6L, "PCA", 4L, "PCO", 2L, "PD5", 1L,
            "PV6", 7L, "PVG", 2L, "PW7", 2000L, "PW8", 2000L, "SRU", 2374L);
    private static final List<String> ORDER = List.of(
            "PAC", "PAJ", "PCA", "PCO", "PD5", "PV6", "PVG", "PW7", "PW8", "SRU");

    @Test
    void rowsRepeatedPerUserAreOneLicense() {
        ServerReport report = parse("dsls", "dsls/dsls_output.txt");
        assertEquals(ORDER, names(report));
        TOTALS.forEach((name, total) -> {
            long used = name.equals("PW7") ? 2 : name.equals("SRU") ? 1559 : 0;
            assertCounts(feature(report, name), total, used);
        });
        assertUses(feature(report, "pw7"), "user_1@nid001627 2");
        assertUses(feature(report, "sru"), "user_2@nid001626 493", "user_3@nid001601 533", "user_4@nid001671 533");
        assertUses(feature(report, "pac"));
    }

    @Test
    void nothingInUse() {
        ServerReport report = parse("dsls", "dsls/dsls_output_no_licenses.txt");
        assertEquals(ORDER, names(report));
        TOTALS.forEach((name, total) -> {
            assertCounts(feature(report, name), total, 0);
            assertUses(feature(report, name));
        });
    }

    @Test
    void warningPreambleAndPromptBeforeTheHeader() {
        ServerReport report = parse("dsls", "dsls/dsls_output_with_warning.txt");
        assertEquals(22, report.features().size());
        FeatureUsage sru = feature(report, "sru");
        assertCounts(sru, 2374, 493);
        assertUses(sru, "user_1@nid001234 493");
        assertCounts(feature(report, "PD8"), 10000, 0);
        assertEquals(493, report.features().stream().mapToLong(FeatureUsage::used).sum());
    }

    @Test
    void sameFeatureUnderTwoLicensesIsSummedAndCrlfIsFine() {
        ServerReport report = parse("dsls", "dsls/hw_dsls_two_licenses_crlf.txt");
        assertEquals(List.of("HD2", "PW7"), names(report));
        FeatureUsage hd2 = feature(report, "HD2");
        assertCounts(hd2, 15, 4);
        assertUses(hd2, "user_a@node01 3", "user_b@node02 1");
        assertCounts(feature(report, "PW7"), 20, 0);
    }

    @Test
    void failures() {
        assertFails("dsls", Fixtures.text("dsls/dsls_output_bad.txt"),
                "cannot connect to license server: Cannot connect to server localhost on port 1234");
        String headerOnly = Fixtures.text("dsls/dsls_output.txt").lines()
                .filter(l -> !l.startsWith("Dassault")).reduce("", (a, b) -> a + b + "\n");
        assertFails("dsls", headerOnly, "no feature lines found");
        // Rows without their header are not trusted: the column positions are unknown.
        String rowsOnly = Fixtures.text("dsls/dsls_output.txt").lines()
                .filter(l -> l.startsWith("Dassault")).reduce("", (a, b) -> a + b + "\n");
        assertFails("dsls", rowsOnly, "no feature lines found");
    }
}
