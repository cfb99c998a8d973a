package lm.slurm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * on_error = offline (issue 11 part 4): with lm-server unreachable, bin/lm-prolog books against
 * budget_file under flock, all or nothing, into the ledger, and bin/lm-epilog appends releases
 * there; anything but an outage, or no budget young enough, is fail-closed.
 */
class LmOfflineTest {

    @TempDir
    Path dir;
    LmStandIn lm;
    ScriptRun run;
    Path ledger;

    @BeforeEach
    void setUp() throws IOException {
        lm = new LmStandIn();
        // nothing listens: connection refused, the common outage
        run = new ScriptRun(dir, "http://127.0.0.1:" + ScriptRun.closedPort() + "/lm", "retries = 1");
        Files.createDirectories(run.offlineDir);
        ledger = run.offlineDir.resolve("ledger");
    }

    @AfterEach
    void tearDown() {
        lm.close();
    }

    /** What lm-agent writes: made now minus {@code ageSeconds}, pretty-printed as Gson does. */
    private void budget(long ageSeconds, Map<String, Integer> licenses) throws IOException {
        StringBuilder b = new StringBuilder("{\n  \"cluster_client_id\": \"lmtest\",\n  \"made_at\": \"2026-01-01T00:00:00Z\",\n")
                .append("  \"made_at_epoch\": ").append(Instant.now().getEpochSecond() - ageSeconds).append(",\n  \"licenses\": {");
        String sep = "\n";
        for (Map.Entry<String, Integer> e : licenses.entrySet()) {
            b.append(sep).append("    \"").append(e.getKey()).append("\": ").append(e.getValue());
            sep = ",\n";
        }
        Files.writeString(run.budget, b.append("\n  }\n}\n").toString());
    }

    private List<JsonObject> ledger() throws IOException {
        List<JsonObject> out = new ArrayList<>();
        if (Files.exists(ledger)) {
            for (String line : Files.readAllLines(ledger)) {
                out.add(JsonParser.parseString(line).getAsJsonObject());
            }
        }
        return out;
    }

    private ScriptRun.Result prolog(String job, String licenses) throws Exception {
        return run.env("SLURM_JOB_ID", job).env("SLURM_JOBID", job).env("SLURM_JOB_LICENSES", licenses).prolog();
    }

    /** Licenses booked per license name in the ledger, the way the replay will count them. */
    private Map<String, Integer> booked() throws IOException {
        Map<String, Integer> out = new HashMap<>();
        for (JsonObject e : ledger()) {
            if (e.get("op").getAsString().equals("book")) {
                for (JsonElement b : e.getAsJsonArray("bookings")) {
                    out.merge(b.getAsJsonObject().get("license").getAsString(), b.getAsJsonObject().get("quantity").getAsInt(), Integer::sum);
                }
            }
        }
        return out;
    }

    @Test
    void serverDownBooksAgainstTheBudgetAllOrNothing() throws Exception {
        budget(60, Map.of("abaqus.abaqus@flexlm", 5, "ansys.ansys@flexlm", 1));
        ScriptRun.Result r = prolog("1", "abaqus.abaqus@flexlm:3");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.last().contains("outcome=booked-offline") && r.last().contains("connection refused"), r.last());
        List<JsonObject> l = ledger();
        assertEquals(1, l.size());
        JsonObject e = l.get(0);
        assertEquals("book", e.get("op").getAsString());
        assertEquals("1", e.get("slurm_job_id").getAsString());
        assertEquals("alice", e.get("username").getAsString());
        assertEquals("vm", e.get("lead_host").getAsString());
        assertTrue(Math.abs(e.get("time").getAsLong() - Instant.now().getEpochSecond()) < 60, e::toString);
        assertEquals("[{\"license\":\"abaqus.abaqus@flexlm\",\"product_feature\":\"abaqus.abaqus\",\"quantity\":3}]",
                e.getAsJsonArray("bookings").toString());
        // run right after time; account (Slurm's "(null)" here: none) only when the job has one
        assertEquals(List.of("op", "id", "time", "run", "bookings", "slurm_job_id", "username", "lead_host"), List.copyOf(e.keySet()));
        assertEquals(0, e.get("run").getAsInt());

