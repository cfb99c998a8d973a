package lm.agent.servers;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Mangled real outputs fed to every parser. The contract under test: a parser either throws
 * {@link BadServerOutputException} or returns a non-empty report with sane numbers; nothing else
 * escapes (no NumberFormatException, no IndexOutOfBounds), and no input makes a regex run away.
 */
class FuzzTest {
    private static final long SEED = 20240521L;
    private static final int ROUNDS = 300;

    @Test
    void mutatedFixturesNeverBreakAParser() {
        Random random = new Random(SEED);
        List<String> fixtures = Fixtures.ALL.stream().map(Fixtures::text).toList();
        int[] outcomes = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int round = 0; round < ROUNDS; round++) {
                String input = mutate(fixtures.get(random.nextInt(fixtures.size())), random);
                for (String type : Parsers.TYPES) {
                    outcomes[check(type, input, round) ? 0 : 1]++;
                }
            }
        });
        // Both paths must have been exercised, or the mutations are too weak (or too strong) to test anything.
        assertTrue(outcomes[0] > ROUNDS / 10, "parsed: " + outcomes[0]);
        assertTrue(outcomes[1] > ROUNDS / 10, "failed: " + outcomes[1]);
    }

    @Test
    void randomBytesAreAlwaysAFailure() {
        Random random = new Random(SEED + 1);
        for (int round = 0; round < ROUNDS; round++) {
            byte[] blob = new byte[random.nextInt(4096)];
            random.nextBytes(blob);
            for (String text : List.of(Parsers.decode(blob), new String(blob, StandardCharsets.UTF_8))) {
                for (String type : Parsers.TYPES) {
                    assertThrows(BadServerOutputException.class, () -> Parsers.forType(type).parse(text),
                            () -> type + " made features out of random bytes (seed " + SEED + ")");
                }
            }
        }
    }

    /** @return whether the input parsed */
    private static boolean check(String type, String input, int round) {
        try {
            ServerReport report = Parsers.forType(type).parse(input);
            assertFalse(report.features().isEmpty(), "an empty report must be a failure");
            for (FeatureUsage f : report.features()) {
                assertFalse(f.name().isBlank());
                assertTrue(f.total() >= 0 && f.used() >= 0 && f.queued() >= 0, f::toString);
                f.checkouts().forEach(c -> assertTrue(c.quantity() >= 0, c::toString));
            }
            return true;
        } catch (BadServerOutputException expected) {
            assertFalse(expected.getMessage().isBlank(), "a failure says why");
            assertFalse(expected.getMessage().contains("\n"), "the reason is one line");
            return false;
        } catch (RuntimeException e) {
            return fail(type + " threw " + e + " in round " + round + " (seed " + SEED + ") on:\n" + input, e);
        }
    }

    private static String mutate(String text, Random random) {
        List<String> lines = new ArrayList<>(text.lines().toList());
        int edits = 1 + random.nextInt(6);
        for (int i = 0; i < edits && !lines.isEmpty(); i++) {
            int at = random.nextInt(lines.size());
            String line = lines.get(at);
            switch (random.nextInt(8)) {
                case 0 -> lines.remove(at);
                case 1 -> lines.add(at, line);
                case 2 -> lines.set(at, line.substring(0, random.nextInt(line.length() + 1)));
                case 3 -> lines.set(at, line.replaceAll("\\d+", "99999999999999999999999"));
                case 4 -> lines.set(at, line.replaceAll("\\d+", String.valueOf(Long.MAX_VALUE)));
                case 5 -> lines.set(at, flip(line, random));
                case 6 -> lines.add(at, lines.get(random.nextInt(lines.size())));
                default -> lines.set(at, line.replace(' ', '\t'));
            }
        }
        String joined = String.join(random.nextBoolean() ? "\n" : "\r\n", lines);
        // Sometimes the tool dies mid-line.
        return random.nextInt(4) == 0 ? joined.substring(0, random.nextInt(joined.length() + 1)) : joined;
    }

    private static String flip(String line, Random random) {
        if (line.isEmpty()) {
            return String.valueOf((char) random.nextInt(0x250));
        }
        char[] chars = line.toCharArray();
        chars[random.nextInt(chars.length)] = (char) random.nextInt(0x250);
        return new String(chars);
    }
}
