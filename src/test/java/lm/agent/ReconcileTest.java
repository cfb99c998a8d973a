package lm.agent;

import static lm.agent.AgentHarness.DELETE;
import static lm.agent.AgentHarness.create;
import static lm.agent.AgentHarness.update;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import lm.agent.AgentHarness.Use;
import lm.testing.Http;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Real reconcile passes against a real lm-server and PostgreSQL, simulated license servers and Slurm. */
class ReconcileTest {
    private static final String ABAQUS = "abaqus.abaqus";
    private static final String ABAQUS_LIC = "abaqus.abaqus@flexlm";
    private static final String ANSYS_LIC = "ansys.ansys@flexlm";

    private AgentHarness h;

    @BeforeEach
    void setUp() {
        h = new AgentHarness("cluster1");
        h.configuration("abaqus", null, List.<String[]>of(new String[] {"abaqus", "abaqus"}), "lic1:27000", "lic2:27000");
        h.slurmLicenses(ABAQUS_LIC, 100, 0);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    @Test
    void usageReachesTheServerAndTheReservationIsCreated() throws Exception {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

        assertEquals(0, h.reconcile(), h.lastErr);

        JsonObject f = h.feature(ABAQUS);
        assertEquals(100, f.get("total").getAsLong());
        assertEquals(40, f.get("used").getAsLong());
        // 40 in use outside this cluster's jobs (Slurm Used=0): hold 40
        assertEquals(List.of(create(ABAQUS_LIC + ":40")), h.changes());
        assertEquals(List.of("-o show lic", "-o show nodes", "squeue -h -a -t PD -o %A|%a|%W", "squeue -h -a -o %A", "show reservation lm_reservation",
                        create(ABAQUS_LIC + ":40")),
                h.calls());
        // the report also says "alive, every 60 s"
        Http.Res st = h.http.get("/cluster_statuses/cluster1", h.admin);
        assertEquals(200, st.status(), st.toString());
        assertEquals(60, st.json().getAsJsonObject().get("interval").getAsInt());
        // the prolog's token: lm-server's prolog-only token of this cluster, never the agent's own;
        // 0640, replaced atomically (no temp file left)
        String prolog = Files.readString(h.prologToken).strip();
        assertFalse(prolog.equals(Files.readString(h.tokenFile).strip()), "the agent's own token must not reach the prolog");
        lm.auth.Principal p = h.api.auth.authenticate("Bearer " + prolog);
        assertEquals("cluster1", p.clientId());
        assertEquals(java.util.Set.copyOf(lm.auth.Roles.permissions(lm.auth.Roles.PROLOG)), p.permissions());
        PosixFileAttributes a = Files.readAttributes(h.prologToken, PosixFileAttributes.class);
        assertEquals("rw-r-----", PosixFilePermissions.toString(a.permissions()));
        assertEquals("root", a.group().getName());
        try (var s = Files.list(h.prologToken.getParent())) {
            assertEquals(1, s.count());
        }
    }

    /** The expiry lmstat prints reaches the feature; a pass that reads "permanent" clears it. */
    @Test
    void theExpiryReachesTheServerAndPermanentClearsIt() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals("2026-12-31", h.feature(ABAQUS).get("expires_at").getAsString());

        String output = h.output("lic1:27000").replace("expiry: 31-dec-2026", "expiry: permanent(no expiration date)");
        h.serverOutput("lic1:27000", output);
        assertEquals(0, h.reconcile(), h.lastErr);
        assertTrue(h.feature(ABAQUS).get("expires_at").isJsonNull(), h.feature(ABAQUS).toString());
    }

    @Test
    void laterPassesUpdateTheReservationAndMoveItsEnd() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        assertEquals(0, h.reconcile(), h.lastErr);
        h.flexlm("lic1:27000", new Use("abaqus", 100, 55));
        h.clearCalls();

        assertEquals(0, h.reconcile(), h.lastErr);

