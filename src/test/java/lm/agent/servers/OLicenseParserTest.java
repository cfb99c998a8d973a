package lm.agent.servers;

import static lm.agent.servers.Fixtures.assertCounts;
import static lm.agent.servers.Fixtures.assertFails;
import static lm.agent.servers.Fixtures.assertUses;
import static lm.agent.servers.Fixtures.feature;
import static lm.agent.servers.Fixtures.names;
import static lm.agent.servers.Fixtures.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class OLicenseParserTest {
    @Test
    void totalsAreSummedAcrossLicenseBlocks() {
        ServerReport report = parse("olicense", "olicense/olicense_output.txt");
        assertEquals(List.of("ftire_adams"), names(report));
        FeatureUsage f = feature(report, "ftire_adams");
        assertCounts(f, 4, 3);
        assertUses(f, "sbhyma@RD0087712 1", "sbhyma@RD0087713 1", "user22@RD0087713 1");
    }

    @Test
    void nothingInUse() {
        FeatureUsage f = feature(parse("olicense", "olicense/olicense_output_no_licenses.txt"), "ftire_adams");
        assertCounts(f, 4, 0);
        assertUses(f);
    }

    @Test
    void licenseeInLatin1ParsesTheSame() throws BadServerOutputException {
        String utf8 = Fixtures.text("olicense/olicense_output.txt");
        assertTrue(utf8.contains("Fjällström"), "fixture holds non-ASCII text");
        byte[] latin1 = utf8.getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(parse("olicense", "olicense/olicense_output.txt"),
                Parsers.forType("olicense").parse(Parsers.decode(latin1)));
    }

    @Test
    void lockCountAndUserCountsComeFromTheirModule() throws BadServerOutputException {
        String text = """
                ==============================================
                Modules:
                  Name; LicenseType; FloatCount; Expiration
                  --------------------------------------------
                  solver;\tFreeFloating;\t10;\t2030-12-31 23:59:59;
                    5 FloatsLockedBy:
                      ann@n1 #3
                      bob@n2 #2
                  viewer;\tFreeFloating;\t2;\t2030-12-31 23:59:59;
                """;
        ServerReport report = Parsers.forType("olicense").parse(text);
        assertEquals(List.of("solver", "viewer"), names(report));
        assertCounts(feature(report, "solver"), 10, 5);
        assertUses(feature(report, "solver"), "ann@n1 3", "bob@n2 2");
        assertCounts(feature(report, "viewer"), 2, 0);
        assertUses(feature(report, "viewer"));
    }

    @Test
    void cannotConnectIsAFailure() {
        assertFails("olicense", Fixtures.text("olicense/olicense_output_bad.txt"),
                "cannot connect to license server: OlComm 454 Request cannot connect to target");
    }
}
