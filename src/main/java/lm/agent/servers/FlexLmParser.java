package lm.agent.servers;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lmutil lmstat -a}: one "Users of X:" block per feature, usage lines under it.
 *
 * <p>A usage line is {@code USER HOST DISPLAY [feature=F | PKG:COMPONENT] (vVERSION) (SERVER/PORT HANDLE)...}.
 * The two parenthesised groups are the anchor. Of the words before them, an optional
 * {@code feature=}/{@code PKG:COMPONENT} word is dropped, the last remaining word is the display, the one
 * before it the host, and everything before that the user: FlexLM prints user names with spaces
 * (Windows accounts like "John Smith") verbatim, but never host or display names with spaces. With
 * only two words there is no display and they are user and host.
 *
 * <p>A usage, reservation or "Users of" line that does not parse whole, or a block whose lines
 * account for fewer licenses than its header says are in use, fails the reading: that is what an
 * output cut short looks like.
 *
 * <p>lmstat prints a line per INCREMENT under the header,
 * {@code "NAME" vVERSION, vendor: VENDOR, expiry: 31-dec-2026} (or {@code permanent(no expiration
 * date)}); some versions (the 2012 captures) print it without the expiry. The feature's expiry is the nearest of them; lmstat prints
 * no count per INCREMENT, so how many expire then is not known.
 *
 * <p>In a multi-server dump, a server that is down contributes no feature and the others are still
 * reported: a client cannot check out from a server that is down, so its licenses are not free.
 */
