package lm.usage;

import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.Call;
import lm.http.Listing;
import lm.http.Reply;
import lm.http.Routes;

/**
 * The usage history's read side (issue 12): who holds what now (lm.checkouts, replaced by every
 * agent report) and the reports over the hourly rollups (lm.usage_report, lm.user_report in
 * R__usage.sql, which check the period). Reading usage is reading features: the same permission.
 */
public final class UsageReports {
    private static final Listing CHECKOUTS = new Listing("checkout", "lm.api_checkouts", List.of("product_feature", "username", "host"),
            Map.of("id", "id", "product_feature", "lower(product_feature)", "username", "lower(username)", "host", "lower(host)",
                    "quantity", "quantity"));
    // most first, as `lm-cli report users` shows it; the function's arguments are the first four parameters
    private static final Listing USERS = Listing.report("user report row", "lm.user_report(?, ?, ?, ?)", List.of("username", "product_feature"),
            Map.of("username", "username", "product_feature", "product_feature", "license_hours", "license_hours"), "license_hours", false,
            "username, product_feature");
    // without since: the week before until, what `lm-cli report` shows by default too
    private static final Duration DEFAULT_SPAN = Duration.ofDays(7);

    private UsageReports() {}

    public static void routes(Routes r, DataSource ds, Clock clock) {
        r.get("/checkouts", "feature", "read", c -> CHECKOUTS.list(ds, c.listQuery(CHECKOUTS), null));
        r.get("/reports/usage", "feature", "read", c -> {
            Timestamp until = time(c, "until", clock.instant());
            Timestamp since = time(c, "since", until.toInstant().minus(DEFAULT_SPAN));
            String by = c.param("by") == null ? "hour" : c.param("by");
            return Reply.ok(Sql.text(ds, "SELECT coalesce(json_agg(r), '[]') FROM lm.usage_report(?, ?, ?, ?) r",
                    c.param("product_feature"), since, until, by));
        });
        r.get("/reports/users", "feature", "read", c -> {
            Timestamp until = time(c, "until", clock.instant());
            Timestamp since = time(c, "since", until.toInstant().minus(DEFAULT_SPAN));
            return users(ds, c.listQuery(USERS), since, until, c.param("product_feature"), c.param("username"));
        });
    }

    /**
     * GET /lm/reports/users: a page of lm.user_report (search, sort and paging as the lists; make
     * bench times the first page of a year of 300,000 rows and all of them).
     */
    public static Reply users(DataSource ds, Listing.Query q, Timestamp since, Timestamp until, String productFeature, String username)
            throws java.sql.SQLException {
        return USERS.list(ds, q, null, since, until, productFeature, username);
    }

    /** The users report's search, sort and page from query parameters (a 400 for a bad one). */
    public static Listing.Query usersQuery(java.util.function.Function<String, String> param) {
        return USERS.query(param);
    }

    /** A time query parameter (Call#time); absent: {@code otherwise}. */
    static Timestamp time(Call c, String name, Instant otherwise) {
        Instant t = c.time(name);
        return Timestamp.from(t == null ? otherwise : t);
    }
}
