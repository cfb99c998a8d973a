package lm.slurm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 19, case 8: lm-prolog reads SLURM_JOB_LICENSES as slurmctld does. slurmctld keeps the
 * job's -L as typed (seen on Slurm 22.05: ":+40", ": 30", ":0000000020" arrive verbatim), so
 * each string is booked with the count Slurm counts, or refused (exit 2, whatever on_error
 * says) when Slurm would not have taken it: never untracked. And the run
 * (SLURM_JOB_RESTART_COUNT) goes with the booking and the release.
 */
class LmPrologLicensesTest {
    @TempDir
    Path dir;
    LmStandIn lm;
    ScriptRun run;

    @BeforeEach
    void setUp() throws IOException {
        lm = new LmStandIn();
        run = new ScriptRun(dir, lm.url(), "retries = 0");
    }

    @AfterEach
    void tearDown() {
        lm.close();
    }

    static final String A = "abaqus.abaqus@flexlm";
    static final String B = "ansys.ansys@flexlm";

    /** SLURM_JOB_LICENSES → what is booked ("pf:q,…"), "none" (0 of everything), or "untracked: [names]". */
    static Stream<Arguments> readable() {
        return Stream.of(
                // the three, run by a real slurmctld (LocalSlurmLicensesTest)
                Arguments.of(A + ":+40", "abaqus.abaqus:40"),
                Arguments.of(A + ": 30", "abaqus.abaqus:30"),
                Arguments.of(A + ":0000000020", "abaqus.abaqus:20"),
                // strtol's blanks and sign
                Arguments.of(A + ":\t7", "abaqus.abaqus:7"),
                Arguments.of(A + ":\n5", "abaqus.abaqus:5"),
                Arguments.of(A + ":  +7", "abaqus.abaqus:7"),
                Arguments.of(A + ": -0", "none"),
                // no count is 1, an empty count 0
                Arguments.of(A, "abaqus.abaqus:1"),
                Arguments.of(A + ":", "none"),
                Arguments.of(A + ":0", "none"),
                Arguments.of(A + ":+0", "none"),
                Arguments.of(A + ":00", "none"),
                // lists: ',' and ';' (Slurm's separators), '|' (OR, later Slurm: every alternative)
                Arguments.of(A + ":3," + B + ":2", "abaqus.abaqus:3,ansys.ansys:2"),
                Arguments.of(A + ":3;" + B + ":2", "abaqus.abaqus:3,ansys.ansys:2"),
                Arguments.of(A + ":1;;" + B + ":1", "abaqus.abaqus:1,ansys.ansys:1"),
                Arguments.of("," + A + ":1", "abaqus.abaqus:1"),
                Arguments.of(A + ":1,", "abaqus.abaqus:1"),
                Arguments.of(A + ":3|" + B + ":2", "abaqus.abaqus:3,ansys.ansys:2"),
                Arguments.of(A + ":2," + A + ":3", "abaqus.abaqus:5"),
                Arguments.of(A + ":0," + B + ":2", "ansys.ansys:2"),
                // Slurm keeps a count in 32 bits: these run with 1 and 0 licenses
                Arguments.of(A + ":4294967297", "abaqus.abaqus:1"),
                Arguments.of(A + ":-4294967295", "abaqus.abaqus:1"),
                Arguments.of(A + ":4294967296", "none"),
                // the @server part names the type; other names are not lm-server's to book
                Arguments.of("a.b@rlm:2,c.d@dsls:1", "a.b:2,c.d:1"),
                Arguments.of("matlab:2", "untracked: [\"matlab\"]"),
                Arguments.of("ABAQUS.abaqus@FLEXLM:1", "untracked: [\"ABAQUS.abaqus@FLEXLM\"]"),
                Arguments.of("x.y@nosuch:1,nodot@flexlm", "untracked: [\"x.y@nosuch\",\"nodot@flexlm\"]"));
    }

