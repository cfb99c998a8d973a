package lm.agent.servers;

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
 * <p>In a multi-server dump, a server that is down contributes no feature and the others are still
 * reported: a client cannot check out from a server that is down, so its licenses are not free.
 */
final class FlexLmParser implements LicenseServerParser {
    // Singular "license" when the number is 1; uncounted and error headers don't match and end the block.
    private static final Pattern HEADER = Pattern.compile(
            "^Users of (\\S+):\\s+\\(Total of (\\d+) licenses? issued;\\s+Total of (\\d+) licenses? in use\\)");
    private static final Pattern BLOCK_END = Pattern.compile("^\\s*(Users of |License server status)");
    private static final Pattern USAGE = Pattern.compile(
            "^\\s+(\\S.*?)\\s+\\(v[^()\\s]*\\)\\s+\\([^()]*\\)(.*)$");
    private static final Pattern COUNT = Pattern.compile(",\\s*(\\d+) licenses?\\b");
    private static final Pattern QUEUED = Pattern.compile("\\bqueued for (\\d+) licenses?\\b");
    private static final Pattern RESERVATION = Pattern.compile("^\\s+(\\d+) RESERVATIONs? for \\S+ \\S");
    // "feature=NAME" (lmutil 2012+) or a package component "PKG:COMPONENT"; an X display such as
    // "wks01:0.0" has a digit after the colon and stays a display.
    private static final Pattern COMPONENT = Pattern.compile("^(feature=\\S+|[\\w.-]+:[A-Za-z_][\\w.-]*)$");

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        Block block = null;
        for (String line : output.lines().toList()) {
            Matcher header = HEADER.matcher(line);
            if (header.find()) {
                close(block, tally);
                block = new Block(header.group(1), ServerOutput.number(header.group(2)),
                        ServerOutput.number(header.group(3)));
            } else if (BLOCK_END.matcher(line).find()) {
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
        // The header's in-use figure already counts reservations (lmstat shows a reserved license as
        // in use whether or not anyone holds it) and lingering licenses. Taking the larger of it and
        // our own sum only matters if a server leaves reservations out: a reserved license is
        // unavailable to the cluster either way.
        long used = Math.max(block.used, ServerOutput.add(block.checkedOut, block.reserved));
        Tally.Counts counts = tally.feature(block.name);
        counts.add(block.total, used, block.queued);
        block.checkouts.forEach(counts::checkout);
    }

    private static final class Block {
        final String name;
        final long total;
        final long used;
        long checkedOut;
        long reserved;
        long queued;
        final List<Checkout> checkouts = new ArrayList<>();

        Block(String name, long total, long used) {
            this.name = name;
            this.total = total;
            this.used = used;
        }

        void read(String line) throws BadServerOutputException {
            Matcher reservation = RESERVATION.matcher(line);
            if (reservation.find()) {
                // Held for a host/user/group by the options file: not a checkout, nobody to match.
                reserved = ServerOutput.add(reserved, ServerOutput.number(reservation.group(1)));
                return;
            }
            Matcher usage = USAGE.matcher(line);
            if (!usage.find()) {
                return;
            }
            String rest = usage.group(2);
            Matcher queuedFor = QUEUED.matcher(rest);
            if (queuedFor.find()) {
                // Waiting, not holding: the server does not count it in use either.
                queued = ServerOutput.add(queued, ServerOutput.number(queuedFor.group(1)));
                return;
            }
            String[] words = usage.group(1).trim().split("\\s+");
            if (COMPONENT.matcher(words[words.length - 1]).matches()) {
                words = Arrays.copyOf(words, words.length - 1);
            }
            if (words.length < 2) {
                return;
            }
            int hostAt = words.length == 2 ? 1 : words.length - 2;
            String user = String.join(" ", Arrays.copyOfRange(words, 0, hostAt));
            Matcher count = COUNT.matcher(rest);
            // No ", N licenses" suffix means one license; "(linger: N / M)" lines are ordinary
            // checkouts here because a lingering license is still held.
            long quantity = count.find() ? ServerOutput.number(count.group(1)) : 1;
            checkouts.add(new Checkout(user, words[hostAt], quantity));
            checkedOut = ServerOutput.add(checkedOut, quantity);
        }
    }
}