final class FlexLmParser implements LicenseServerParser {
    // Singular "license" when the number is 1. Any "Users of" line must be whole: this counted form,
    // or another parenthesised form ("(Uncounted, node-locked)", "(Error: …)") that ends the block.
    private static final Pattern HEADER = Pattern.compile(
            "^\\s*Users of (\\S+):\\s+\\(Total of (\\d+) licenses? issued;\\s+Total of (\\d+) licenses? in use\\)\\s*$");
    private static final Pattern OTHER_HEADER = Pattern.compile("^\\s*Users of \\S+:\\s+\\((?!Total of)[^()]*\\)\\s*$");
    private static final Pattern ANY_HEADER = Pattern.compile("^\\s*Users of ");
    private static final Pattern SERVER_STATUS = Pattern.compile("^\\s*License server status");
    // The "(vVERSION)" group marks a usage line; such a line must then parse whole.
    private static final Pattern USAGE_MARK = Pattern.compile("\\(v[^()\\s]*\\)");
    private static final Pattern USAGE = Pattern.compile(
            "^\\s+(\\S.*?)\\s+\\(v[^()\\s]*\\)\\s+\\(([^()]*)\\)(.*)$");
    // What follows the handle: the start time, then an optional ", N licenses" (none means 1) and
    // an optional "(linger: …)"; or "queued for N licenses". A line cut anywhere in the time or
    // the count no longer matches; one cut just before ", 29 licenses" does, and reads as 1: the
    // header's in-use figure is what catches that (see close).
    private static final Pattern TAIL = Pattern.compile(
            "^(?:,\\s+start\\s+\\w{3}\\s+\\d{1,2}/\\d{1,2}\\s+\\d{1,2}:\\d{2}(?:,\\s+(\\d+) licenses?)?"
                    + "(?:\\s+\\(linger:\\s+\\d+(?:\\s*/\\s*\\d+)?\\))?|\\s+queued for (\\d+) licenses?)\\s*$");
    private static final Pattern START = Pattern.compile("start\\s+(\\w{3}\\s+\\d{1,2}/\\d{1,2}\\s+\\d{1,2}:\\d{2})");
    private static final Pattern EXPIRY_MARK = Pattern.compile("^\\s*\"[^\"]*\"\\s+v\\S*,.*\\bexpiry:");
    private static final Pattern EXPIRY = Pattern.compile("\\bexpiry:\\s*([^,\\s(]+)");
    private static final Pattern RESERVATION_MARK = Pattern.compile("^\\s+\\d+ RESERVATION");
    private static final Pattern RESERVATION = Pattern.compile("^\\s+(\\d+) RESERVATIONs? for \\S+ .*\\([^()]*\\)\\s*$");
    // "feature=NAME" (lmutil 2012+) or a package component "PKG:COMPONENT"; an X display such as
    // "wks01:0.0" has a digit after the colon and stays a display.
    private static final Pattern COMPONENT = Pattern.compile("^(feature=\\S+|[\\w.-]+:[A-Za-z_][\\w.-]*)$");

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        Block block = null;
        for (String line : output.lines().toList()) {
            if (ANY_HEADER.matcher(line).find()) {
                close(block, tally);
                block = null;
                Matcher header = HEADER.matcher(line);
                if (header.find()) {
                    block = new Block(header.group(1), ServerOutput.number(header.group(2)),
                            ServerOutput.number(header.group(3)));
                } else if (!OTHER_HEADER.matcher(line).find()) {
                    throw ServerOutput.partialLine(line);
                }
            } else if (SERVER_STATUS.matcher(line).find()) {
                close(block, tally);
                block = null;
            } else if (block != null) {
                block.read(line);
            }
        }
        close(block, tally);
        return tally.report(output);
    }

    private static void close(Block block, Tally tally) throws BadServerOutputException {
        if (block == null) {
            return;
        }
        // The header's in-use figure counts every checkout, lingering licenses and reservations
        // (lmstat shows a reserved license as in use whether or not anyone holds it), and lmstat -a
        // lists each of them under it. Fewer listed than in use means the listing was cut short.
        // More is possible (DUP_GROUP checkouts share a license); the larger figure is kept, since
        // a reserved license is unavailable to the cluster either way.
        long listed = ServerOutput.add(block.checkedOut, block.reserved);
        ServerOutput.requireListed(block.name, block.used, listed);
        Tally.Counts counts = tally.feature(block.name);
        counts.add(block.total, Math.max(block.used, listed), block.queued);
        block.checkouts.forEach(counts::checkout);
        for (LocalDate expiry : block.expiries) {
            counts.expire(expiry, null);
        }
    }

    private static final class Block {
        final String name;
        final long total;
        final long used;
        long checkedOut;
        long reserved;
        long queued;
        final List<Checkout> checkouts = new ArrayList<>();
        final List<LocalDate> expiries = new ArrayList<>();

        Block(String name, long total, long used) {
            this.name = name;
            this.total = total;
            this.used = used;
        }

        void read(String line) throws BadServerOutputException {
            if (EXPIRY_MARK.matcher(line).find()) {
                Matcher expiry = EXPIRY.matcher(line);
                if (!expiry.find()) {
                    throw ServerOutput.partialLine(line);
                }
                expiries.add(ServerOutput.expiry(name, expiry.group(1), ServerOutput.DAY_MON_YEAR));
                return;
            }
            if (RESERVATION_MARK.matcher(line).find()) {
                // Held for a host/user/group by the options file: not a checkout, nobody to match.
                Matcher reservation = RESERVATION.matcher(line);
                if (!reservation.find()) {
                    throw ServerOutput.partialLine(line);
                }
                reserved = ServerOutput.add(reserved, ServerOutput.number(reservation.group(1)));
                return;
            }
            if (!USAGE_MARK.matcher(line).find()) {
                return; // the feature's version/vendor line, its license type, blank lines
            }
            Matcher usage = USAGE.matcher(line);
            Matcher tail = usage.find() ? TAIL.matcher(usage.group(3)) : null;
            if (tail == null || !tail.find()) {
                throw ServerOutput.partialLine(line);
            }
            if (tail.group(2) != null) {
                // Waiting, not holding: the server does not count it in use either.
                queued = ServerOutput.add(queued, ServerOutput.number(tail.group(2)));
                return;
            }
            String[] words = usage.group(1).trim().split("\\s+");
            if (COMPONENT.matcher(words[words.length - 1]).matches()) {
                words = Arrays.copyOf(words, words.length - 1);
            }
            if (words.length < 2) {
                throw ServerOutput.partialLine(line);
            }
            int hostAt = words.length == 2 ? 1 : words.length - 2;
            String user = String.join(" ", Arrays.copyOfRange(words, 0, hostAt));
            // No ", N licenses" suffix means one license; "(linger: N / M)" lines are ordinary
            // checkouts here because a lingering license is still held.
            long quantity = tail.group(1) != null ? ServerOutput.number(tail.group(1)) : 1;
            // "(server/port handle), start Thu 10/29 8:09": the handle and the start time tell two
            // checkouts of one user on one host apart (lmutil prints no year: the key only compares)
            Matcher start = START.matcher(usage.group(3));
            String key = usage.group(2).trim().replaceAll("\\s+", " ") + (start.find() ? " " + start.group(1) : "");
            checkouts.add(new Checkout(user, words[hostAt], quantity, key));
            checkedOut = ServerOutput.add(checkedOut, quantity);
        }
    }
}
