package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import lm.agent.AgentHarness.Use;
import lm.testing.Http;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Offline operation across the real pieces (issue 11 part 4): a reconcile pass writes
 * budget_file, the real bin/lm-prolog and bin/lm-epilog book and release against it with
 * lm-server unreachable, and the next pass replays their ledger, idempotently, removing the
 * entries only once lm-server acknowledged them.
 */
class OfflineReplayTest {
    private static final String ABAQUS_LIC = "abaqus.abaqus@flexlm";
    private static final Path PROLOG = Path.of("bin/lm-prolog").toAbsolutePath();
    private static final Path EPILOG = Path.of("bin/lm-epilog").toAbsolutePath();

    private AgentHarness h;
    private Path budget;
    private Path ledger;
    private Path prologConf;

    @BeforeEach
    void setUp() throws IOException {
        h = new AgentHarness("offc");
        h.configuration("abaqus", null, List.<String[]>of(new String[] {"abaqus", "abaqus"}), "lic1:27000");
        h.slurmLicenses(ABAQUS_LIC, 10, 0);
        h.flexlm("lic1:27000", new Use("abaqus", 10, 0));
        budget = Path.of(h.conf.get("budget_file"));
        ledger = Path.of(h.conf.get("offline_dir")).resolve("ledger");
        prologConf = h.dir.resolve("prolog.conf");
        // lm-server is away for the prolog: nothing listens on its api_url
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Files.writeString(prologConf, String.join("\n",
                "api_url = http://127.0.0.1:" + closed + "/lm",
                "token_file = " + h.prologToken,
                "retries = 0",
                "log_file = " + h.dir.resolve("prolog.log"),
                "budget_file = " + budget,
                "offline_dir = " + h.conf.get("offline_dir"),
                ""));
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    private int script(Path script, String job, String licenses) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(script.toString());
        pb.environment().clear();
        pb.environment().putAll(Map.of("SLURM_JOB_ID", job, "SLURM_JOB_LICENSES", licenses, "SLURM_JOB_USER", "alice",
                "SLURM_JOB_NODELIST", "node01", "SLURM_CLUSTER_NAME", "offc", "LM_PROLOG_CONF", prologConf.toString()));
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return p.exitValue();
    }

    /** The cluster's jobs on lm-server: slurm id → its bookings' "quantity[o]" (o: offline). */
    private Map<String, String> serverJobs() {
        Http.Res r = h.http.get("/jobs?limit=100", h.admin);
        assertEquals(200, r.status(), r.toString());
        Map<String, String> out = new TreeMap<>();
        for (JsonElement e : r.json().getAsJsonArray()) {
            JsonObject j = e.getAsJsonObject();
            StringBuilder b = new StringBuilder();
            for (JsonElement x : j.getAsJsonArray("bookings")) {
                JsonObject bk = x.getAsJsonObject();
                b.append(bk.get("quantity").getAsLong()).append(bk.get("offline").getAsBoolean() ? "o" : "");
            }
            out.put(j.get("slurm_job_id").getAsString(), b.toString());
        }
        return out;
    }

    private long budgetOf(String license) throws IOException {
        return JsonParser.parseString(Files.readString(budget)).getAsJsonObject().getAsJsonObject("licenses").get(license).getAsLong();
    }

