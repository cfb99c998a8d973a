package lm.bench;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import java.util.Map;
import lm.db.Database;
import lm.http.Reply;
import lm.testing.TestDatabase;
import lm.usage.UsageReports;

/**
 * make bench BENCH_OPTS=-Dlm.bench.only=reports (issue 12): a generated usage history — a year of
 * hourly rollups for 1,000 pools with lm.bench.reports.users users each hour (and their daily
 * rollups, made by lm.roll_up_days as the agent passes make them), and
 * lm.bench.reports.raw_days (default 35) of per-minute samples of every pool — then the reports'
 * query times (GET /lm/reports/usage and /users as lm-server runs them, JSON included) and an
 * agent report of 1,000 pools with history on (lm.apply_agent_report, which records the samples,
 * rolls the hour up and applies retention), each the median of ROUNDS runs.
 */
final class Reports {
    static final int POOLS = 1000;
    static final int RAW_DAYS = Integer.getInteger("lm.bench.reports.raw_days", 35);
    static final int USERS = Integer.getInteger("lm.bench.reports.users", 2);
    static final int ROUNDS = Integer.getInteger("lm.bench.reports.rounds", 5);
    // the generated year ends at this hour; reports and agent reports run right after it. 23:00
    // UTC, the latest before now, is the worst case for the daily rollups: each agent report
    // re-rolls a day of 23 hours, and the reports' periods have partial days at both ends (1 and
    // 23 hours read from the hourly rollups). Figures at another hour are not comparable.
    static final Instant NOW = lastElevenPm(Instant.now());

    private Reports() {}

    static Instant lastElevenPm(Instant now) {
        Instant t = now.truncatedTo(ChronoUnit.DAYS).plus(23, ChronoUnit.HOURS);
        return t.isAfter(now) ? t.minus(1, ChronoUnit.DAYS) : t;
    }

    static void bench() throws Exception {
        String db = TestDatabase.create();
        try (HikariDataSource ds = Database.pool(TestDatabase.url(db), TestDatabase.user(), TestDatabase.password(), 2)) {
            System.out.printf(Locale.ROOT, "lm bench: reports over a year of hourly rollups for %d pools (%d users per pool-hour)"
                    + " and %d days of per-minute samples, PostgreSQL %s%n", POOLS, USERS, RAW_DAYS, Bench.version(ds));
            long t0 = System.nanoTime();
            generate(ds);
            System.out.printf(Locale.ROOT, "  generated in %.0f s: %s%n", (System.nanoTime() - t0) / 1e9, sizes(ds));
            Timestamp now = Timestamp.from(NOW);
            Timestamp year = Timestamp.from(NOW.minus(365, ChronoUnit.DAYS));
            Timestamp week = Timestamp.from(NOW.minus(7, ChronoUnit.DAYS));
            Timestamp month = Timestamp.from(NOW.minus(30, ChronoUnit.DAYS));
            Timestamp day = Timestamp.from(NOW.minus(1, ChronoUnit.DAYS));
            String usage = "SELECT coalesce(json_agg(r), '[]') FROM lm.usage_report(?, ?, ?, ?) r";
            time(ds, "usage, one feature, a year by day", usage, "rb.f0500", year, now, "day");
            time(ds, "usage, one feature, a year by hour", usage, "rb.f0500", year, now, "hour");
            time(ds, "usage, one feature, 7 days by hour", usage, "rb.f0500", week, now, "hour");
            time(ds, "usage, all 1,000 features, 7 days by day", usage, null, week, now, "day");
            time(ds, "usage, all 1,000 features, 1 day by hour", usage, null, day, now, "hour");
            users(ds, "users, 7 days, all rows", Map.of(), week, now, null, null);
            users(ds, "users, 30 days, all rows", Map.of(), month, now, null, null);
            users(ds, "users, a year, the first page of 100 (most first)", Map.of("limit", "100"), year, now, null, null);
            users(ds, "users, a year, the first page of 1,000 by user", Map.of("limit", "1000", "sort_field", "username"), year, now, null, null);
            users(ds, "users, a year, one feature (product_feature=)", Map.of(), year, now, "rb.f0500", null);
            users(ds, "users, a year, one user (username=)", Map.of(), year, now, null, "user42");
            users(ds, "users, a year, all rows", Map.of(), year, now, null, null);
            agentReports(ds);
        }
    }

