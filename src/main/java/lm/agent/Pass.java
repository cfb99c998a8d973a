package lm.agent;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintStream;
import java.net.http.HttpClient;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import lm.agent.servers.Checkout;
import lm.agent.servers.FeatureUsage;

/**
 * One reconcile pass: ask lm-server for this cluster's configurations, poll their license
 * servers, read Slurm, report, apply the returned plan to Slurm. Returns an exit status of
 * {@link Main}. Keeps no state: everything it needs is asked again each pass.
 */
final class Pass {
    private final AgentSettings settings;
    private final Log log;
    private final PrintStream out;
    private final HttpClient http;

    Pass(AgentSettings settings, Log log, PrintStream out) {
        this.settings = settings;
        this.log = log;
        this.out = out;
        this.http = LmApi.newClient();
    }

    int run() {
        long start = System.nanoTime();
        LmApi api = new LmApi(settings.apiUrl(), http);
        String token;
        List<Configuration> configs;
        try {
            token = Tokens.current(settings, http);
            configs = api.configurations(token);
        } catch (LmServerException e) {
            log.line(e.getMessage() + "; nothing applied");
            return Main.SERVER;
        }
        long serverNanos = System.nanoTime() - start;
        // A fresh prolog token each pass, written before the rest of the pass so a Slurm or report
        // failure doesn't leave the prolog with an old token that may expire. Never the agent's
        // own token: the slurm group can read that file.
        boolean tokenFileFailed = !writePrologToken(api, token);
        // The offline ledger first: its bookings then count in this pass's report and plan, and
        // the checkouts of jobs that started offline release their bookings at once.
        Ledger ledger = new Ledger(settings, log);
        Ledger.Replayed replayed = null;
        try {
            replayed = ledger.replay(api, token);
        } catch (LmServerException | IOException | RuntimeException e) {
            log.line("offline ledger not replayed: " + e.getMessage() + "; kept for the next pass");
        }

        long pollStart = System.nanoTime();
        List<Poller.Outcome> outcomes = new Poller(settings, log).pollAll(configs);
        long pollNanos = System.nanoTime() - pollStart;
        JsonArray features = new JsonArray();
        Map<JsonObject, Long> readAt = new IdentityHashMap<>();
        Set<String> failed = new LinkedHashSet<>();
        collect(outcomes, features, readAt, failed);

        Slurm slurm = new Slurm(settings, log, out);
        List<Slurm.License> licenses = null;
        List<Long> jobIds = List.of();
        List<Slurm.Pending> pending = List.of();
        List<String> nodes = null;
        long squeueDone = 0;
        boolean slurmFailed = false;
        try {
            licenses = slurm.licenses();
            nodes = slurm.nodes();
            pending = slurm.pending();
            jobIds = slurm.jobIds();
            squeueDone = System.nanoTime();
        } catch (SlurmException e) {
            log.line("cannot read Slurm: " + e.getMessage() + "; reporting usage only, Slurm left as is");
            slurmFailed = true;
        }

        JsonObject report = new JsonObject();
        report.addProperty("interval", settings.interval());
        report.add("features", features);
        JsonArray failedJson = new JsonArray();
        failed.forEach(failedJson::add);
        report.add("failed", failedJson);
        if (!slurmFailed) {
            JsonObject s = new JsonObject();
            JsonArray lic = new JsonArray();
            for (Slurm.License l : licenses) {
                JsonObject o = new JsonObject();
                o.addProperty("license", l.name());
                o.addProperty("total", l.total());
                o.addProperty("used", l.used());
                lic.add(o);
            }
            s.add("licenses", lic);
            JsonArray ids = new JsonArray(jobIds.size());
            jobIds.forEach(ids::add);
            s.add("job_ids", ids);
            JsonArray nodeNames = new JsonArray(nodes.size());
            nodes.forEach(nodeNames::add);
            s.add("nodes", nodeNames);
            // demand: per pending job, account and license (lm-server(8), SHARES)
            JsonArray waiting = new JsonArray(pending.size());
            for (Slurm.Pending p : pending) {
                JsonObject o = new JsonObject();
                o.addProperty("job_id", p.jobId());
                o.addProperty("account", p.account());
                o.addProperty("license", p.license());
                o.addProperty("quantity", p.quantity());
                waiting.add(o);
            }
            s.add("pending", waiting);
            // The server must not end a job that was submitted after squeue looked: it compares
            // this age with the job's creation time.
            s.addProperty("squeue_age_ms", (System.nanoTime() - squeueDone) / 1_000_000);
            report.add("slurm", s);
        }
        // each reading's age as late as the report allows: lm-server orders the readings of one
        // license server by it (two clusters' agents may read it in one order and report in the other)
        long built = System.nanoTime();
        readAt.forEach((item, nanos) -> item.addProperty("read_age_ms", Math.max(0, (built - nanos) / 1_000_000)));
        String json = LmApi.GSON.toJson(report);
        if (settings.dryRun()) {
            print("# dry run: the report lm-agent would send (POST " + settings.apiUrl() + "/agent/report), one line of JSON;"
                    + " sent to " + LmApi.DRY_RUN + " instead", json);
        }

        JsonObject plan;
        List<Slurm.Hold> holds;
        byte[] gzipped = LmApi.gzip(json);
        long reportStart = System.nanoTime();
        try {
            plan = api.report(token, gzipped, settings.dryRun());
            holds = holds(plan);
        } catch (LmServerException e) {
            log.line(e.getMessage() + "; nothing applied to Slurm");
            return Main.SERVER;
        }
        long reportNanos = System.nanoTime() - reportStart;
        serverNanos += reportNanos;
        if (settings.dryRun()) {
            print("# dry run: the plan lm-server computed (in a transaction it rolled back: nothing was stored)", LmApi.GSON.toJson(plan));
        }
        boolean stale = !failed.isEmpty() | logPlan(plan);
        // A new budget only once the ledger is replayed: lm-server checks the entries against the
        // cluster's last two budgets, and those booked on an older one would be rejected.
        boolean offlineFailed = replayed == null || !writeBudget(ledger, api, token, replayed);
        if (replayed == null) {
            log.line("budget_file " + settings.budgetFile() + " not renewed: the offline ledger was not replayed; offline bookings"
                    + " use the old one until it expires");
        }

        if (!slurmFailed) {
            if (settings.dryRun()) {
                print("# dry run: the scontrol changes lm-agent would run (none when the reservation is already right)", null);
            }
            try {
                slurm.apply(holds, licenses);
            } catch (SlurmException e) {
                log.line(e.getMessage());
                slurmFailed = true;
            }
        }
        int status = slurmFailed ? Main.SLURM : tokenFileFailed || offlineFailed ? Main.USAGE : stale ? Main.STALE : Main.OK;
        long totalNanos = System.nanoTime() - start;
        // The times let an admin see where a slow pass went; "agent" is what remains once the
        // license servers, Slurm and lm-server are taken out (make bench reports it at 150,000 jobs).
        log.line("pass done: " + features.size() + " features reported, " + failed.size() + " failed, " + jobIds.size()
                + " jobs, report " + kb(json.length()) + " kB (" + kb(gzipped.length) + " kB gzipped); times: license servers " + ms(pollNanos)
                + " ms, Slurm " + ms(slurm.nanos()) + " ms, lm-server " + ms(serverNanos) + " ms (report " + ms(reportNanos) + " ms), agent "
                + ms(totalNanos - pollNanos - slurm.nanos() - serverNanos) + " ms; exit " + status);
        return status;
    }

