package lm.agent.servers;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code DSLicSrv -admin} fed {@code getLicenseUsage -csv}: a preamble (version, server status,
 * sometimes a "Warning: restricted connection" line), then a CSV header and one row per license,
 * repeated once per user holding it with Tokens/Host/User filled.
 */
final class DslsParser implements LicenseServerParser {
    // The interactive prompt lands in front of whatever the tool prints next, the CSV header too.
    private static final String PROMPT = "^(\\s*admin >\\s*)+";

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        Map<String, Integer> column = null;
        // Rows before the Count column identify one license; the same feature under a second
        // license (another expiry, another customer id) is a second pool whose counts add up.
        Set<String> seenLicenses = new HashSet<>();
        for (String raw : output.lines().toList()) {
            String line = raw.replaceFirst(PROMPT, "");
            List<String> cells = List.of(line.split(",", -1));
            if (column == null) {
                column = header(cells);
                continue;
            }
            int needed = Math.max(column.get("Feature"), Math.max(column.get("Count"), column.get("Inuse")));
            if (cells.size() <= needed || !isNumber(cells.get(column.get("Count")))
                    || !isNumber(cells.get(column.get("Inuse")))) {
                continue;
            }
            String feature = cells.get(column.get("Feature")).strip();
            if (feature.isEmpty()) {
                continue;
            }
            Tally.Counts counts = tally.feature(feature);
            String license = feature + "," + String.join(",", cells.subList(0, column.get("Count")));
            if (seenLicenses.add(license)) {
                counts.add(ServerOutput.number(cells.get(column.get("Count")).strip()),
                        ServerOutput.number(cells.get(column.get("Inuse")).strip()), 0);
            }
            String tokens = cell(cells, column.get("Tokens"));
            String user = cell(cells, column.get("User"));
            if (isNumber(tokens) && !user.isEmpty()) {
                // "nid001627 (263.0)/127.0.0.1": the host name is the part before the pid and address.
                String host = cell(cells, column.get("Host")).split("[\\s/]", 2)[0];
                counts.checkout(new Checkout(user, host, ServerOutput.number(tokens)));
            }
        }
        return tally.report(output);
    }

    /** Column positions if this line is the CSV header, else null. */
    private static Map<String, Integer> header(List<String> cells) {
        Map<String, Integer> column = new HashMap<>();
        for (int i = 0; i < cells.size(); i++) {
            column.putIfAbsent(cells.get(i).strip(), i);
        }
        boolean isHeader = column.containsKey("Feature") && column.containsKey("Count")
                && column.containsKey("Inuse");
        return isHeader ? column : null;
    }

    private static String cell(List<String> cells, Integer index) {
        return index == null || index >= cells.size() ? "" : cells.get(index).strip();
    }

    private static boolean isNumber(String text) {
        return text.strip().matches("\\d+");
    }
}
