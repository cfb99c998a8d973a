package lm.slurm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** bin/lm-prolog against {@link LmStandIn}: request contract, exit codes, failure modes. */
class LmPrologTest {

    @TempDir
    Path dir;
    LmStandIn lm;
    ScriptRun run;

    @BeforeEach
    void setUp() throws IOException {
        lm = new LmStandIn();
        run = new ScriptRun(dir, lm.url(), "retries = 2");
    }

    @AfterEach
    void tearDown() {
        lm.close();
    }

    private static JsonObject json(LmStandIn.Request r) {
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    private static String bookings(JsonObject body) {
        JsonArray a = body.getAsJsonArray("bookings");
        List<String> out = new ArrayList<>();
        a.forEach(e -> out.add(e.getAsJsonObject().get("product_feature").getAsString() + ":"
                + e.getAsJsonObject().get("quantity").getAsInt()));
        return String.join(",", out);
    }

    @Test
    void booksEveryLicenseInOnePost() throws Exception {
        run.env("SLURM_JOB_LICENSES", "abaqus.abaqus@flexlm:3,ansys.ansys@flexlm:2");
        ScriptRun.Result r = run.prolog();

        assertEquals(0, r.exit(), r.toString());
        assertEquals(1, lm.requests().size());
        LmStandIn.Request req = lm.requests().get(0);
        assertEquals("POST", req.method());
        assertEquals("/lm/jobs", req.path());
        assertEquals("Bearer " + Files.readString(run.token).trim(), req.authorization());
        assertEquals("application/json", req.contentType());
        JsonObject body = json(req);
        assertTrue(body.get("slurm_job_id").getAsJsonPrimitive().isString(), "job id is sent as a string");
        assertEquals("42", body.get("slurm_job_id").getAsString());
        assertEquals("alice", body.get("username").getAsString());
        assertEquals("vm", body.get("lead_host").getAsString());
        assertEquals("abaqus.abaqus:3,ansys.ansys:2", bookings(body));
        assertEquals(0, body.get("run").getAsInt(), "SLURM_JOB_RESTART_COUNT");
        assertEquals(5, body.keySet().size(), body.toString());
        assertTrue(r.last().contains("lm-prolog[") && r.last().contains("job=42 cluster=lmtest outcome=booked"),
                r.last());
    }

    @Test
    void missingCountMeansOne() throws Exception {
        run.env("SLURM_JOB_LICENSES", "abaqus.abaqus@flexlm,ansys.ansys@flexlm:4");
        assertEquals(0, run.prolog().exit());
        assertEquals("abaqus.abaqus:1,ansys.ansys:4", bookings(json(lm.requests().get(0))));
    }

    @Test
    void repeatedLicenseIsSummed() throws Exception {
        run.env("SLURM_JOB_LICENSES", "abaqus.abaqus@flexlm:2,abaqus.abaqus@flexlm:3");
        assertEquals(0, run.prolog().exit());
        assertEquals("abaqus.abaqus:5", bookings(json(lm.requests().get(0))));
    }

    @Test
    void licensesOfUnknownTypesAndShapesAreSentAsUntracked() throws Exception {
        run.env("SLURM_JOB_LICENSES",
                "matlab:2,abaqus.abaqus@flexlm:2,x.y@unknown:4,nodot@flexlm:1,starccm.ccmpsuite@rlm,zero.count@lmx:0,we\"ird\\:1");
        lm.onPost(201, "{\"id\":1,\"untracked\" : [\"matlab\", \"nodot@flexlm\", \"we\\\"ird\\\\\", \"x.y@unknown\"]}");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit());
        JsonObject body = json(lm.requests().get(0));
        assertEquals("abaqus.abaqus:2,starccm.ccmpsuite:1", bookings(body));
        assertEquals("[\"matlab\",\"x.y@unknown\",\"nodot@flexlm\",\"we\\\"ird\\\\\"]", body.getAsJsonArray("untracked").toString());
        assertTrue(r.last().contains("outcome=booked") && r.last().contains("(0 requested: zero.count@lmx)")
                && r.last().contains("untracked (counted, not booked): matlab,nodot@flexlm,"), r.last());
    }

    @Test
    void allTypesOfLicenseServersAreBooked() throws Exception {
        run.env("SLURM_JOB_LICENSES", "a.a@flexlm,b.b@rlm,c.c@lsdyna,d.d@lmx,e.e@olicense,f.f@dsls");
        assertEquals(0, run.prolog().exit());
        assertEquals("a.a:1,b.b:1,c.c:1,d.d:1,e.e:1,f.f:1", bookings(json(lm.requests().get(0))));
    }