    private static void generate(HikariDataSource ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            // lm.db.Database's pool has lm-server's statement timeout; generating takes minutes
            s.execute("SET statement_timeout = 0");
            s.execute("INSERT INTO lm.products (name) VALUES ('rb')");
            s.execute("INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES ('rb', 'rb', 600, 'flexlm')");
            s.execute("INSERT INTO lm.license_servers (config_id, host, port) SELECT id, 'rbhost', 27000 FROM lm.configurations");
            s.execute("INSERT INTO lm.features (name, product_id, config_id, total, used, reported_at)"
                    + " SELECT 'f' || lpad(i::text, 4, '0'), p.id, c.id, 100, 0, now() FROM lm.products p, lm.configurations c,"
                    + " generate_series(1, " + POOLS + ") i");
            // 100 pools at a time: one statement of 8.76 million rows would hold it all in one transaction's WAL
            for (int from = 0; from < POOLS; from += 100) {
                String pools = "(SELECT f.pool_id, f.name FROM lm.features f ORDER BY f.id OFFSET " + from + " LIMIT 100)";
                s.execute("INSERT INTO lm.usage_rollups SELECT f.pool_id, h, 'rb.' || f.name, 60, 3600, 100,"
                        + " (f.pool_id + extract(hour FROM h)) % 80, (f.pool_id + extract(hour FROM h)) % 80 + 10, 0, 5, 10, 2, 4, 1, 3, 0, 1, 0, 0"
                        + " FROM " + pools + " f, generate_series('" + NOW + "'::timestamptz - interval '365 days', '" + NOW + "'::timestamptz - interval '1 hour', interval '1 hour') h");
                s.execute("INSERT INTO lm.user_rollups SELECT f.pool_id, h, 'user' || ((f.pool_id * 7 + u * 13 + extract(doy FROM h)::int) % 300),"
                        + " 'rb.' || f.name, 1800 * u FROM " + pools + " f,"
                        + " generate_series('" + NOW + "'::timestamptz - interval '365 days', '" + NOW + "'::timestamptz - interval '1 hour', interval '1 hour') h,"
                        + " generate_series(1, " + USERS + ") u");
                s.execute("INSERT INTO lm.usage_samples SELECT f.pool_id, t, 'rb.' || f.name, 60, 100, 20, 0, 5, 3, 1, 0, false, false"
                        + " FROM " + pools + " f, generate_series('" + NOW + "'::timestamptz - interval '" + RAW_DAYS + " days', '" + NOW + "'::timestamptz - interval '1 minute',"
                        + " interval '1 minute') t");
                s.execute("INSERT INTO lm.user_samples SELECT f.pool_id, t, 'user' || (f.pool_id % 300), 'rb.' || f.name, 2, 60"
                        + " FROM " + pools + " f, generate_series('" + NOW + "'::timestamptz - interval '" + RAW_DAYS + " days', '" + NOW + "'::timestamptz - interval '1 minute',"
                        + " interval '1 minute') t");
                // the daily rollups the reports read whole days from, as every agent pass makes them
                s.execute("SELECT lm.roll_up_days('" + NOW + "'::timestamptz - interval '365 days', '" + NOW + "'::timestamptz - interval '1 hour',"
                        + " ARRAY(SELECT pool_id FROM " + pools + " f))");
                System.out.printf(Locale.ROOT, "  pools %d-%d generated%n", from + 1, from + 100);
            }
            s.execute("VACUUM ANALYZE lm.usage_rollups");
            s.execute("VACUUM ANALYZE lm.user_rollups");
            s.execute("VACUUM ANALYZE lm.usage_samples");
            s.execute("VACUUM ANALYZE lm.user_samples");
            s.execute("VACUUM ANALYZE lm.usage_day_rollups");
            s.execute("VACUUM ANALYZE lm.user_day_rollups");
            s.execute("RESET statement_timeout");
        }
    }

    private static String sizes(HikariDataSource ds) throws Exception {
        return lm.db.Sql.text(ds, "SELECT string_agg(t || ' ' || n || ' rows (' || pg_size_pretty(pg_total_relation_size(('lm.' || t)::regclass)) || ')', ', ')"
                + " FROM (SELECT 'usage_rollups' t, (SELECT count(*) FROM lm.usage_rollups) n UNION ALL"
                + " SELECT 'user_rollups', (SELECT count(*) FROM lm.user_rollups) UNION ALL"
                + " SELECT 'usage_samples', (SELECT count(*) FROM lm.usage_samples) UNION ALL"
                + " SELECT 'user_samples', (SELECT count(*) FROM lm.user_samples) UNION ALL"
                + " SELECT 'usage_day_rollups', (SELECT count(*) FROM lm.usage_day_rollups) UNION ALL"
                + " SELECT 'user_day_rollups', (SELECT count(*) FROM lm.user_day_rollups)) x");
    }

    private static void time(HikariDataSource ds, String what, String sql, Object... params) throws Exception {
        double[] ms = new double[ROUNDS];
        int kb = 0;
        for (int r = 0; r < ROUNDS; r++) {
            try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
                for (int i = 0; i < params.length; i++) {
                    ps.setObject(i + 1, params[i]);
                }
                long t0 = System.nanoTime();
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    kb = rs.getString(1).length() / 1024;
                }
                ms[r] = (System.nanoTime() - t0) / 1e6;
            }
        }
        System.out.printf(Locale.ROOT, "RESULT report %s: %.0f ms (median; min %.0f, max %.0f), %d kB of JSON, %s%n", what, Bench.median(ms),
                java.util.Arrays.stream(ms).min().orElse(0), java.util.Arrays.stream(ms).max().orElse(0), kb, Bench.load());
    }

    /** GET /lm/reports/users as lm-server answers it (lm.usage.UsageReports.users), the JSON included. */
    private static void users(HikariDataSource ds, String what, Map<String, String> params, Timestamp since, Timestamp until,
                              String productFeature, String username) throws Exception {
        double[] ms = new double[ROUNDS];
        Reply reply = null;
        for (int r = 0; r < ROUNDS; r++) {
            long t0 = System.nanoTime();
            reply = UsageReports.users(ds, UsageReports.usersQuery(params::get), since, until, productFeature, username);
            ms[r] = (System.nanoTime() - t0) / 1e6;
        }
        System.out.printf(Locale.ROOT, "RESULT report %s: %.0f ms (median; min %.0f, max %.0f), %d kB of JSON, %d rows in all, %s%n", what,
                Bench.median(ms), java.util.Arrays.stream(ms).min().orElse(0), java.util.Arrays.stream(ms).max().orElse(0),
                reply.json().length() / 1024, reply.totalCount(), Bench.load());
    }

    /** lm.apply_agent_report of all 1,000 pools with two checkouts each, a minute apart, and lm.record_usage's share of it. */
    private static void agentReports(HikariDataSource ds) throws Exception {
        StringBuilder items = new StringBuilder();
        for (int i = 1; i <= POOLS; i++) {
            items.append(i == 1 ? "" : ",").append(String.format(Locale.ROOT, "{\"product_feature\":\"rb.f%04d\",\"total\":100,\"used\":7,"
                    + "\"queued\":1,\"checkouts\":[{\"user\":\"user%d\",\"host\":\"n%d\",\"quantity\":3},{\"user\":\"ws\",\"host\":\"ws1\",\"quantity\":4}]}",
                    i, i % 300, i % 50));
        }
        String report = "{\"interval\":60,\"features\":[" + items + "]}";
        double[] all = new double[ROUNDS];
        double[] history = new double[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            Timestamp at = Timestamp.from(NOW.plusSeconds(60L * (r + 1)));
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(false);
                all[r] = run(c, "SELECT lm.apply_agent_report('rb', ?::jsonb, ?)", report, at);
                // the history part alone, on the same state, a second later (the report committed)
                c.commit();
                history[r] = run(c, "SELECT lm.record_usage('rb', ?::jsonb, ?)", report, Timestamp.from(at.toInstant().plusSeconds(1)));
                c.rollback();
                c.setAutoCommit(true);
            }
        }
        System.out.printf(Locale.ROOT, "RESULT agent report of %d pools with history on: lm.apply_agent_report %.0f ms (median, min %.0f, max %.0f),"
                + " of which recording the history (samples, checkouts, rollup of the hour and day, retention) %.0f ms (median), %s%n",
                POOLS, Bench.median(all), java.util.Arrays.stream(all).min().orElse(0), java.util.Arrays.stream(all).max().orElse(0),
                Bench.median(history), Bench.load());
    }

    private static double run(Connection c, String sql, String json, Timestamp at) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, json);
            ps.setTimestamp(2, at);
            long t0 = System.nanoTime();
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
            }
            return (System.nanoTime() - t0) / 1e6;
        }
    }
}
