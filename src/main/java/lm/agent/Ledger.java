package lm.agent;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Offline operation, the agent's side (lm-agent(8), OFFLINE OPERATION): replays the ledger
 * lm-prolog and lm-epilog keep in offline_dir while lm-server is unreachable, and writes the
 * budget they book against. The order is what keeps the prolog's arithmetic right (it may book
 * budget minus what the ledger holds): entries leave the ledger only after lm-server has
 * acknowledged them and a budget made after that (which counts them) is in budget_file. A crash
 * anywhere in between leaves them to be replayed again, which lm-server answers as before.
 * And what keeps lm-server's count of the leases right: a new budget is asked for only after
 * this pass replayed the ledger, and the old budget_file is gone before it is asked for.
 */
final class Ledger {
    // ~300 bytes an entry: a request stays far below lm-server's body limit
    static final int CHUNK = 1000;
    // A prolog holds the lock for one awk and one append; a minute means something is stuck.
    private static final long LOCK_WAIT_SECONDS = 60;

    private static final Gson PRETTY = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    private final AgentSettings settings;
    private final Log log;
    private final Path file;

    Ledger(AgentSettings settings, Log log) {
        this.settings = settings;
        this.log = log;
        this.file = settings.offlineDir().resolve("ledger");
    }

    /** The lines of one replay that lm-server answered (or that can never be replayed): to be removed. */
    record Replayed(List<String> lines) {}

