package lm.agent.servers;

import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.DateTimeParseException;
import java.time.format.ResolverStyle;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Helpers shared by the parsers: safe numbers and a one-line reason when an output is unusable. */
final class ServerOutput {
    private ServerOutput() {}

    private record Reason(Pattern pattern, String label) {}

    // Checked in this order: the first kind that matches anywhere in the output names the failure.
    // The status tools print the real cause after generic lines ("Error getting status: Cannot
    // connect ... Connection refused"), so the specific kinds come first.
    private static final List<Reason> REASONS = List.of(
            new Reason(Pattern.compile("(?i)connection refused"), "connection refused"),
            new Reason(Pattern.compile("(?i)bad hostname|cannot find hostname|unknown host"), "bad hostname"),
            new Reason(Pattern.compile("(?i)no license servers?(\\(s\\))? (is |are )?available"),
                    "no license server available"),
            new Reason(Pattern.compile("(?i)cannot connect|unable to connect|could not connect|error connecting"
                    + "|failed to open server|server is down|license server down"), "cannot connect to license server"),
            // what sh prints when the configured tool path is wrong ("sh: 1: lmutil: not found")
            new Reason(Pattern.compile("(?i)\\bsh: .*not found|command not found|no such file or directory"
                    + "|permission denied|cannot execute"), "status tool not runnable"),
            new Reason(Pattern.compile("(?i)timed out|timeout"), "timed out"),
            new Reason(Pattern.compile("(?i)\\berror\\b"), "status tool reported an error"));

    private static final Pattern CRASH =
            Pattern.compile("(?i)segmentation fault|memory fault|bus error|core dumped");

    /**
     * A crashed tool may have printed part of a table before dying, and a truncated table reads
     * as "fewer licenses in use"; so a crash fails the whole output even when features parsed.
     */
    static void rejectCrash(String output) throws BadServerOutputException {
        Matcher m = CRASH.matcher(output);
        if (m.find()) {
            throw new BadServerOutputException("tool crashed: " + m.group());
        }
    }

    /** The failure to throw for an output in which no feature was found. */
    static BadServerOutputException failure(String output) {
        if (output.isBlank()) {
            return new BadServerOutputException("empty output");
        }
        for (Reason reason : REASONS) {
            for (String line : output.lines().toList()) {
                if (reason.pattern().matcher(line).find()) {
                    return new BadServerOutputException(reason.label() + ": " + printable(line));
                }
            }
        }
        return new BadServerOutputException("no feature lines found");
    }

    /**
     * A line that has the form of a counted line (a usage, a table row, a total) but does not
     * parse whole: the tool's output was cut short or mangled, and reading what is left of it
     * would count fewer licenses than the server has in use.
     */
    static BadServerOutputException partialLine(String line) {
        return new BadServerOutputException("line does not parse whole (output cut short?): " + printable(line));
    }

    /**
     * The cross-check most formats allow: the checkout lines listed for a feature account for at
     * least the server's own in-use figure. Fewer means lines are missing; more is allowed,
     * because some servers list each process of a shared license.
     */
    static void requireListed(String feature, long inUse, long listed) throws BadServerOutputException {
        if (listed < inUse) {
            throw new BadServerOutputException(printable(feature) + ": " + inUse + " in use but the listed checkouts add up to "
                    + listed + " (output cut short?)");
        }
    }

    /** A count printed by the server; digits only are passed in, but garbage can be too long. */
    static long number(String digits) throws BadServerOutputException {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw new BadServerOutputException("number out of range: " + printable(digits));
        }
    }

    static long add(long a, long b) throws BadServerOutputException {
        try {
            return Math.addExact(a, b);
        } catch (ArithmeticException e) {
            throw new BadServerOutputException("license count overflows: " + a + " + " + b);
        }
    }

    /** FlexLM and RLM: {@code 31-dec-2026}, month names in English, any case. */
    static final DateTimeFormatter DAY_MON_YEAR = strict("d-MMM-uuuu");
    /** LM-X; OLicense and DSLS with a time of day, which is dropped: we keep the day. */
    static final DateTimeFormatter ISO_DAY = strict("uuuu-MM-dd[ HH:mm[:ss]]");
    /** LS-DYNA's EXPIRATION column, {@code 12/30/2025}. */
    static final DateTimeFormatter US_DAY = strict("MM/dd/uuuu");

    // FlexLM and RLM write a permanent license as "permanent" or as a date in year 0
    // ("1-jan-0", "1-jan-0000"); lmstat prints "permanent(no expiration date)".
    private static final Pattern PERMANENT = Pattern.compile("(?i)permanent.*|none|never|unlimited|\\d{1,2}-[a-z]{3}-0+");

    private static DateTimeFormatter strict(String pattern) {
        return new DateTimeFormatterBuilder().parseCaseInsensitive().appendPattern(pattern).toFormatter(Locale.ENGLISH)
                .withResolverStyle(ResolverStyle.STRICT);
    }

    /**
     * The expiry date a server printed for a license of {@code feature}: null when it says the
     * license is permanent (or prints nothing there); anything else that is not a date in
     * {@code format} fails the reading, since a mangled date is a mangled output, not "permanent".
     */
    static LocalDate expiry(String feature, String text, DateTimeFormatter format) throws BadServerOutputException {
        String t = text.strip();
        if (t.isEmpty() || PERMANENT.matcher(t).matches()) {
            return null;
        }
        try {
            return format.parse(t, LocalDate::from);
        } catch (DateTimeParseException e) {
            throw new BadServerOutputException(printable(feature) + ": bad expiry date '" + printable(t) + "'");
        }
    }

    /** The reason ends up on one log line: no control characters, bounded length. */
    static String printable(String text) {
        String clean = text.strip().replaceAll("\\p{Cntrl}", " ");
        return clean.length() <= 160 ? clean : clean.substring(0, 160) + "...";
    }
}
