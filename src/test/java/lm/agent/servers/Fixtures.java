package lm.agent.servers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;

/** Fixture loading (classpath only, so the build needs nothing outside the repo) and assertions. */
final class Fixtures {
    private Fixtures() {}

    static final List<String> ALL = List.of(
            "flexlm/flexlm_output.txt", "flexlm/flexlm_output_2.txt", "flexlm/flexlm_output_3.txt",
            "flexlm/flexlm_output_4.txt", "flexlm/flexlm_output_5.txt", "flexlm/flexlm_output_no_licenses.txt",
            "flexlm/flexlm_output_bad.txt", "flexlm/lmutil.txt", "flexlm/hw_reservation_linger_queued.txt",
            "flexlm/hw_user_names_with_spaces.txt", "flexlm/hw_multi_server.txt", "flexlm/hw_latin1_user.txt",
            "rlm/rlm_output.txt", "rlm/another_rlm_output.txt", "rlm/rlm_output_no_licenses.txt",
            "rlm/rlm_output_bad.txt", "rlm/rlm.txt",
            "lsdyna/lsdyna_output.txt", "lsdyna/lsdyna_output_no_licenses.txt", "lsdyna/lsdyna_output_bad.txt",
            "lsdyna/lstc.txt", "lsdyna/hw_lsdyna_group_then_standalone.txt",
            "lmx/lmx_output.txt", "lmx/lmx_output_2.txt", "lmx/lmx_output_no_licenses.txt", "lmx/lmx_output_bad.txt",
            "lmx/lmx.txt",
            "olicense/olicense_output.txt", "olicense/olicense_output_no_licenses.txt",
            "olicense/olicense_output_bad.txt",
            "dsls/dsls_output.txt", "dsls/dsls_output_no_licenses.txt", "dsls/dsls_output_with_warning.txt",
            "dsls/dsls_output_bad.txt", "dsls/hw_dsls_two_licenses_crlf.txt");

    static byte[] bytes(String path) {
        try (InputStream in = Fixtures.class.getResourceAsStream("/license-servers/" + path)) {
            assertNotNull(in, "fixture missing from the test classpath: " + path);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String text(String path) {
        return Parsers.decode(bytes(path));
    }

    static ServerReport parse(String type, String path) {
        try {
            return Parsers.forType(type).parse(text(path));
        } catch (BadServerOutputException e) {
            return fail(path + " should parse, got: " + e.getMessage());
        }
    }

    /** The one feature whose name equals {@code name} ignoring case (PROVENANCE gives lower case). */
    static FeatureUsage feature(ServerReport report, String name) {
        List<FeatureUsage> found = report.features().stream()
                .filter(f -> f.name().equalsIgnoreCase(name)).toList();
        assertEquals(1, found.size(), () -> "features named " + name + " in " + names(report));
        return found.get(0);
    }

    static List<String> names(ServerReport report) {
        return report.features().stream().map(FeatureUsage::name).toList();
    }

    static void assertCounts(FeatureUsage f, long total, long used) {
        assertEquals(total, f.total(), f.name() + " total");
        assertEquals(used, f.used(), f.name() + " used");
    }

    /** Uses written "user@host qty" as in PROVENANCE.md, in server order, compared ignoring case. */
    static void assertUses(FeatureUsage f, String... expected) {
        List<String> actual = f.checkouts().stream()
                .map(c -> (c.user() + "@" + c.host() + " " + c.quantity()).toLowerCase(Locale.ROOT)).toList();
        List<String> wanted = List.of(expected).stream().map(s -> s.toLowerCase(Locale.ROOT)).toList();
        assertEquals(wanted, actual, f.name() + " checkouts");
    }

    static BadServerOutputException assertFails(String type, String output, String reasonStart) {
        BadServerOutputException e = assertThrows(BadServerOutputException.class,
                () -> Parsers.forType(type).parse(output), () -> "expected a failure for: " + output);
        assertTrue(e.getMessage().startsWith(reasonStart),
                () -> "reason '" + e.getMessage() + "' should start with '" + reasonStart + "'");
        return e;
    }
}
