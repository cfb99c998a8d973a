package lm.agent.servers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.LocalDate;
import org.junit.jupiter.api.Test;

/**
 * Expiry dates where each status tool prints them (every fixture's dates are pinned in
 * expiries.tsv, see TruncationTest): the nearest one that still has licenses, "permanent" as
 * none, and a mangled date as an error naming the feature and the text.
 */
class ExpiryTest {
    private static void assertExpiry(FeatureUsage f, String date, Long expiring) {
        assertEquals(date == null ? null : LocalDate.parse(date), f.expires(), f.name() + " expires");
        assertEquals(expiring, f.expiring(), f.name() + " expiring");
    }

    private static FeatureUsage only(String type, String text, String feature) throws BadServerOutputException {
        return Fixtures.feature(Parsers.forType(type).parse(text), feature);
    }

    @Test
    void flexLmReadsTheIncrementLinesAndPermanentIsNone() {
        assertExpiry(Fixtures.feature(Fixtures.parse("flexlm", "flexlm/hw_latin1_user.txt"), "Fluid"), "2024-12-31", null);
        assertExpiry(Fixtures.feature(Fixtures.parse("flexlm", "flexlm/hw_multi_server.txt"), "MeshGen"), "2026-01-01", null);
        assertExpiry(Fixtures.feature(Fixtures.parse("flexlm", "flexlm/hw_user_names_with_spaces.txt"), "CADPro"), null, null);
        // lmutil 2012 prints "abaqus" v62.2, vendor: ABAQUSLM and no expiry
        assertExpiry(Fixtures.feature(Fixtures.parse("flexlm", "flexlm/lmutil.txt"), "abaqus"), null, null);
    }

    @Test
    void flexLmTwoIncrementsGiveTheNearestAndYearZeroIsPermanent() throws BadServerOutputException {
        String text = Fixtures.text("flexlm/hw_latin1_user.txt").replace("  floating license",
                "  floating license\n\n  \"Fluid\" v1.0, vendor: cfdd, expiry: 15-MAR-2024\n  floating license\n\n"
                        + "  \"Fluid\" v1.0, vendor: cfdd, expiry: 1-jan-0\n  floating license\n");
        assertExpiry(only("flexlm", text, "Fluid"), "2024-03-15", null);
    }

    @Test
    void rlmReadsExpWithTheCount() throws BadServerOutputException {
        assertExpiry(Fixtures.feature(Fixtures.parse("rlm", "rlm/rlm_output.txt"), "converge_super"), "2022-01-31", 1000L);
        assertExpiry(Fixtures.feature(Fixtures.parse("rlm", "rlm/another_rlm_output.txt"), "powertherm-mp"), "2023-12-31", 3L);
        String permanent = Fixtures.text("rlm/rlm_output.txt").replace("count: 45, # reservations: 0, inuse: 0, exp: 31-jan-2022",
                "count: 45, # reservations: 0, inuse: 0, exp: permanent");
        assertExpiry(only("rlm", permanent, "converge_gui"), null, null);
    }

    @Test
    void lmxLsDynaOLicenseDslsReadTheirDates() throws BadServerOutputException {
        assertExpiry(Fixtures.feature(Fixtures.parse("lmx", "lmx/lmx_output.txt"), "HyperWorks"), "2023-01-31", 1000000L);
        assertExpiry(Fixtures.feature(Fixtures.parse("lmx", "lmx/lmx_output_2.txt"), "FEMFAT_VISUALIZER"), "2024-06-30", 2L);
        assertExpiry(Fixtures.feature(Fixtures.parse("lsdyna", "lsdyna/lsdyna_output.txt"), "MPPDYNA"), "2022-12-30", 500L);
        assertExpiry(Fixtures.feature(Fixtures.parse("lsdyna", "lsdyna/hw_lsdyna_group_then_standalone.txt"), "LS-PREPOST"),
                "2025-12-30", 10L);
        // two license blocks: 3 floats to 2022-12-31, 1 to 2023-02-28
        assertExpiry(Fixtures.feature(Fixtures.parse("olicense", "olicense/olicense_output.txt"), "ftire_adams"), "2022-12-31", 3L);
        // two licenses of HD2: 10 to 2025-01-01, 5 to 2026-01-01
        assertExpiry(Fixtures.feature(Fixtures.parse("dsls", "dsls/hw_dsls_two_licenses_crlf.txt"), "HD2"), "2025-01-01", 10L);
        assertExpiry(Fixtures.feature(Fixtures.parse("dsls", "dsls/dsls_output.txt"), "SRU"), "2025-01-01", 2374L);
    }

