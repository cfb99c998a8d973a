package lm.agent.servers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Output cut short is an error, not a silent zero (issue 9): every real fixture is cut at every
 * line boundary and at every character inside a line, and each cut either fails or reports
 * nothing a reader could take for less than the server said. And the real fixtures still read
 * exactly as they did before the cross-checks (readings.tsv).
 */
class TruncationTest {
    private static String type(String fixture) {
        return fixture.substring(0, fixture.indexOf('/'));
    }

    /** The fixtures that parse (the others are error outputs, and their cuts are errors too). */
    private static List<String> readable() {
        List<String> out = new ArrayList<>();
        for (String f : Fixtures.ALL) {
            try {
                Parsers.forType(type(f)).parse(Fixtures.text(f));
                out.add(f);
            } catch (BadServerOutputException e) {
                // an error fixture
            }
        }
        return out;
    }

    private static Map<String, FeatureUsage> byName(ServerReport r) {
        Map<String, FeatureUsage> out = new LinkedHashMap<>();
        r.features().forEach(f -> out.put(f.name(), f));
        return out;
    }

    /**
     * The contract for a prefix that parses: a feature whose total is the full reading's total
     * (its whole block was seen, or all its blocks) has the full reading's used and checkouts. A
     * smaller total is a feature that several blocks sum (two servers of one lmstat -a, two
     * license ids in olixtool, two DSLS licenses) and the cut fell between blocks: that is a
     * reading of fewer blocks, not of a block cut short. The expiry is held to the same rule: a
     * date cut short ("31-dec-202") is an error, never another date or "permanent". Queued counts have no total to check
     * against in any format and are left out.
     */
    private static String problem(String fixture, int cut, ServerReport full, ServerReport prefix) {
        Map<String, FeatureUsage> whole = byName(full);
        for (FeatureUsage f : prefix.features()) {
            FeatureUsage w = whole.get(f.name());
            if (w == null) {
                return fixture + " cut at " + cut + ": invented feature " + f;
            }
            if (f.total() > w.total() || f.used() > w.used()) {
                return fixture + " cut at " + cut + ": more than the whole output says: " + f + " vs " + w;
            }
            if (f.total() == w.total() && (f.used() != w.used() || !f.checkouts().equals(w.checkouts())
                    || !Objects.equals(f.expires(), w.expires()) || !Objects.equals(f.expiring(), w.expiring()))) {
                return fixture + " cut at " + cut + ": read " + f + " where the whole output says " + w;
            }
        }
        return null;
    }

    @Test
    void everyCutOfEveryRealFixtureFailsOrReadsNoLess() throws BadServerOutputException {
        int cuts = 0;
        int failed = 0;
        List<String> problems = new ArrayList<>();
        for (String fixture : readable()) {
            String text = Fixtures.text(fixture);
            LicenseServerParser parser = Parsers.forType(type(fixture));
            ServerReport full = parser.parse(text);
            for (int cut = 0; cut < text.length(); cut++) {
                cuts++;
                try {
                    String p = problem(fixture, cut, full, parser.parse(text.substring(0, cut)));
                    if (p != null) {
                        problems.add(p);
                    }
                } catch (BadServerOutputException expected) {
                    failed++;
                }
            }
        }
        assertEquals(List.of(), problems);
        assertTrue(cuts > 20_000 && failed > cuts / 2, "cuts " + cuts + ", failed " + failed);
    }

    /** The cut that matters most: inside a block that has licenses in use, by line and mid-line. */
    @Test
    void cutsInsideABlockInUseAreErrors() {
        Map<String, String> inUse = Map.of(
                "flexlm/flexlm_output.txt", "adfdna",
                "flexlm/hw_reservation_linger_queued.txt", "carol",
                "rlm/rlm_output.txt", "cddcp2@",
                "lsdyna/lsdyna_output.txt", "ywap0o    239793",
                "lsdyna/hw_lsdyna_group_then_standalone.txt", " bob ",
                "lmx/lmx_output.txt", "25000 license(s) used by",
                "olicense/olicense_output.txt", "sbhyma@RD0087713",
                "dsls/dsls_output.txt", "user_3",
                "dsls/hw_dsls_two_licenses_crlf.txt", "user_b");
        Random random = new Random(20261127L);
        for (Map.Entry<String, String> e : inUse.entrySet()) {
            String text = Fixtures.text(e.getKey());
            int line = text.lastIndexOf('\n', text.indexOf(e.getValue())) + 1;
            int end = text.indexOf('\n', line);
            end = end < 0 ? text.length() : end;
            // at the line's start (the line and all after it gone), and at seeded points inside it
            List<Integer> cuts = new ArrayList<>(List.of(line));
            for (int i = 0; i < 5; i++) {
                cuts.add(line + 1 + random.nextInt(Math.max(1, end - line - 1)));
            }
            for (int cut : cuts) {
                String prefix = text.substring(0, cut);
                try {
                    ServerReport r = Parsers.forType(type(e.getKey())).parse(prefix);
                    fail(e.getKey() + " cut at " + cut + " (" + prefix.substring(line) + ") read " + r);
                } catch (BadServerOutputException expected) {
                    assertTrue(expected.getMessage().contains("cut short"), expected.getMessage());
                }
            }
        }
    }

    /** The issue's LS-DYNA example: the table without its LICENSE GROUP row. */
    @Test
    void lsDynaTableWithoutItsGroupRowIsAnError() {
        String text = Fixtures.text("lsdyna/lsdyna_output.txt");
        String cut = text.substring(0, text.indexOf("                   LICENSE GROUP"));
        Fixtures.assertFails("lsdyna", cut, "MPPDYNA_971: USED 0 + FREE 60 is not MAX 500");
    }

    /** Every reading of the real fixtures, as recorded before the cross-checks were added. */
    @Test
    void realFixturesReadAsBefore() {
        List<String> recorded = Fixtures.text("readings.tsv").lines().filter(l -> !l.startsWith("#")).toList();
        List<String> now = new ArrayList<>();
        for (String fixture : Fixtures.ALL) {
            try {
                for (FeatureUsage f : Parsers.forType(type(fixture)).parse(Fixtures.text(fixture)).features()) {
                    StringBuilder line = new StringBuilder(String.join("\t", fixture, f.name(), Long.toString(f.total()),
                            Long.toString(f.used()), Long.toString(f.queued())));
                    f.checkouts().forEach(c -> line.append('\t').append(c.user()).append('@').append(c.host()).append(' ').append(c.quantity()));
                    now.add(line.toString());
                }
            } catch (BadServerOutputException e) {
                now.add(fixture + "\tFAILS");
            }
        }
        assertEquals(recorded, now);
    }

    /**
     * The expiry of every feature of every real fixture (expiries.tsv, written by hand from the
     * fixtures' own dates): {@code fixture, feature, nearest expiry or "-", licenses expiring then or "-"}.
     */
    @Test
    void realFixturesExpireAsPinned() {
        List<String> pinned = Fixtures.text("expiries.tsv").lines().filter(l -> !l.startsWith("#")).toList();
        List<String> now = new ArrayList<>();
        for (String fixture : Fixtures.ALL) {
            try {
                for (FeatureUsage f : Parsers.forType(type(fixture)).parse(Fixtures.text(fixture)).features()) {
                    now.add(String.join("\t", fixture, f.name(), f.expires() == null ? "-" : f.expires().toString(),
                            f.expiring() == null ? "-" : f.expiring().toString()));
                }
            } catch (BadServerOutputException e) {
                // an error fixture: readings.tsv says so
            }
        }
        assertEquals(String.join("\n", pinned), String.join("\n", now));
    }
}
