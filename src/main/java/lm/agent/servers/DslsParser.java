package lm.agent.servers;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code DSLicSrv -admin} fed {@code getLicenseUsage -csv}: a preamble (version, server status,
 * sometimes a "Warning: restricted connection" line), then a CSV header and one row per license,
 * repeated once per user holding it with Tokens/Host/User filled.
 *
 * <p>After the header, every line is a whole row: a license without users ends at its empty
 * Tokens cell, a row with a user has every named column. The rows of one license repeat the
 * same Count and Inuse, and their Tokens must account for at least Inuse: a row cut short, or
 * rows missing at the end, fail the reading.
 */
final class DslsParser implements LicenseServerParser {
    // The interactive prompt lands in front of whatever the tool prints next, the CSV header too.
    private static final String PROMPT = "^(\\s*admin >\\s*)+";

    /** One license (a feature under one expiry/customer id), as its rows say. */
    private static final class License {
        final String feature;
        final long count;
        final long inUse;
        long listed;

        License(String feature, long count, long inUse) {
            this.feature = feature;
            this.count = count;
            this.inUse = inUse;
        }
    }

    @Override
    public ServerReport parse(String output) throws BadServerOutputException {
        ServerOutput.rejectCrash(output);
        Tally tally = new Tally();
        Map<String, Integer> column = null;
        int named = 0;
        // Rows before the Count column identify one license; the same feature under a second
        // license (another expiry, another customer id) is a second pool whose counts add up.
        Map<String, License> licenses = new LinkedHashMap<>();
        for (String raw : output.lines().toList()) {
            String line = raw.replaceFirst(PROMPT, "");
            List<String> cells = List.of(line.split(",", -1));
            if (column == null) {
                column = header(cells);
                named = column == null ? 0 : (int) cells.stream().filter(c -> !c.isBlank()).count();
                continue;
            }
            if (line.isBlank()) {
                continue; // the prompt after the last row
            }
            int count = column.get("Count");
            int inuse = column.get("Inuse");
            Integer tokensAt = column.get("Tokens");
            String tokens = cell(cells, tokensAt);
            String user = cell(cells, column.get("User"));
            boolean idle = tokensAt == null ? cells.size() >= named : cells.size() == tokensAt + 1 && tokens.isEmpty();
            boolean held = cells.size() >= named && isNumber(tokens) && !user.isEmpty();
            String feature = cell(cells, column.get("Feature"));
            if (!(idle || held) || feature.isEmpty() || !isNumber(cells.get(count)) || !isNumber(cells.get(inuse))) {
                throw ServerOutput.partialLine(line);
            }
            String key = feature + "," + String.join(",", cells.subList(0, count));
            License license = new License(feature, ServerOutput.number(cells.get(count).strip()),
                    ServerOutput.number(cells.get(inuse).strip()));
            License seen = licenses.putIfAbsent(key, license);
            Tally.Counts counts = tally.feature(feature);
            if (seen == null) {
                counts.add(license.count, license.inUse, 0);
                // "2026-01-01 00:59:00"; the time of day is dropped, the day kept
                counts.expire(ServerOutput.expiry(feature, cell(cells, column.get("Expiration Date")), ServerOutput.ISO_DAY),
                        license.count);
            } else if (seen.count != license.count || seen.inUse != license.inUse) {
                throw new BadServerOutputException(ServerOutput.printable(feature) + ": rows of one license disagree on Count/Inuse");
            } else {
                license = seen;
            }
            if (held) {
                // "nid001627 (263.0)/127.0.0.1": the host name is the part before the pid and address.
                String host = cell(cells, column.get("Host")).split("[\\s/]", 2)[0];
                long quantity = ServerOutput.number(tokens);
                counts.checkout(new Checkout(user, host, quantity));
                license.listed = ServerOutput.add(license.listed, quantity);
            }
        }
        for (License license : licenses.values()) {
            ServerOutput.requireListed(license.feature, license.inUse, license.listed);
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