    @Test
    void aPassWritesTheBudgetThePrologBooksAgainstAndTheNextPassReplaysTheLedger() throws Exception {
        assertEquals(0, h.reconcile(), h.lastErr);
        JsonObject b = JsonParser.parseString(Files.readString(budget)).getAsJsonObject();
        assertEquals("offc", b.get("cluster_client_id").getAsString());
        assertTrue(Math.abs(b.get("made_at_epoch").getAsLong() - Instant.now().getEpochSecond()) < 60, b::toString);
        // the lease lm-server recorded ends offline_max_age later, on the agent's clock here
        assertEquals(b.get("made_at_epoch").getAsLong() + 3600, b.get("expires_at_epoch").getAsLong(), b::toString);
        assertEquals(10, budgetOf(ABAQUS_LIC));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(budget)));
        assertEquals("rwxrwx---", PosixFilePermissions.toString(Files.getPosixFilePermissions(ledger.getParent())));

        // lm-server unreachable: 4 + 4 fit in the budget of 10, the third job's 4 do not
        assertEquals(0, script(PROLOG, "1", ABAQUS_LIC + ":4"));
        assertEquals(0, script(PROLOG, "2", ABAQUS_LIC + ":4"));
        assertEquals(1, script(PROLOG, "3", ABAQUS_LIC + ":4"));
        // job 1 ends while lm-server is still away
        assertEquals(0, script(EPILOG, "1", ABAQUS_LIC + ":4"));
        assertEquals(3, Files.readAllLines(ledger).size());
        List<String> before = Files.readAllLines(ledger);

        // lm-server is back; job 2 runs (Slurm counts its 4), 3 waits
        h.slurmLicenses(ABAQUS_LIC, 10, 4);
        h.squeue("2", "3");
        assertEquals(0, h.reconcile(), h.lastErr);
        assertTrue(h.lastErr.contains("offline ledger replayed: 3 entries"), h.lastErr);
        assertEquals(Map.of("2", "4o"), serverJobs());
        assertFalse(Files.exists(ledger), "acknowledged entries leave the ledger");
        assertEquals(6, budgetOf(ABAQUS_LIC), "the new budget counts the replayed booking");
        assertEquals(6, h.feature("abaqus.abaqus").get("available").getAsLong());

        // the agent died after lm-server's answer, before removing the entries: the next pass
        // sends them again, and nothing changes
        Files.write(ledger, before);
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(Map.of("2", "4o"), serverJobs());
        assertEquals(6, h.feature("abaqus.abaqus").get("available").getAsLong());
        assertFalse(Files.exists(ledger));
    }

    @Test
    void whileTheReplayIsNotAcknowledgedTheLedgerStays() throws Exception {
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(0, script(PROLOG, "5", ABAQUS_LIC + ":2"));
        List<String> before = Files.readAllLines(ledger);
        String budgetBefore = Files.readString(budget);
        h.conf.put("api_url", Files.readAllLines(prologConf).get(0).substring("api_url = ".length()));
        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);
        assertEquals(before, Files.readAllLines(ledger));
        assertEquals(budgetBefore, Files.readString(budget));
    }

    @Test
    void aDamagedLineIsSetAsideAndTheRestReplayed() throws Exception {
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(0, script(PROLOG, "6", ABAQUS_LIC + ":1"));
        Files.writeString(ledger, "{\"op\":\"bo\n" + Files.readString(ledger) + "{\"op\":\"book\",\"id\":\"x\"}\n");
        h.squeue("6");
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(Map.of("6", "1o"), serverJobs());
        assertFalse(Files.exists(ledger));
        List<String> rejected = Files.readAllLines(ledger.resolveSibling("ledger.rejected"));
        assertEquals(List.of("{\"op\":\"bo", "{\"op\":\"book\",\"id\":\"x\"}"), rejected);
        assertTrue(h.lastErr.contains("entry rejected"), h.lastErr);
    }

    @Test
    void removingKeepsWhatPrologsAppendedMeanwhile() throws Exception {
        Path dir = Path.of(h.conf.get("offline_dir"));
        Files.createDirectories(dir);
        Files.write(ledger, List.of("a", "b", "c"));
        AgentSettings s = AgentSettings.load(null, Map.of("LM_OFFLINE_DIR", dir.toString(), "LM_PROLOG_TOKEN_GROUP", "root"));
        new Ledger(s, new Log(System.err)).remove(new Ledger.Replayed(List.of("a", "b")));
        assertEquals(List.of("c"), Files.readAllLines(ledger));
        assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(ledger)),
                "the prolog's group can append again");
    }

    @Test
    void aDryRunReplaysNothingAndWritesNoBudget() throws Exception {
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(0, script(PROLOG, "7", ABAQUS_LIC + ":1"));
        List<String> before = Files.readAllLines(ledger);
        String budgetBefore = Files.readString(budget);
        assertEquals(0, h.reconcile("--dry-run"), h.lastErr);
        assertEquals(before, Files.readAllLines(ledger));
        assertEquals(budgetBefore, Files.readString(budget));
        assertTrue(h.lastOut.contains("# dry run: the budget_file lm-agent would write"), h.lastOut);
        assertTrue(h.lastErr.contains("1 offline ledger entries"), h.lastErr);
        assertEquals(Map.of(), serverJobs());
    }
}