    @Test
    void onlyUntrackedLicensesAreCountedAndTheJobRuns() throws Exception {
        run.env("SLURM_JOB_LICENSES", "matlab:2,x.y@unknown:1");
        lm.onPost(404, "{\"code\":\"not_found\"}");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit());
        assertEquals(1, lm.requests().size(), "sent to be counted");
        JsonObject body = json(lm.requests().get(0));
        assertEquals(0, body.getAsJsonArray("bookings").size());
        assertEquals("[\"matlab\",\"x.y@unknown\"]", body.getAsJsonArray("untracked").toString());
        assertTrue(r.last().contains("outcome=untracked") && r.last().contains("counted"), r.last());
        // nothing to book: no failure of lm-server holds the job up, only the count is lost
        lm.onPost(500, "{}");
        r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.last().contains("outcome=untracked") && r.last().contains("not counted"), r.last());
    }

    @ParameterizedTest
    @ValueSource(strings = {"absent", "empty"})
    void noLicensesMeansNoRequest(String how) throws Exception {
        run.env("SLURM_JOB_LICENSES", how.equals("absent") ? null : "");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit());
        assertEquals(0, lm.requests().size());
        assertTrue(r.last().contains("outcome=none detail=no licenses"), r.last());
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
        "vm; vm",
        "node[07-09,11]; node07",
        "node[3]; node3",
        "node[001-004],gpu[1-2]; node001",
        "login1,node[1-3]; login1",
        "n[01-02]-ib,x; n01-ib",
        "a,b,c; a",
    })
    void leadHostIsTheFirstHostOfTheNodeList(String nodelist, String lead) throws Exception {
        run.env("SLURM_JOB_NODELIST", nodelist);
        assertEquals(0, run.prolog().exit());
        assertEquals(lead, json(lm.requests().get(0)).get("lead_host").getAsString());
    }

    @Test
    void leadHostFromScontrolWhenSlurmConfIsThere() throws Exception {
        Path scontrol = Path.of("/usr/bin/scontrol");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(scontrol), "scontrol not installed");
        Path sconf = dir.resolve("slurm.conf");
        Files.writeString(sconf, "ClusterName=x\nSlurmctldHost=localhost\n"
                + "NodeName=node[01-20] CPUs=1 State=UNKNOWN\nPartitionName=p Nodes=node[01-20]\n");
        run.conf("slurm_conf = " + sconf).env("SLURM_JOB_NODELIST", "node[05-07,11]");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        assertEquals("node05", json(lm.requests().get(0)).get("lead_host").getAsString());
        assertTrue(r.took().toMillis() < 3000, "scontrol must not wait for anything: " + r.took());
    }

    @Test
    void userAndHostAreEscapedInJson() throws Exception {
        String user = "we\"ird\\user";
        run.env("SLURM_JOB_USER", user).env("SLURM_JOB_NODELIST", "h\"ost");
        assertEquals(0, run.prolog().exit());
        JsonObject body = json(lm.requests().get(0));
        assertEquals(user, body.get("username").getAsString());
        assertEquals("h\"ost", body.get("lead_host").getAsString());
    }

    @Test
    void theJobsAccountIsSentUnlessSlurmHasNone() throws Exception {
        run.env("SLURM_JOB_ACCOUNT", "proj\"1");
        assertEquals(0, run.prolog().exit());
        assertEquals("proj\"1", json(lm.requests().get(0)).get("account").getAsString());
        run.env("SLURM_JOB_ACCOUNT", "(null)");
        assertEquals(0, run.prolog().exit());
        assertFalse(json(lm.requests().get(1)).has("account"), "Slurm's (null) is no account");
    }

    @ParameterizedTest(name = "HTTP {0} -> exit {1}, {2}")
    @CsvSource(delimiter = ';', value = {
        "201; 0; booked",
        "200; 0; booked",
        "204; 0; booked",
        "409; 1; refused",
        "404; 0; untracked",
        "400; 2; error",
        "422; 2; error",
        "401; 2; error",
        "403; 2; error",
        "302; 2; error",
    })
    void exitCodeFollowsTheAnswer(int status, int exit, String outcome) throws Exception {
        lm.onPost(status, "{\"code\":\"x\",\"message\":\"m\",\"detail\":\"d\"}");
        ScriptRun.Result r = run.prolog();
        assertEquals(exit, r.exit(), r.toString());
        assertEquals(1, lm.requests().size(), "not retried");
        assertTrue(r.last().contains("outcome=" + outcome), r.last());
    }

    @Test
    void a404WithoutJsonBodyIsAnErrorNotUntracked() throws Exception {
        // e.g. a wrong api_url: must not let every job through unbooked
        lm.onPost(404, "");
        ScriptRun.Result r = run.prolog();
        assertEquals(2, r.exit());
        assertTrue(r.last().contains("is api_url"), r.last());
    }

    @Test
    void badRequestWithFailOpenRuns() throws Exception {
        run.conf("on_error = fail-open");
        lm.onPost(422, "{\"code\":\"LM422\"}");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit());
        assertTrue(r.last().contains("outcome=error") && r.last().contains("fail-open"), r.last());
    }

    @Test
    void serverErrorsAreRetriedThenFailClosed() throws Exception {
        lm.onPost(500, "{}");
        ScriptRun.Result r = run.prolog();
        assertEquals(2, r.exit());
        assertEquals(3, lm.requests().size(), "1 + retries");
        assertTrue(r.last().contains("HTTP 500 after 3 attempts"), r.last());
    }

    @Test
    void aRetryThatSucceedsBooks() throws Exception {
        lm.thenOnce(503, "").thenOnce(500, "").onPost(201, "{}");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        assertEquals(3, lm.requests().size());
        assertEquals(lm.requests().get(0).body(), lm.requests().get(2).body(), "the same request again");
    }

    @Test
    void slowServerTimesOutPerRequest() throws Exception {
        run.conf("timeout = 1").conf("retries = 1");
        lm.onPost(new LmStandIn.Answer(201, "{}", Duration.ofSeconds(4)));
        ScriptRun.Result r = run.prolog();
        assertEquals(2, r.exit());
        assertEquals(2, lm.requests().size());
        assertTrue(r.took().toMillis() < 3500, "two tries of 1 s: " + r.took());
        assertTrue(r.last().contains("no answer within 1s"), r.last());
    }

    @ParameterizedTest
    @CsvSource({"fail-closed, 2", "fail-open, 0"})
    void nothingListening(String onError, int exit) throws Exception {
        ScriptRun r0 = new ScriptRun(dir, "http://127.0.0.1:" + ScriptRun.closedPort() + "/lm",
                "retries = 3", "on_error = " + onError);
        ScriptRun.Result r = r0.prolog();
        assertEquals(exit, r.exit());
        assertTrue(r.last().contains("connection refused (curl exit 7) after 4 attempts"), r.last());
        assertTrue(r.last().contains("on_error=" + onError), r.last());
    }

    @Test
    void retryDelayIsHonoured() throws Exception {
        run.conf("retry_delay = 0.4");
        lm.onPost(500, "");
        ScriptRun.Result r = run.prolog();
        assertEquals(2, r.exit());
        assertTrue(r.took().toMillis() >= 800, "two delays of 0.4 s: " + r.took());
    }

    @ParameterizedTest
    @ValueSource(strings = {"missing", "empty", "expired", "expired-pad1", "expired-pad2", "garbage"})
    void unusableTokenIsAnErrorWithoutRequest(String kind) throws Exception {
        long past = Instant.now().minusSeconds(60).getEpochSecond();
        switch (kind) {
            case "missing" -> Files.delete(run.token);
            case "empty" -> Files.writeString(run.token, "\n");
            case "expired" -> Files.writeString(run.token, ScriptRun.jwt(past, ""));
            // payload lengths that need one and two '=' of padding before base64 -d
            case "expired-pad1" -> Files.writeString(run.token, ScriptRun.jwt(past, ",\"a\":\"b\""));
            case "expired-pad2" -> Files.writeString(run.token, ScriptRun.jwt(past, ",\"a\":\"bc\""));
            case "garbage" -> Files.writeString(run.token, "not a token\u00e9");
            default -> throw new IllegalArgumentException(kind);
        }
        ScriptRun.Result r = run.prolog();
        assertEquals(2, r.exit(), r.toString());
        assertEquals(0, lm.requests().size());
        assertTrue(r.last().contains("outcome=error detail=token"), r.last());

        run.conf("on_error = fail-open");
        assertEquals(0, run.prolog().exit(), "fail-open");
        assertEquals(0, lm.requests().size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", ",\"a\":\"b\"", ",\"a\":\"bc\"", ",\"a\":\"bcd\""})
    void validJwtIsSent(String extra) throws Exception {
        String t = ScriptRun.jwt(Instant.now().plusSeconds(120).getEpochSecond(), extra);
        Files.writeString(run.token, t + "\n");
        assertEquals(0, run.prolog().exit());
        assertEquals("Bearer " + t, lm.requests().get(0).authorization());
    }

    @Test
    void opaqueTokenIsSentAsIs() throws Exception {
        Files.writeString(run.token, "abc123-opaque_token\n");
        assertEquals(0, run.prolog().exit());
        assertEquals("Bearer abc123-opaque_token", lm.requests().get(0).authorization());
    }

    @ParameterizedTest
    @ValueSource(strings = {"colour = blue", "on_error = maybe", "retries = -1", "timeout = 0",
        "retry_delay = soon", "api_url = ftp://x", "not a key value line", "log_tag = two words"})
    void badConfigurationExitsThree(String line) throws Exception {
        run.conf(line);
        ScriptRun.Result r = run.prolog();
        assertEquals(3, r.exit(), r.toString());
        assertEquals(0, lm.requests().size());
        assertTrue(r.last().contains("bad configuration"), r.last());
    }

    @Test
    void configMayQuoteValuesAndCarryComments() throws Exception {
        Files.writeString(run.conf, Files.readString(run.conf)
                + "   # indented comment\n\nlog_tag = \"lm-test\"   # trailing comment\n\tretries=0\n");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.last().contains(" lm-test["), r.last());
    }

    @Test
    void missingConfigFileNamedByEnvironmentExitsThree() throws Exception {
        run.env("LM_PROLOG_CONF", dir.resolve("nope.conf").toString());
        assertEquals(3, run.prolog().exit());
    }

    @Test
    void notRunBySlurmctldExitsThree() throws Exception {
        run.env("SLURM_JOB_ID", null);
        assertEquals(3, run.prolog().exit());
        assertEquals(0, lm.requests().size());
    }

    @Test
    void sigtermBecomesAnExplicitError() throws Exception {
        // Slurm counts a prolog killed by a signal as success: the script must exit itself.
        lm.onPost(new LmStandIn.Answer(201, "{}", Duration.ofMillis(1500)));
        Instant t0 = Instant.now();
        Process p = run.startProlog();
        while (lm.requests().isEmpty() && Duration.between(t0, Instant.now()).toSeconds() < 10) {
            Thread.sleep(20);
        }
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS));
        ScriptRun.Result r = run.result(p, t0);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.last().contains("terminated by a signal"), r.last());
    }

    @Test
    void concurrentProlgsBookTheirOwnJobs() throws Exception {
        List<Process> ps = new ArrayList<>();
        for (int i = 1; i <= 12; i++) {
            run.env("SLURM_JOB_ID", String.valueOf(100 + i)).env("SLURM_JOBID", String.valueOf(100 + i));
            ps.add(run.startProlog());
        }
        for (Process p : ps) {
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(0, p.exitValue());
        }
        Set<String> ids = new HashSet<>();
        lm.requests().forEach(r -> ids.add(json(r).get("slurm_job_id").getAsString()));
        assertEquals(12, ids.size());
        List<String> log = run.log();
        assertEquals(12, log.size(), "one whole line per run: " + log);
        assertFalse(log.stream().anyMatch(l -> !l.contains("outcome=booked")), log.toString());
    }

    // The script reads its configuration and token with shell built-ins (no sed per line):
    // the inputs sed used to smooth over must still work.
    @Test
    void configWithCrlfAndNoFinalNewline() throws Exception {
        String text = Files.readString(run.conf).replace("\n", "\r\n") + "# note\r\n  \r\nlog_tag = lm-crlf #x";
        Files.writeString(run.conf, text);
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.last().contains(" lm-crlf[") && r.last().contains("outcome=booked"), r.last());
    }

    @Test
    void tokenLineIsSentWithoutBlanksAndOnlyTheFirstLine() throws Exception {
        String t = ScriptRun.jwt(Instant.now().plusSeconds(120).getEpochSecond(), "");
        Files.writeString(run.token, " " + t + " \r\nsecond line\n");
        assertEquals(0, run.prolog().exit());
        assertEquals("Bearer " + t, lm.requests().get(0).authorization());
    }

    @Test
    void aTokenWithoutExpOrWithoutFinalNewlineIsSent() throws Exception {
        java.util.Base64.Encoder b64 = java.util.Base64.getUrlEncoder().withoutPadding();
        String t = b64.encodeToString("{}".getBytes()) + "." + b64.encodeToString("{\"sub\":\"x\"}".getBytes()) + ".c2ln";
        Files.writeString(run.token, t);
        assertEquals(0, run.prolog().exit());
        assertEquals("Bearer " + t, lm.requests().get(0).authorization());
    }

    @Test
    void controlCharactersAreDroppedFromJsonAndBlankedInTheLog() throws Exception {
        run.env("SLURM_JOB_USER", "al\tice");
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        assertEquals("alice", json(lm.requests().get(0)).get("username").getAsString());
        assertEquals(1, run.log().size(), run.log().toString());
        assertTrue(r.last().contains("for al ice@"), r.last());
    }

    @Test
    void aLongLogLineIsCutAt2000Bytes() throws Exception {
        run.env("SLURM_JOB_USER", "u".repeat(3000));
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        String line = r.last();
        String msg = line.substring(line.indexOf("job="));
        assertEquals(2000, msg.length(), line.substring(0, 120));
    }

    @Test
    void oneRunIsFast() throws Exception {
        run.prolog(); // warm the page cache
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit());
        System.err.println("[LmPrologTest] one booking prolog run took " + r.took().toMillis() + " ms");
        assertTrue(r.took().toMillis() < 2000, r.took().toString());
    }
}
