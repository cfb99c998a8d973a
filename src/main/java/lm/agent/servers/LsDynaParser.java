package lm.agent.servers;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lstc_qrun -R}: the LICENSE INFORMATION table. Programs that share a pool are listed
 * one after another and closed by a {@code LICENSE GROUP} row; their own USED cells are
 * meaningless ({@code -} or 0) and the group row holds the pool's real USED/MAX/QUEUE, which we
 * give to every program of the group. A program after the last group row stands alone and keeps
 * its own cells. Each program has its own EXPIRATION ({@code 12/30/2025}). User rows
 * ({@code USER PID@HOST N}) belong to the program row above them.
 *
 * <p>Every line of the table must parse whole, the user rows must account for at least USED,
 * and FREE must agree with USED and MAX (USED + FREE = MAX) for a group row and for a program
 * that stands alone: a table cut before its
 * {@code LICENSE GROUP} row leaves programs whose own USED cell is 0 while FREE says the pool is
 * in use, and that reading fails instead of reporting 0. A FREE of 0 is not checked: upstream's
 * capture of an idle server prints FREE {@code 000} against MAX 500 with nothing used
 * (lsdyna_output_no_licenses.txt), so a zero there says nothing.
 */
final class LsDynaParser implements LicenseServerParser {
    private static final Pattern TABLE_START = Pattern.compile("^PROGRAM\\s+EXPIRATION");
    private static final Pattern RULE = Pattern.compile("^\\s*-[-\\s|]*$");
    // The CPUS column is usually blank; when a number is there it is skipped.
    private static final Pattern PROGRAM = Pattern.compile(
            "^(\\S+)\\s+(\\S+)\\s+(?:\\d+\\s+)?(-|\\d+)\\s+(\\d+)\\s+(\\d+)\\s*\\|\\s*(\\d+)\\s*$");
    private static final Pattern GROUP = Pattern.compile(
            "^\\s+LICENSE GROUP\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s*\\|\\s*(\\d+)\\s*$");
    private static final Pattern USER = Pattern.compile("^\\s+(\\S+)\\s+\\d+@(\\S+)\\s+(\\d+)\\s*$");

    private static final class Program {
        final String name;
        final LocalDate expires;
        final String used;
        final long free;
        final long max;
        final long queue;
        final List<Checkout> checkouts = new ArrayList<>();

        Program(String name, LocalDate expires, String used, long free, long max, long queue) {
            this.name = name;
            this.expires = expires;
            this.used = used;
            this.free = free;
            this.max = max;
            this.queue = queue;
        }
    }

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        List<Program> pending = new ArrayList<>();
        boolean inTable = false;
        for (String line : output.lines().toList()) {
            if (TABLE_START.matcher(line).find()) {
                inTable = true;
                continue;
            }
            if (!inTable) {
                continue;
            }
            if (line.isBlank()) {
                inTable = false; // the table has no blank line inside; what follows is not ours
                continue;
            }
            Matcher group = GROUP.matcher(line);
            Matcher program = PROGRAM.matcher(line);
            Matcher user = USER.matcher(line);
            if (group.find()) {
                long used = ServerOutput.number(group.group(1));
                long free = ServerOutput.number(group.group(2));
                long max = ServerOutput.number(group.group(3));
                long queue = ServerOutput.number(group.group(4));
                requireFree("LICENSE GROUP", used, free, max);
                ServerOutput.requireListed("LICENSE GROUP", used, listed(pending));
                for (Program p : pending) {
                    record(tally, p, max, used, queue);
                }
                pending.clear();
            } else if (program.find()) {
                pending.add(new Program(program.group(1),
                        ServerOutput.expiry(program.group(1), program.group(2), ServerOutput.US_DAY), program.group(3),
                        ServerOutput.number(program.group(4)), ServerOutput.number(program.group(5)),
                        ServerOutput.number(program.group(6))));
            } else if (user.find() && !pending.isEmpty()) {
                pending.get(pending.size() - 1).checkouts.add(
                        new Checkout(user.group(1), user.group(2), ServerOutput.number(user.group(3))));
            } else if (!RULE.matcher(line).find()) {
                throw ServerOutput.partialLine(line);
            }
        }
        for (Program p : pending) {
            long used;
            if (p.used.equals("-")) {
                // "-" without a group row to say the pool's figure: its own users are all we know.
                used = listed(List.of(p));
            } else {
                used = ServerOutput.number(p.used);
                ServerOutput.requireListed(p.name, used, listed(List.of(p)));
            }
            requireFree(p.name, used, p.free, p.max);
            record(tally, p, p.max, used, p.queue);
        }
        return tally.report(output);
    }

    /** What the user rows under these programs hold: each running program is listed with its licenses. */
    private static long listed(List<Program> programs) throws BadServerOutputException {
        long sum = 0;
        for (Program p : programs) {
            for (Checkout c : p.checkouts) {
                sum = ServerOutput.add(sum, c.quantity());
            }
        }
        return sum;
    }

    private static void requireFree(String row, long used, long free, long max) throws BadServerOutputException {
        if (free > 0 && ServerOutput.add(used, free) != max) {
            throw new BadServerOutputException(ServerOutput.printable(row) + ": USED " + used + " + FREE " + free
                    + " is not MAX " + max + " (output cut short?)");
        }
    }

    private static void record(Tally tally, Program p, long total, long used, long queue)
            throws BadServerOutputException {
        Tally.Counts counts = tally.feature(p.name);
        counts.add(total, used, queue);
        // a program's EXPIRATION covers the licenses it can use: the group's, or its own
        counts.expire(p.expires, total);
        p.checkouts.forEach(counts::checkout);
    }
}
