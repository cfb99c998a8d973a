package lm.booking;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.List;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Body;
import lm.http.Call;
import lm.http.Json;
import lm.http.Reply;
import lm.http.Routes;
import lm.inventory.Expiry;

/**
 * POST /lm/agent/report: one lm-agent pass (usage, failed servers, Slurm's view) in, the
 * reservation plan out. All of it is lm.run_agent_report, a procedure that commits as it goes:
 * short transactions that each lock a few pools, then the plan and the history without pool
 * locks, so no admission waits behind a report (issue 19). POST /lm/agent/report/dry_run runs
 * the same pass as one transaction (lm.apply_agent_report) and rolls it back, so the answer is
 * the plan and nothing is kept; it holds the cluster's pools while it runs, as every report
 * used to.
 */
public final class AgentReport {
    // 150,000 job ids take ~1.2 MB and a site's checkouts a few MB more; 16 MiB leaves room for
    // about a million jobs (lm-agent gzips the report, so it crosses the network at ~1/5 of that).
    static final int MAX_BODY = 16 * 1024 * 1024;
    // What lm-agent sends (short, lowercase) and what a license server names a host by; the
    // checkout matching compares these names as they are.
    private static final Pattern NODE = Pattern.compile("[a-z0-9][a-z0-9_-]{0,62}");
    // Pools (and ended jobs) per transaction of a report. At 1,000 pools under a load of 7-10
    // (2026-12-07, CALL alone, two runs each) the pass took 13-19 s one pool at a time, 5.4-6.5 s
    // ten at a time and 3.9-6.6 s fifty at a time, against 7-10 s as one transaction: ten keeps
    // the pass as short as before while a transaction holds ten pools for a few admissions' time.
    // Again 2026-12-08 (make bench, lm.bench.only=agent, load 3-6), with generic plans and no
    // flush per step (lm.report_locked_step): ten took 4.5 s, holds 29 ms longest / 5 ms median;
    // three 7.5 s, 38 ms / 4 ms; one 13 s, 67 ms / 3 ms. Below ten the hold hardly falls (what
    // every transaction costs, not the pools' work, fills it) and the pass grows by seconds.
    static final int BATCH = 10;
    // autocommit (lm.db.Sql): a CALL outside a transaction block may COMMIT inside
    private static final String RUN = "CALL lm.run_agent_report(?, ?::jsonb, now(), true, ?, NULL)";
    private static final String APPLY = "SELECT lm.apply_agent_report(?, ?::jsonb)";
    // a reading older than a day orders nothing: the outage grace has long held the pool by then
    private static final long MAX_READ_AGE_MS = 86_400_000L;

    private AgentReport() {}

    public static void routes(Routes r, DataSource ds) {
        r.post("/agent/report", "feature", "update", MAX_BODY, c -> {
            String cluster = c.cluster();
            return Reply.ok(Sql.text(ds, RUN, cluster, report(c), BATCH));
        });
        // A route of its own rather than a query parameter: an lm-server that predates dry runs
        // answers 404 here, where it would ignore ?dry_run=true and apply the report for real.
        r.post("/agent/report/dry_run", "feature", "update", MAX_BODY, c -> {
            String cluster = c.cluster();
            String json = report(c);
            return Reply.ok(Sql.rolledBack(ds, tx -> Sql.text(tx, APPLY, cluster, json)));
        });
    }

    /** The report checked field by field, as the JSON lm.apply_agent_report takes. */
    private static String report(Call c) {
        Body b = c.object("report").allow("interval", "features", "failed", "slurm");
        JsonObject report = new JsonObject();
        Long interval = b.optInteger("interval");
        if (interval != null) {
            if (interval <= 0 || interval > Integer.MAX_VALUE) {
                throw ApiException.unprocessable("interval must be > 0");
            }
            report.addProperty("interval", interval);
        }
        JsonArray features = new JsonArray();
        List<Body> items = b.optObjects("features");
        for (Body f : items == null ? List.<Body>of() : items) {
            f.allow("product_feature", "total", "used", "queued", "read_age_ms", "checkouts", Expiry.EXPIRES_AT, Expiry.EXPIRING);
            JsonObject o = new JsonObject();
            o.addProperty("product_feature", f.string("product_feature"));
            o.addProperty("total", nonNegative(f, "total"));
            o.addProperty("used", nonNegative(f, "used"));
            if (f.has("queued")) {
                // the license server's queue (lm_license_queued, the reports' queued columns)
                o.addProperty("queued", nonNegative(f, "queued"));
            }
            if (f.has("read_age_ms")) {
                // how long before the report the server was read: orders readings (lm.read_at)
                long age = nonNegative(f, "read_age_ms");
                if (age > MAX_READ_AGE_MS) {
                    throw ApiException.unprocessable("'read_age_ms' must be at most " + MAX_READ_AGE_MS + " (a day)");
                }
                o.addProperty("read_age_ms", age);
            }
            Expiry.copy(f, o);
            JsonArray checkouts = new JsonArray();
            List<Body> cos = f.optObjects("checkouts");
            for (Body co : cos == null ? List.<Body>of() : cos) {
                co.allow("user", "host", "quantity", "key");
                JsonObject x = new JsonObject();
                x.addProperty("user", co.string("user"));
                x.addProperty("host", co.string("host"));
                x.addProperty("quantity", nonNegative(co, "quantity"));
                String key = co.optString("key");
                if (key != null) {
                    // what tells two checkouts of one user on one host apart (lm.checkout_covers)
                    if (key.length() > 255) {
                        throw ApiException.unprocessable("a checkout's 'key' is at most 255 characters");
                    }
                    x.addProperty("key", key);
                }
                checkouts.add(x);
            }
            o.add("checkouts", checkouts);
            features.add(o);
        }
        report.add("features", features);
        report.add("failed", strings(b, "failed"));
        if (b.has("slurm")) {
            Body s = new Body(b.raw().get("slurm"), "report.slurm").allow("licenses", "job_ids", "jobs", "nodes", "squeue_age_ms", "pending");
            JsonObject slurm = new JsonObject();
            if (s.has("licenses")) {
                JsonArray lics = new JsonArray();
                for (Body l : s.optObjects("licenses")) {
                    l.allow("license", "total", "used");
                    JsonObject x = new JsonObject();
                    x.addProperty("license", l.string("license"));
                    x.addProperty("total", nonNegative(l, "total"));
                    x.addProperty("used", nonNegative(l, "used"));
                    lics.add(x);
                }
                slurm.add("licenses", lics);
            }
            JsonArray jobIds = jobIds(s);
            if (jobIds != null) {
                slurm.add("job_ids", jobIds);
            }
            if (s.has("nodes")) {
                slurm.add("nodes", nodes(s.raw().get("nodes")));
            }
            if (s.has("pending")) {
                // demand: what pending jobs ask for, per job, account and license (lm.apply_pending)
                JsonArray pending = new JsonArray();
                for (Body p : s.optObjects("pending")) {
                    p.allow("job_id", "account", "license", "quantity");
                    JsonObject x = new JsonObject();
                    x.add("job_id", jobId(new JsonPrimitive(p.stringOrInteger("job_id")), "report.slurm.pending[].job_id"));
                    x.addProperty("account", p.optString("account"));
                    x.addProperty("license", p.string("license"));
                    x.addProperty("quantity", nonNegative(p, "quantity"));
                    pending.add(x);
                }
                slurm.add("pending", pending);
            }
            Long age = s.optInteger("squeue_age_ms");
            slurm.addProperty("squeue_age_ms", age == null ? 0 : Math.max(0, age));
            report.add("slurm", slurm);
        }
        return Json.GSON.toJson(report);
    }

