package lm.booking;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Body;
import lm.http.Call;
import lm.http.Json;
import lm.http.Listing;
import lm.http.Reply;
import lm.http.Routes;

/**
 * /lm/jobs: a Slurm job and the licenses booked for it. POST is the prolog's admission call;
 * the decision is lm.book_job's, made under the pools' row locks.
 */
public final class Jobs {
    private static final String VIEW = "lm.api_jobs";
    private static final Listing LIST = new Listing("job", VIEW, List.of("slurm_job_id", "username", "lead_host", "cluster_client_id", "account"),
            Map.of("id", "id", "slurm_job_id", "slurm_job_id::numeric", "cluster_client_id", "cluster_client_id",
                    "username", "username", "lead_host", "lead_host", "created_at", "created_at", "account", "account"));
    private static final String NOT_IN_CLUSTER = "The job doesn't exist in this cluster.";
    /** lm.jobs.run's CHECK (V20): SLURM_JOB_RESTART_COUNT of a run. */
    private static final long MAX_RUN = 1_000_000_000L;
    /** lm.untracked_licenses.license's CHECK (V22). */
    private static final int MAX_LICENSE_NAME = 200;
    /** More names than a job asks licenses of: each is a label value of lm_untracked_licenses_total. */
    private static final int MAX_UNTRACKED = 100;
    /** lm.book_job's 404: no license of the request is one the cluster has. */
    private static final String UNKNOWN = "LM002";
    private static final Logger LOG = Logger.getLogger("lm.booking");

    private Jobs() {}

    public static void routes(Routes r, DataSource ds, lm.metrics.Metrics metrics) {
        r.post("/jobs", "job", "create", metrics.admission(c -> book(ds, c)));
        // pool_id: the jobs holding an active booking in that pool (the dashboard's pool page)
        r.get("/jobs", "job", "read", c -> {
            Long pool = c.queryId("pool_id");
            return pool == null ? LIST.list(ds, c.listQuery(LIST), null)
                    : LIST.list(ds, c.listQuery(LIST), "id IN (SELECT b.job_id FROM lm.bookings b JOIN lm.features f ON f.id = b.feature_id"
                            + " WHERE f.pool_id = ? AND lm.booking_active(b))", pool);
        });
        r.get("/jobs/by_client_id", "job", "read", c -> LIST.list(ds, c.listQuery(LIST), "cluster_client_id = ?", c.cluster()));
        r.get("/jobs/slurm_job_id/{slurm_job_id}", "job", "read",
                c -> LIST.one(ds, "cluster_client_id = ? AND slurm_job_id = ?", NOT_IN_CLUSTER, c.cluster(), c.param("slurm_job_id")));
        // the epilog's call; 404 means there was nothing to release, which the epilog accepts
        // ?run=N: only that run ends (a late release of a requeued job's earlier run ends nothing)
        r.delete("/jobs/slurm_job_id/{slurm_job_id}", "job", "delete", c -> {
            Long run = c.number("run", 0, MAX_RUN);
            String released = Sql.text(ds, "SELECT lm.release_job(?, ?, ?::integer)", c.cluster(), c.param("slurm_job_id"), run);
            if (!"t".equals(released)) {
                throw ApiException.notFound(NOT_IN_CLUSTER);
            }
            return Reply.ok("{\"message\":\"job " + Json.quote(c.param("slurm_job_id")).replace("\"", "") + " released\"}");
        });
        r.get("/jobs/{id}", "job", "read", c -> LIST.one(ds, c.id("id", "job")));
        r.delete("/jobs/{id}", "job", "delete", c -> Release.byId(ds, c.actor(), "lm.delete_job", "job", c.clusterScope(), c.id("id", "job")));
    }

