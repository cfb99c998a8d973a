package lm.agent.servers;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code rlmutil rlmstat -a -p}: a license pool section (a {@code NAME vVERSION} line, then
 * {@code count: N, # reservations: R, inuse: U, ...}) and a usage section
 * ({@code NAME vVERSION: USER@HOST N/M at ...}). The pool header is not required: upstream
 * captures exist where it is cut off and the features follow the version banner directly.
 */
final class RlmParser implements LicenseServerParser {
    private static final Pattern NAME = Pattern.compile("^\\s*(\\S+)\\s+v\\S+\\s*$");
    private static final Pattern COUNT = Pattern.compile(
            "^\\s*count:\\s*(\\d+),\\s*# reservations:\\s*(\\d+),\\s*inuse:\\s*(\\d+)");
    // The user may contain '@' or spaces; the host is what follows the last '@'.
    private static final Pattern USAGE = Pattern.compile(
            "^\\s*(\\S+)\\s+v\\S+:\\s+(\\S.*)@(\\S+)\\s+(\\d+)/\\d+\\s+at\\s");

    private record Use(String feature, Checkout checkout) {}

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        List<Use> uses = new ArrayList<>();
        String previous = "";
        for (String line : output.lines().toList()) {
            Matcher count = COUNT.matcher(line);
            Matcher name = NAME.matcher(previous);
            Matcher usage = USAGE.matcher(line);
            if (count.find() && name.find()) {
                // "inuse" is RLM's own figure; reservations are left out because RLM does not say
                // whether a reserved-but-idle license is already in it, and we don't guess.
                tally.feature(name.group(1)).add(ServerOutput.number(count.group(1)),
                        ServerOutput.number(count.group(3)), 0);
            } else if (usage.find()) {
                uses.add(new Use(usage.group(1),
                        new Checkout(usage.group(2), usage.group(3), ServerOutput.number(usage.group(4)))));
            }
            if (!line.isBlank()) {
                previous = line;
            }
        }
        for (Use use : uses) {
            // A use of a feature missing from the pool (a trimmed output) has no total to
            // count against; it is dropped rather than invented as a zero-total feature.
            if (tally.has(use.feature())) {
                tally.feature(use.feature()).checkout(use.checkout());
            }
        }
        return tally.report(output);
    }
}
