package lm.booking;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.List;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Body;
import lm.http.Json;
import lm.http.Reply;
import lm.http.Routes;

/**
 * POST /lm/agent/report: one lm-agent pass (usage, failed servers, Slurm's view) in, the
 * reservation plan out. All of it is lm.apply_agent_report, one transaction.
 */
public final class AgentReport {
    private AgentReport() {}

    public static void routes(Routes r, DataSource ds) {
        r.post("/agent/report", "feature", "update", c -> {
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
                f.allow("product_feature", "total", "used", "queued", "checkouts");
                JsonObject o = new JsonObject();
                o.addProperty("product_feature", f.string("product_feature"));
                o.addProperty("total", nonNegative(f, "total"));
                o.addProperty("used", nonNegative(f, "used"));
                JsonArray checkouts = new JsonArray();
                List<Body> cos = f.optObjects("checkouts");
                for (Body co : cos == null ? List.<Body>of() : cos) {
                    co.allow("user", "host", "quantity");
                    JsonObject x = new JsonObject();
                    x.addProperty("user", co.string("user"));
                    x.addProperty("host", co.string("host"));
                    x.addProperty("quantity", nonNegative(co, "quantity"));
                    checkouts.add(x);
                }
                o.add("checkouts", checkouts);
                features.add(o);
            }
            report.add("features", features);
            report.add("failed", strings(b, "failed"));
            if (b.has("slurm")) {
                Body s = new Body(b.raw().get("slurm"), "report.slurm").allow("licenses", "jobs", "squeue_age_ms", "nodes");
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
                if (s.has("jobs")) {
                    JsonArray jobs = new JsonArray();
                    for (Body j : s.optObjects("jobs")) {
                        j.allow("slurm_job_id", "state");
                        JsonObject x = new JsonObject();
                        x.addProperty("slurm_job_id", j.stringOrInteger("slurm_job_id"));
                        x.addProperty("state", j.optString("state"));
                        jobs.add(x);
                    }
                    slurm.add("jobs", jobs);
                }
                if (s.has("nodes")) {
                    // the cluster's node names: checkouts on other hosts release none of its bookings
                    slurm.add("nodes", strings(s, "nodes"));
                }
                Long age = s.optInteger("squeue_age_ms");
                slurm.addProperty("squeue_age_ms", age == null ? 0 : Math.max(0, age));
                report.add("slurm", slurm);
            }
            return Reply.ok(Sql.text(ds, "SELECT lm.apply_agent_report(?, ?::jsonb)", c.cluster(), Json.GSON.toJson(report)));
        });
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
