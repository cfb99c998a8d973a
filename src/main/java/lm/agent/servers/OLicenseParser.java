package lm.agent.servers;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code olixtool -sv}: one block per license (separated by {@code ====} lines), each with module
 * rows {@code NAME; TYPE; FLOATCOUNT; EXPIRATION;} and, under a module in use,
 * {@code N FloatsLockedBy:} followed by {@code USER@HOST #N} lines. A module licensed by several
 * blocks (e.g. a renewal bought before the old one expired) is one pool: the counts are summed.
 */
final class OLicenseParser implements LicenseServerParser {
    private static final Pattern SEPARATOR = Pattern.compile("^\\s*={5,}\\s*$");
    private static final Pattern MODULE = Pattern.compile("^\\s*([^;\\s]+);\\s*[^;]*;\\s*(\\d+);");
    private static final Pattern LOCKED = Pattern.compile("^\\s*(\\d+) FloatsLockedBy:");
    private static final Pattern USER = Pattern.compile("^\\s*(\\S+)@(\\S+)\\s+#(\\d+)\\s*$");

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        Tally.Counts module = null;
        boolean locked = false;
        for (String line : output.lines().toList()) {
            Matcher row = MODULE.matcher(line);
            Matcher floats = LOCKED.matcher(line);
            Matcher user = USER.matcher(line);
            if (SEPARATOR.matcher(line).find()) {
                module = null;
                locked = false;
            } else if (row.find()) {
                module = tally.feature(row.group(1));
                module.add(ServerOutput.number(row.group(2)), 0, 0);
                locked = false;
            } else if (module != null && floats.find()) {
                module.add(0, ServerOutput.number(floats.group(1)), 0);
                locked = true;
            } else if (locked && user.find()) {
                module.checkout(new Checkout(user.group(1), user.group(2), ServerOutput.number(user.group(3))));
            }
        }
        return tally.report(output);
    }
}