    @Test
    void licensesExpiringTheSameDayAreCountedTogether() throws BadServerOutputException {
        String text = Fixtures.text("dsls/hw_dsls_two_licenses_crlf.txt").replace("2026-01-01 00:59:00", "2025-01-01 12:00:00");
        // still two licenses (their dates differ in the time of day): 10 + 5 expire on 2025-01-01
        assertExpiry(only("dsls", text, "HD2"), "2025-01-01", 15L);
    }

    @Test
    void aLicenseWithNoneLeftDoesNotSetTheExpiry() throws BadServerOutputException {
        String text = Fixtures.text("olicense/olicense_output_no_licenses.txt")
                .replace("FreeFloating;\t3;\t2022-12-31 23:59:59;", "FreeFloating;\t0;\t2022-12-31 23:59:59;");
        assertExpiry(only("olicense", text, "ftire_adams"), "2023-02-28", 1L);
    }

    /** A fixture mutated to a garbage date fails, saying which feature and what it read. */
    @Test
    void garbageDatesAreErrorsNotPermanent() {
        record Mutation(String type, String fixture, String from, String to, String reason) {}
        for (Mutation m : new Mutation[] {
                new Mutation("flexlm", "flexlm/hw_latin1_user.txt", "expiry: 31-dec-2024", "expiry: 31-dez-2024",
                        "Fluid: bad expiry date '31-dez-2024'"),
                new Mutation("flexlm", "flexlm/hw_multi_server.txt", "expiry: 1-jan-2026", "expiry: 32-jan-2026",
                        "MeshGen: bad expiry date '32-jan-2026'"),
                new Mutation("rlm", "rlm/rlm_output.txt", "inuse: 93, exp: 31-jan-2022", "inuse: 93, exp: 31-jan-22",
                        "converge_super: bad expiry date '31-jan-22'"),
                new Mutation("lmx", "lmx/lmx_output_2.txt", "Expire date: 2024-06-30", "Expire date: 2024-02-30",
                        "FEMFAT_VISUALIZER: bad expiry date '2024-02-30'"),
                new Mutation("lsdyna", "lsdyna/hw_lsdyna_group_then_standalone.txt", "LS-PREPOST       12/30/2025",
                        "LS-PREPOST       30/12/2025", "LS-PREPOST: bad expiry date '30/12/2025'"),
                new Mutation("olicense", "olicense/olicense_output.txt", "2023-02-28 23:59:00", "soon",
                        "ftire_adams: bad expiry date 'soon'")}) {
            String text = Fixtures.text(m.fixture());
            assertTrue(text.contains(m.from()), m.fixture() + " lacks " + m.from());
            Fixtures.assertFails(m.type(), text.replace(m.from(), m.to()), m.reason());
        }
        String dsls = Fixtures.text("dsls/hw_dsls_two_licenses_crlf.txt");
        int row = dsls.indexOf("HD2,Token,STD,8,2026-01-01 00:59:00,YLC,0,2026-01-01 00:59:00");
        String mangled = dsls.substring(0, row) + dsls.substring(row).replaceFirst("YLC,0,2026-01-01 00:59:00", "YLC,0,2026-13-01 00:59:00");
        Fixtures.assertFails("dsls", mangled, "HD2: bad expiry date '2026-13-01 00:59:00'");
    }

    @Test
    void noExpiryPrintedIsNone() {
        FeatureUsage f = Fixtures.feature(Fixtures.parse("flexlm", "flexlm/flexlm_output_3.txt"), "ccmppower");
        assertNull(f.expires());
        assertNull(f.expiring());
    }
}