    private void print(String comment, String json) {
        out.println(comment);
        if (json != null) {
            out.println(json);
        }
        out.flush();
    }

    private static long ms(long nanos) {
        return nanos / 1_000_000;
    }

    private static long kb(long chars) {
        return (chars + 1023) / 1024;
    }

    /** Reported features and failed ones, matched to the configuration by name, case-insensitively. */
    private void collect(List<Poller.Outcome> outcomes, JsonArray features, Map<JsonObject, Long> readAt, Set<String> failed) {
        for (Poller.Outcome o : outcomes) {
            Configuration c = o.config();
            if (o.failed()) {
                c.features().forEach(f -> failed.add(f.productFeature()));
                continue;
            }
            Map<String, FeatureUsage> byName = new LinkedHashMap<>();
            for (FeatureUsage u : o.report().features()) {
                byName.putIfAbsent(u.name().toLowerCase(Locale.ROOT), u);
            }
            for (Configuration.Feature f : c.features()) {
                FeatureUsage u = byName.get(f.name().toLowerCase(Locale.ROOT));
                if (u == null) {
                    // A feature the server doesn't list is a configuration error (a typo, a
                    // feature moved to another server), not an empty pool: never report it as 0.
                    log.line("configuration " + c.name() + ": feature " + f.name() + " is not in the output of "
                            + o.server() + "; " + f.productFeature() + " reported as failed");
                    failed.add(f.productFeature());
                    continue;
                }
                JsonObject j = new JsonObject();
                j.addProperty("product_feature", f.productFeature());
                j.addProperty("total", u.total());
                j.addProperty("used", u.used());
                j.addProperty("queued", u.queued());
                if (u.expires() != null) {
                    // the nearest expiry the server printed (none: permanent, or not printed)
                    j.addProperty("expires_at", u.expires().toString());
                    j.addProperty("expiring", u.expiring());
                }
                JsonArray checkouts = new JsonArray();
                for (Checkout k : u.checkouts()) {
                    JsonObject x = new JsonObject();
                    x.addProperty("user", k.user());
                    x.addProperty("host", k.host());
                    x.addProperty("quantity", k.quantity());
                    if (!k.key().isEmpty()) {
                        x.addProperty("key", k.key());
                    }
                    checkouts.add(x);
                }
                j.add("checkouts", checkouts);
                features.add(j);
                readAt.put(j, o.readNanos());
            }
        }
    }