    /**
     * The jobs squeue listed, as one array of ids for the SQL: {@code job_ids} (numbers, what
     * lm-agent sends) or the older {@code jobs} objects (an lm-agent from before job_ids; their
     * state was never used). Null when the report has neither: then no job is ended.
     */
    private static JsonArray jobIds(Body s) {
        if (s.has("job_ids") && s.has("jobs")) {
            throw ApiException.badRequest("report.slurm: send job_ids or jobs, not both");
        }
        if (s.has("jobs")) {
            JsonArray ids = new JsonArray();
            List<Body> jobs = s.optObjects("jobs");
            for (int i = 0; i < jobs.size(); i++) {
                Body j = jobs.get(i).allow("slurm_job_id", "state");
                j.optString("state");
                ids.add(jobId(new JsonPrimitive(j.stringOrInteger("slurm_job_id")), "report.slurm.jobs[" + i + "]"));
            }
            return ids;
        }
        if (!s.has("job_ids")) {
            return null;
        }
        JsonElement e = s.raw().get("job_ids");
        if (!e.isJsonArray()) {
            throw ApiException.badRequest("report.slurm: 'job_ids' must be an array of integers");
        }
        JsonArray in = e.getAsJsonArray();
        JsonArray ids = new JsonArray(in.size());
        for (int i = 0; i < in.size(); i++) {
            JsonElement x = in.get(i);
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isNumber()) {
                throw ApiException.badRequest("report.slurm.job_ids[" + i + "] must be an integer");
            }
            ids.add(jobId(x.getAsJsonPrimitive(), "report.slurm.job_ids[" + i + "]"));
        }
        return ids;
    }

    // Slurm job ids are what lm.jobs.slurm_job_id holds: 1 to 20 digits (1.5, -3 or 1e3 are not).
    private static JsonPrimitive jobId(JsonPrimitive id, String where) {
        String text = id.getAsString();
        if (text.isEmpty() || text.length() > 20 || !text.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
            throw ApiException.unprocessable(where + ": a Slurm job id is 1 to 20 digits, not '" + text + "'");
        }
        return id;
    }

    /** The cluster's node names; the usage SQL matches checkouts to these hosts only. */
    private static JsonArray nodes(JsonElement e) {
        if (!e.isJsonArray()) {
            throw ApiException.badRequest("report.slurm: 'nodes' must be an array of strings");
        }
        JsonArray in = e.getAsJsonArray();
        for (int i = 0; i < in.size(); i++) {
            JsonElement x = in.get(i);
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isString()) {
                throw ApiException.badRequest("report.slurm.nodes[" + i + "] must be a string");
            }
            if (!NODE.matcher(x.getAsString()).matches()) {
                throw ApiException.unprocessable("report.slurm.nodes[" + i + "]: '" + x.getAsString()
                        + "' is not a short lowercase host name (1-63 of a-z, 0-9, '-', '_'; no domain)");
            }
        }
        return in;
    }

    private static long nonNegative(Body b, String field) {
        long v = b.integer(field);
        if (v < 0) {
            throw ApiException.unprocessable("'" + field + "' must not be negative");
        }
        return v;
    }

    private static JsonArray strings(Body b, String field) {
        JsonArray out = new JsonArray();
        if (!b.has(field)) {
            return out;
        }
        JsonElement e = b.raw().get(field);
        if (!e.isJsonArray()) {
            throw ApiException.badRequest("'" + field + "' must be an array of strings");
        }
        for (JsonElement x : e.getAsJsonArray()) {
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isString()) {
                throw ApiException.badRequest("'" + field + "' must be an array of strings");
            }
            out.add(x);
        }
        return out;
    }
}
