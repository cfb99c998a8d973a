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

class LmxParserTest {
    private static final List<String> ALTAIR = List.of("CatiaV5Reader", "GlobalZoneEU", "HWAIFPBS", "HWAWPF",
            "HWActivate", "HWFlux2D", "HyperWorks");

    @Test
    void everyFeatureWithItsUses() {
        ServerReport report = parse("lmx", "lmx/lmx_output.txt");
        assertEquals(ALTAIR, names(report));
        assertCounts(feature(report, "catiav5reader"), 3, 0);
        FeatureUsage zone = feature(report, "globalzoneeu");
        assertCounts(zone, 1000003, 40000);
        assertUses(zone, "vraafg@RD0082879 15000", "vraafg@RD0082879 25000");
        for (String name : List.of("hwaifpbs", "hwawpf", "hwactivate")) {
            assertCounts(feature(report, name), 2147483647L, 0);
            assertUses(feature(report, name));
        }
        FeatureUsage flux = feature(report, "hwflux2d");
        assertCounts(flux, 2147483647L, 30000);
        assertUses(flux, "vraafg@RD0082879 15000", "vraafg@RD0082879 15000");
        FeatureUsage hw = feature(report, "hyperworks");
        assertCounts(hw, 1000000, 25000);
        assertUses(hw, "sssaah@RD0082406 25000");
    }

    @Test
    void hostVersionSuffixIsDropped() {
        FeatureUsage f = feature(parse("lmx", "lmx/lmx_output_2.txt"), "femfat_visualizer");
        assertEquals("FEMFAT_VISUALIZER", f.name());
        assertCounts(f, 2, 2);
        assertUses(f, "fdsva1@dcv046.com 1", "asdsc1@dcv048.com 1");
    }

    @Test
    void nothingInUse() {
        ServerReport report = parse("lmx", "lmx/lmx_output_no_licenses.txt");
        assertEquals(ALTAIR, names(report));
        assertCounts(feature(report, "catiav5reader"), 3, 0);
        assertCounts(feature(report, "globalzoneeu"), 1000003, 0);
        assertCounts(feature(report, "hwflux2d"), 2147483647L, 0);
        assertCounts(feature(report, "hyperworks"), 1000000, 0);
        report.features().forEach(f -> assertUses(f));
    }

    @Test
    void noServerAndUnreachableServerAreFailures() {
        assertFails("lmx", Fixtures.text("lmx/lmx_output_bad.txt"), "no license server available");
        assertFails("lmx", Fixtures.text("lmx/lmx.txt"),
                "cannot connect to license server: XF Error: Unable to connect to license server!");
    }

    @Test
    void featureWithoutItsCountLineIsLeftOut() throws BadServerOutputException {
        String text = """
                Feature: Half Version: 1.0 Vendor: X
                ----------------------------------------
                Feature: Whole Version: 1.0 Vendor: X

                1 of 4 license(s) used:

                1 license(s) used by ann@n1.example.com_ver2024 [10.0.0.1]
                """;
        ServerReport report = Parsers.forType("lmx").parse(text);
        assertEquals(List.of("Whole"), names(report));
        assertUses(feature(report, "Whole"), "ann@n1.example.com 1");
    }
}
