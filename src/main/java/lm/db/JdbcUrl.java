package lm.db;

import java.util.Properties;

/**
 * The parts of a pgjdbc URL that lm-server reads or sets: how many hosts it names, and its
 * {@code targetServerType}, read by pgjdbc's own parser (org.postgresql.Driver.parseURL).
 */
public final class JdbcUrl {
    public static final String TARGET = "targetServerType";

    private JdbcUrl() {}

    /** True when the URL names several hosts ({@code //h1:p1,h2:p2/db}). */
    public static boolean multiHost(String url) {
        return parse(url).getProperty("PGHOST", "").contains(",");
    }

    /** The value of property {@code name} in the URL as pgjdbc reads it (names match exactly), or null. */
    public static String param(String url, String name) {
        return parse(url).getProperty(name);
    }

    /** pgjdbc's own reading of the URL; none (no hosts, no properties) when it is not one of its URLs. */
    private static Properties parse(String url) {
        Properties p = org.postgresql.Driver.parseURL(url, null);
        return p == null ? new Properties() : p;
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
                if (!kv.isEmpty() && !key.equals(name)) {
                    out.append(sep).append(kv);
                    sep = '&';
                }
            }
        }
        return out.append(sep).append(name).append('=').append(value).toString();
    }
}