    /** The plan's reservation list; a plan without one is a contract mismatch, not "hold nothing". */
    private static List<Slurm.Hold> holds(JsonObject plan) throws LmServerException {
        JsonElement r = plan.get("reservations");
        if (r == null || !r.isJsonArray()) {
            throw new LmServerException("POST /agent/report: the answer has no reservations list");
        }
        List<Slurm.Hold> holds = new ArrayList<>();
        try {
            for (JsonElement e : r.getAsJsonArray()) {
                JsonObject o = e.getAsJsonObject();
                holds.add(new Slurm.Hold(o.get("license").getAsString(), o.get("count").getAsLong()));
            }
        } catch (RuntimeException e) {
            throw new LmServerException("POST /agent/report: bad reservations entry: " + e.getMessage());
        }
        return holds;
    }

    /** Logs what the server decided; true when it used stale data somewhere. */
    private boolean logPlan(JsonObject plan) {
        List<String> stale = strings(plan, "stale");
        List<String> held = strings(plan, "held");
        for (String f : stale) {
            if (!held.contains(f)) {
                log.line("feature " + f + ": license server unreachable, lm-server keeps its last known usage");
            }
        }
        for (String f : held) {
            log.line("feature " + f + ": license server unreachable beyond its outage grace, held in full (fail closed)");
        }
        log.line("report accepted: " + plan.get("reservations").getAsJsonArray().size() + " licenses planned, "
                + number(plan, "released_checkouts") + " bookings released by checkouts, "
                + number(plan, "expired") + " expired, " + number(plan, "ended_jobs") + " ended jobs removed");
        return !stale.isEmpty() || !held.isEmpty();
    }

    private static List<String> strings(JsonObject o, String key) {
        List<String> out = new ArrayList<>();
        JsonElement e = o.get(key);
        if (e != null && e.isJsonArray()) {
            for (JsonElement x : e.getAsJsonArray()) {
                if (x.isJsonPrimitive()) {
                    out.add(x.getAsString());
                }
            }
        }
        return out;
    }

    private static String number(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonPrimitive() ? e.getAsString() : "?";
    }

    /**
     * Writes budget_file, then removes from the ledger what this pass replayed: only a budget
     * made after the replay counts those entries, so they leave the ledger after it is written
     * (lm-prolog may book the budget minus what the ledger holds). False when either failed.
     */
    private boolean writeBudget(Ledger ledger, LmApi api, String token, Ledger.Replayed replayed) {
        try {
            ledger.writeBudget(api, token, out);
        } catch (LmServerException | IOException | RuntimeException e) {
            log.line("budget_file " + settings.budgetFile() + " not written: " + e.getMessage()
                    + "; offline bookings use what it holds, if anything, until it expires");
            return false;
        }
        try {
            ledger.remove(replayed);
            return true;
        } catch (IOException | RuntimeException e) {
            log.line("offline ledger: replayed entries not removed: " + e.getMessage() + "; the next pass replays them again (no harm)");
            return false;
        }
    }

    private boolean writePrologToken(LmApi api, String agentToken) {
        if (settings.dryRun()) {
            log.line("dry run: not writing prolog_token_file " + settings.prologTokenFile());
            return true;
        }
        try {
            String token = api.prologToken(agentToken);
            SlurmFile.writeToken(settings.prologTokenFile(), token, settings.prologTokenGroup(), log);
            return true;
        } catch (LmServerException e) {
            log.line(e.getMessage() + "; prolog_token_file left as it was (lm-prolog works until that token expires)");
            return false;
        } catch (IOException | UnsupportedOperationException e) {
            log.line("cannot write prolog_token_file " + settings.prologTokenFile() + ": " + e
                    + "; lm-prolog will fail once the old token expires");
            return false;
        }
    }
}
