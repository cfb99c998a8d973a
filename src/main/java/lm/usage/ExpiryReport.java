package lm.usage;

import java.sql.Timestamp;
import java.time.Clock;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.Call;
import lm.http.Reply;
import lm.http.Routes;

/**
 * GET /reports/expiry: the licenses that expire, nearest first (lm.expiring_licenses_at in
 * R__reporting_views.sql), at the server's clock, so every instance and psql agree on days_left.
 */
public final class ExpiryReport {
    // a hundred years: beyond it "within" means everything, and the date arithmetic stays in range
    private static final int MAX_DAYS = 36_500;

    private ExpiryReport() {}

    public static void routes(Routes r, DataSource ds, Clock clock) {
        r.get("/reports/expiry", "feature", "read", c -> Reply.ok(Sql.text(ds,
                "SELECT coalesce(json_agg(e), '[]') FROM lm.expiring_licenses_at(?) e WHERE e.days_left <= ?",
                Timestamp.from(clock.instant()), withinDays(c))));
    }

    /** within_days: 0 to 36,500 (absent or empty: all); past expiries (days_left < 0) are always shown. */
    static int withinDays(Call c) {
        String v = c.param("within_days");
        Long n = v == null || v.isEmpty() ? null : c.number("within_days", 0, MAX_DAYS);
        return n == null ? MAX_DAYS : n.intValue();
    }
}
