package lm.slurm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** bin/lm-epilog against {@link LmStandIn}: it releases and always exits 0. */
class LmEpilogTest {

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

    @ParameterizedTest(name = "HTTP {0} -> {1} request(s), {2}")
    @CsvSource({
        "204, 1, released",
        "200, 1, released",
        "404, 1, none",
        "500, 3, error",
        "503, 3, error",
        "401, 1, error",
        "409, 1, error",
    })
    void alwaysExitsZero(int status, int requests, String outcome) throws Exception {
        lm.onDelete(status, status == 404 ? "{\"code\":\"not_found\"}" : "");
        ScriptRun.Result r = run.epilog();
        assertEquals(0, r.exit(), r.toString());
        assertEquals(requests, lm.requests().size());
        LmStandIn.Request req = lm.requests().get(0);
        assertEquals("DELETE", req.method());
        assertEquals("/lm/jobs/slurm_job_id/42", req.path());
        assertEquals("Bearer " + Files.readString(run.token).trim(), req.authorization());
        assertTrue(r.last().contains("lm-epilog[") && r.last().contains("job=42 cluster=lmtest outcome=" + outcome),
                r.last());
    }

    @Test
    void retryThatSucceedsReleases() throws Exception {
        lm.thenOnce(502, "").onDelete(204, "");
        ScriptRun.Result r = run.epilog();
        assertEquals(0, r.exit());
        assertEquals(2, lm.requests().size());
        assertTrue(r.last().contains("outcome=released"), r.last());
    }

    @Test
    void nothingListeningStillExitsZero() throws Exception {
        ScriptRun r0 = new ScriptRun(dir, "http://127.0.0.1:" + ScriptRun.closedPort() + "/lm", "retries = 1");
        ScriptRun.Result r = r0.epilog();
        assertEquals(0, r.exit());
        assertTrue(r.last().contains("outcome=error") && r.last().contains("after 2 attempts"), r.last());
    }

    @Test
    void noLicensesMeansNoRequest() throws Exception {
        run.env("SLURM_JOB_LICENSES", null);
        ScriptRun.Result r = run.epilog();
        assertEquals(0, r.exit());
        assertEquals(0, lm.requests().size());
        assertTrue(r.last().contains("outcome=none"), r.last());
    }

    @Test
    void expiredTokenIsLoggedNotSent() throws Exception {
        Files.writeString(run.token, ScriptRun.jwt(Instant.now().minusSeconds(5).getEpochSecond(), ""));
        ScriptRun.Result r = run.epilog();
        assertEquals(0, r.exit());
        assertEquals(0, lm.requests().size());
        assertTrue(r.last().contains("outcome=error detail=token") && r.last().contains("expired"), r.last());
    }

    @Test
    void badConfigurationStillExitsZero() throws Exception {
        run.conf("colour = blue");
        ScriptRun.Result r = run.epilog();
        assertEquals(0, r.exit());
        assertTrue(r.last().contains("bad configuration") && r.last().contains("colour"), r.last());
    }
}