    /**
     * Sends the ledger's entries to lm-server in ledger order; returns the lines it answered,
     * or an empty list when there is nothing to replay. Creates offline_dir when missing (the
     * prolog needs it to book offline). In a dry run, prints what would be sent instead.
     */
    Replayed replay(LmApi api, String token) throws IOException, LmServerException {
        if (!settings.dryRun()) {
            SlurmFile.directory(settings.offlineDir(), settings.prologTokenGroup(), log, "offline_dir");
        }
        // before the lock: flock(1) creates offline_dir as a file when it is missing (a dry run)
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            return new Replayed(List.of());
        }
        List<String> lines;
        try (Lock lock = new Lock(settings.offlineDir())) {
            lines = SlurmFile.readLines(file);
        }
        if (lines == null) {
            return new Replayed(List.of());
        }
        List<String> rejected = new ArrayList<>();
        Replayed replayed;
        try {
            replayed = send(lines, api, token, rejected);
        } catch (IOException | LmServerException | RuntimeException e) {
            try {
                keepRejected(rejected);
            } catch (IOException x) {
                e.addSuppressed(x);
            }
            throw e;
        }
        keepRejected(rejected);
        return replayed;
    }

    /** The replay of {@code lines}; lines that can never be replayed are added to {@code rejected}. */
    private Replayed send(List<String> lines, LmApi api, String token, List<String> rejected) throws IOException, LmServerException {
        List<String> done = new ArrayList<>();
        List<String> sent = new ArrayList<>();
        JsonArray entries = new JsonArray();
        for (String line : lines) {
            if (line.isBlank()) {
                done.add(line);
                continue;
            }
            try {
                JsonElement e = JsonParser.parseString(line);
                if (e.isJsonObject()) {
                    entries.add(e);
                    sent.add(line);
                    continue;
                }
            } catch (JsonParseException e) {
                // below
            }
            reject(line, "not a JSON object", rejected);
            done.add(line);
        }
        if (settings.dryRun()) {
            log.line("dry run: " + entries.size() + " offline ledger entries in " + file + " not replayed");
            return new Replayed(List.of());
        }
        Map<String, Integer> results = new HashMap<>();
        JsonArray overbooked = new JsonArray();
        for (int from = 0; from < entries.size(); from += CHUNK) {
            JsonArray chunk = new JsonArray();
            for (int i = from; i < Math.min(entries.size(), from + CHUNK); i++) {
                chunk.add(entries.get(i));
            }
            JsonObject body = new JsonObject();
            body.add("entries", chunk);
            JsonObject answer = api.replayOffline(token, LmApi.gzip(LmApi.GSON.toJson(body)));
            JsonArray answered = answer.getAsJsonArray("entries");
            if (answered == null || answered.size() != chunk.size()) {
                throw new LmServerException("POST /agent/offline: the answer does not have one result per entry");
            }
            for (int i = 0; i < answered.size(); i++) {
                JsonObject a = answered.get(i).getAsJsonObject();
                String result = a.has("result") ? a.get("result").getAsString() : "?";
                results.merge(result, 1, Integer::sum);
                if (result.equals("invalid") || result.equals("rejected")) {
                    // never recorded: kept aside for an admin, not sent again
                    JsonElement detail = a.get("detail");
                    reject(sent.get(from + i), detail != null && !detail.isJsonNull() ? detail.getAsString() : result, rejected);
                }
                done.add(sent.get(from + i));
            }
            if (answer.has("overbooked") && answer.get("overbooked").isJsonArray()) {
                overbooked = answer.getAsJsonArray("overbooked");
            }
        }
        if (!entries.isEmpty()) {
            log.line("offline ledger replayed: " + entries.size() + " entries, " + results);
        }
        for (JsonElement o : overbooked) {
            JsonObject x = o.getAsJsonObject();
            log.line("feature " + x.get("product_feature").getAsString() + ": overbooked after the offline replay, available "
                    + x.get("available").getAsString() + " (admission refuses it until licenses free up)");
        }
        return new Replayed(done);
    }

    /**
     * Writes this cluster's budget to budget_file (in a dry run: prints it). made_at_epoch is
     * this host's clock before the request, not lm-server's time: the prolog compares it with
     * the same clock, and earlier is the safe side; expires_at_epoch is that plus the lease's
     * length as lm-server set it (its offline_max_age), measured on one clock, lm-server's.
     * The old budget_file goes first: lm-server counts only the budget it handed out last (and
     * the one before), so a file older than that must not outlive a failed write or a crash.
     */
    void writeBudget(LmApi api, String token, PrintStream out) throws IOException, LmServerException {
        if (!settings.dryRun()) {
            Files.deleteIfExists(settings.budgetFile());
        }
        long madeAt = Instant.now().getEpochSecond();
        JsonObject answer = api.budget(token, settings.dryRun());
        JsonObject licenses = new JsonObject();
        long lease;
        try {
            for (JsonElement e : answer.getAsJsonArray("licenses")) {
                JsonObject l = e.getAsJsonObject();
                licenses.addProperty(l.get("license").getAsString(), l.get("budget").getAsLong());
            }
            lease = Duration.between(OffsetDateTime.parse(answer.get("made_at").getAsString()),
                    OffsetDateTime.parse(answer.get("expires_at").getAsString())).getSeconds();
        } catch (RuntimeException e) {
            throw new LmServerException("GET /budget: not the expected answer: " + LmApi.shorten(answer.toString()));
        }
        JsonObject budget = new JsonObject();
        budget.add("cluster_client_id", answer.get("cluster_client_id"));
        budget.add("made_at", answer.get("made_at"));
        budget.addProperty("made_at_epoch", madeAt);
        budget.addProperty("expires_at_epoch", madeAt + lease);
        budget.add("licenses", licenses);
        if (settings.dryRun()) {
            // the budget of the database as it is: the dry run's report was rolled back
            out.println("# dry run: the budget_file lm-agent would write (" + settings.budgetFile() + "), one line of JSON");
            out.println(LmApi.GSON.toJson(budget));
            out.flush();
            return;
        }
        // one license a line, for whoever reads it; lm-prolog's awk takes any layout
        String text = PRETTY.toJson(budget) + "\n";
        SlurmFile.write(settings.budgetFile(), text, "rw-r-----", settings.prologTokenGroup(), log, "budget_file");
    }

    /**
     * Removes the lines of {@code replayed} from the ledger, under the lock; lines prologs
     * appended since stay. The file is rewritten (mode 0660 in the prolog's group, so SlurmUser
     * can append again), or deleted when nothing is left (the next prolog creates it).
     */
    void remove(Replayed replayed) throws IOException {
        if (replayed.lines().isEmpty()) {
            return;
        }
        try (Lock lock = new Lock(settings.offlineDir())) {
            Map<String, Integer> gone = new HashMap<>();
            replayed.lines().forEach(l -> gone.merge(l, 1, Integer::sum));
            List<String> left = new ArrayList<>();
            List<String> now = SlurmFile.readLines(file);
            for (String line : now == null ? List.<String>of() : now) {
                if (gone.getOrDefault(line, 0) > 0) {
                    gone.merge(line, -1, Integer::sum);
                } else {
                    left.add(line);
                }
            }
            if (left.isEmpty()) {
                Files.deleteIfExists(file);
            } else {
                SlurmFile.write(file, String.join("\n", left) + "\n", "rw-rw----", settings.prologTokenGroup(), log, "offline_dir");
            }
        }
    }

    /** A line that can never be replayed is logged here, and kept aside by {@link #keepRejected}. */
    private void reject(String line, String why, List<String> rejected) {
        log.line("offline ledger: entry rejected (" + why + "), kept in " + file + ".rejected: " + LmApi.shorten(line));
        rejected.add(line);
    }

    /**
     * Keeps rejected lines in ledger.rejected for an admin: the agent's own file, 0600 (SlurmUser
     * cannot make it a link to another file; see {@link SlurmFile#appendPrivate}). One write per
     * replay, whatever happened to the rest of it.
     */
    private void keepRejected(List<String> rejected) throws IOException {
        if (!settings.dryRun()) {
            SlurmFile.appendPrivate(file.resolveSibling("ledger.rejected"), rejected, log, "offline_dir");
        }
    }

    /**
     * flock(1) on offline_dir, the lock lm-prolog takes: Java's FileChannel.lock is an fcntl
     * lock, which on Linux does not exclude flock(2) locks. A child {@code flock DIR sh} holds
     * it until its stdin closes (or the agent dies, which closes it too).
     */
    private static final class Lock implements AutoCloseable {
        private final Process process;

        Lock(Path dir) throws IOException {
            process = new ProcessBuilder("flock", "-w", Long.toString(LOCK_WAIT_SECONDS), dir.toString(),
                    "sh", "-c", "echo locked; exec cat >/dev/null")
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            String line = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)).readLine();
            if (!"locked".equals(line)) {
                close();
                throw new IOException("cannot lock " + dir + " (flock -w " + LOCK_WAIT_SECONDS + ")");
            }
        }

        @Override
        public void close() throws IOException {
            try (OutputStream in = process.getOutputStream()) {
                // closing stdin ends cat, then flock, and so the lock
            }
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
