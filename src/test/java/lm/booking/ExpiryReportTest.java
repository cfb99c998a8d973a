package lm.booking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * License expiry on the server (issue 12): the agent's report sets and clears a feature's
 * expires_at/expiring, PUT /features/{id} and /features/bulk set them the same way, bad values
 * are 4xx that write nothing, and lm.expiring_licenses lists them nearest first with the days
 * left counted from a given time.
 */
class ExpiryReportTest {
    @RegisterExtension
    static final TestApi api = new TestApi();
    static final Pools pools = new Pools(api.ds);
    // a fixed instant late in a UTC day: days_left must count UTC days, not 24-hour spans
    static final Timestamp NOW = Timestamp.from(Instant.parse("2030-01-10T23:30:00Z"));

    private static String expiry(long feature) throws SQLException {
        return Sql.text(api.ds, "SELECT coalesce(expires_at::text, '-') || ' ' || coalesce(expiring::text, '-') FROM lm.features WHERE id = ?",
                feature);
    }

    private static String report(String cluster, String features) throws SQLException {
        return Sql.text(api.ds, "SELECT lm.apply_agent_report(?, ?::jsonb, ?)", cluster, "{\"features\":" + features + "}", NOW);
    }

    @Test
    void theAgentsReportSetsAndClearsTheExpiry() throws Exception {
        long c = pools.config("exp1", "exp1", "flex-exp1", 27000, 600);
        long f = pools.feature(c, "exp1p", "f", 100, 0, 0, NOW);
        long g = pools.feature(c, "exp1p", "g", 5, 0, 0, NOW);

        report("exp1", "[{\"product_feature\":\"exp1p.f\",\"total\":100,\"used\":3,\"expires_at\":\"2030-02-01\",\"expiring\":40},"
                + "{\"product_feature\":\"exp1p.g\",\"total\":5,\"used\":0,\"expires_at\":\"2030-03-01\"}]");
        assertEquals("2030-02-01 40", expiry(f));
        assertEquals("2030-03-01 -", expiry(g), "FlexLM: a day without a count");

        // the next pass reads no expiry for f (renewed as permanent): it is cleared, not kept
        report("exp1", "[{\"product_feature\":\"exp1p.f\",\"total\":100,\"used\":3}]");
        assertEquals("- -", expiry(f));
        assertEquals("2030-03-01 -", expiry(g), "a feature not in the report keeps its reading");

        // through the API: the agent's JSON as lm-agent sends it, then what GET /features shows
        String agent = api.token("exp1", "license-manager:feature:update");
        Res r = api.http.post("/agent/report", agent,
                "{\"features\":[{\"product_feature\":\"exp1p.f\",\"total\":100,\"used\":3,\"queued\":0,\"checkouts\":[],"
                        + "\"expires_at\":\"2030-01-12\",\"expiring\":100}]}");
        assertEquals(200, r.status(), r::toString);
        JsonObject shown = api.http.get("/features/" + f, api.admin()).json().getAsJsonObject();
        assertEquals("2030-01-12", shown.get("expires_at").getAsString());
        assertEquals(100, shown.get("expiring").getAsLong());
    }

    @Test
    void badExpiriesAreRefusedAndWriteNothing() throws Exception {
        long c = pools.config("exp2", "exp2", "flex-exp2", 27000, 600);
        long f = pools.feature(c, "exp2p", "f", 100, 0, 0, NOW);
        String agent = api.token("exp2", "license-manager:feature:update");
        String before = Sql.text(api.ds, "SELECT used || ' ' || expiry FROM (SELECT used, coalesce(expires_at::text, '-') AS expiry"
                + " FROM lm.features WHERE id = ?) x", f);
        for (String[] bad : List.of(
                new String[] {"\"expires_at\":\"31-dec-2030\"", "400"},
                new String[] {"\"expires_at\":\"2030-02-30\"", "400"},
                new String[] {"\"expires_at\":20301231", "400"},
                new String[] {"\"expires_at\":\"2030-12-31\",\"expiring\":-1", "422"},
                new String[] {"\"expiring\":3", "422"})) {
            Res r = api.http.post("/agent/report", agent,
                    "{\"features\":[{\"product_feature\":\"exp2p.f\",\"total\":100,\"used\":7," + bad[0] + "}]}");
            assertEquals(Integer.parseInt(bad[1]), r.status(), bad[0] + ": " + r);
            assertTrue(r.body().contains("expir"), r.body());
        }
        assertEquals(before, Sql.text(api.ds, "SELECT used || ' ' || coalesce(expires_at::text, '-') FROM lm.features WHERE id = ?", f));
    }