        assertEquals(List.of(update(ABAQUS_LIC + ":55")), h.changes());
        assertEquals(ABAQUS_LIC + ":55", h.reservation());
    }

    @Test
    void checkoutsReleaseTheMatchingBookings() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 0));
        assertEquals(0, h.reconcile(), h.lastErr);
        // the prolog books job 12 for alice on node01 (the cluster's own token: azp = cluster1)
        String prolog = h.api.token("cluster1", "license-manager:job:create");
        Http.Res job = h.http.post("/jobs", prolog, "{\"slurm_job_id\":\"12\",\"username\":\"alice\",\"lead_host\":\"node01\","
                + "\"bookings\":[{\"product_feature\":\"abaqus.abaqus\",\"quantity\":3}]}");
        assertEquals(201, job.status(), job.toString());
        assertEquals(3, h.feature(ABAQUS).get("booked_total").getAsLong());
        // the job runs (Slurm counts it) and has checked out its 3 licenses on the license server
        h.slurmLicenses(ABAQUS_LIC, 100, 3);
        h.squeue("12");
        h.flexlm("lic1:27000", new Use("abaqus", 100, 3, List.<String[]>of(new String[] {"alice", "node01.cluster", "3"})));

        assertEquals(0, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("1 bookings released by checkouts"), h.lastErr);
        assertEquals(0, h.feature(ABAQUS).get("booked_total").getAsLong());
        assertEquals(3, h.feature(ABAQUS).get("used").getAsLong());
        // the job's own 3 licenses cancel out: nothing to hold, so no reservation
        assertNull(h.reservation());
        assertEquals(List.of(), h.changes());
    }

    @Test
    void endedJobsAreRemoved() throws Exception {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 0));
        assertEquals(0, h.reconcile(), h.lastErr);
        String prolog = h.api.token("cluster1", "license-manager:job:create");
        Http.Res job = h.http.post("/jobs", prolog, "{\"slurm_job_id\":\"13\",\"username\":\"bob\",\"lead_host\":\"node02\","
                + "\"bookings\":[{\"product_feature\":\"abaqus.abaqus\",\"quantity\":5}]}");
        assertEquals(201, job.status(), job.toString());
        // squeue no longer lists 13 (its epilog was lost); the server spares jobs younger than
        // squeue's age + 5 s, so wait that out
        Thread.sleep(5_500);
        h.squeue("14");
        // ... and jobs booked after the cluster's previous report (its squeue may have run
        // before they were booked): the first pass after the booking leaves it, the next ends it
        assertEquals(0, h.reconcile(), h.lastErr);
        assertTrue(h.lastErr.contains("0 ended jobs removed"), h.lastErr);

        assertEquals(0, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("1 ended jobs removed"), h.lastErr);
        assertEquals(0, h.feature(ABAQUS).get("booked_total").getAsLong());
    }

    @Test
    void failsOverToTheNextServer() {
        h.serverDown("lic1:27000");
        h.flexlm("lic2:27000", new Use("abaqus", 100, 25));

        assertEquals(0, h.reconcile(), h.lastErr);

        assertEquals(25, h.feature(ABAQUS).get("used").getAsLong());
        assertTrue(h.lastErr.contains("flexlm server lic1:27000: failed (exit 1): connection refused"), h.lastErr);
        assertTrue(h.lastErr.contains("flexlm server lic2:27000: ok"), h.lastErr);
        assertEquals(List.of(create(ABAQUS_LIC + ":25")), h.changes());
    }

    @Test
    void aHangingServerIsKilledAfterTheTimeout() {
        h.conf.put("command_timeout", "1");
        h.flexlm("lic1:27000", new Use("abaqus", 100, 99));
        h.serverHangs("lic1:27000", 37);
        h.flexlm("lic2:27000", new Use("abaqus", 100, 10));

        long start = System.nanoTime();
        assertEquals(0, h.reconcile(), h.lastErr);
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertTrue(took.compareTo(Duration.ofSeconds(10)) < 0, "pass took " + took);
        assertTrue(h.lastErr.contains("lic1:27000: no answer within command_timeout 1s, killed"), h.lastErr);
        assertEquals(10, h.feature(ABAQUS).get("used").getAsLong());
        // the simulator's sleep (a grandchild) was killed with it, not left behind
        assertFalse(ProcessHandle.allProcesses().anyMatch(p -> p.info().arguments().map(a -> List.of(a).contains("37")).orElse(false)
                && p.info().command().map(c -> c.endsWith("sleep")).orElse(false)), "sleep 37 still running");
    }

    @Test
    void allServersDownReportsFailedAndKeepsTheLastValues() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        assertEquals(0, h.reconcile(), h.lastErr);
        h.serverDown("lic1:27000");
        h.serverDown("lic2:27000");
        h.clearCalls();

        assertEquals(Main.STALE, h.reconcile(), h.lastErr);

        JsonObject f = h.feature(ABAQUS);
        assertEquals(100, f.get("total").getAsLong());
        assertEquals(40, f.get("used").getAsLong());
        assertTrue(h.lastErr.contains("every license server failed"), h.lastErr);
        assertTrue(h.lastErr.contains("feature abaqus.abaqus: license server unreachable, lm-server keeps its last known usage"), h.lastErr);
        // still within the outage grace: the reservation keeps the last known count
        assertEquals(List.of(update(ABAQUS_LIC + ":40")), h.changes());
    }

    @Test
    void pastTheOutageGraceThePoolIsHeldAndRecoveryReleasesIt() throws Exception {
        h.configuration("ansys", 1, List.<String[]>of(new String[] {"ansys", "ansys"}), "lic3:1055");
        h.slurmLicenses(ABAQUS_LIC, 100, 0, ANSYS_LIC, 50, 0);
        h.flexlm("lic1:27000", new Use("abaqus", 100, 0));
        h.flexlm("lic3:1055", new Use("ansys", 50, 5));
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(ABAQUS_LIC + ":0," + ANSYS_LIC + ":5", h.reservation());

        h.serverDown("lic3:1055");
        Thread.sleep(1_500);
        assertEquals(Main.STALE, h.reconcile(), h.lastErr);
        assertTrue(h.lastErr.contains("feature ansys.ansys: license server unreachable beyond its outage grace, held in full"), h.lastErr);
        assertEquals(ABAQUS_LIC + ":0," + ANSYS_LIC + ":50", h.reservation());
        // the last reading is kept, never zeroed
        assertEquals(5, h.feature("ansys.ansys").get("used").getAsLong());

        h.flexlm("lic3:1055", new Use("ansys", 50, 7));
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(ABAQUS_LIC + ":0," + ANSYS_LIC + ":7", h.reservation());
    }

    @Test
    void theReservationIsDeletedWhenNothingNeedsHolding() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        assertEquals(0, h.reconcile(), h.lastErr);
        h.flexlm("lic1:27000", new Use("abaqus", 100, 0));
        h.clearCalls();

        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(List.of(DELETE), h.changes());
        assertNull(h.reservation());

        h.clearCalls();
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(List.of(), h.changes());
    }

    @Test
    void aFailedUpdateIsFollowedByDeleteAndCreate() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        assertEquals(0, h.reconcile(), h.lastErr);
        h.flexlm("lic1:27000", new Use("abaqus", 100, 45));
        AgentHarness.write(h.slurm.resolve("fail_update"), "");
        h.clearCalls();

        assertEquals(0, h.reconcile(), h.lastErr);

        assertEquals(List.of(update(ABAQUS_LIC + ":45"), DELETE, create(ABAQUS_LIC + ":45")), h.changes());
        assertEquals(ABAQUS_LIC + ":45", h.reservation());
        // the fake, like 22.05, stopped enforcing after the rejected update; the re-create fixed it
        assertFalse(Files.exists(h.slurm.resolve("unenforced")));
        assertTrue(h.lastErr.contains("update failed"), h.lastErr);
    }

    @Test
    void garbageOutputIsAFailureNotZeros() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        assertEquals(0, h.reconcile(), h.lastErr);
        h.serverOutput("lic1:27000", "Segmentation fault (core dumped)\n");
        h.serverOutput("lic2:27000", "%$#@! nothing a parser knows\n\u0000\u0001\n");

        assertEquals(Main.STALE, h.reconcile(), h.lastErr);

        assertEquals(40, h.feature(ABAQUS).get("used").getAsLong());
        assertEquals(100, h.feature(ABAQUS).get("total").getAsLong());
    }

    @Test
    void aFeatureMissingFromTheOutputIsReportedFailed() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        assertEquals(0, h.reconcile(), h.lastErr);
        h.flexlm("lic1:27000", new Use("abaqus_cae", 10, 1));

        assertEquals(Main.STALE, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("feature abaqus is not in the output of lic1:27000"), h.lastErr);
        assertEquals(40, h.feature(ABAQUS).get("used").getAsLong());
    }

    @Test
    void featureNamesMatchCaseInsensitively() {
        h.flexlm("lic1:27000", new Use("ABAQUS", 100, 12));
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(12, h.feature(ABAQUS).get("used").getAsLong());
    }

    @Test
    void aNonZeroExitWithAGoodTableIsStillParsed() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 30));
        AgentHarness.write(h.tools.resolve("lic1_27000.exit"), "1\n");
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(30, h.feature(ABAQUS).get("used").getAsLong());
    }

    @Test
    void slurmDownStillReportsUsageButChangesNothing() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 33));
        AgentHarness.write(h.slurm.resolve("down"), "");

        assertEquals(Main.SLURM, h.reconcile(), h.lastErr);

        assertEquals(33, h.feature(ABAQUS).get("used").getAsLong());
        assertEquals(List.of(), h.changes());
        assertTrue(h.lastErr.contains("cannot read Slurm"), h.lastErr);
    }

    @Test
    void dryRunPrintsTheChangesInsteadOfRunningThem() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        h.conf.put("dry_run", "true");

        assertEquals(0, h.reconcile(), h.lastErr);

        assertEquals(List.of(), h.changes());
        // after the report and the plan (see DryRunTest), the scontrol change it would run
        List<String> out = h.lastOut.strip().lines().toList();
        assertEquals(h.conf.get("scontrol") + " " + create(ABAQUS_LIC + ":40"), out.get(out.size() - 1));
        assertFalse(Files.exists(h.prologToken));
    }

    @Test
    void aMissingTokenFileIsExit3AndTouchesNothing() throws Exception {
        Files.delete(h.tokenFile);
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("token_file " + h.tokenFile + " does not exist"), h.lastErr);
        assertEquals(List.of(), h.calls());
    }

    @Test
    void aTokenFileEveryoneCanReadIsExit3AndSaysWhichModeToSet() throws Exception {
        // what the README's `lm-server token ... > /etc/lm/agent.token` made (issue 20, case 3)
        Files.setPosixFilePermissions(h.tokenFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("token_file " + h.tokenFile + " is readable by every user (mode rw-r--r--)"), h.lastErr);
        assertTrue(h.lastErr.contains("chmod 600 " + h.tokenFile) && h.lastErr.contains("chmod 640 " + h.tokenFile), h.lastErr);
        assertEquals(List.of(), h.calls());
        assertFalse(Files.exists(h.prologToken), "nothing done with a token others could read");
    }

    @Test
    void anExpiredTokenIsExit3WithAClearMessage() throws Exception {
        Files.writeString(h.tokenFile, h.api.auth.mint("cluster1", List.of("license-manager:admin"), Duration.ofSeconds(1)));
        Thread.sleep(2_100);
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("expired"), h.lastErr);
        assertEquals(List.of(), h.calls());
    }

    @Test
    void aTokenTheServerRefusesIsExit3() throws Exception {
        // signed by another server's key
        try (lm.testing.TestApi other = new lm.testing.TestApi(h.api.ds)) {
            Files.writeString(h.tokenFile, other.token("cluster1", "license-manager:admin"));
        }
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("lm-server refused the token (401"), h.lastErr);
        assertEquals(List.of(), h.calls());
    }

    @Test
    void aTokenWithoutPermissionIsExit3() throws Exception {
        Files.writeString(h.tokenFile, h.api.token("cluster1", "license-manager:config:read"));
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("403"), h.lastErr);
        assertEquals(List.of(), h.changes());
    }

    @Test
    void lmServerDownIsExit3AndNoScontrol() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        h.conf.put("api_url", "http://127.0.0.1:1/lm");

        assertEquals(Main.SERVER, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("cannot connect (is lm-server running?)"), h.lastErr);
        assertEquals(List.of(), h.calls());
    }

    @Test
    void aMissingPrologGroupIsOnlyAWarning() throws Exception {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));
        h.conf.put("prolog_token_group", "lm-no-such-group");

        assertEquals(0, h.reconcile(), h.lastErr);

        assertTrue(h.lastErr.contains("group 'lm-no-such-group' does not exist"), h.lastErr);
        assertTrue(Files.exists(h.prologToken));
    }

    @Test
    void configErrorsNameTheKey() {
        h.conf.put("interval", "0");
        assertEquals(Main.USAGE, h.reconcile());
        assertTrue(h.lastErr.contains("interval (LM_INTERVAL) = '0'"), h.lastErr);

        h.conf.remove("interval");
        h.conf.put("reservation_name", "two words");
        assertEquals(Main.USAGE, h.reconcile());
        assertTrue(h.lastErr.contains("reservation_name"), h.lastErr);

        h.conf.remove("reservation_name");
        h.conf.put("client_id", "cluster1");
        assertEquals(Main.USAGE, h.reconcile());
        assertTrue(h.lastErr.contains("oidc_issuer, client_id and client_secret go together"), h.lastErr);

        h.conf.remove("client_id");
        h.conf.put("no_such_key", "1");
        assertEquals(Main.USAGE, h.reconcile());
        assertTrue(h.lastErr.contains("unknown key 'no_such_key'"), h.lastErr);
        assertEquals(List.of(), h.calls());
    }
}
