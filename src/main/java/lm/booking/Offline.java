package lm.booking;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.List;
import java.util.logging.Logger;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Body;
import lm.http.Call;
import lm.http.Json;
import lm.http.Reply;
import lm.http.Routes;

/**
 * Offline operation (lm-prolog(8), OFFLINE OPERATION): GET /lm/budget, what the caller's
 * cluster may book while lm-server is unreachable (lm.cluster_budget), recorded as the cluster's
 * lease (lm.budget_json), which lm-agent writes to budget_file each pass; and POST /lm/agent/offline, the replay of the ledger lm-prolog and
 * lm-epilog kept meanwhile (lm.replay_offline, one transaction).
 */
public final class Offline {
    // A ledger line is ~300 bytes; lm-agent sends at most 1,000 entries per request.
    static final int MAX_ENTRIES = 10_000;
    // what lm-prolog writes: <epoch>.<pid> (documented as 1-64 of these characters)
    private static final Pattern ENTRY_ID = Pattern.compile("[A-Za-z0-9._:-]{1,64}");
    private static final Pattern JOB_ID = Pattern.compile("[0-9]{1,20}");
    // 9999-12-31T23:59:59Z, the last second to_timestamp and the API's dates agree on
    private static final long MAX_TIME = 253_402_300_799L;
    // lm.jobs.run's CHECK
    private static final long MAX_RUN = 1_000_000_000L;
    private static final Logger LOG = Logger.getLogger("lm.booking");

    private Offline() {}

    public static void routes(Routes r, DataSource ds) {
        r.get("/budget", "config", "read", c -> Reply.ok(Sql.text(ds, "SELECT lm.budget_json(?)", c.cluster())));
        // lm-agent --dry-run: the budget as it would be, its lease not recorded (a dry run writes
        // nothing); a route of its own, as /agent/report/dry_run, so an older lm-server answers 404
        r.get("/budget/dry_run", "config", "read", c -> {
            String cluster = c.cluster();
            return Reply.ok(Sql.rolledBack(ds, tx -> Sql.text(tx, "SELECT lm.budget_json(?)", cluster)));
        });
        r.post("/agent/offline", "feature", "update", c -> replay(ds, c));
    }

    /**
     * Each entry is checked on its own: one the prolog could not have written (a line damaged
     * on disk) is answered "invalid" with the reason and the others are applied, so one bad line
     * cannot stop a cluster's ledger from ever being replayed. lm.replay_offline counts it and
     * checks the rest against what lm-server knows (the entry's time, the cluster's lease);
     * what it rejects is logged here. Only a body that is not {"entries": [objects]} is refused
     * whole.
     */
    private static Reply replay(DataSource ds, Call c) throws Exception {
        String cluster = c.cluster();
        List<Body> entries = c.object("replay").allow("entries").optObjects("entries");
        if (entries == null) {
            throw ApiException.badRequest("replay: 'entries' is required");
        }
        if (entries.size() > MAX_ENTRIES) {
            throw ApiException.unprocessable("replay: at most " + MAX_ENTRIES + " entries per request, not " + entries.size());
        }
        JsonArray checked = new JsonArray();
        for (Body e : entries) {
            try {
                checked.add(entry(e));
            } catch (ApiException x) {
                JsonObject o = new JsonObject();
                JsonObject raw = e.raw();
                for (String k : List.of("id", "slurm_job_id", "op")) {
                    if (raw.has(k) && raw.get(k).isJsonPrimitive()) {
                        o.addProperty(k, raw.get(k).getAsString());
                    } else {
                        o.add(k, JsonNull.INSTANCE);
                    }
                }
                o.addProperty("invalid", x.getMessage());
                checked.add(o);
            }
        }
        JsonObject applied = JsonParser.parseString(
                Sql.text(ds, "SELECT lm.replay_offline(?, ?::jsonb)", cluster, Json.GSON.toJson(checked))).getAsJsonObject();
        for (JsonElement r : applied.getAsJsonArray("entries")) {
            JsonObject o = r.getAsJsonObject();
            String result = o.get("result").getAsString();
            if (result.equals("invalid") || result.equals("rejected")) {
                LOG.warning("lm-server: offline ledger entry " + result + ": cluster=" + cluster + " job=" + text(o, "slurm_job_id")
                        + " id=" + text(o, "id") + " op=" + text(o, "op") + ": " + text(o, "detail"));
            }
        }
        return Reply.ok(Json.GSON.toJson(applied));
    }

    private static String text(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? "-" : e.getAsString();
    }

    /** One ledger entry as lm.replay_offline takes it; an ApiException says what is wrong. */
    private static JsonObject entry(Body e) {
        JsonObject o = new JsonObject();
        String op = e.string("op");
        String id = e.string("id");
        if (!ENTRY_ID.matcher(id).matches()) {
            throw ApiException.unprocessable("entry: 'id' must be 1 to 64 letters, digits, '.', '_', ':' or '-'");
        }
        String job = e.stringOrInteger("slurm_job_id");
        if (!JOB_ID.matcher(job).matches()) {
            throw ApiException.unprocessable("entry: 'slurm_job_id' must be a Slurm job id: 1 to 20 digits");
        }
        long time = e.integer("time");
        if (time <= 0 || time > MAX_TIME) {
            throw ApiException.unprocessable("entry: 'time' must be seconds since 1970 (UTC), after 1970");
        }
        // the job's run (SLURM_JOB_RESTART_COUNT, lm.jobs.run); absent from older ledgers
        Long run = e.optInteger("run");
        if (run != null && (run < 0 || run > MAX_RUN)) {
            throw ApiException.unprocessable("entry: 'run' must be a restart count from 0 to " + MAX_RUN);
        }
        o.addProperty("id", id);
        o.addProperty("op", op);
        o.addProperty("slurm_job_id", job);
        o.addProperty("time", time);
        if (run != null) {
            o.addProperty("run", run);
        }
        switch (op) {
            case "release" -> e.allow("id", "op", "time", "run", "slurm_job_id");
            case "book" -> {
                e.allow("id", "op", "time", "run", "slurm_job_id", "username", "lead_host", "account", "bookings");
                o.addProperty("username", name(e, "username"));
                o.addProperty("lead_host", name(e, "lead_host"));
                if (e.optString("account") != null) {
                    o.addProperty("account", name(e, "account"));
                }
                List<Body> bookings = e.optObjects("bookings");
                if (bookings == null || bookings.isEmpty()) {
                    throw ApiException.unprocessable("entry: 'bookings' must list at least one {product_feature, quantity}");
                }
                JsonArray items = new JsonArray();
                for (Body b : bookings) {
                    // license: the Slurm name the prolog counted against its budget (kept for the log)
                    b.allow("product_feature", "quantity", "license");
                    b.optString("license");
                    long q = b.integer("quantity");
                    if (q <= 0) {
                        throw ApiException.unprocessable("entry: 'quantity' must be greater than 0");
                    }
                    JsonObject x = new JsonObject();
                    x.addProperty("product_feature", b.string("product_feature"));
                    x.addProperty("quantity", q);
                    items.add(x);
                }
                o.add("bookings", items);
            }
            default -> throw ApiException.unprocessable("entry: 'op' must be book or release, not '" + op + "'");
        }
        return o;
    }

    // the jobs table's rule (1 to 255 characters, not only spaces), checked per entry here
    private static String name(Body e, String field) {
        String s = e.string(field);
        if (s.isBlank() || s.length() > 255) {
            throw ApiException.unprocessable("entry: '" + field + "' must be 1 to 255 characters, not only spaces");
        }
        return s;
    }
}
