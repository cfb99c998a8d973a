package lm.agent.servers;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lmxendutil -licstat}: {@code Feature: NAME ...} blocks, each with an
 * {@code N of M license(s) used} line and {@code N license(s) used by USER@HOST [IP]} lines.
 * A block without its "N of M" line is incomplete and left out. A line of a block that starts
 * with a count must parse whole, and the "used by" lines must account for at least the "N of M"
 * figure: an output cut inside a block fails instead of reporting fewer checkouts. The block's
 * {@code Start date: … Expire date: 2026-12-31} line gives the expiry of its M licenses.
 */
final class LmxParser implements LicenseServerParser {
    private static final Pattern FEATURE = Pattern.compile("^\\s*Feature:\\s+(\\S+)");
    private static final Pattern DATES_MARK = Pattern.compile("^\\s*Start date:");
    private static final Pattern DATES = Pattern.compile("^\\s*Start date:\\s*\\S+\\s+Expire date:\\s*(\\S+)\\s*$");
    private static final Pattern COUNTED = Pattern.compile("^\\s*\\d");
    private static final Pattern TOTALS = Pattern.compile("^\\s*(\\d+) of (\\d+) license\\(s\\) used:?\\s*$");
    // The client's address in brackets ends the line; a line without it was cut, maybe inside the
    // host name, which would then never match the booking's host.
    private static final Pattern USE = Pattern.compile(
            "^\\s*(\\d+) license\\(s\\) used by (\\S.*)@(\\S+?)\\s+\\[[^\\]]*\\]\\s*$");
    // Some LM-X servers append the client's product build to the host ("dcv046.com_ver2023",
    // "dcv048.com_ver2022a"); it is not part of the host name Slurm knows.
    private static final Pattern HOST_SUFFIX = Pattern.compile("_ver[0-9A-Za-z.]*$");

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        String name = null;
        long total = 0;
        long used = 0;
        boolean counted = false;
        LocalDate expires = null;
        List<Checkout> checkouts = new ArrayList<>();
        for (String line : output.lines().toList()) {
            Matcher feature = FEATURE.matcher(line);
            Matcher totals = TOTALS.matcher(line);
            Matcher use = USE.matcher(line);
            if (feature.find()) {
                close(tally, name, counted, total, used, checkouts, expires);
                name = feature.group(1);
                counted = false;
                expires = null;
                checkouts = new ArrayList<>();
            } else if (name != null && DATES_MARK.matcher(line).find()) {
                Matcher dates = DATES.matcher(line);
                if (!dates.find()) {
                    throw ServerOutput.partialLine(line);
                }
                expires = ServerOutput.expiry(name, dates.group(1), ServerOutput.ISO_DAY);
            } else if (name != null && totals.find()) {
                used = ServerOutput.number(totals.group(1));
                total = ServerOutput.number(totals.group(2));
                counted = true;
            } else if (name != null && use.find()) {
                String host = HOST_SUFFIX.matcher(use.group(3)).replaceFirst("");
                checkouts.add(new Checkout(use.group(2), host, ServerOutput.number(use.group(1))));
            } else if (name != null && COUNTED.matcher(line).find()) {
                throw ServerOutput.partialLine(line);
            }
        }
        close(tally, name, counted, total, used, checkouts, expires);
        return tally.report(output);
    }

    private static void close(Tally tally, String name, boolean counted, long total, long used,
            List<Checkout> checkouts, LocalDate expires) throws BadServerOutputException {
        if (name == null || !counted) {
            return;
        }
        long listed = 0;
        for (Checkout c : checkouts) {
            listed = ServerOutput.add(listed, c.quantity());
        }
        ServerOutput.requireListed(name, used, listed);
        Tally.Counts counts = tally.feature(name);
        counts.add(total, used, 0);
        counts.expire(expires, total);
        checkouts.forEach(counts::checkout);
    }
}