    @Test
    void putAndBulkSetKeepAndClear() throws Exception {
        long c = pools.config("exp3", "exp3", "flex-exp3", 27000, 600);
        long f = pools.feature(c, "exp3p", "f", 100, 0, 0, NOW);
        String agent = api.token("exp3", "license-manager:feature:update");

        Res r = api.http.put("/features/" + f, api.admin(), "{\"expires_at\":\"2031-06-30\",\"expiring\":12}");
        assertEquals(200, r.status(), r::toString);
        assertEquals("2031-06-30", r.json().getAsJsonObject().get("expires_at").getAsString());
        assertEquals("2031-06-30 12", expiry(f));
        assertEquals(200, api.http.put("/features/" + f, api.admin(), "{\"reserved\":1}").status());
        assertEquals("2031-06-30 12", expiry(f), "left out: unchanged");
        assertEquals(200, api.http.put("/features/" + f, api.admin(), "{\"expires_at\":\"2031-07-01\"}").status());
        assertEquals("2031-07-01 -", expiry(f), "a new day without a count has none");
        assertEquals(422, api.http.put("/features/" + f, api.admin(), "{\"expiring\":5}").status());
        assertEquals(400, api.http.put("/features/" + f, api.admin(), "{\"expires_at\":\"tomorrow\"}").status());
        assertEquals(200, api.http.put("/features/" + f, api.admin(), "{\"expires_at\":null}").status());
        assertEquals("- -", expiry(f));

        // bulk (the reference API's report): an item without expires_at keeps it, null clears it
        r = api.http.put("/features/bulk", agent,
                "[{\"product_name\":\"exp3p\",\"feature_name\":\"f\",\"total\":90,\"used\":1,\"expires_at\":\"2032-01-01\",\"expiring\":90}]");
        assertEquals(200, r.status(), r::toString);
        assertEquals("2032-01-01 90", expiry(f));
        assertEquals(200, api.http.put("/features/bulk", agent, "[{\"product_name\":\"exp3p\",\"feature_name\":\"f\",\"total\":90,\"used\":2}]").status());
        assertEquals("2032-01-01 90", expiry(f));
        assertEquals(200, api.http.put("/features/by_client_id", agent,
                "{\"product_name\":\"exp3p\",\"feature_name\":\"f\",\"total\":90,\"used\":2,\"expires_at\":null}").status());
        assertEquals("- -", expiry(f));
        assertEquals(400, api.http.put("/features/bulk", agent,
                "[{\"product_name\":\"exp3p\",\"feature_name\":\"f\",\"total\":90,\"used\":3,\"expires_at\":\"2032-13-01\"}]").status());
        assertEquals("2", Sql.text(api.ds, "SELECT used::text FROM lm.features WHERE id = ?", f), "refused whole");

        // another cluster cannot set this cluster's feature
        String other = api.token("exp3-other", "license-manager:feature:update");
        assertEquals(404, api.http.put("/features/" + f, other, "{\"expires_at\":\"2040-01-01\"}").status());
        assertEquals("- -", expiry(f));
    }

