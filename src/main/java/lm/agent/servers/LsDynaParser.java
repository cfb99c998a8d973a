package lm.agent.servers;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lstc_qrun -R}: the LICENSE INFORMATION table. Programs that share a pool are listed
 * one after another and closed by a {@code LICENSE GROUP} row; their own USED cells are
 * meaningless ({@code -} or 0) and the group row holds the pool's real USED/MAX/QUEUE, which we
 * give to every program of the group. A program after the last group row stands alone and keeps
 * its own cells. User rows ({@code USER PID@HOST N}) belong to the program row above them.
 */
final class LsDynaParser implements LicenseServerParser {
    private static final Pattern TABLE_START = Pattern.compile("^PROGRAM\\s+EXPIRATION");
    // The CPUS column is usually blank; when a number is there it is skipped.
    private static final Pattern PROGRAM = Pattern.compile(
            "^(\\S+)\\s+\\S+\\s+(?:\\d+\\s+)?(-|\\d+)\\s+\\d+\\s+(\\d+)\\s*\\|\\s*(\\d+)\\s*$");
    private static final Pattern GROUP = Pattern.compile(
            "^\\s+LICENSE GROUP\\s+(\\d+)\\s+\\d+\\s+(\\d+)\\s*\\|\\s*(\\d+)\\s*$");
    private static final Pattern USER = Pattern.compile("^\\s+(\\S+)\\s+\\d+@(\\S+)\\s+(\\d+)\\s*$");

    private static final class Program {
        final String name;
        final String used;
        final long max;
        final long queue;
        final List<Checkout> checkouts = new ArrayList<>();

        Program(String name, String used, long max, long queue) {
            this.name = name;
            this.used = used;
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
            Matcher group = GROUP.matcher(line);
            Matcher program = PROGRAM.matcher(line);
            Matcher user = USER.matcher(line);
            if (group.find()) {
                long used = ServerOutput.number(group.group(1));
                long max = ServerOutput.number(group.group(2));
                long queue = ServerOutput.number(group.group(3));
                for (Program p : pending) {
                    record(tally, p, max, used, queue);
                }
                pending.clear();
            } else if (program.find()) {
                pending.add(new Program(program.group(1), program.group(2),
                        ServerOutput.number(program.group(3)), ServerOutput.number(program.group(4))));
            } else if (user.find() && !pending.isEmpty()) {
                pending.get(pending.size() - 1).checkouts.add(
                        new Checkout(user.group(1), user.group(2), ServerOutput.number(user.group(3))));
            }
        }
        for (Program p : pending) {
            long used = 0;
            if (p.used.equals("-")) {
                // "-" without a group row to say the pool's figure: its own users are all we know.
                for (Checkout c : p.checkouts) {
                    used = ServerOutput.add(used, c.quantity());
                }
            } else {
                used = ServerOutput.number(p.used);
            }
            record(tally, p, p.max, used, p.queue);
        }
        return tally.report(output);
    }

    private static void record(Tally tally, Program p, long total, long used, long queue)
            throws BadServerOutputException {
        Tally.Counts counts = tally.feature(p.name);
        counts.add(total, used, queue);
        p.checkouts.forEach(counts::checkout);
    }
}