        // 2 of abaqus are left and 1 of ansys: a job wanting 2 + 2 gets neither
        r = prolog("2", "abaqus.abaqus@flexlm:2,ansys.ansys@flexlm:2");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.last().contains("outcome=refused-offline") && r.last().contains("ansys.ansys@flexlm:2>1"), r.last());
        assertEquals(1, ledger().size(), "all or nothing: no entry for a job the budget does not cover");
        // 2 + 1 fits, and uses it up
        assertEquals(0, prolog("3", "abaqus.abaqus@flexlm:2,ansys.ansys@flexlm").exit());
        assertEquals(Map.of("abaqus.abaqus@flexlm", 5, "ansys.ansys@flexlm", 1), booked());
        assertEquals(1, prolog("4", "abaqus.abaqus@flexlm").exit());
    }

    @Test
    void serverErrorsAfterTheRetriesAreAnOutageToo() throws Exception {
        run = new ScriptRun(dir, lm.url(), "retries = 1");
        lm.onPost(503, "");
        budget(0, Map.of("abaqus.abaqus@flexlm", 3));
        ScriptRun.Result r = prolog("5", "abaqus.abaqus@flexlm:3");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(2, lm.requests().size(), "tried again first");
        assertTrue(r.last().contains("HTTP 503") && r.last().contains("booked-offline"), r.last());
    }

    @ParameterizedTest
    @ValueSource(ints = {400, 401, 403, 409, 422})
    void anAnswerIsNotAnOutage(int status) throws Exception {
        run = new ScriptRun(dir, lm.url(), "retries = 1");
        lm.onPost(status, "{\"code\":\"x\",\"message\":\"no\"}");
        budget(0, Map.of("abaqus.abaqus@flexlm", 3));
        ScriptRun.Result r = prolog("6", "abaqus.abaqus@flexlm:1");
        assertEquals(status == 409 ? 1 : 2, r.exit(), r.toString());
        assertFalse(Files.exists(ledger), "lm-server answered: nothing booked offline");
    }

    @Test
    void aBudgetPastTheLeaseLmServerSetIsFailClosed() throws Exception {
        // made 100 s ago, a lease of 60 s (lm-server's offline_max_age), the prolog's own 3600 s
        budget(100, Map.of("abaqus.abaqus@flexlm", 3));
        long made = Instant.now().getEpochSecond() - 100;
        Files.writeString(run.budget, Files.readString(run.budget).replace("\"licenses\"", "\"expires_at_epoch\": " + (made + 60) + ",\n  \"licenses\""));
        ScriptRun.Result r = prolog("9", "abaqus.abaqus@flexlm:1");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.last().contains("expired") && r.last().contains("as fail-closed"), r.last());
        assertEquals(0, ledger().size());
        // within the lease it books
        Files.writeString(run.budget, Files.readString(run.budget).replace(String.valueOf(made + 60), String.valueOf(made + 3600)));
        assertEquals(0, prolog("9", "abaqus.abaqus@flexlm:1").exit());
        assertEquals(1, ledger().size());
    }

    @Test
    void noBudgetOrAnOldOneIsFailClosed() throws Exception {
        ScriptRun.Result r = prolog("7", "abaqus.abaqus@flexlm:1");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.last().contains("no budget_file") && r.last().contains("as fail-closed"), r.last());

        budget(3601, Map.of("abaqus.abaqus@flexlm", 3));
        r = prolog("7", "abaqus.abaqus@flexlm:1");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.last().contains("older than offline_max_age 3600s"), r.last());

        run.conf("offline_max_age = 7200");
        assertEquals(0, prolog("7", "abaqus.abaqus@flexlm:1").exit());

        Files.writeString(run.budget, "{\"licenses\": {\"abaqus.abaqus@flexlm\": 3}}");
        r = prolog("8", "abaqus.abaqus@flexlm:1");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.last().contains("no made_at_epoch"), r.last());
        assertEquals(1, ledger().size());

        // 0: never offline, however fresh the budget
        budget(0, Map.of("abaqus.abaqus@flexlm", 3));
        run.conf("offline_max_age = 0");
        assertEquals(2, prolog("8", "abaqus.abaqus@flexlm:1").exit());
        assertEquals(1, ledger().size());
    }

    @Test
    void withoutAWritableOfflineDirItIsFailClosed() throws Exception {
        budget(0, Map.of("abaqus.abaqus@flexlm", 3));
        Files.delete(run.offlineDir);
        ScriptRun.Result r = prolog("9", "abaqus.abaqus@flexlm:1");
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.last().contains("offline_dir"), r.last());
    }

    @Test
    void failClosedAndFailOpenNeverBookOffline() throws Exception {
        budget(0, Map.of("abaqus.abaqus@flexlm", 3));
        run.conf("on_error = fail-closed");
        assertEquals(2, prolog("10", "abaqus.abaqus@flexlm:1").exit());
        run.conf("on_error = fail-open");
        assertEquals(0, prolog("10", "abaqus.abaqus@flexlm:1").exit());
        assertFalse(Files.exists(ledger));
    }

    @Test
    void aLicenseNotInTheBudgetIsUntrackedAsLmServerWouldSay() throws Exception {
        budget(0, Map.of("abaqus.abaqus@flexlm", 3));
        ScriptRun.Result r = prolog("11", "other.thing@flexlm:1");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.last().contains("outcome=untracked"), r.last());
        assertFalse(Files.exists(ledger));
    }

    @Test
    void ledgerEntriesCarryTheRunAndTheAccount() throws Exception {
        budget(60, Map.of("abaqus.abaqus@flexlm", 5));
        run.env("SLURM_JOB_RESTART_COUNT", "3").env("SLURM_JOB_ACCOUNT", "proj\"x");
        assertEquals(0, prolog("30", "abaqus.abaqus@flexlm:1").exit());
        JsonObject e = ledger().get(0);
        assertEquals(List.of("op", "id", "time", "run", "bookings", "slurm_job_id", "username", "lead_host", "account"),
                List.copyOf(e.keySet()));
        assertEquals(3, e.get("run").getAsInt());
        assertEquals("proj\"x", e.get("account").getAsString());
        run.env("SLURM_JOB_RESTART_COUNT", null);
        assertEquals(0, run.epilog().exit());
        JsonObject rel = ledger().get(1);
        assertEquals(List.of("op", "id", "time", "slurm_job_id"), List.copyOf(rel.keySet()), "no run when Slurm sets none");
    }

    /**
     * Slurm counts a requeue's restart before the epilog of the requeued run (22.05: run 0's
     * epilog sees SLURM_JOB_RESTART_COUNT=1): a release written with the count would, replayed,
     * end the run the requeued job books next. The entry names the run it ends.
     */
    @Test
    void aReleaseNamesTheRunItEnds() throws Exception {
        budget(60, Map.of("abaqus.abaqus@flexlm", 5));
        // run 1 booked offline, then ended: the ledger shows run 1's booking, the release is run 1's
        run.env("SLURM_JOB_RESTART_COUNT", "1");
        assertEquals(0, prolog("40", "abaqus.abaqus@flexlm:1").exit());
        assertEquals(0, run.epilog().exit());
        assertEquals(1, ledger().get(1).get("run").getAsInt(), ledger().toString());
        // the epilog of a requeue: count 2, no booking of run 2 anywhere: it ends run 1
        run.env("SLURM_JOB_RESTART_COUNT", "2");
        assertEquals(0, run.epilog().exit());
        assertEquals(1, ledger().get(2).get("run").getAsInt(), ledger().toString());
        // job 41, run 0 booked online (nothing in the ledger), requeued while lm-server is away
        run.env("SLURM_JOB_ID", "41").env("SLURM_JOBID", "41").env("SLURM_JOB_RESTART_COUNT", "1");
        assertEquals(0, run.epilog().exit());
        JsonObject rel = ledger().get(3);
        assertEquals("41", rel.get("slurm_job_id").getAsString());
        assertEquals(0, rel.get("run").getAsInt(), "run 0's release, never run 1's");
    }

    @Test
    void theEpilogAppendsTheReleaseAndItsLicensesCanBeBookedAgain() throws Exception {
        budget(0, Map.of("abaqus.abaqus@flexlm", 2));
        assertEquals(0, prolog("20", "abaqus.abaqus@flexlm:2").exit());
        assertEquals(1, prolog("21", "abaqus.abaqus@flexlm:1").exit());
        run.env("SLURM_JOB_ID", "20").env("SLURM_JOBID", "20").env("SLURM_JOB_LICENSES", "abaqus.abaqus@flexlm:2");
        ScriptRun.Result r = run.epilog();
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.last().contains("outcome=released-offline"), r.last());
        JsonObject rel = ledger().get(1);
        assertEquals("release", rel.get("op").getAsString());
        assertEquals("20", rel.get("slurm_job_id").getAsString());
        assertEquals(5, rel.keySet().size(), rel::toString);
        // the run right after the time, for the replay to end only that run (issue 19, case 4)
        assertEquals(List.of("op", "id", "time", "run", "slurm_job_id"), List.copyOf(rel.keySet()));
        assertEquals(0, rel.get("run").getAsInt());
        // job 20 is over: its two licenses are the budget's again
        run.env("SLURM_SCRIPT_CONTEXT", "prolog_slurmctld");
        assertEquals(0, prolog("21", "abaqus.abaqus@flexlm:2").exit());
        // a job run twice (requeued) holds what its latest entry says, not both
        assertEquals(0, prolog("21", "abaqus.abaqus@flexlm:2").exit());
        assertEquals(1, prolog("22", "abaqus.abaqus@flexlm:1").exit());
    }

    @Test
    void theEpilogWithoutAnOfflineDirLogsTheLossAndExitsZero() throws Exception {
        Files.delete(run.offlineDir);
        ScriptRun.Result r = run.env("SLURM_JOB_LICENSES", "abaqus.abaqus@flexlm:2").epilog();
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.last().contains("outcome=error") && r.last().contains("release is lost"), r.last());
    }

    /**
     * The property: prologs racing for one budget never book more than it has. 36 jobs of 1-3
     * licenses against a budget of 20 of one license and 6 of another, all started at once.
     */
    @Test
    void concurrentProlgsNeverExceedTheBudget() throws Exception {
        budget(0, Map.of("abaqus.abaqus@flexlm", 20, "ansys.ansys@flexlm", 6));
        // 36 prologs queue on the ledger's lock; on a loaded 2-core host the default 5 s wait
        // ran out once (CI, load 12): the invariant under test is the budget, not that wait
        run.conf("timeout = 60");
        Random random = new Random(42);
        List<Process> ps = new ArrayList<>();
        List<Integer> asked = new ArrayList<>();
        for (int i = 0; i < 36; i++) {
            int q = 1 + random.nextInt(3);
            asked.add(q);
            String lic = "abaqus.abaqus@flexlm:" + q + (i % 3 == 0 ? ",ansys.ansys@flexlm" : "");
            run.env("SLURM_JOB_ID", String.valueOf(300 + i)).env("SLURM_JOBID", String.valueOf(300 + i)).env("SLURM_JOB_LICENSES", lic);
            ps.add(run.startProlog());
        }
        int booked = 0;
        int refused = 0;
        for (Process p : ps) {
            assertTrue(p.waitFor(180, TimeUnit.SECONDS));
            int exit = p.exitValue();
            assertTrue(exit == 0 || exit == 1, "exit " + exit + ": " + run.log());
            booked += exit == 0 ? 1 : 0;
            refused += exit == 1 ? 1 : 0;
        }
        Map<String, Integer> held = booked();
        assertTrue(held.getOrDefault("abaqus.abaqus@flexlm", 0) <= 20, held::toString);
        assertTrue(held.getOrDefault("ansys.ansys@flexlm", 0) <= 6, held::toString);
        assertEquals(booked, ledger().size(), "one entry per job booked");
        assertEquals(36, booked + refused);
        List<String> log = run.log();
        assertEquals(booked, log.stream().filter(l -> l.contains("outcome=booked-offline")).count(), log::toString);
        // the budget was used, not refused wholesale: a refused job found less than it asked for
        assertTrue(held.get("abaqus.abaqus@flexlm") >= 18, held::toString);
    }

    @Test
    void oneLicenseJobsRacingGetExactlyTheBudget() throws Exception {
        budget(0, Map.of("abaqus.abaqus@flexlm", 12));
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            run.env("SLURM_JOB_ID", String.valueOf(400 + i)).env("SLURM_JOBID", String.valueOf(400 + i))
                    .env("SLURM_JOB_LICENSES", "abaqus.abaqus@flexlm");
            ps.add(run.startProlog());
        }
        int booked = 0;
        for (Process p : ps) {
            assertTrue(p.waitFor(180, TimeUnit.SECONDS));
            booked += p.exitValue() == 0 ? 1 : 0;
        }
        assertEquals(12, booked);
        assertEquals(Map.of("abaqus.abaqus@flexlm", 12), booked());
        JsonArray ids = new JsonArray();
        ledger().forEach(e -> ids.add(e.get("id")));
        assertEquals(12, ids.asList().stream().distinct().count(), "entry ids are unique: " + ids);
    }

    @Test
    void badOfflineSettingsExitThree() throws Exception {
        run.conf("offline_max_age = an hour");
        assertEquals(3, prolog("30", "abaqus.abaqus@flexlm").exit());
    }
}
