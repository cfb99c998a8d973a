package lm.agent.servers;

import static lm.agent.servers.Fixtures.assertCounts;
import static lm.agent.servers.Fixtures.assertFails;
import static lm.agent.servers.Fixtures.assertUses;
import static lm.agent.servers.Fixtures.feature;
import static lm.agent.servers.Fixtures.names;
import static lm.agent.servers.Fixtures.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class LsDynaParserTest {
    private static final List<String> PROGRAMS = List.of("MPPDYNA", "MPPDYNA_971", "MPPDYNA_970",
            "MPPDYNA_960", "LS-DYNA", "LS-DYNA_971", "LS-DYNA_970", "LS-DYNA_960");

    @Test
    void licenseGroupValuesGoToEveryProgramOfTheGroup() {
        ServerReport report = parse("lsdyna", "lsdyna/lsdyna_output.txt");
        assertEquals(PROGRAMS, names(report));
        for (String program : PROGRAMS) {
            assertCounts(feature(report, program), 500, 440);
            assertEquals(0, feature(report, program).queued());
        }
        assertUses(feature(report, "mppdyna"), "dvds3g@n-c13.com 80", "ssss1d@n-c52.com 80",
                "ssss1d@n-c15.com 80", "ywap0o@n-c53.com 80", "ywap0o@n-c51.com 80", "ndha1a@n-c55.com 40");
        assertUses(feature(report, "ls-dyna"));
    }

    @Test
    void nothingInUse() {
        ServerReport report = parse("lsdyna", "lsdyna/lsdyna_output_no_licenses.txt");
        assertEquals(PROGRAMS, names(report));
        report.features().forEach(f -> {
            assertCounts(f, 500, 0);
            assertUses(f);
        });
    }

    @Test
    void groupQueueAndAStandaloneProgramAfterTheGroup() {
        ServerReport report = parse("lsdyna", "lsdyna/hw_lsdyna_group_then_standalone.txt");
        assertEquals(List.of("MPPDYNA", "LS-DYNA", "LS-PREPOST"), names(report));
        FeatureUsage mpp = feature(report, "MPPDYNA");
        assertCounts(mpp, 64, 48);
        assertEquals(2, mpp.queued());
        assertUses(mpp, "alice@node01.example.com 48");
        assertCounts(feature(report, "LS-DYNA"), 64, 48);
        assertEquals(2, feature(report, "LS-DYNA").queued());
        FeatureUsage prepost = feature(report, "LS-PREPOST");
        assertCounts(prepost, 10, 1);
        assertEquals(0, prepost.queued());
        assertUses(prepost, "bob@wks02.example.com 1");
    }

    @Test
    void dashWithoutAGroupRowCountsItsOwnUsers() throws BadServerOutputException {
        String text = """
                PROGRAM          EXPIRATION CPUS  USED   FREE    MAX | QUEUE
                ---------------- ----------      ----- ------ ------ | -----
                MPPDYNA          12/30/2025          -     10     16 |     0
                 ann        101@n1.example.com  4
                 bob        102@n2.example.com  2
                """;
        assertCounts(feature(Parsers.forType("lsdyna").parse(text), "MPPDYNA"), 16, 6);
    }

    @Test
    void errorsAndCrashesAreFailures() {
        assertFails("lsdyna", Fixtures.text("lsdyna/lsdyna_output_bad.txt"),
                "cannot connect to license server: *** ERROR failed to open server localhost");
        assertFails("lsdyna", Fixtures.text("lsdyna/lstc.txt"), "tool crashed: Memory fault");
    }

    @Test
    void rowsOutsideTheTableAreNotFeatures() {
        // Looks like a table row, but without the PROGRAM header it is not the table.
        assertFails("lsdyna", "MPPDYNA          12/30/2022          0     60    500 |     0\n",
                "no feature lines found");
    }
}