    @ParameterizedTest(name = "[{index}] {0} -> {1}")
    @MethodSource("readable")
    void readsWhatSlurmCounts(String licenses, String expected) throws Exception {
        run.env("SLURM_JOB_LICENSES", licenses);
        if (expected.startsWith("untracked")) {
            lm.onPost(404, "{\"code\":\"not_found\"}");
        }
        ScriptRun.Result r = run.prolog();
        assertEquals(0, r.exit(), r.toString());
        if (expected.equals("none")) {
            assertEquals(0, lm.requests().size());
            assertTrue(r.last().contains("outcome=none"), r.last());
            return;
        }
        JsonObject body = JsonParser.parseString(lm.requests().get(0).body()).getAsJsonObject();
        if (expected.startsWith("untracked: ")) {
            assertEquals(0, body.getAsJsonArray("bookings").size(), body.toString());
            assertEquals(expected.substring("untracked: ".length()), body.getAsJsonArray("untracked").toString());
            assertTrue(r.last().contains("outcome=untracked"), r.last());
            return;
        }
        assertEquals(expected, bookings(body));
        assertFalse(body.has("untracked"), body.toString());
        assertTrue(r.last().contains("outcome=booked"), r.last());
    }

    /** What Slurm 22.05 refuses at submit (tried: "Invalid license specification"), and plain garbage. */
    static Stream<String> unreadable() {
        return Stream.of(A + ":1e1", A + ":0x10", A + ":4x", A + ":1:2", A + ":+-1", A + ": ", A + ":3 ",
                A + ":3 ," + B + ":2", A + " :5", " " + A + ":5", A + ":+", A + ":-", A + ":99999999999999999999999",
                A + ":\u00a05", "abaqus\u0001x@flexlm:1", "abaqus.abaqus@flex lm:1", A + ":2," + B + ":two",
                "::", ":3", "\t");
    }

    @ParameterizedTest(name = "[{index}] refused: {0}")
    @MethodSource("unreadable")
    void whatSlurmWouldNotTakeIsRefusedNeverUntracked(String licenses) throws Exception {
        run.env("SLURM_JOB_LICENSES", licenses).conf("on_error = fail-open");
        ScriptRun.Result r = run.prolog();
        assertEquals(2, r.exit(), "requeued even with on_error = fail-open: " + r);
        assertEquals(0, lm.requests().size());
        assertTrue(r.last().contains("outcome=unreadable") && r.last().contains("cannot read SLURM_JOB_LICENSES"), r.last());
    }

    @Test
    void theRunGoesWithTheBookingAndTheRelease() throws Exception {
        run.env("SLURM_JOB_RESTART_COUNT", "007");
        assertEquals(0, run.prolog().exit());
        assertEquals(7, JsonParser.parseString(lm.requests().get(0).body()).getAsJsonObject().get("run").getAsInt());
        assertEquals(0, run.epilog().exit());
        LmStandIn.Request del = lm.requests("DELETE").get(0);
        assertEquals("/lm/jobs/slurm_job_id/42", del.path());
        assertEquals("run=7", del.query());

        // another run already booked: the release of this one is a 404, logged as nothing released
        lm.onDelete(404, "{\"code\":\"not_found\"}");
        ScriptRun.Result r = run.epilog();
        assertEquals(0, r.exit());
        assertTrue(r.last().contains("outcome=none") && r.last().contains("run 7"), r.last());

        // a Slurm without the variable: neither is sent
        run.env("SLURM_JOB_RESTART_COUNT", null);
        run.env("SLURM_SCRIPT_CONTEXT", "prolog_slurmctld");
        assertEquals(0, run.prolog().exit());
        assertFalse(JsonParser.parseString(lm.requests("POST").get(1).body()).getAsJsonObject().has("run"));
        assertEquals(0, run.epilog().exit());
        assertNull(lm.requests("DELETE").get(2).query());
    }

    @Test
    void aRestartCountThatIsNoCountIsAnError() throws Exception {
        run.env("SLURM_JOB_RESTART_COUNT", "1x");
        ScriptRun.Result r = run.prolog();
        assertEquals(2, r.exit());
        assertEquals(0, lm.requests().size());
        assertTrue(r.last().contains("SLURM_JOB_RESTART_COUNT"), r.last());
    }

    private static String bookings(JsonObject body) {
        JsonArray a = body.getAsJsonArray("bookings");
        List<String> out = new ArrayList<>();
        a.forEach(e -> out.add(e.getAsJsonObject().get("product_feature").getAsString() + ":"
                + e.getAsJsonObject().get("quantity").getAsLong()));
        return String.join(",", out);
    }
}
