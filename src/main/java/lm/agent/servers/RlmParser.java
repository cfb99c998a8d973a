package lm.agent.servers;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code rlmutil rlmstat -a -p}: a license pool section (a {@code NAME vVERSION} line, then
 * {@code count: N, # reservations: R, inuse: U, exp: 31-dec-2026}, or {@code exp: permanent}) and a usage section
 * ({@code NAME vVERSION: USER@HOST N/M at ...}). The pool header is not required: upstream
 * captures exist where it is cut off and the features follow the version banner directly.
 *
 * <p>A count or usage line must parse whole, and the usage lines of a feature must account for
 * at least its {@code inuse}: an output cut in the usage section fails instead of reporting
 * fewer checkouts than the server holds.
 */
final class RlmParser implements LicenseServerParser {
    private static final Pattern NAME = Pattern.compile("^\\s*(\\S+)\\s+v\\S+\\s*$");
    private static final Pattern COUNT_MARK = Pattern.compile("^\\s*count:");
    private static final Pattern COUNT = Pattern.compile(
            "^\\s*count:\\s*(\\d+),\\s*# reservations:\\s*(\\d+),\\s*inuse:\\s*(\\d+),\\s*exp:\\s*([^,\\s]+).*$");
    private static final Pattern USAGE_MARK = Pattern.compile("^\\s*\\S+\\s+v\\S+:\\s");
    // The user may contain '@' or spaces; the host is what follows the last '@'.
    private static final Pattern USAGE = Pattern.compile(
            "^\\s*(\\S+)\\s+v\\S+:\\s+(\\S.*)@(\\S+)\\s+(\\d+)/\\d+\\s+at\\s+\\d+/\\d+\\s+\\d+:\\d+\\s+\\(handle:\\s*(\\w+)\\)\\s*$");

    private record Use(String feature, Checkout checkout) {}

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        Map<String, Long> inUse = new LinkedHashMap<>();
        List<Use> uses = new ArrayList<>();
        String previous = "";
        for (String line : output.lines().toList()) {
            Matcher name = NAME.matcher(previous);
            if (COUNT_MARK.matcher(line).find()) {
                Matcher count = COUNT.matcher(line);
                if (!count.find()) {
                    throw ServerOutput.partialLine(line);
                }
                if (name.find()) {
                    // "inuse" is RLM's own figure; reservations are left out because RLM does not say
                    // whether a reserved-but-idle license is already in it, and we don't guess.
                    long used = ServerOutput.number(count.group(3));
                    long total = ServerOutput.number(count.group(1));
                    Tally.Counts counts = tally.feature(name.group(1));
                    counts.add(total, used, 0);
                    counts.expire(ServerOutput.expiry(name.group(1), count.group(4), ServerOutput.DAY_MON_YEAR), total);
                    inUse.put(name.group(1), ServerOutput.add(inUse.getOrDefault(name.group(1), 0L), used));
                }
            } else if (USAGE_MARK.matcher(line).find()) {
                Matcher usage = USAGE.matcher(line);
                if (!usage.find()) {
                    throw ServerOutput.partialLine(line);
                }
                uses.add(new Use(usage.group(1),
                        // the handle tells two checkouts of one user on one host apart
                        new Checkout(usage.group(2), usage.group(3), ServerOutput.number(usage.group(4)), "handle " + usage.group(5))));
            }
            if (!line.isBlank()) {
                previous = line;
            }
        }
        Map<String, Long> listed = new LinkedHashMap<>();
        for (Use use : uses) {
            // A use of a feature missing from the pool (a trimmed output) has no total to
            // count against; it is dropped rather than invented as a zero-total feature.
            if (tally.has(use.feature())) {
                tally.feature(use.feature()).checkout(use.checkout());
                listed.put(use.feature(), ServerOutput.add(listed.getOrDefault(use.feature(), 0L), use.checkout().quantity()));
            }
        }
        for (Map.Entry<String, Long> e : inUse.entrySet()) {
            ServerOutput.requireListed(e.getKey(), e.getValue(), listed.getOrDefault(e.getKey(), 0L));
        }
        return tally.report(output);
    }
}
