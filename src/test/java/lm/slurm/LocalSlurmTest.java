package lm.slurm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * lm-prolog and lm-epilog run by a real slurmctld (src/test/slurm/local-slurm.sh):
 * a refused booking requeues the batch job, the next try books it and it runs.
 * Needs root (and apt-get on a machine without slurm-wlm).
 */
class LocalSlurmTest {

    @TempDir
    Path dir;

    /** A PrologSlurmctld/EpilogSlurmctld that records its environment, then execs the real script. */
    private static Path wrapper(Path dir, String name, Path target, Path conf) throws Exception {
        Path w = dir.resolve(name);
        Files.writeString(w, "#!/bin/sh\n"
                + "/usr/bin/env > '" + dir + "/" + name + "-env.'\"$SLURM_JOB_ID.$SLURM_JOB_RESTART_COUNT\"\n"
                + "LM_PROLOG_CONF='" + conf + "'\n"
                + "export LM_PROLOG_CONF\n"
                + "exec '" + target + "'\n");
        Files.setPosixFilePermissions(w, PosixFilePermissions.fromString("rwxr-xr-x"));
        return w;
    }

    @Test
    @Timeout(150)
    void refusedJobIsRequeuedThenBookedAndRuns() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root");
        try (LmStandIn lm = new LmStandIn()) {
            lm.thenOnce(409, "{\"code\":\"LM409\",\"message\":\"not enough licenses\",\"detail\":\"abaqus.abaqus\"}")
                    .onPost(201, "{}").onDelete(204, "");
            ScriptRun files = new ScriptRun(dir, lm.url(), "retries = 1");
            Instant t0 = Instant.now();
            LocalSlurm slurm = LocalSlurm.start(LocalSlurm.Config.defaults()
                    .withProlog(wrapper(dir, "prolog", ScriptRun.PROLOG, files.conf))
                    .withEpilog(wrapper(dir, "epilog", ScriptRun.EPILOG, files.conf)));
            files.conf("slurm_conf = " + slurm.slurmConf());
            System.err.println("[LocalSlurmTest] cluster ready after " + Duration.between(t0, Instant.now()).toMillis()
                    + " ms");

            String id = slurm.sbatch("-L", "abaqus.abaqus@flexlm:3", "-o", "job-%j.out", "--wrap", "sleep 4");

            // 409: the prolog exits 1 and slurmctld requeues the job (eligible again after cred_expire + 1 s)
            // (COMPLETING while the epilog runs, then PENDING)
            Map<String, String> job = slurm.waitForJob(id,
                    j -> Integer.parseInt(j.get("Restarts")) >= 1 && "PENDING".equals(j.get("JobState")),
                    Duration.ofSeconds(20), "requeued");
            long delay = Duration.between(java.time.LocalDateTime.parse(job.get("SubmitTime")),
                    java.time.LocalDateTime.parse(job.get("EligibleTime"))).toSeconds();
            assertTrue(delay >= 25, "eligible again after cred_expire (30) + 1 s: " + job);
            assertEquals(1, lm.requests("POST").size());

            job = slurm.waitForState(id, "RUNNING", Duration.ofSeconds(60));
            long[] abaqus = slurm.licenses().get("abaqus.abaqus@flexlm");
            assertEquals(100, abaqus[0]);
            assertTrue(abaqus[1] >= 3, "Used while running: " + abaqus[1]);
            assertEquals("abaqus.abaqus@flexlm:3", job.get("Licenses"));

            job = slurm.waitForState(id, "COMPLETED", Duration.ofSeconds(30));
            assertTrue(Integer.parseInt(job.get("Restarts")) >= 1, job.toString());

            List<LmStandIn.Request> posts = lm.requests("POST");
            assertEquals(2, posts.size(), "refused once, then booked");
            JsonObject body = JsonParser.parseString(posts.get(1).body()).getAsJsonObject();
            assertEquals(id, body.get("slurm_job_id").getAsString());
            assertEquals("root", body.get("username").getAsString());
            assertEquals(job.get("BatchHost"), body.get("lead_host").getAsString());
            assertEquals("abaqus.abaqus", body.getAsJsonArray("bookings").get(0).getAsJsonObject()
                    .get("product_feature").getAsString());

            // the epilog runs after the refused prolog and after the job: one DELETE each
            Instant end = Instant.now().plusSeconds(10);
            while (lm.requests("DELETE").size() < 2 && Instant.now().isBefore(end)) {
                Thread.sleep(100);
            }
            assertEquals(2, lm.requests("DELETE").size());
            assertEquals("/lm/jobs/slurm_job_id/" + id, lm.requests("DELETE").get(0).path());

            // what slurmctld gave the prolog: the licenses, and no PATH/HOME/SLURM_CONF
            String env0 = Files.readString(dir.resolve("prolog-env." + id + ".0"));
            String env1 = Files.readString(dir.resolve("prolog-env." + id + ".1"));
            assertTrue(env0.contains("SLURM_JOB_LICENSES=abaqus.abaqus@flexlm:3\n"), env0);
            assertTrue(env1.contains("SLURM_JOB_LICENSES=abaqus.abaqus@flexlm:3\n"), env1);
            assertTrue(env0.contains("SLURM_CLUSTER_NAME=lmcluster\n"), env0);
            assertFalse(env0.contains("\nPATH=") || env0.startsWith("PATH="), env0);
            assertFalse(env0.contains("SLURM_CONF="), env0);

            List<String> log = files.log().stream().filter(l -> l.contains("job=" + id + " "))
                    .collect(Collectors.toList());
            assertTrue(log.size() >= 4, log.toString());
            assertTrue(log.get(0).contains("lm-prolog[") && log.get(0).contains("outcome=refused"), log.toString());
            assertTrue(log.stream().anyMatch(l -> l.contains("lm-prolog[") && l.contains("outcome=booked")),
                    log.toString());
            assertTrue(log.stream().anyMatch(l -> l.contains("lm-epilog[") && l.contains("outcome=released")),
                    log.toString());
            System.err.println("[LocalSlurmTest] done after " + Duration.between(t0, Instant.now()).toMillis()
                    + " ms");
        }
    }
}
