package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import lm.db.Sql;
import lm.testing.Http.Res;
import lm.testing.TestApi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Usage history (issue 12): every agent report stores a sample per pool with the right
 * external/demand/queued and replaces the pool's checkouts; the hourly rollup is idempotent and
 * correct across hour boundaries; retention deletes exactly what is older; the reports' numbers
 * on a known data set; bad report input is a 4xx.
 */
class UsageHistoryTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);
    static final Instant T0 = Instant.parse("2030-03-01T10:00:00Z");

    static Timestamp at(String t) {
        return Timestamp.from(Instant.parse(t));
    }

    private static String report(String cluster, String report, Timestamp t) throws SQLException {
        return Sql.text(api.ds, "SELECT lm.apply_agent_report(?, ?::jsonb, ?)", cluster, report, t);
    }

    private static String sample(long pool, Timestamp t) throws SQLException {
        return Sql.text(api.ds, "SELECT concat_ws(' ', total, used, reserved, booked, external, demand, queued, stale, held, seconds)"
                + " FROM lm.usage_samples WHERE pool_id = ? AND at = ?", pool, t);
    }

    @Test
    void everyReportStoresASamplePerPoolWithExternalDemandAndQueued() throws Exception {
        long c = pools.config("use1", "use1", "flex-use1", 27000, 7200);
        long f = pools.feature(c, "use1p", "f", 10, 0, 0, at("2030-03-01T10:00:00Z"));
        long g = pools.feature(c, "use1p", "g", 4, 0, 0, at("2030-03-01T10:00:00Z"));
        // alice's job on n1 books 3 and 2 more are booked by carol's job that has not started
        Sql.text(api.ds, "SELECT created FROM lm.book_job('use1', '101', 'alice', 'n1.example.org', ?::jsonb, ?)",
                "[{\"product_feature\":\"use1p.f\",\"quantity\":3}]", at("2030-03-01T10:01:00Z"));
        Sql.text(api.ds, "SELECT created FROM lm.book_job('use1', '102', 'carol', 'n2', ?::jsonb, ?)",
                "[{\"product_feature\":\"use1p.f\",\"quantity\":2}]", at("2030-03-01T10:01:00Z"));
        // alice holds her 3 on n1 (matched: a job License Manager knows), bob 2 on his
        // workstation (external); the server queues 2; job 77 waits for 4 of f
        Timestamp t1 = at("2030-03-01T10:50:00Z");
        report("use1", """
                {"interval": 60, "features": [
                  {"product_feature": "use1p.f", "total": 10, "used": 5, "queued": 2, "checkouts": [
                     {"user": "alice", "host": "n1", "quantity": 3}, {"user": "bob", "host": "ws9", "quantity": 2}]},
                  {"product_feature": "use1p.g", "total": 4, "used": 1, "queued": 0, "checkouts": [
                     {"user": "bob", "host": "ws9", "quantity": 1}]}],
                 "slurm": {"job_ids": ["101", "102", "77"], "squeue_age_ms": 0,
                           "pending": [{"job_id": "77", "account": "a", "license": "use1p.f@flexlm", "quantity": 4}]}}""", t1);
        // total used reserved booked external demand queued stale held seconds (first sample: one interval)
        assertEquals("10 5 0 2 2 4 2 f f 60", sample(f, t1));
        assertEquals("4 1 0 0 1 0 0 f f 60", sample(g, t1));
        assertEquals("alice n1 3 3 101 | bob ws9 2 0 - ", Sql.text(api.ds,
                "SELECT string_agg(concat_ws(' ', username, host, quantity, matched, coalesce(slurm_job_ids, '-')), ' | ' ORDER BY username)"
                        + " || ' ' FROM lm.checkouts WHERE pool_id = ?", f));

        // the next pass: bob gave his back, the server queues none; f's checkouts are replaced,
        // g is not read (failed) and keeps its checkouts, its last queue and its last used
        Timestamp t2 = at("2030-03-01T10:51:30Z");
        report("use1", """
                {"interval": 60, "failed": ["use1p.g"], "features": [
                  {"product_feature": "use1p.f", "total": 10, "used": 3, "checkouts": [
                     {"user": "alice", "host": "n1.example.org", "quantity": 3}]}],
                 "slurm": {"job_ids": ["101", "102"], "squeue_age_ms": 0, "pending": []}}""", t2);
        assertEquals("10 3 0 2 0 0 0 f f 90", sample(f, t2), "seconds: since the pool's previous sample");
        assertEquals("4 1 0 0 1 0 0 t f 90", sample(g, t2));
        assertEquals("alice:3", Sql.text(api.ds, "SELECT string_agg(username || ':' || quantity, ',') FROM lm.checkouts WHERE pool_id = ?", f));
        assertEquals("bob:1", Sql.text(api.ds, "SELECT string_agg(username || ':' || quantity, ',') FROM lm.checkouts WHERE pool_id = ?", g));

        // the hour is rolled up by the reports themselves: alice 3 × (60 + 90) s, bob 2 × 60 s of f
        assertEquals("alice 450 | bob 120", Sql.text(api.ds, "SELECT string_agg(username || ' ' || license_seconds, ' | ' ORDER BY username)"
                + " FROM lm.user_rollups WHERE pool_id = ? AND hour = ?", f, at("2030-03-01T10:00:00Z")));
        // used 5 for 60 s and 3 for 90 s: time-weighted 3.8
        assertEquals("2 3.8 5 2 4 2", Sql.text(api.ds, "SELECT concat_ws(' ', samples, used_avg, used_max, external_max, demand_max, queued_max)"
                + " FROM lm.usage_rollups WHERE pool_id = ? AND hour = ?", f, at("2030-03-01T10:00:00Z")));

        // through the API, as lm-cli checkouts reads it
        Res r = api.http.get("/checkouts?search=use1p", api.admin());
        assertEquals(200, r.status(), r::toString);
        JsonArray rows = r.json().getAsJsonArray();
        assertEquals(2, rows.size(), r::toString);
        JsonObject alice = rows.get(0).getAsJsonObject();
        assertEquals("use1p.f", alice.get("product_feature").getAsString());
        assertEquals("alice", alice.get("username").getAsString());
        assertEquals(3, alice.get("matched").getAsLong());
        assertEquals("101", alice.getAsJsonArray("slurm_job_ids").get(0).getAsString());
        // since: alice has held hers from the first pass that saw it (t1), seen again at t2
        assertEquals(t1.toInstant(), java.time.OffsetDateTime.parse(alice.get("since").getAsString()).toInstant());
        assertEquals(t2.toInstant(), java.time.OffsetDateTime.parse(alice.get("seen_at").getAsString()).toInstant());

        // a pass without her checkout, then one with it again: held anew from that pass
        String without = """
                {"interval": 60, "features": [{"product_feature": "use1p.f", "total": 10, "used": 0, "checkouts": []}],
                 "slurm": {"job_ids": ["101", "102"], "squeue_age_ms": 0, "pending": []}}""";
        report("use1", without, at("2030-03-01T11:30:00Z"));
        assertEquals("0", Sql.text(api.ds, "SELECT count(*)::text FROM lm.checkouts WHERE pool_id = ?", f));
        Timestamp t4 = at("2030-03-01T11:31:00Z");
        report("use1", without.replace("\"checkouts\": []", "\"checkouts\": [{\"user\": \"alice\", \"host\": \"n1\", \"quantity\": 3}]"), t4);
        assertEquals("alice t t", Sql.text(api.ds, "SELECT concat_ws(' ', username, since = ?, seen_at = ?) FROM lm.checkouts WHERE pool_id = ?",
                t4, t4, f));
    }

    private static void insertSample(long pool, String feature, String t, double seconds, long used, long queued) throws SQLException {
        Sql.update(api.ds, "INSERT INTO lm.usage_samples (pool_id, at, product_feature, seconds, total, used, reserved, booked, external,"
                + " demand, queued, stale, held) VALUES (?, ?, ?, ?, 20, ?, 0, 1, ?, 0, ?, false, false)",
                pool, at(t), feature, seconds, used, used / 2, queued);
    }

    private static String rollup(long pool, String hour) throws SQLException {
        return Sql.text(api.ds, "SELECT concat_ws(' ', samples, seconds, used_avg, used_max, external_max, queued_avg, queued_max)"
                + " FROM lm.usage_rollups WHERE pool_id = ? AND hour = ?", pool, at(hour));
    }

    @Test
    void theRollupIsIdempotentAndKeepsHoursApart() throws Exception {
        long pool = 910001;
        insertSample(pool, "roll.f", "2030-03-02T09:59:59.999Z", 60, 100, 9);
        insertSample(pool, "roll.f", "2030-03-02T10:00:00Z", 60, 4, 0);
        insertSample(pool, "roll.f", "2030-03-02T10:30:00Z", 30, 10, 3);
        insertSample(pool, "roll.f", "2030-03-02T10:59:59.999Z", 90, 6, 0);
        insertSample(pool, "roll.f", "2030-03-02T11:00:00Z", 60, 50, 1);
        Sql.update(api.ds, "INSERT INTO lm.user_samples VALUES (?, ?, 'ann', 'roll.f', 2, 60), (?, ?, 'ann', 'roll.f', 1, 90),"
                + " (?, ?, 'ann', 'roll.f', 7, 60)", pool, at("2030-03-02T10:00:00Z"), pool, at("2030-03-02T10:59:59.999Z"),
                pool, at("2030-03-02T11:00:00Z"));
        // the hour is named by any time in it
        for (int i = 0; i < 2; i++) {
            assertEquals("1", Sql.text(api.ds, "SELECT lm.roll_up_usage(?, ARRAY[?]::bigint[])", at("2030-03-02T10:42:00Z"), pool));
            // (4×60 + 10×30 + 6×90) / 180 = 6; queued (3×30) / 180 = 0.5
            assertEquals("3 180 6 10 5 0.5 3", rollup(pool, "2030-03-02T10:00:00Z"), "run " + i);
            assertEquals("ann 210", Sql.text(api.ds, "SELECT username || ' ' || license_seconds FROM lm.user_rollups WHERE pool_id = ? AND hour = ?",
                    pool, at("2030-03-02T10:00:00Z")));
        }
        assertEquals(null, rollup(pool, "2030-03-02T09:00:00Z"), "only the hour asked for");
        // a sample arriving late in the hour changes it when the hour is rolled up again
        insertSample(pool, "roll.f", "2030-03-02T10:45:00Z", 90, 30, 0);
        Sql.text(api.ds, "SELECT lm.roll_up_usage(?)", at("2030-03-02T10:00:00Z"));
        assertEquals("4 270 14 30 15 0.3333333333333333 3", rollup(pool, "2030-03-02T10:00:00Z"));
        Sql.text(api.ds, "SELECT lm.roll_up_usage(?)", at("2030-03-02T11:00:00Z"));
        assertEquals("1 60 50 50 25 1 1", rollup(pool, "2030-03-02T11:00:00Z"));
        // each roll-up re-rolls its day from the hours: 10:00 and 11:00; ann 210 + 7 × 60
        assertEquals("2 5 330 50 50 ann 630", Sql.text(api.ds, "SELECT d.hours || ' ' || d.samples || ' ' || d.seconds || ' ' || d.used_max"
                + " || ' ' || d.external_max * 2 || ' ' || u.username || ' ' || u.license_seconds"
                + " FROM lm.usage_day_rollups d JOIN lm.user_day_rollups u USING (day, pool_id) WHERE d.pool_id = ? AND d.day = ?",
                pool, at("2030-03-02T00:00:00Z")));
    }

    @Test
    void retentionDeletesExactlyWhatIsOlder() throws Exception {
        long pool = 920001;
        Timestamp now = at("2030-06-01T12:00:00Z");
        Sql.update(api.ds, "UPDATE lm.settings SET history_raw_days = 35, history_hourly_days = 10");
        try {
            insertSample(pool, "ret.f", "2030-04-27T11:59:59.999Z", 60, 1, 0);
            insertSample(pool, "ret.f", "2030-04-27T12:00:00Z", 60, 1, 0);
            Sql.update(api.ds, "INSERT INTO lm.user_samples VALUES (?, ?, 'u', 'ret.f', 1, 60), (?, ?, 'u', 'ret.f', 1, 60)",
                    pool, at("2030-04-27T11:59:59Z"), pool, at("2030-04-27T12:00:00Z"));
            Sql.text(api.ds, "SELECT lm.roll_up_usage(?)", at("2030-04-27T11:00:00Z"));
            Sql.update(api.ds, "INSERT INTO lm.usage_rollups SELECT pool_id, ?, product_feature, samples, seconds, total_max, used_avg, used_max,"
                    + " reserved_max, booked_avg, booked_max, external_avg, external_max, demand_avg, demand_max, queued_avg, queued_max,"
                    + " stale_samples, held_samples FROM lm.usage_rollups WHERE pool_id = ? AND hour = ?",
                    at("2030-05-22T12:00:00Z"), pool, at("2030-04-27T11:00:00Z"));
            Sql.update(api.ds, "INSERT INTO lm.usage_rollups SELECT pool_id, ?, product_feature, samples, seconds, total_max, used_avg, used_max,"
                    + " reserved_max, booked_avg, booked_max, external_avg, external_max, demand_avg, demand_max, queued_avg, queued_max,"
                    + " stale_samples, held_samples FROM lm.usage_rollups WHERE pool_id = ? AND hour = ?",
                    at("2030-05-22T11:00:00Z"), pool, at("2030-04-27T11:00:00Z"));
            Sql.text(api.ds, "SELECT lm.prune_usage(?)", now);
            assertEquals("2030-04-27 12:00:00+00", Sql.text(api.ds, "SELECT string_agg(at::text, ',') FROM lm.usage_samples WHERE pool_id = ?", pool));
            assertEquals("2030-04-27 12:00:00+00", Sql.text(api.ds, "SELECT string_agg(at::text, ',') FROM lm.user_samples WHERE pool_id = ?", pool));
            assertEquals("2030-05-22 12:00:00+00", Sql.text(api.ds, "SELECT string_agg(hour::text, ',') FROM lm.usage_rollups WHERE pool_id = ?", pool));
            // 0: hourly rollups are kept forever
            Sql.update(api.ds, "UPDATE lm.settings SET history_hourly_days = 0");
            Sql.text(api.ds, "SELECT lm.prune_usage(?)", at("2040-01-01T00:00:00Z"));
            assertEquals("1", Sql.text(api.ds, "SELECT count(*) FROM lm.usage_rollups WHERE pool_id = ?", pool));
            assertEquals("0", Sql.text(api.ds, "SELECT count(*) FROM lm.usage_samples WHERE pool_id = ?", pool));
        } finally {
            Sql.update(api.ds, "UPDATE lm.settings SET history_raw_days = 35, history_hourly_days = 0");
        }
    }

    private static void rollupRow(long pool, String feature, String hour, long total, double usedAvg, long usedMax, long queuedMax)
            throws SQLException {
        Sql.update(api.ds, "INSERT INTO lm.usage_rollups VALUES (?, ?, ?, 60, 3600, ?, ?, ?, 0, 1, 2, 0, ?, 0, 5, 0, ?, 0, 0)",
                pool, at(hour), feature, total, usedAvg, usedMax, usedMax - 1, queuedMax);
    }

    @Test
    void theReportsAddUpAKnownDataSet() throws Exception {
        // rep.f is served by two license servers (pools 930001 and 930002)
        rollupRow(930001, "rep.f", "2030-07-01T22:00:00Z", 10, 2, 4, 1);
        rollupRow(930001, "rep.f", "2030-07-01T23:00:00Z", 10, 4, 6, 0);
        rollupRow(930002, "rep.f", "2030-07-01T23:00:00Z", 5, 1, 1, 3);
        rollupRow(930001, "rep.f", "2030-07-02T00:00:00Z", 10, 8, 9, 0);
        rollupRow(930003, "rep.g", "2030-07-01T23:00:00Z", 7, 7, 7, 0);
        Sql.update(api.ds, "INSERT INTO lm.user_rollups VALUES (930001, ?, 'ann', 'rep.f', 7200), (930002, ?, 'ann', 'rep.f', 1800),"
                + " (930001, ?, 'bo', 'rep.f', 3600), (930003, ?, 'ann', 'rep.g', 36000)",
                at("2030-07-01T22:00:00Z"), at("2030-07-01T23:00:00Z"), at("2030-07-02T00:00:00Z"), at("2030-07-01T23:00:00Z"));
        // the rows above bypass lm.roll_up_usage, which rolls each hour's day up too
        Sql.text(api.ds, "SELECT lm.roll_up_days(?, ?, ARRAY[930001, 930002, 930003]::bigint[])", at("2030-07-01T00:00:00Z"), at("2030-07-02T00:00:00Z"));

        // two jobs first refused on July 1st (one of them twice: still one denial), one on the 2nd
        Sql.update(api.ds, "INSERT INTO lm.denial_log (cluster_client_id, slurm_job_id, product_feature, requested, reason, first_at, last_at, count)"
                + " VALUES ('c', '1', 'rep.f', 3, 'pool', ?, ?, 2), ('c', '2', 'rep.f', 1, 'pool', ?, ?, 1), ('c', '3', 'rep.f', 1, 'share', ?, ?, 1)",
                at("2030-07-01T22:10:00Z"), at("2030-07-02T00:10:00Z"), at("2030-07-01T23:10:00Z"), at("2030-07-01T23:10:00Z"),
                at("2030-07-02T00:20:00Z"), at("2030-07-02T00:20:00Z"));
        Res day = api.http.get("/reports/usage?product_feature=rep.f&since=2030-07-01&until=2030-07-03&by=day", api.admin());
        assertEquals(200, day.status(), day::toString);
        JsonArray d = day.json().getAsJsonArray();
        assertEquals(2, d.size(), day::toString);
        JsonObject first = d.get(0).getAsJsonObject();
        assertEquals("2030-07-01T00:00:00+00:00", first.get("period_start").getAsString());
        // total: per pool the max, summed over pools; used_avg: per pool (2 + 4) / 2 = 3, plus 1
        assertEquals(15, first.get("total").getAsLong());
        assertEquals(4.0, first.get("used_avg").getAsDouble());
        assertEquals(7, first.get("used_max").getAsLong());
        assertEquals(5, first.get("external_max").getAsLong());
        assertEquals(2 + 2, first.get("booked_max").getAsLong());
        assertEquals(10, first.get("demand_max").getAsLong());
        assertEquals(1 + 3, first.get("queued_max").getAsLong());
        assertEquals(2, first.get("denials").getAsLong());
        assertEquals(9, d.get(1).getAsJsonObject().get("used_max").getAsLong());
        assertEquals(1, d.get(1).getAsJsonObject().get("denials").getAsLong());

        Res hour = api.http.get("/reports/usage?product_feature=rep.f&since=2030-07-01T23:30:00Z&until=2030-07-02T00:00:00Z", api.admin());
        JsonArray h = hour.json().getAsJsonArray();
        assertEquals(1, h.size(), "the hour holding since, none from until on: " + hour);
        assertEquals(5.0, h.get(0).getAsJsonObject().get("used_avg").getAsDouble());

        Res all = api.http.get("/reports/usage?since=2030-07-01T23:00:00Z&until=2030-07-02T00:00:00Z", api.admin());
        assertTrue(all.body().contains("\"rep.g\""), all::toString);

        Res users = api.http.get("/reports/users?since=2030-07-01&until=2030-07-02T01:00:00Z", api.admin());
        assertEquals(200, users.status(), users::toString);
        JsonArray u = users.json().getAsJsonArray();
        assertEquals("ann rep.g 10.0|ann rep.f 2.5|bo rep.f 1.0", String.join("|", () -> u.asList().stream().map(e -> {
            JsonObject o = e.getAsJsonObject();
            return (CharSequence) (o.get("username").getAsString() + " " + o.get("product_feature").getAsString() + " "
                    + o.get("license_hours").getAsBigDecimal().setScale(1));
        }).iterator()));
    }

    /** The users report as a direct sum over the hourly rollups of [since's hour, until). */
    private static String usersFromHours(String since, String until) throws SQLException {
        return Sql.text(api.ds, "SELECT string_agg(username || ' ' || product_feature || ' ' || h, ', ' ORDER BY h DESC, username, product_feature)"
                + " FROM (SELECT username, product_feature, round((sum(license_seconds) / 3600)::numeric, 2) AS h FROM lm.user_rollups"
                + " WHERE pool_id BETWEEN 940001 AND 940003 AND hour >= date_trunc('hour', ?::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                + " AND hour < ?::timestamptz GROUP BY 1, 2) x", at(since), at(until));
    }

    private static String usersReport(String since, String until) throws SQLException {
        return Sql.text(api.ds, "SELECT string_agg(username || ' ' || product_feature || ' ' || license_hours, ', '"
                + " ORDER BY license_hours DESC, username, product_feature) FROM lm.user_report(?, ?) WHERE username LIKE 'd_'", at(since), at(until));
    }

    /** The usage report by day as per_pool computed it from the hourly rollups alone (before the daily ones). */
    private static String usageFromHours(String since, String until) throws SQLException {
        return Sql.text(api.ds, "SELECT string_agg(concat_ws(' ', pf, period, total, used_avg, used_max, booked_max, external_max, demand_max, queued_max), ', '"
                + " ORDER BY pf, period) FROM (SELECT pf, period, sum(total) AS total, round(sum(used_avg)::numeric, 2) AS used_avg, sum(used_max) AS used_max,"
                + " sum(booked_max) AS booked_max, sum(external_max) AS external_max, sum(demand_max) AS demand_max, sum(queued_max) AS queued_max"
                + " FROM (SELECT r.product_feature AS pf, r.pool_id, date_trunc('day', r.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period,"
                + " max(r.total_max) AS total, sum(r.used_avg * r.seconds) / nullif(sum(r.seconds) FILTER (WHERE r.used_avg IS NOT NULL), 0) AS used_avg,"
                + " max(r.used_max) AS used_max, max(r.booked_max) AS booked_max, max(r.external_max) AS external_max,"
                + " max(r.demand_max) AS demand_max, max(r.queued_max) AS queued_max FROM lm.usage_rollups r"
                + " WHERE r.product_feature IN ('day.f', 'day.g') AND r.hour >= date_trunc('hour', ?::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                + " AND r.hour < ? GROUP BY 1, 2, 3) p GROUP BY 1, 2) x", at(since), at(until));
    }

    private static String usageReport(String since, String until) throws SQLException {
        return Sql.text(api.ds, "SELECT string_agg(concat_ws(' ', product_feature, period_start, total, used_avg, used_max, booked_max, external_max,"
                + " demand_max, queued_max), ', ' ORDER BY product_feature, period_start) FROM lm.usage_report(NULL, ?, ?, 'day')"
                + " WHERE product_feature IN ('day.f', 'day.g')", at(since), at(until));
    }

    @Test
    void wholeDaysFromTheDailyRollupsGiveWhatTheHoursGive() throws Exception {
        // five days of uneven hours: day.f on two pools (one with gaps and hours without used),
        // day.g on one; users d0-d3, one of them renamed pool 940003's feature halfway
        Sql.update(api.ds, "INSERT INTO lm.usage_rollups SELECT p, h, CASE WHEN p = 940003 THEN 'day.g' ELSE 'day.f' END,"
                + " 10 + i % 7, 600 + (i * 37) % 3000, 50 + p % 7, CASE WHEN p = 940002 AND i % 5 = 0 THEN NULL ELSE (i * 13 % 41) / 3.0 END,"
                + " i * 13 % 47, 2, (i % 9) / 7.0, i % 11, (i % 4) / 3.0, i % 13, i % 3, i % 17, (i % 6) / 5.0, i % 19, i % 2, 0"
                + " FROM generate_series(940001, 940003) p, generate_series(0, 119) i, LATERAL (SELECT ?::timestamptz + i * interval '1 hour' AS h) t"
                + " WHERE NOT (p = 940002 AND i % 29 = 3)", at("2030-08-01T00:00:00Z"));
        Sql.update(api.ds, "INSERT INTO lm.user_rollups SELECT p, h, 'd' || (p + i / 24 + u) % 4,"
                + " CASE WHEN p = 940003 AND i >= 60 THEN 'day.h' ELSE 'day.f' END, (i * 131 + u * 977 + p) % 3600 + 0.25"
                + " FROM generate_series(940001, 940003) p, generate_series(0, 119) i, generate_series(0, 1) u,"
                + " LATERAL (SELECT ?::timestamptz + i * interval '1 hour' AS h) t", at("2030-08-01T00:00:00Z"));
        Sql.text(api.ds, "SELECT lm.roll_up_days(?, ?)", at("2030-08-01T00:00:00Z"), at("2030-08-05T23:00:00Z"));
        // 5 days × 3 pools; × 2 users, and 940003's renamed day has both names
        assertEquals("15 32", Sql.text(api.ds, "SELECT (SELECT count(*) FROM lm.usage_day_rollups WHERE pool_id BETWEEN 940001 AND 940003)"
                + " || ' ' || (SELECT count(*) FROM lm.user_day_rollups WHERE pool_id BETWEEN 940001 AND 940003)"));
        // partial days at both ends, whole days only, less than a day, inside one day, until mid-hour
        String[][] spans = {
            {"2030-08-01T05:30:00Z", "2030-08-04T17:10:00Z"}, {"2030-08-02T00:00:00Z", "2030-08-05T00:00:00Z"},
            {"2030-08-01T23:00:00Z", "2030-08-02T00:00:01Z"}, {"2030-08-03T03:00:00Z", "2030-08-03T21:00:00Z"},
            {"2030-07-30T00:00:00Z", "2030-08-09T00:00:00Z"}, {"2030-08-01T00:00:00Z", "2030-08-03T23:59:59Z"},
        };
        for (String[] p : spans) {
            String users = usersReport(p[0], p[1]);
            assertTrue(users != null && users.contains("d0 "), "the data set is in the report: " + users);
            assertEquals(usersFromHours(p[0], p[1]), users, p[0] + " to " + p[1]);
            String usage = usageReport(p[0], p[1]);
            assertTrue(usage != null && usage.contains("day.g"), "the data set is in the report: " + usage);
            assertEquals(usageFromHours(p[0], p[1]), usage, p[0] + " to " + p[1]);
        }
        // narrowed to one feature or one user over HTTP: the same rows as the whole report has for them
        String admin = api.admin();
        for (String[] filter : List.of(new String[] {"product_feature=day.h", "day.h"}, new String[] {"username=d2", "d2 "},
                new String[] {"product_feature=day.f&username=d1", "d1 day.f"})) {
            String q = "/reports/users?since=2030-08-01T05:30:00Z&until=2030-08-04T17:10:00Z&" + filter[0];
            Res r = api.http.get(q, admin);
            assertEquals(200, r.status(), r::toString);
            List<String> got = r.json().getAsJsonArray().asList().stream().map(e -> e.getAsJsonObject())
                    .map(o -> o.get("username").getAsString() + " " + o.get("product_feature").getAsString() + " "
                            + o.get("license_hours").getAsBigDecimal().toPlainString()).toList();
            List<String> want = List.of(usersReport("2030-08-01T05:30:00Z", "2030-08-04T17:10:00Z").split(", ")).stream()
                    .filter(row -> row.contains(filter[1])).toList();
            assertFalse(want.isEmpty(), q);
            assertEquals(want, got, q);
        }
        assertEquals(404, api.http.get("/reports/users?product_feature=no.such", admin).status());

        // and the whole days are read from the daily rows: one changed shows, in both reports
        String before = usersReport("2030-08-01T05:00:00Z", "2030-08-04T17:00:00Z");
        Sql.update(api.ds, "UPDATE lm.user_day_rollups SET license_seconds = license_seconds + 36000 WHERE pool_id = 940001 AND day = ?"
                + " AND username = (SELECT min(username) FROM lm.user_day_rollups WHERE pool_id = 940001 AND day = ?)",
                at("2030-08-02T00:00:00Z"), at("2030-08-02T00:00:00Z"));
        Sql.update(api.ds, "UPDATE lm.usage_day_rollups SET used_max = used_max + 1000 WHERE pool_id = 940001 AND day = ?", at("2030-08-03T00:00:00Z"));
        assertTrue(!before.equals(usersReport("2030-08-01T05:00:00Z", "2030-08-04T17:00:00Z")), before);
        assertTrue(!usageFromHours("2030-08-01T05:00:00Z", "2030-08-04T17:00:00Z").equals(usageReport("2030-08-01T05:00:00Z", "2030-08-04T17:00:00Z")),
                "used_max from the daily row");
        // re-rolling the days puts them right again
        Sql.text(api.ds, "SELECT lm.roll_up_days(?, ?, ARRAY[940001]::bigint[])", at("2030-08-02T00:00:00Z"), at("2030-08-03T00:00:00Z"));
        assertEquals(before, usersReport("2030-08-01T05:00:00Z", "2030-08-04T17:00:00Z"));
        assertEquals(usageFromHours("2030-08-01T05:00:00Z", "2030-08-04T17:00:00Z"), usageReport("2030-08-01T05:00:00Z", "2030-08-04T17:00:00Z"));
    }

    /** The users report's rows of one page, as "user feature hours". */
    private static String usersPage(String query) {
        Res r = api.http.get("/reports/users?since=2031-02-01T00:00:00Z&until=2031-02-01T20:00:00Z&" + query, api.admin());
        assertEquals(200, r.status(), r::toString);
        return String.join(", ", r.json().getAsJsonArray().asList().stream().map(e -> e.getAsJsonObject())
                .map(o -> o.get("username").getAsString() + " " + o.get("product_feature").getAsString() + " "
                        + o.get("license_hours").getAsBigDecimal().toPlainString()).toList());
    }

    @Test
    void theUsersReportSortsAndPagesAsTheListsDo() throws Exception {
        // six rows, three of them tied at one license-hour
        Sql.update(api.ds, "INSERT INTO lm.user_rollups VALUES (950001, ?, 'pa', 'pg.f', 3600), (950001, ?, 'pb', 'pg.f', 3600),"
                + " (950002, ?, 'pc', 'pg.f', 7200), (950003, ?, 'pa', 'pg.g', 1800), (950003, ?, 'pd', 'pg.g', 3600),"
                + " (950001, ?, 'pe', 'pg.f', 900)", at("2031-02-01T10:00:00Z"), at("2031-02-01T10:00:00Z"), at("2031-02-01T11:00:00Z"),
                at("2031-02-01T10:00:00Z"), at("2031-02-01T12:00:00Z"), at("2031-02-01T13:00:00Z"));
        // most first, ties by user then feature
        String all = "pc pg.f 2.00, pa pg.f 1.00, pb pg.f 1.00, pd pg.g 1.00, pa pg.g 0.50, pe pg.f 0.25";
        assertEquals(all, usersPage(""));
        Res first = api.http.get("/reports/users?since=2031-02-01T00:00:00Z&until=2031-02-01T20:00:00Z&limit=2", api.admin());
        assertEquals("6", first.header("X-Total-Count"), first::toString);
        // pages of two, the ties split across them, neither overlap nor leave a row out
        assertEquals(all, usersPage("limit=2") + ", " + usersPage("limit=2&offset=2") + ", " + usersPage("limit=2&offset=4"));
        assertEquals("", usersPage("limit=2&offset=6"));
        assertEquals("pa pg.f 1.00, pa pg.g 0.50, pb pg.f 1.00, pc pg.f 2.00, pd pg.g 1.00, pe pg.f 0.25", usersPage("sort_field=username"));
        assertEquals("pe pg.f 0.25, pa pg.g 0.50, pa pg.f 1.00, pb pg.f 1.00", usersPage("sort_field=license_hours&sort_ascending=true&limit=4"));
        assertEquals("pa pg.f 1.00, pa pg.g 0.50", usersPage("search=PA"));
        assertEquals("pd pg.g 1.00, pa pg.g 0.50", usersPage("search=pg.g"));
        String admin = api.admin();
        for (String bad : List.of("sort_field=hours", "sort_ascending=maybe", "limit=0", "limit=10001", "offset=-1", "limit=x")) {
            Res r = api.http.get("/reports/users?" + bad, admin);
            assertEquals(400, r.status(), bad + ": " + r);
        }
    }

    @Test
    void retentionDropsADayWithItsLastHour() throws Exception {
        long pool = 950001;
        Sql.update(api.ds, "UPDATE lm.settings SET history_hourly_days = 10");
        try {
            for (String hour : new String[] {"2030-05-21T00:00:00Z", "2030-05-21T23:00:00Z", "2030-05-22T11:00:00Z", "2030-05-22T12:00:00Z"}) {
                rollupRow(pool, "retd.f", hour, 10, 1, 1, 0);
                Sql.update(api.ds, "INSERT INTO lm.user_rollups VALUES (?, ?, 'u', 'retd.f', 60)", pool, at(hour));
            }
            Sql.text(api.ds, "SELECT lm.roll_up_days(?, ?, ARRAY[?]::bigint[])", at("2030-05-21T00:00:00Z"), at("2030-05-22T00:00:00Z"), pool);
            // 10 days before 2030-06-01T12:00: the hours from 2030-05-22T12:00 stay, so does their day
            Sql.text(api.ds, "SELECT lm.prune_usage(?)", at("2030-06-01T12:00:00Z"));
            assertEquals("2030-05-22 12:00:00+00", Sql.text(api.ds, "SELECT string_agg(hour::text, ',') FROM lm.usage_rollups WHERE pool_id = ?", pool));
            assertEquals("2030-05-22 00:00:00+00", Sql.text(api.ds, "SELECT string_agg(day::text, ',') FROM lm.usage_day_rollups WHERE pool_id = ?", pool));
            assertEquals("2030-05-22 00:00:00+00", Sql.text(api.ds, "SELECT string_agg(day::text, ',') FROM lm.user_day_rollups WHERE pool_id = ?", pool));
            // the day's last hour gone, the day goes
            Sql.text(api.ds, "SELECT lm.prune_usage(?)", at("2030-06-02T00:00:00.001Z"));
            assertEquals("0 0 0", Sql.text(api.ds, "SELECT (SELECT count(*) FROM lm.usage_rollups WHERE pool_id = ?) || ' '"
                    + " || (SELECT count(*) FROM lm.usage_day_rollups WHERE pool_id = ?) || ' ' || (SELECT count(*) FROM lm.user_day_rollups WHERE pool_id = ?)",
                    pool, pool, pool));
        } finally {
            Sql.update(api.ds, "UPDATE lm.settings SET history_hourly_days = 0");
        }
    }

    @Test
    void badReportInputIsA4xx() {
        String admin = api.admin();
        assertEquals(422, api.http.get("/reports/usage?since=2030-07-02&until=2030-07-01", admin).status());
        assertEquals(422, api.http.get("/reports/usage?since=2030-07-01&until=2030-07-01", admin).status());
        assertEquals(422, api.http.get("/reports/usage?by=week", admin).status());
        assertEquals(404, api.http.get("/reports/usage?product_feature=no.such", admin).status());
        assertEquals(400, api.http.get("/reports/usage?since=yesterday", admin).status());
        assertEquals(422, api.http.get("/reports/users?since=2030-07-02&until=2030-07-01", admin).status());
        assertEquals(400, api.http.get("/reports/users?until=7d", admin).status());
        assertEquals(400, api.http.get("/checkouts?limit=0", admin).status());
    }
}