    @Test
    void expiringLicensesAreNearestFirstWithTheDaysLeftAtTheGivenTime() throws Exception {
        long c = pools.config("exp4", "exp4", "flex-exp4", 27000, 600);
        long d = pools.config("exp4b", "exp4b", "flex-exp4b", 27001, 600);
        long late = pools.feature(c, "exp4p", "late", 10, 0, 0, NOW);
        long soon = pools.feature(d, "exp4p", "soon", 20, 0, 0, NOW);
        long past = pools.feature(c, "exp4p", "past", 30, 0, 0, NOW);
        pools.feature(c, "exp4p", "permanent", 40, 0, 0, NOW);
        Sql.update(api.ds, "UPDATE lm.features SET expires_at = '2030-03-01', expiring = 10 WHERE id = ?", late);
        Sql.update(api.ds, "UPDATE lm.features SET expires_at = '2030-01-12' WHERE id = ?", soon);
        Sql.update(api.ds, "UPDATE lm.features SET expires_at = '2030-01-09', expiring = 30 WHERE id = ?", past);

        String rows = Sql.text(api.ds, "SELECT string_agg(concat_ws(' ', product_feature, cluster_client_id, servers, expires_at,"
                + " days_left, coalesce(expiring::text, '-'), total), E'\\n') FROM lm.expiring_licenses_at(?)"
                + " WHERE product_feature LIKE 'exp4p.%'", NOW);
        assertEquals(String.join("\n",
                "exp4p.past exp4 flex-exp4:27000 2030-01-09 -1 30 30",
                "exp4p.soon exp4b flex-exp4b:27001 2030-01-12 2 - 20",
                "exp4p.late exp4 flex-exp4:27000 2030-03-01 50 10 10"), rows);
        // the view is the function at now()
        assertEquals(Sql.text(api.ds, "SELECT count(*)::text FROM lm.expiring_licenses_at(now())"),
                Sql.text(api.ds, "SELECT count(*)::text FROM lm.expiring_licenses"));
    }

    @Test
    void theExpiryReportOverHttpKeepsWhatExpiresWithinTheDaysAskedAndPastOnes() throws Exception {
        long c = pools.config("exp5", "exp5", "flex-exp5", 27000, 600);
        // relative to the server's today (it counts days_left by its own clock)
        String[][] days = {{"gone", "-1"}, {"week", "6"}, {"month", "30"}, {"year", "300"}};
        for (String[] d : days) {
            long f = pools.feature(c, "exp5p", d[0], 10, 0, 0, NOW);
            Sql.update(api.ds, "UPDATE lm.features SET expires_at = (now() AT TIME ZONE 'UTC')::date + ? WHERE id = ?",
                    Integer.parseInt(d[1]), f);
        }
        String reader = api.token("exp5-reader", "license-manager:feature:read");
        for (String[] want : List.of(new String[] {"", "gone week month year"}, new String[] {"?within_days=30", "gone week month"},
                new String[] {"?within_days=0", "gone"}, new String[] {"?within_days=36500", "gone week month year"})) {
            Res r = api.http.get("/reports/expiry" + want[0], reader);
            assertEquals(200, r.status(), r::toString);
            List<String> names = r.json().getAsJsonArray().asList().stream().map(e -> e.getAsJsonObject())
                    .filter(o -> o.get("product_feature").getAsString().startsWith("exp5p."))
                    .map(o -> o.get("product_feature").getAsString().substring(6) + "@" + o.get("days_left").getAsInt()).toList();
            assertEquals(List.of(want[1].split(" ")).stream().map(n -> n + "@" + List.of(days).stream()
                    .filter(d -> d[0].equals(n)).findFirst().orElseThrow()[1]).toList(), names, want[0]);
        }
        for (String bad : List.of("-1", "36501", "ten", "1.5", "99999999999")) {
            Res r = api.http.get("/reports/expiry?within_days=" + bad, reader);
            assertEquals(400, r.status(), bad + ": " + r);
            assertTrue(r.body().contains("within_days"), r.body());
        }
        assertEquals(403, api.http.get("/reports/expiry", api.token("exp5-nobody", "license-manager:job:read")).status());
    }
}
