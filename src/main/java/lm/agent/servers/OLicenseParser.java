package lm.agent.servers;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code olixtool -sv}: one block per license (separated by {@code ====} lines), each with module
 * rows {@code NAME; TYPE; FLOATCOUNT; EXPIRATION;} and, under a module in use,
 * {@code N FloatsLockedBy:} followed by {@code USER@HOST #N} lines. A module licensed by several
 * blocks (e.g. a renewal bought before the old one expired) is one pool: the counts are summed,
 * and its expiry is the nearest EXPIRATION ({@code 2026-12-31 23:59:59}, kept as the day).
 *
 * <p>Under a module row, until a blank line, only the {@code FloatsLockedBy} line and its user
 * lines may follow, each whole, and the users' {@code #N} must account for at least the floats
 * locked. olixtool prints nothing under a module nobody uses, so an output cut right after a
 * module row cannot be told from an idle module; every other cut fails.
 */
final class OLicenseParser implements LicenseServerParser {
    private static final Pattern SEPARATOR = Pattern.compile("^\\s*={5,}\\s*$");
    private static final Pattern COLUMNS = Pattern.compile("^\\s*Name;");
    private static final Pattern MODULE = Pattern.compile("^\\s*([^;\\s]+);\\s*[^;]*;\\s*(\\d+);\\s*([^;]*);\\s*$");
    private static final Pattern LOCKED = Pattern.compile("^\\s*(\\d+) FloatsLockedBy:\\s*$");
    private static final Pattern USER = Pattern.compile("^\\s*(\\S+)@(\\S+)\\s+#(\\d+)\\s*$");

    /** One module row and what is listed under it. */
    private static final class Module {
        final String name;
        final Tally.Counts counts;
        long locked = -1;
        long listed;

        Module(String name, Tally.Counts counts) {
            this.name = name;
            this.counts = counts;
        }

        void read(String line) throws BadServerOutputException {
            Matcher floats = LOCKED.matcher(line);
            Matcher user = USER.matcher(line);
            if (locked < 0 && floats.find()) {
                locked = ServerOutput.number(floats.group(1));
                counts.add(0, locked, 0);
            } else if (locked >= 0 && user.find()) {
                Checkout c = new Checkout(user.group(1), user.group(2), ServerOutput.number(user.group(3)));
                counts.checkout(c);
                listed = ServerOutput.add(listed, c.quantity());
            } else {
                throw ServerOutput.partialLine(line);
            }
        }

        void close() throws BadServerOutputException {
            ServerOutput.requireListed(name, Math.max(locked, 0), listed);
        }
    }

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        Module module = null;
        for (String line : output.lines().toList()) {
            Matcher row = MODULE.matcher(line);
            if (line.isBlank() || SEPARATOR.matcher(line).find()) {
                module = close(module);
            } else if (row.find()) {
                close(module);
                module = new Module(row.group(1), tally.feature(row.group(1)));
                long floats = ServerOutput.number(row.group(2));
                module.counts.add(floats, 0, 0);
                module.counts.expire(ServerOutput.expiry(row.group(1), row.group(3), ServerOutput.ISO_DAY), floats);
            } else if (line.contains(";") && !COLUMNS.matcher(line).find()) {
                throw ServerOutput.partialLine(line);
            } else if (module != null) {
                module.read(line);
            }
        }
        close(module);
        return tally.report(output);
    }

    private static Module close(Module module) throws BadServerOutputException {
        if (module != null) {
            module.close();
        }
        return null;
    }
}
