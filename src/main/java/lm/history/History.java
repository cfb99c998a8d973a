package lm.history;

import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.http.Call;
import lm.http.Listing;
import lm.http.Routes;

/**
 * /lm/denials and /lm/job_history: refusals and ended jobs, read only (written by SQL,
 * R__history.sql). Read with license-manager:job:read: they are the jobs' own records, which
 * GET /lm/jobs shows to the same callers while the jobs live.
 */
public final class History {
    private static final Listing DENIALS = new Listing("denial", "lm.api_denials",
            List.of("cluster_client_id", "slurm_job_id", "username", "account", "product_feature", "reason"),
            Map.ofEntries(Map.entry("id", "id"), Map.entry("cluster_client_id", "cluster_client_id"),
                    Map.entry("slurm_job_id", "slurm_job_id::numeric"), Map.entry("username", "username"),
                    Map.entry("account", "account"), Map.entry("product_feature", "product_feature"),
                    Map.entry("requested", "requested"), Map.entry("available", "available"), Map.entry("reason", "reason"),
                    Map.entry("first_at", "first_at"), Map.entry("last_at", "last_at"), Map.entry("count", "count")));
    private static final Listing JOBS = new Listing("job history", "lm.api_job_history",
            List.of("cluster_client_id", "slurm_job_id", "username", "account", "lead_host", "reason", "bookings::text"),
            Map.ofEntries(Map.entry("id", "id"), Map.entry("cluster_client_id", "cluster_client_id"),
                    Map.entry("slurm_job_id", "slurm_job_id::numeric"), Map.entry("username", "username"),
                    Map.entry("account", "account"), Map.entry("lead_host", "lead_host"), Map.entry("reason", "reason"),
                    Map.entry("booked_at", "booked_at"), Map.entry("released_at", "released_at")));

    private History() {}

    public static void routes(Routes r, DataSource ds) {
        // a denial is in [since, until) when any of its refusals may be: first_at < until, last_at >= since
        r.get("/denials", "job", "read", c -> DENIALS.list(ds, c.listQuery(DENIALS),
                "last_at >= ?::timestamptz AND first_at < ?::timestamptz", time(c, "since", "-infinity"), time(c, "until", "infinity")));
        r.get("/denials/{id}", "job", "read", c -> DENIALS.one(ds, c.id("id", "denial")));
        r.get("/job_history", "job", "read", c -> JOBS.list(ds, c.listQuery(JOBS),
                "released_at >= ?::timestamptz AND released_at < ?::timestamptz", time(c, "since", "-infinity"), time(c, "until", "infinity")));
        r.get("/job_history/{id}", "job", "read", c -> JOBS.one(ds, c.id("id", "job history")));
    }

    /** A time query parameter (Call#time) as SQL's timestamptz text; absent is {@code absent}, an unbounded end. */
    private static String time(Call c, String name, String absent) {
        java.time.Instant t = c.time(name);
        return t == null ? absent : t.toString();
    }
}
