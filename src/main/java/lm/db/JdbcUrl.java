package lm.db;

import java.util.Locale;

/**
 * The parts of a pgjdbc URL that lm-server reads or sets: how many hosts it names, and its
 * {@code targetServerType}. pgjdbc reads properties after '?', separated by '&'.
 */
public final class JdbcUrl {
    public static final String TARGET = "targetServerType";

    private JdbcUrl() {}

    /** True when the URL names several hosts ({@code //h1:p1,h2:p2/db}). */
    public static boolean multiHost(String url) {
        int start = url.indexOf("//");
        if (start < 0) {
            return false;
        }
        int end = start + 2;
        while (end < url.length() && url.charAt(end) != '/' && url.charAt(end) != '?') {
            end++;
        }
        return url.substring(start + 2, end).contains(",");
    }

    /** The value of property {@code name} in the URL (names compared without case), or null. */
    public static String param(String url, String name) {
        int q = url.indexOf('?');
        if (q < 0) {
            return null;
        }
        for (String kv : url.substring(q + 1).split("&")) {
            int eq = kv.indexOf('=');
            if (eq > 0 && kv.substring(0, eq).toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))) {
                return kv.substring(eq + 1);
            }
        }
        return null;
    }

    /** The URL with property {@code name} set to {@code value} (replaced when present). */
    public static String withParam(String url, String name, String value) {
        int q = url.indexOf('?');
        StringBuilder out = new StringBuilder(q < 0 ? url : url.substring(0, q));
        char sep = '?';
        if (q >= 0) {
            for (String kv : url.substring(q + 1).split("&")) {
                int eq = kv.indexOf('=');
                String key = eq < 0 ? kv : kv.substring(0, eq);
                if (!kv.isEmpty() && !key.toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))) {
                    out.append(sep).append(kv);
                    sep = '&';
                }
            }
        }
        return out.append(sep).append(name).append('=').append(value).toString();
    }
}