    private static Reply book(DataSource ds, Call c) throws Exception {
        Body b = c.object("job").allow("slurm_job_id", "cluster_client_id", "username", "lead_host", "bookings", "account",
                "run", "untracked");
        String cluster = b.optString("cluster_client_id");
        if (cluster == null) {
            cluster = c.cluster();
        } else if (!cluster.equals(c.principal().clientId()) && !c.principal().isAdmin()) {
            // a cluster's prolog books for its own cluster only
            throw new ApiException(403, "forbidden", "cluster_client_id " + cluster + " is not the caller's cluster", null);
        }
        JsonArray items = new JsonArray();
        // every name the request gives: what is counted as untracked when none of them is booked
        JsonArray names = new JsonArray();
        List<Body> bookings = b.optObjects("bookings");
        for (Body x : bookings == null ? List.<Body>of() : bookings) {
            x.allow("product_feature", "quantity");
            String pf = x.string("product_feature");
            if (!pf.contains(".")) {
                throw ApiException.unprocessable("product_feature '" + pf + "' must look like product.feature");
            }
            long q = x.integer("quantity");
            if (q <= 0) {
                throw ApiException.unprocessable("quantity of " + pf + " must be > 0");
            }
            JsonObject o = new JsonObject();
            o.addProperty("product_feature", pf);
            o.addProperty("quantity", q);
            items.add(o);
            names.add(pf);
        }
        JsonArray untracked = untracked(b);
        names.addAll(untracked);
        String slurmJobId = b.stringOrInteger("slurm_job_id");
        // the job's project (Slurm account); "(null)" is how Slurm prints none
        String account = b.optString("account");
        if (account != null && (account.isBlank() || account.equals("(null)"))) {
            account = null;
        }
        // the run (SLURM_JOB_RESTART_COUNT): a requeued job is a new run, which a late release of
        // an earlier run must not end
        Long run = b.optInteger("run");
        if (run != null && (run < 0 || run > MAX_RUN)) {
            throw ApiException.unprocessable("job: 'run' must be from 0 to " + MAX_RUN + " (SLURM_JOB_RESTART_COUNT)");
        }
        String cl = cluster;
        String bookingsJson = Json.GSON.toJson(items);
        try {
            return Sql.query(ds, "SELECT created, job, untracked FROM lm.book_job(?, ?, ?, ?, ?::jsonb, now(), ?, ?::integer,"
                    + " ARRAY(SELECT jsonb_array_elements_text(?::jsonb)))", rs -> {
                rs.next();
                String[] unknown = (String[]) rs.getArray(3).getArray();
                if (unknown.length > 0) {
                    LOG.info(() -> "job=" + slurmJobId + " cluster=" + cl + " run=" + run + " untracked=" + String.join(",", unknown)
                            + ": not licenses lm-server manages; the job's other licenses are booked");
                }
                return new Reply(rs.getBoolean(1) ? 201 : 200, rs.getString(2), null);
            }, cl, slurmJobId, b.string("username"), b.string("lead_host"), bookingsJson, account, run, Json.GSON.toJson(untracked));
        } catch (SQLException e) {
            if (UNKNOWN.equals(e.getSQLState())) {
                // none of the job's licenses is one lm-server manages: the 404 rolled the count
                // back, so it is counted on its own (a lost count never changes the answer)
                LOG.info(() -> "job=" + slurmJobId + " cluster=" + cl + " run=" + run + " untracked=" + join(names)
                        + ": no license lm-server manages, nothing booked");
                try {
                    Sql.text(ds, "SELECT lm.count_untracked(?, ?, ARRAY(SELECT jsonb_array_elements_text(?::jsonb)), now())",
                            cl, slurmJobId, Json.GSON.toJson(names));
                } catch (SQLException ignored) {
                    // the 404 the caller gets is what matters
                }
            }
            // the job's owner waits for these licenses (demand), and the refusal is a denial
            Refusals.note(ds, e, "SELECT lm.note_job_refusal(?, ?, ?, ?, ?::jsonb, ?::jsonb)",
                    cl, slurmJobId, b.string("username"), account, bookingsJson);
            throw e;
        }
    }

    /** "untracked": Slurm license names the prolog found lm-server cannot book, to be counted. */
    private static JsonArray untracked(Body b) {
        JsonArray out = new JsonArray();
        if (!b.has("untracked") || b.isNull("untracked")) {
            return out;
        }
        com.google.gson.JsonElement e = b.raw().get("untracked");
        if (!e.isJsonArray()) {
            throw ApiException.badRequest("job: 'untracked' must be an array of license names");
        }
        if (e.getAsJsonArray().size() > MAX_UNTRACKED) {
            throw ApiException.unprocessable("job: 'untracked' names at most " + MAX_UNTRACKED + " licenses");
        }
        for (com.google.gson.JsonElement x : e.getAsJsonArray()) {
            if (!x.isJsonPrimitive() || !x.getAsJsonPrimitive().isString()) {
                throw ApiException.badRequest("job: 'untracked' must be an array of license names");
            }
            String name = x.getAsString();
            if (name.isBlank() || name.length() > MAX_LICENSE_NAME) {
                throw ApiException.unprocessable("job: 'untracked' names must be 1 to " + MAX_LICENSE_NAME + " characters");
            }
            out.add(name);
        }
        return out;
    }

    private static String join(JsonArray a) {
        List<String> out = new java.util.ArrayList<>();
        a.forEach(x -> out.add(x.getAsString()));
        return String.join(",", out);
    }
}
