package lm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import lm.agent.AgentCli;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.http.ApiServer;
import lm.server.LmServer;
import lm.slurm.LocalSlurm;
import lm.testing.Http;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * End to end on a real Slurm (issue 5): lm-server (real HTTP, auth and PostgreSQL), the real
 * bin/lm-prolog and bin/lm-epilog run by slurmctld as PrologSlurmctld/EpilogSlurmctld, lm-agent
 * reconcile passes in-process against the real scontrol/squeue, and a license server simulated
 * by lmsim. Every scenario checks Slurm's view (scontrol show job/lic, squeue) and the API's.
 * One cluster for the whole class; needs root (and apt-get on a machine without slurm-wlm).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SlurmEndToEndTest {
    private static final String CLUSTER = "lmcluster";
    private static final String LICENSE = "abaqus.abaqus@flexlm";
    private static final String FEATURE = "abaqus.abaqus";
    private static final long TOTAL = 100;
    private static final String LICENSE_SERVER = "licsrv_27000";
    private static final Path PROJECT =
            Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir"))).toAbsolutePath();
    private static final Path PROLOG = PROJECT.resolve("bin/lm-prolog");
    private static final Path EPILOG = PROJECT.resolve("bin/lm-epilog");

    private static Path dir;
    private static Path tools;
    private static Path agentConf;
    private static Path prologConf;
    private static Path prologLog;
    private static Path budgetFile;
    private static Path offlineDir;
    private static Server server;
    private static Http http;
    private static String admin;
    private static String jobToken;
    private static LocalSlurm slurm;
    private static final Map<String, Long> TIMINGS = new LinkedHashMap<>();
    private Instant scenarioStart;

    /** lm-server on a fixed port once started, so that it can be stopped and started again. */
    static final class Server {
        final HikariDataSource ds = TestDatabase.pool(8);
        final Authenticator auth;
        private ApiServer api;
        private int port;

        Server(Path keys) {
            auth = new Authenticator(new AuthSettings(keys, "lm-local", null, "permissions"));
        }

        synchronized void start() {
            if (api != null) {
                return;
            }
            // the port may linger for a moment after a stop: try again for a while
            Instant end = Instant.now().plusSeconds(15);
            while (true) {
                try {
                    api = LmServer.serve(ds, auth, "127.0.0.1", port);
                    port = api.port();
                    return;
                } catch (RuntimeException e) {
                    if (Instant.now().isAfter(end)) {
                        throw new IllegalStateException("cannot listen on 127.0.0.1:" + port, e);
                    }
                    sleep(200);
                }
            }
        }

        synchronized void stop() {
            if (api != null) {
                api.close();
                api = null;
            }
        }

        boolean running() {
            return api != null;
        }

        void close() {
            stop();
            ds.close();
        }
    }

    @RegisterExtension
    static final TestWatcher DIAGNOSTICS = new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
            System.err.println("====== " + context.getDisplayName() + " failed: " + cause);
            System.err.println("------ prolog/epilog log (" + prologLog + "):");
            System.err.println(tail(prologLog, 60));
            if (slurm != null) {
                System.err.println("------ slurmctld.log (tail):");
                System.err.println(tail(slurm.dir().resolve("log/slurmctld.log"), 60));
                try {
                    System.err.println("------ squeue:\n" + slurm.run(List.of("squeue", "-a", "-o", "%i %T %r %W %P")));
                    System.err.println("------ scontrol show lic:\n" + slurm.run(List.of("scontrol", "show", "lic")));
                } catch (RuntimeException e) {
                    System.err.println("(Slurm: " + e.getMessage() + ")");
                }
            }
            if (server != null && server.running()) {
                try {
                    System.err.println("------ GET /lm/jobs: " + http.get("/jobs", admin));
                    System.err.println("------ GET /lm/features: " + http.get("/features", admin));
                } catch (RuntimeException e) {
                    System.err.println("(API: " + e.getMessage() + ")");
                }
            }
        }
    };

    @BeforeAll
    static void setUp() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root (a real slurmctld)");
        Instant t0 = Instant.now();
        dir = Files.createTempDirectory("lm-e2e");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        server = new Server(dir.resolve("jwks.json"));
        server.start();
        http = new Http("http://127.0.0.1:" + server.port + "/lm");
        admin = server.auth.mint("admin-cluster", List.of("license-manager:admin"), Duration.ofHours(3));
        // the prolog's token: the cluster's client id, allowed to book, read and release jobs
        jobToken = server.auth.mint(CLUSTER, List.of("license-manager:job:create", "license-manager:job:read",
                "license-manager:job:delete"), Duration.ofHours(3));

        // inventory: product abaqus, feature abaqus, one FlexLM server, for the Slurm cluster lmcluster
        Http.Res p = http.post("/products", admin, "{\"name\":\"abaqus\"}");
        assertEquals(201, p.status(), p.toString());
        long product = p.json().getAsJsonObject().get("id").getAsLong();
        Http.Res c = http.post("/configurations", admin, "{\"name\":\"abaqus\",\"cluster_client_id\":\"" + CLUSTER
                + "\",\"type\":\"flexlm\",\"grace_time\":600,\"features\":[{\"name\":\"abaqus\",\"product_id\":" + product
                + "}],\"license_servers\":[{\"host\":\"licsrv\",\"port\":27000}]}");
        assertEquals(201, c.status(), c.toString());

        // the license server: lmsim answering as lmutil from the files in tools/
        tools = Files.createDirectories(dir.resolve("tools"));
        Files.createSymbolicLink(tools.resolve("lmutil"), PROJECT.resolve("src/test/simulator/lmsim"));
        usage(0);

        // PrologSlurmctld/EpilogSlurmctld: slurmctld passes no environment of ours, so wrappers
        // record what it did pass and name the configuration, then exec the real scripts
        prologLog = dir.resolve("lm.log");
        prologConf = dir.resolve("prolog.conf");
        budgetFile = dir.resolve("lib/budget.json");
        offlineDir = dir.resolve("lib/offline");
        Path prologToken = dir.resolve("prolog.token");
        Files.writeString(prologToken, jobToken + "\n");
        Path prolog = wrapper("prolog", PROLOG);
        Path epilog = wrapper("epilog", EPILOG);
        // ansys.ansys and matlab: licenses of Slurm's that lm-server does not manage (untracked)
        slurm = LocalSlurm.start(LocalSlurm.Config.defaults().withLicenses(LICENSE + ":" + TOTAL + ",ansys.ansys@flexlm:50,matlab:10")
                .withCluster(CLUSTER).withProlog(prolog).withEpilog(epilog));
        Files.writeString(prologConf, String.join("\n",
                "# SlurmEndToEndTest",
                "api_url = http://127.0.0.1:" + server.port + "/lm",
                "token_file = " + prologToken,
                "log_file = " + prologLog,
                "retries = 1",
                "retry_delay = 0.2",
                "timeout = 5",
                "slurm_conf = " + slurm.slurmConf(),
                "budget_file = " + budgetFile,
                "offline_dir = " + offlineDir,
                ""));

        // lm-agent: its own admin token for the cluster, the real scontrol/squeue of the cluster
        Path agentToken = dir.resolve("agent.token");
        Files.createFile(agentToken, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
        Files.writeString(agentToken, server.auth.mint(CLUSTER, List.of("license-manager:admin"), Duration.ofHours(3)) + "\n");
        agentConf = dir.resolve("agent.conf");
        Files.writeString(agentConf, String.join("\n",
                "# SlurmEndToEndTest",
                "api_url = http://127.0.0.1:" + server.port + "/lm",
                "token_file = " + agentToken,
                "prolog_token_file = " + dir.resolve("lib/agent-prolog.token"),
                "prolog_token_group = root",
                "command_timeout = 5",
                "tool_flexlm = " + tools.resolve("lmutil"),
                "scontrol = scontrol",
                "squeue = squeue",
                "slurm_conf = " + slurm.slurmConf(),
                "reservation_name = lm_e2e",
                "reservation_user = root",
                "budget_file = " + budgetFile,
                "offline_dir = " + offlineDir,
                ""));
        cancelAll();
        deleteReservation();
        System.err.println("[e2e] set up in " + Duration.between(t0, Instant.now()).toMillis() + " ms (Slurm in "
                + slurm.dir() + ", lm-server on port " + server.port + ")");
    }

    @AfterAll
    static void tearDown() {
        if (slurm != null) {
            try {
                cancelAll();
                deleteReservation();
            } catch (RuntimeException e) {
                System.err.println("[e2e] cleanup: " + e.getMessage());
            }
        }
        if (server != null) {
            server.close();
        }
        if (dir != null) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                // a temporary directory left behind is harmless
            }
        }
        TIMINGS.forEach((k, v) -> System.err.printf("[e2e] %-45s %6.1f s%n", k, v / 1000.0));
    }

    /** Every scenario starts with no jobs, no outside usage and no reservation. */
    @BeforeEach
    void baseline(TestInfo info) throws Exception {
        server.start();
        cancelAll();
        usage(0);
        reconcile();
        assertEquals(0, slurmLicense()[2], "nothing reserved at the start");
        assertEquals(0, feature().get("booked_total").getAsLong(), "nothing booked at the start: " + http.get("/jobs", admin));
        scenarioStart = Instant.now();
    }

    @AfterEach
    void timing(TestInfo info) {
        if (scenarioStart != null) {
            TIMINGS.put(info.getDisplayName(), Duration.between(scenarioStart, Instant.now()).toMillis());
        }
        server.start();
    }

    // -------------------------------------------------------------------------------- scenarios

    @Test
    @Order(1)
    @Timeout(90)
    void aJobIsBookedWhileItRunsAndReleasedWhenItEnds() throws Exception {
        String id = slurm.sbatch("-L", LICENSE + ":3", "-o", "job-%j.out", "--wrap", "sleep 3");

        Map<String, String> job = slurm.waitForState(id, "RUNNING", Duration.ofSeconds(30));
        assertEquals(LICENSE + ":3", job.get("Licenses"));
        assertEquals(3, slurmLicense()[1], "Slurm counts the job's licenses as Used");
        JsonObject booked = apiJob(id);
        assertNotNull(booked, "the prolog booked the job before it started");
        assertEquals(List.of(3L), quantities(booked));
        assertEquals("root", booked.get("username").getAsString());
        assertEquals(job.get("BatchHost"), booked.get("lead_host").getAsString());
        assertEquals(3, feature().get("booked_total").getAsLong());
        assertTrue(squeue().contains(id + "|RUNNING|"), squeue());

        job = slurm.waitForState(id, "COMPLETED", Duration.ofSeconds(30));
        assertEquals("0", job.get("Restarts"));
        // licenses stay Used in Slurm until the epilog has exited: once COMPLETED, it has run
        waitFor(() -> apiJob(id) == null, Duration.ofSeconds(10), "the epilog released job " + id);
        assertEquals(0, feature().get("booked_total").getAsLong());
        assertEquals(0, slurmLicense()[1]);
        List<String> log = logOf(id);
        assertTrue(log.stream().anyMatch(l -> l.contains("lm-prolog[") && l.contains("outcome=booked")), log.toString());
        assertTrue(log.stream().anyMatch(l -> l.contains("lm-epilog[") && l.contains("outcome=released")), log.toString());
    }

    @Test
    @Order(2)
    @Timeout(90)
    void outsideUsageIsHeldByTheReservationUntilItDrops() throws Exception {
        usage(90);
        reconcile();
        long[] lic = slurmLicense();
        assertEquals(90, lic[2], "the reservation holds what desktop users have");
        assertEquals(90, feature().get("used").getAsLong());
        assertTrue(reservation().contains("Licenses=" + LICENSE + ":90"), reservation());

        String id = slurm.sbatch("-L", LICENSE + ":20", "-o", "job-%j.out", "--wrap", "sleep 2");
        slurm.waitForJob(id, j -> "PENDING".equals(j.get("JobState")) && "Licenses".equals(j.get("Reason")),
                Duration.ofSeconds(15), "PENDING on Licenses");
        // and it stays there: two scheduling cycles (bf_interval=1) later it is still waiting
        Instant until = Instant.now().plusSeconds(3);
        while (Instant.now().isBefore(until)) {
            Map<String, String> j = slurm.showJob(id);
            assertEquals("PENDING", j.get("JobState"), j.toString());
            sleep(250);
        }
        assertTrue(squeue().contains(id + "|PENDING|Licenses"), squeue());
        assertNull(apiJob(id), "no prolog ran, nothing booked");

        usage(50);
        reconcile();
        Instant applied = Instant.now();
        assertEquals(50, slurmLicense()[2]);
        Map<String, String> job = slurm.waitForState(id, "RUNNING", Duration.ofSeconds(10));
        System.err.println("[e2e] pending job started " + Duration.between(applied, Instant.now()).toMillis()
                + " ms after the reservation update");
        assertEquals("0", job.get("Restarts"));
        JsonObject booked = apiJob(id);
        assertNotNull(booked);
        assertEquals(List.of(20L), quantities(booked));

        slurm.waitForState(id, "COMPLETED", Duration.ofSeconds(30));
        waitFor(() -> apiJob(id) == null, Duration.ofSeconds(10), "the epilog released job " + id);
    }

    @Test
    @Order(3)
    @Timeout(150)
    void twoJobsRaceForTheLastLicenses() throws Exception {
        long free = 10;
        usage(TOTAL - free);
        reconcile();
        assertEquals(TOTAL - free, slurmLicense()[2]);

        String a = slurm.sbatch("-L", LICENSE + ":" + free, "-o", "job-%j.out", "--wrap", "sleep 4");
        String b = slurm.sbatch("-L", LICENSE + ":" + free, "-o", "job-%j.out", "--wrap", "sleep 4");
        Map<String, List<String>> seen = new LinkedHashMap<>();
        seen.put(a, new ArrayList<>());
        seen.put(b, new ArrayList<>());
        Map<String, Instant> started = new LinkedHashMap<>();
        Instant end = Instant.now().plusSeconds(120);
        long maxBooked = 0;
        while (true) {
            Map<String, String> ja = slurm.showJob(a);
            Map<String, String> jb = slurm.showJob(b);
            note(seen.get(a), ja);
            note(seen.get(b), jb);
            for (Map<String, String> j : List.of(ja, jb)) {
                if ("RUNNING".equals(j.get("JobState"))) {
                    started.putIfAbsent(j.get("JobId"), Instant.now());
                }
            }
            assertFalse(active(ja) && active(jb), "both hold the licenses at once: " + state(ja) + " / " + state(jb));
            long[] lic = slurmLicense();
            assertTrue(lic[1] <= free, "Slurm Used " + lic[1] + " > " + free);
            JsonObject f = feature();
            long booked = f.get("booked_total").getAsLong();
            maxBooked = Math.max(maxBooked, booked);
            assertTrue(booked <= f.get("total").getAsLong() - f.get("used").getAsLong(),
                    "lm-server booked more than is available: " + f);
            if ("COMPLETED".equals(ja.get("JobState")) && "COMPLETED".equals(jb.get("JobState"))) {
                break;
            }
            assertTrue(Instant.now().isBefore(end), "both jobs not COMPLETED within 120 s: " + seen);
            sleep(150);
        }
        System.err.println("[e2e] race: " + seen);
        assertEquals(free, maxBooked, "one job at a time was booked");
        assertEquals(2, started.size(), "both ran: " + seen);
        // the one that ran second waited on Slurm's license count or was refused and requeued
        String second = started.get(a).isAfter(started.get(b)) ? a : b;
        assertTrue(seen.get(second).stream().anyMatch(s -> s.equals("PENDING/Licenses") || s.startsWith("PENDING/BeginTime")),
                second + ": " + seen.get(second));
        waitFor(() -> apiJob(a) == null && apiJob(b) == null, Duration.ofSeconds(10), "both released");
    }

    @Test
    @Order(4)
    @Timeout(150)
    void withLmServerDownTheJobIsRequeuedNotLostAndRunsLater() throws Exception {
        // no offline budget: on_error = offline is then fail-closed
        Files.delete(budgetFile);
        server.stop();
        String id = slurm.sbatch("-L", LICENSE + ":2", "-o", "job-%j.out", "--wrap", "sleep 2");
        Map<String, String> job = slurm.waitForJob(id,
                j -> Integer.parseInt(j.get("Restarts")) >= 1 && "PENDING".equals(j.get("JobState")),
                Duration.ofSeconds(30), "requeued by the fail-closed prolog");
        System.err.println("[e2e] requeued: " + state(job) + " EligibleTime=" + job.get("EligibleTime"));
        assertTrue(squeue().contains(id + "|PENDING|"), "still queued: " + squeue());
        List<String> log = logOf(id);
        assertTrue(log.stream().anyMatch(l -> l.contains("lm-prolog[") && l.contains("outcome=error")
                && l.contains("connection refused")), log.toString());
        assertEquals(0, slurmLicense()[1], "a requeued job holds no licenses");

        server.start();
        Instant back = Instant.now();
        job = slurm.waitForState(id, "RUNNING", Duration.ofSeconds(75));
        System.err.println("[e2e] ran " + Duration.between(back, Instant.now()).toMillis() + " ms after lm-server was back");
        assertTrue(Integer.parseInt(job.get("Restarts")) >= 1, job.toString());
        JsonObject booked = apiJob(id);
        assertNotNull(booked, "booked on the retry");
        assertEquals(List.of(2L), quantities(booked));
        slurm.waitForState(id, "COMPLETED", Duration.ofSeconds(30));
        waitFor(() -> apiJob(id) == null, Duration.ofSeconds(10), "the epilog released job " + id);
        assertTrue(logOf(id).stream().anyMatch(l -> l.contains("lm-prolog[") && l.contains("outcome=booked")), logOf(id).toString());
    }

    @Test
    @Order(5)
    @Timeout(90)
    void aRetriedPrologDoesNotDoubleBookAndAnUnknownEpilogIsFine() throws Exception {
        String id = slurm.sbatch("-L", LICENSE + ":2", "-o", "job-%j.out", "--wrap", "sleep 60");
        slurm.waitForState(id, "RUNNING", Duration.ofSeconds(30));
        assertEquals(List.of(2L), quantities(apiJob(id)));
        // the environment slurmctld gave this job's prolog, replayed by hand
        Map<String, String> env = recordedEnv("prolog", id);
        assertEquals(LICENSE + ":2", env.get("SLURM_JOB_LICENSES"));
        assertEquals(CLUSTER, env.get("SLURM_CLUSTER_NAME"));
        for (int i = 0; i < 2; i++) {
            assertEquals(0, script(PROLOG, env), "a retried prolog of a booked job");
            assertTrue(lastLog().contains("job=" + id + " ") && lastLog().contains("already booked (HTTP 200)"), lastLog());
        }
        assertEquals(List.of(2L), quantities(apiJob(id)), "still one booking");
        assertEquals(2, feature().get("booked_total").getAsLong());
        assertEquals(2, slurmLicense()[1]);

        // a prolog retried for a job not yet booked: the first run books, the second finds it
        String other = String.valueOf(Long.parseLong(id) + 100_000);
        Map<String, String> env2 = new LinkedHashMap<>(env);
        env2.put("SLURM_JOB_ID", other);
        env2.put("SLURM_JOBID", other);
        assertEquals(0, script(PROLOG, env2));
        assertTrue(lastLog().contains("outcome=booked") && lastLog().contains("(HTTP 201)"), lastLog());
        assertEquals(0, script(PROLOG, env2));
        assertTrue(lastLog().contains("already booked (HTTP 200)"), lastLog());
        assertEquals(List.of(2L), quantities(apiJob(other)));
        assertEquals(4, feature().get("booked_total").getAsLong());
        assertEquals(0, script(EPILOG, env2));
        assertTrue(lastLog().contains("outcome=released"), lastLog());
        assertNull(apiJob(other));
        // again, and for a job lm-server never heard of: exit 0, nothing to release
        assertEquals(0, script(EPILOG, env2));
        assertTrue(lastLog().contains("outcome=none") && lastLog().contains("HTTP 404"), lastLog());
        Map<String, String> unknown = new LinkedHashMap<>(env);
        unknown.put("SLURM_JOB_ID", "987654321");
        unknown.put("SLURM_JOBID", "987654321");
        assertEquals(0, script(EPILOG, unknown));
        assertTrue(lastLog().contains("job=987654321 ") && lastLog().contains("outcome=none"), lastLog());
        assertEquals(2, feature().get("booked_total").getAsLong(), "the real job's booking is untouched");

        slurm.scancel(id);
        slurm.waitForJob(id, j -> "CANCELLED".equals(j.get("JobState")), Duration.ofSeconds(20), "CANCELLED");
        waitFor(() -> apiJob(id) == null, Duration.ofSeconds(10), "the epilog released the cancelled job " + id);
        assertEquals(0, feature().get("booked_total").getAsLong());
    }

    /**
     * Offline operation (issue 11 part 4): with lm-server stopped, jobs needing more than the
     * cluster's budget are submitted; exactly the budget's worth start, booked offline, the rest
     * wait; once lm-server is back, one agent pass shows those jobs with their bookings, and the
     * waiting jobs then start as licenses free up.
     */
    @Test
    @Order(6)
    @Timeout(300)
    void withLmServerDownJobsStartWithinTheBudgetAndAreReplayedWhenItIsBack() throws Exception {
        // a second cluster shares the license server: each cluster's budget is half of what is free
        long product = http.get("/products?search=abaqus", admin).json().getAsJsonArray().get(0).getAsJsonObject().get("id").getAsLong();
        Http.Res other = http.post("/configurations", admin, "{\"name\":\"abaqus\",\"cluster_client_id\":\"othercluster\","
                + "\"type\":\"flexlm\",\"features\":[{\"name\":\"abaqus\",\"product_id\":" + product + "}],"
                + "\"license_servers\":[{\"host\":\"licsrv\",\"port\":27000}]}");
        assertEquals(201, other.status(), other.toString());
        long otherConfig = other.json().getAsJsonObject().get("id").getAsLong();
        try {
            // 6 free, so a budget of 3 each; Slurm alone would start 6 licenses' worth. Two jobs of
            // 3 (the local node has 2 CPUs: two jobs can run at once, and Slurm would start both)
            usage(TOTAL - 6);
            reconcile();
            String budget = Files.readString(budgetFile);
            System.err.println("[e2e] budget: " + budget.replaceAll("\\s+", " "));
            assertTrue(budget.contains("\"" + LICENSE + "\": 3"), budget);
            assertEquals(TOTAL - 6, slurmLicense()[2], "Slurm alone would start 6 licenses' worth");

            server.stop();
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                ids.add(slurm.sbatch("-L", LICENSE + ":3", "-o", "job-%j.out", "--wrap", "sleep 45"));
            }
            Instant end = Instant.now().plusSeconds(60);
            List<String> running;
            List<String> requeued;
            while (true) {
                running = new ArrayList<>();
                requeued = new ArrayList<>();
                for (String id : ids) {
                    Map<String, String> j = slurm.showJob(id);
                    if ("RUNNING".equals(j.get("JobState"))) {
                        running.add(id);
                    } else if ("PENDING".equals(j.get("JobState")) && Integer.parseInt(j.get("Restarts")) >= 1) {
                        requeued.add(id);
                    }
                }
                assertTrue(running.size() <= 1, "more than the budget's worth started: " + running);
                if (running.size() == 1 && requeued.size() == 1) {
                    break;
                }
                assertTrue(Instant.now().isBefore(end), "not 1 running and 1 requeued within 60 s: " + squeue());
                sleep(250);
            }
            System.err.println("[e2e] offline: running " + running + ", waiting " + requeued);
            assertEquals(3, slurmLicense()[1], "Slurm counts the offline job's licenses");
            for (String id : running) {
                assertTrue(logOf(id).stream().anyMatch(l -> l.contains("outcome=booked-offline")), logOf(id).toString());
            }
            for (String id : requeued) {
                assertTrue(logOf(id).stream().anyMatch(l -> l.contains("outcome=refused-offline")), logOf(id).toString());
            }
            Path ledger = offlineDir.resolve("ledger");
            assertEquals(1, Files.readAllLines(ledger).stream().filter(l -> l.startsWith("{\"op\":\"book\"")).count(),
                    Files.readString(ledger));

            server.start();
            reconcile();
            for (String id : running) {
                JsonObject job = apiJob(id);
                assertNotNull(job, "after one agent pass lm-server has job " + id);
                assertEquals(List.of(3L), quantities(job));
                assertTrue(job.getAsJsonArray("bookings").get(0).getAsJsonObject().get("offline").getAsBoolean(), job::toString);
            }
            assertEquals(3, feature().get("booked_total").getAsLong());
            assertFalse(Files.exists(ledger), "the replayed entries left the ledger");
            assertTrue(Files.readString(budgetFile).contains("\"" + LICENSE + "\": 1"), "6 - 3 booked offline = 3 free, half of it: "
                    + Files.readString(budgetFile));

            // the waiting jobs start once they are eligible again, booked online
            Instant back = Instant.now();
            for (String id : requeued) {
                slurm.waitForState(id, "RUNNING", Duration.ofSeconds(120));
                JsonObject job = apiJob(id);
                assertNotNull(job, "booked on the retry");
                assertFalse(job.getAsJsonArray("bookings").get(0).getAsJsonObject().get("offline").getAsBoolean(), job::toString);
            }
            System.err.println("[e2e] the waiting jobs ran " + Duration.between(back, Instant.now()).toMillis() + " ms after lm-server was back");
            assertEquals(6, feature().get("booked_total").getAsLong(), feature().toString());
        } finally {
            server.start();
            cancelAll();
            assertEquals(200, http.delete("/configurations/" + otherConfig + "?force=true", admin).status());
        }
    }

    /**
     * Fair shares (issue 11 parts 1-3) through the real prolog, agent and reservation: two Slurm
     * accounts of this cluster with project shares 2:1 in a pool of 30 free licenses. Account A
     * alone fills the pool (lending); B's job is submitted and pends; an agent pass reports B's
     * demand (squeue -t PD); as A's job ends, the freed licenses go to B (A's waiting job is
     * refused by the prolog, or never started) until B holds its entitlement, and A's waiting job
     * keeps waiting while A holds its own; once B's demand is gone, A borrows the idle share again.
     * The node has 2 CPUs, so at most two jobs run: A's 20 + 10, then A's 20 + B's 10.
     * Inside a cluster Slurm cannot tell accounts apart: the reservation holds only the outside
     * usage here, and the prolog alone applies project shares (lm.plan_reservations).
     */
    @Test
    @Order(7)
    @Timeout(240)
    void projectSharesLendTheIdleShareAndGiveFreedLicensesToTheWaitingAccount() throws Exception {
        long free = 30;
        long featureId = feature().get("id").getAsLong();
        List<Long> shares = new ArrayList<>();
        for (String[] s : List.of(new String[] {"acct_a", "2"}, new String[] {"acct_b", "1"})) {
            Http.Res r = http.post("/project_shares", admin, "{\"feature_id\":" + featureId + ",\"account\":\"" + s[0]
                    + "\",\"share\":" + s[1] + "}");
            assertEquals(201, r.status(), r.toString());
            shares.add(r.json().getAsJsonObject().get("id").getAsLong());
        }
        try {
            usage(TOTAL - free);
            reconcile();
            assertEquals(TOTAL - free, slurmLicense()[2], "the reservation holds the desktop users' licenses");

            // lending: A alone takes the whole pool, more than its share of 20
            String a1 = endless("acct_a", 20);
            String a2 = endless("acct_a", 10);
            slurm.waitForState(a1, "RUNNING", Duration.ofSeconds(60));
            slurm.waitForState(a2, "RUNNING", Duration.ofSeconds(60));
            assertEquals(List.of(20L), quantities(apiJob(a1)));
            assertEquals(List.of(10L), quantities(apiJob(a2)));
            reconcile();
            JsonObject pool = pool();
            assertOwner(pool, "acct_a", 30, free);
            assertOwner(pool, "acct_b", 0, 0);
            assertEquals(0, pool.get("available").getAsLong(), pool.toString());

            // A's next job is submitted first (Slurm's FIFO tries it first), then B's; both pend
            String a3 = endless("acct_a", 10);
            String b1 = endless("acct_b", 10);
            for (String id : List.of(a3, b1)) {
                slurm.waitForJob(id, j -> "PENDING".equals(j.get("JobState")) && "Licenses".equals(j.get("Reason")),
                        Duration.ofSeconds(30), "PENDING on Licenses");
            }
            assertEquals("acct_b", slurm.showJob(b1).get("Account"));
            // the agent pass reports what the pending jobs ask for, per account
            reconcile();
            pool = pool();
            assertEquals(10, owner(pool, "acct_b").get("demand").getAsLong(), pool.toString());
            assertEquals(10, owner(pool, "acct_a").get("demand").getAsLong(), pool.toString());
            assertOwner(pool, "acct_a", 30, 20);
            assertOwner(pool, "acct_b", 0, 10);
            assertEquals(TOTAL - free, slurmLicense()[2], "inside a cluster only the prolog applies project shares");

            // A's 10 end: they go to B, not to A's waiting job (A would hold 30 > 20 while B waits)
            end(a2);
            List<String> seenA3 = new ArrayList<>();
            Instant until = Instant.now().plusSeconds(120);
            while (true) {
                Map<String, String> j3 = slurm.showJob(a3);
                Map<String, String> jb = slurm.showJob(b1);
                note(seenA3, j3);
                // CONFIGURING is the prolog deciding; RUNNING would be A's job admitted
                assertFalse("RUNNING".equals(j3.get("JobState")),
                        "A's waiting job started while B waits below its share: " + state(j3) + " / " + state(jb));
                if ("RUNNING".equals(jb.get("JobState"))) {
                    break;
                }
                assertTrue(Instant.now().isBefore(until), "B's job did not start within 120 s: " + state(jb) + ", " + seenA3);
                sleep(150);
            }
            assertEquals(List.of(10L), quantities(apiJob(b1)));
            assertNull(apiJob(a3), "A's job holds nothing");
            // the prolog refused A's job if Slurm tried it, naming B's share
            for (String l : logOf(a3)) {
                assertTrue(!l.contains("lm-prolog[") || l.contains("outcome=refused") && l.contains("\"account\":\"acct_b\""), l);
            }
            System.err.println("[e2e] shares: A's waiting job went " + seenA3 + ", prolog: " + logOf(a3));

            // B holds its entitlement, A holds its own: A's job keeps waiting (for 2 scheduling
            // cycles past the requeue delay, had it been refused)
            pool = pool();
            assertOwner(pool, "acct_a", 20, 20);
            assertOwner(pool, "acct_b", 10, 10);
            assertEquals(0, pool.get("available").getAsLong(), pool.toString());
            reconcile();
            Instant hold = Instant.now().plusSeconds(5);
            while (Instant.now().isBefore(hold)) {
                Map<String, String> j3 = slurm.showJob(a3);
                assertEquals("PENDING", j3.get("JobState"), state(j3));
                assertTrue(slurm.showJob(a1).get("JobState").equals("RUNNING") && slurm.showJob(b1).get("JobState").equals("RUNNING"),
                        squeue());
                sleep(250);
            }
            assertEquals(30, feature().get("booked_total").getAsLong());

            // B's job ends and B has no more demand: A borrows B's idle share again
            end(b1);
            waitFor(() -> apiJob(b1) == null, Duration.ofSeconds(20), "the epilog released B's job");
            reconcile();
            slurm.waitForState(a3, "RUNNING", Duration.ofSeconds(90));
            pool = pool();
            assertOwner(pool, "acct_a", 30, free);
            assertOwner(pool, "acct_b", 0, 0);
        } finally {
            cancelAll();
            for (long id : shares) {
                assertEquals(200, http.delete("/project_shares/" + id, admin).status());
            }
        }
    }

    /**
     * Fair shares between clusters (issue 11 parts 1-3) through the real reservation: this
     * cluster (share 2) and othercluster (share 1, its prolog played through the API) share the
     * pool of 30 free licenses. This cluster alone fills it (lending); othercluster's job is
     * refused, which is its demand; the agent pass then makes the reservation hold what
     * othercluster waits for, so when a job here ends Slurm itself keeps this cluster's waiting
     * job pending (no prolog runs) until othercluster holds its entitlement; once othercluster's
     * job has ended, the next pass lends its idle share back and the waiting job starts.
     */
    @Test
    @Order(8)
    @Timeout(240)
    void theReservationKeepsFreedLicensesForTheClusterBelowItsShare() throws Exception {
        long free = 30;
        // before othercluster has a feature of the same name
        long here = feature().get("id").getAsLong();
        long product = http.get("/products?search=abaqus", admin).json().getAsJsonArray().get(0).getAsJsonObject().get("id").getAsLong();
        Http.Res other = http.post("/configurations", admin, "{\"name\":\"abaqus\",\"cluster_client_id\":\"othercluster\","
                + "\"type\":\"flexlm\",\"features\":[{\"name\":\"abaqus\",\"product_id\":" + product + "}],"
                + "\"license_servers\":[{\"host\":\"licsrv\",\"port\":27000}]}");
        assertEquals(201, other.status(), other.toString());
        long otherConfig = other.json().getAsJsonObject().get("id").getAsLong();
        String otherToken = server.auth.mint("othercluster", List.of("license-manager:job:create", "license-manager:job:read",
                "license-manager:job:delete"), Duration.ofHours(1));
        String otherJob = "{\"slurm_job_id\":\"900001\",\"username\":\"bob\",\"lead_host\":\"othernode\","
                + "\"bookings\":[{\"product_feature\":\"" + FEATURE + "\",\"quantity\":10}]}";
        assertEquals(200, http.put("/features/" + here, admin, "{\"share\":2}").status());
        try {
            usage(TOTAL - free);
            reconcile();
            assertEquals(TOTAL - free, slurmLicense()[2], "nobody waits: the reservation holds the desktop users' licenses");

            // lending: this cluster alone takes the whole pool, more than its share of 20
            String a1 = endless(null, 20);
            String a2 = endless(null, 10);
            slurm.waitForState(a1, "RUNNING", Duration.ofSeconds(60));
            slurm.waitForState(a2, "RUNNING", Duration.ofSeconds(60));
            String a3 = endless(null, 10);
            slurm.waitForJob(a3, j -> "PENDING".equals(j.get("JobState")) && "Licenses".equals(j.get("Reason")),
                    Duration.ofSeconds(30), "PENDING on Licenses");
            reconcile();
            JsonObject pool = pool();
            assertClusterOwner(pool, CLUSTER, 30, free);
            assertClusterOwner(pool, "othercluster", 0, 0);

            // othercluster's job is refused (nothing free): its demand
            Http.Res refused = http.post("/jobs", otherToken, otherJob);
            assertEquals(409, refused.status(), refused.toString());
            reconcile();
            pool = pool();
            assertEquals(10, clusterOwner(pool, "othercluster").get("demand").getAsLong(), pool.toString());
            assertClusterOwner(pool, CLUSTER, 30, 20);
            assertClusterOwner(pool, "othercluster", 0, 10);
            assertEquals(TOTAL - free + 10, slurmLicense()[2], "the reservation also holds the 10 othercluster waits for");

            // a job here ends: Slurm keeps the waiting job pending, the prolog is not even asked
            end(a2);
            reconcile();
            assertEquals(TOTAL - free + 10, slurmLicense()[2], "the freed 10 are held for othercluster");
            assertEquals(10, pool().get("available").getAsLong());
            stillPending(a3, Duration.ofSeconds(4));
            // othercluster's prolog tries again and gets them
            Http.Res booked = http.post("/jobs", otherToken, otherJob);
            assertEquals(201, booked.status(), booked.toString());
            reconcile();
            pool = pool();
            assertClusterOwner(pool, CLUSTER, 20, 20);
            assertClusterOwner(pool, "othercluster", 10, 10);
            stillPending(a3, Duration.ofSeconds(3));
            assertTrue(logOf(a3).isEmpty(), "the reservation, not the prolog, kept the job waiting: " + logOf(a3));

            // othercluster's job ends, it has no more demand: the next pass lends its share again
            assertEquals(200, http.delete("/jobs/slurm_job_id/900001", otherToken).status());
            reconcile();
            assertEquals(TOTAL - free, slurmLicense()[2], slurm.licenses().toString());
            slurm.waitForState(a3, "RUNNING", Duration.ofSeconds(60));
            assertEquals(List.of(10L), quantities(apiJob(a3)));
            pool = pool();
            assertClusterOwner(pool, CLUSTER, 30, free);
            assertClusterOwner(pool, "othercluster", 0, 0);
        } finally {
            cancelAll();
            assertEquals(200, http.put("/features/" + here, admin, "{\"share\":1}").status());
            assertEquals(200, http.delete("/configurations/" + otherConfig + "?force=true", admin).status());
        }
    }

    // ---------------------------------------------------------------------------------- helpers

    private static Path wrapper(String name, Path target) throws IOException {
        Path w = dir.resolve(name);
        Files.writeString(w, "#!/bin/sh\n"
                + "/usr/bin/env > '" + dir + "/" + name + "-env.'\"$SLURM_JOB_ID.$SLURM_JOB_RESTART_COUNT\"\n"
                + "LM_PROLOG_CONF='" + dir.resolve("prolog.conf") + "'\n"
                + "export LM_PROLOG_CONF\n"
                + "exec '" + target + "'\n");
        Files.setPosixFilePermissions(w, PosixFilePermissions.fromString("rwxr-xr-x"));
        return w;
    }

    /** A job of ACCOUNT (null: none) asking for Q licenses that runs until {@link #end} (restarted when requeued). */
    private static String endless(String account, long q) {
        List<String> args = new ArrayList<>(account == null ? List.of() : List.of("-A", account));
        args.addAll(List.of("-L", LICENSE + ":" + q, "-o", "job-%j.out", "--wrap",
                "while [ ! -e '" + dir + "'/end-$SLURM_JOB_ID ]; do sleep 0.2; done"));
        return slurm.sbatch(args.toArray(String[]::new));
    }

    /** Asserts that the job stays PENDING (and not even CONFIGURING: no prolog runs) for D. */
    /**
     * Issue 19, case 8: slurmctld hands the prolog -L as typed (":+40", ": 30", ":0000000020"
     * arrive verbatim); each job is booked with the count Slurm counts. On main these ran as
     * untracked, unbooked.
     */
    @Test
    @Order(9)
    @Timeout(90)
    void everyCountSyntaxSlurmAcceptsIsBookedWithSlurmsCount() throws Exception {
        Map<String, Long> forms = new LinkedHashMap<>();
        forms.put(LICENSE + ":+40", 40L);
        forms.put(LICENSE + ": 30", 30L);
        forms.put(LICENSE + ":0000000020", 20L);
        // one at a time: the node has CPUs for two jobs
        for (Map.Entry<String, Long> e : forms.entrySet()) {
            String id = running(e.getKey(), 60);
            assertEquals(e.getKey(), recordedEnv("prolog", id).get("SLURM_JOB_LICENSES"), "slurmctld passes -L as typed");
            assertEquals(List.of(e.getValue()), quantities(apiJob(id)), e.getKey() + ": " + logOf(id));
            assertEquals(e.getValue(), slurmLicense()[1], "what Slurm counts");
            assertEquals(e.getValue(), feature().get("booked_total").getAsLong(), "what lm-server booked");
            slurm.scancel(id);
            waitFor(() -> apiJob(id) == null, Duration.ofSeconds(20), "released");
        }
    }

    /**
     * Issue 19, case 8: a job asking for a managed license and two lm-server does not manage
     * (ansys.ansys, a product.feature no configuration has; matlab, no product.feature@type) books
     * the managed one and counts the others. On main the 404 let the whole job run unbooked.
     */
    @Test
    @Order(10)
    @Timeout(90)
    void aJobWithUnmanagedLicensesBooksItsManagedOneAndTheOthersAreCounted() throws Exception {
        String id = running(LICENSE + ":4,ansys.ansys@flexlm:2,matlab:1", 60);
        assertEquals(List.of(4L), quantities(apiJob(id)));
        assertEquals(4, feature().get("booked_total").getAsLong());
        List<String> log = logOf(id);
        assertTrue(log.stream().anyMatch(l -> l.contains("lm-prolog[") && l.contains("outcome=booked")
                && l.contains("untracked (counted, not booked): ansys.ansys,matlab")), log.toString());
        // only unmanaged licenses: the job runs, counted
        String other = slurm.sbatch("-L", "matlab:1", "-o", "job-%j.out", "--wrap", "sleep 1");
        slurm.waitForState(other, "COMPLETED", Duration.ofSeconds(30));
        assertTrue(logOf(other).stream().anyMatch(l -> l.contains("lm-prolog[") && l.contains("outcome=untracked")), logOf(other).toString());
        String metrics = http.get("/metrics", admin).body();
        assertTrue(metrics.contains("lm_untracked_licenses_total{cluster_client_id=\"" + CLUSTER + "\",license=\"ansys.ansys\"} 1.0"), metrics);
        assertTrue(metrics.contains("lm_untracked_licenses_total{cluster_client_id=\"" + CLUSTER + "\",license=\"matlab\"} 2.0"), metrics);
        slurm.scancel(id);
        waitFor(() -> apiJob(id) == null, Duration.ofSeconds(20), "released");
    }

    /**
     * Issue 19, case 4 (online): a requeued job is a new run. Run 0 books; scontrol requeue; the
     * requeue's epilog (which Slurm already gives the count 1) ends run 0; run 1 books afresh with
     * its own grace; a late release of run 0 does not end run 1. On main run 1 got the 200 with
     * run 0's times, and any late release ended it.
     */
    @Test
    @Order(11)
    @Timeout(150)
    void aRequeuedJobIsANewRunThatALateReleaseOfTheOldRunCannotEnd() throws Exception {
        String id = running(LICENSE + ":3", 120);
        JsonObject run0 = apiJob(id);
        assertEquals(0, run0.get("run").getAsInt());
        slurm.run(List.of("scontrol", "requeue", id));
        waitFor(() -> apiJob(id) == null, Duration.ofSeconds(20), "the requeue's epilog released run 0");
        assertEquals("1", recordedEnv("epilog", id, 1).get("SLURM_JOB_RESTART_COUNT"), "Slurm counted the restart first");

        slurm.waitForJob(id, j -> "RUNNING".equals(j.get("JobState")) && Integer.parseInt(j.get("Restarts")) >= 1,
                Duration.ofSeconds(75), "run 1 running");
        JsonObject run1 = apiJob(id);
        assertEquals(1, run1.get("run").getAsInt());
        assertTrue(!run0.get("id").equals(run1.get("id")), "a new job for run 1: " + run1);
        assertTrue(run1.get("created_at").getAsString().compareTo(run0.get("created_at").getAsString()) > 0, run1.toString());
        assertEquals(List.of(3L), quantities(run1));

        // run 0's epilog, late (as a delayed or retried one would be): nothing ends
        Map<String, String> late = recordedEnv("prolog", id, 0);
        late.put("SLURM_SCRIPT_CONTEXT", "epilog_slurmctld");
        assertEquals(0, script(EPILOG, late));
        assertTrue(lastLog().contains("job=" + id + " ") && lastLog().contains("outcome=none") && lastLog().contains("run 0"), lastLog());
        assertEquals(run1.get("id"), apiJob(id).get("id"));
        assertEquals(3, feature().get("booked_total").getAsLong());

        slurm.scancel(id);
        waitFor(() -> apiJob(id) == null, Duration.ofSeconds(20), "run 1 released by its epilog");
        assertEquals(0, feature().get("booked_total").getAsLong());
    }

    /** A batch job asking for LICENSES (as -L) that sleeps SECONDS, once it runs. */
    private static String running(String licenses, int seconds) {
        String id = slurm.sbatch("-L", licenses, "-o", "job-%j.out", "--wrap", "sleep " + seconds);
        slurm.waitForState(id, "RUNNING", Duration.ofSeconds(30));
        return id;
    }

    private static void stillPending(String id, Duration d) {
        Instant until = Instant.now().plus(d);
        while (Instant.now().isBefore(until)) {
            Map<String, String> j = slurm.showJob(id);
            assertEquals("PENDING", j.get("JobState"), state(j) + "; " + slurm.licenses().get(LICENSE)[2] + " reserved");
            sleep(200);
        }
    }

    /** Lets an {@link #endless} job finish; waits until it is COMPLETED. */
    private static void end(String id) throws IOException {
        // in this run's directory: Slurm's job ids start again at 1 after a fresh start
        Files.writeString(dir.resolve("end-" + id), "");
        slurm.waitForState(id, "COMPLETED", Duration.ofSeconds(30));
    }

    /** The feature's pool as GET /pools shows it. */
    private static JsonObject pool() {
        Http.Res r = http.get("/pools?search=" + FEATURE, admin);
        assertEquals(200, r.status(), r.toString());
        JsonArray a = r.json().getAsJsonArray();
        assertEquals(1, a.size(), r.toString());
        return a.get(0).getAsJsonObject();
    }

    /** The pool's owner that is cluster C as a whole. */
    private static JsonObject clusterOwner(JsonObject pool, String c) {
        for (JsonElement e : pool.getAsJsonArray("owners")) {
            JsonObject o = e.getAsJsonObject();
            if (c.equals(o.get("cluster_client_id").getAsString()) && o.get("account").isJsonNull()) {
                return o;
            }
        }
        throw new AssertionError("no owner " + c + " in " + pool);
    }

    private static void assertClusterOwner(JsonObject pool, String c, long inUse, double entitled) {
        assertCounts(pool, clusterOwner(pool, c), inUse, entitled);
    }

    /** The pool's owner for ACCOUNT of this cluster. */
    private static JsonObject owner(JsonObject pool, String account) {
        for (JsonElement e : pool.getAsJsonArray("owners")) {
            JsonObject o = e.getAsJsonObject();
            if (CLUSTER.equals(o.get("cluster_client_id").getAsString()) && o.get("account").isJsonPrimitive()
                    && account.equals(o.get("account").getAsString())) {
                return o;
            }
        }
        throw new AssertionError("no owner " + account + " in " + pool);
    }

    private static void assertOwner(JsonObject pool, String account, long inUse, double entitled) {
        assertCounts(pool, owner(pool, account), inUse, entitled);
    }

    private static void assertCounts(JsonObject pool, JsonObject o, long inUse, double entitled) {
        assertEquals(inUse, o.get("in_use").getAsLong(), "in_use of " + o + " in " + pool);
        assertEquals(entitled, o.get("entitled").getAsDouble(), 0.001, "entitled of " + o + " in " + pool);
    }

    /** What the wrapper recorded for the first run of NAME for job ID, without the shell's own variables. */
    private static Map<String, String> recordedEnv(String name, String id) throws IOException {
        return recordedEnv(name, id, 0);
    }

    /** The environment slurmctld gave the script NAME of job ID when its restart count was COUNT. */
    private static Map<String, String> recordedEnv(String name, String id, int count) throws IOException {
        Map<String, String> env = new LinkedHashMap<>();
        for (String line : Files.readAllLines(dir.resolve(name + "-env." + id + "." + count))) {
            int eq = line.indexOf('=');
            if (eq > 0 && !List.of("PWD", "SHLVL", "_").contains(line.substring(0, eq))) {
                env.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        env.put("LM_PROLOG_CONF", prologConf.toString());
        return env;
    }

    /** Runs bin/lm-prolog or bin/lm-epilog with exactly ENV, as slurmctld does; returns the exit status. */
    private static int script(Path script, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(script.toString()).directory(dir.toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        pb.redirectOutput(dir.resolve("script.out").toFile());
        Process p = pb.start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(script + " did not finish within 30 s");
        }
        return p.exitValue();
    }

    /** FlexLM's lmstat -a for the license server: TOTAL abaqus licenses, USED in use by desktop users. */
    private static void usage(long used) throws IOException {
        String s = "lmutil - Copyright (c) 1989-2019 Flexera. All Rights Reserved.\n"
                + "Flexible License Manager status on Thu 1/2/2026 10:00\n\n"
                + "License server status: 27000@licsrv\n"
                + "licsrv: license server UP (MASTER) v11.16.2\n\n"
                + "Feature usage info:\n\n"
                + "Users of abaqus:  (Total of " + TOTAL + " licenses issued;  Total of " + used + " licenses in use)\n\n"
                + "  \"abaqus\" v62.2, vendor: ABAQUSLM, expiry: 31-dec-2026\n"
                + "  floating license\n\n"
                + (used == 0 ? "" : "    desk desktop1 /dev/tty (v62.2) (licsrv/27000 1234), start Thu 1/2 9:00, " + used + " licenses\n")
                + "\n";
        Files.writeString(tools.resolve(LICENSE_SERVER + ".txt"), s);
    }

    /** One lm-agent pass, in-process; must succeed. */
    private static void reconcile() {
        AgentCli.Result r = AgentCli.run("reconcile", "--config", agentConf.toString());
        System.err.print(r.err());
        assertEquals(0, r.exit(), "lm-agent reconcile:\n" + r.err());
    }

    /** {Total, Used, Reserved} of the license in Slurm. */
    private static long[] slurmLicense() {
        long[] l = slurm.licenses().get(LICENSE);
        assertNotNull(l, "Slurm has no license " + LICENSE + ": " + slurm.licenses().keySet());
        return l;
    }

    private static String reservation() {
        return slurm.run(List.of("scontrol", "-o", "show", "reservation", "lm_e2e"));
    }

    /** squeue's lines "id|state|reason". */
    private static String squeue() {
        return slurm.run(List.of("squeue", "-h", "-a", "-o", "%i|%T|%r"));
    }

    private static void cancelAll() {
        String ids = slurm.run(List.of("squeue", "-h", "-a", "-o", "%A")).trim();
        if (!ids.isEmpty()) {
            List<String> cmd = new ArrayList<>(List.of("scancel"));
            cmd.addAll(List.of(ids.split("\\s+")));
            slurm.run(cmd);
            waitFor(() -> slurm.run(List.of("squeue", "-h", "-a", "-o", "%A")).isBlank(), Duration.ofSeconds(20),
                    "the queue to empty");
        }
    }

    private static void deleteReservation() {
        try {
            slurm.run(List.of("scontrol", "delete", "reservation", "lm_e2e"));
        } catch (IllegalStateException none) {
            // there was none
        }
    }

    /** GET /jobs/slurm_job_id/ID as the cluster; null when lm-server has no such job. */
    private static JsonObject apiJob(String id) {
        Http.Res r = http.get("/jobs/slurm_job_id/" + id, jobToken);
        if (r.status() == 404) {
            return null;
        }
        assertEquals(200, r.status(), r.toString());
        return r.json().getAsJsonObject();
    }

    /** Quantities of the job's active bookings. */
    private static List<Long> quantities(JsonObject job) {
        assertNotNull(job, "no such job in lm-server");
        List<Long> out = new ArrayList<>();
        for (JsonElement e : job.getAsJsonArray("bookings")) {
            JsonObject b = e.getAsJsonObject();
            if (b.get("active").getAsBoolean()) {
                out.add(b.get("quantity").getAsLong());
            }
        }
        return out;
    }

    private static JsonObject feature() {
        Http.Res r = http.get("/features", admin);
        assertEquals(200, r.status(), r.toString());
        JsonArray a = r.json().getAsJsonArray();
        for (JsonElement e : a) {
            JsonObject f = e.getAsJsonObject();
            if ((f.getAsJsonObject("product").get("name").getAsString() + "." + f.get("name").getAsString()).equals(FEATURE)) {
                return f;
            }
        }
        throw new AssertionError("no feature " + FEATURE + " in " + r);
    }

    private static List<String> logOf(String id) throws IOException {
        if (!Files.exists(prologLog)) {
            return List.of();
        }
        return Files.readAllLines(prologLog).stream().filter(l -> l.contains("job=" + id + " ")).collect(Collectors.toList());
    }

    private static String lastLog() throws IOException {
        List<String> all = Files.readAllLines(prologLog);
        return all.isEmpty() ? "" : all.get(all.size() - 1);
    }

    private static boolean active(Map<String, String> job) {
        return "RUNNING".equals(job.get("JobState")) || "CONFIGURING".equals(job.get("JobState"));
    }

    private static String state(Map<String, String> job) {
        return job.get("JobId") + " " + job.get("JobState") + "/" + job.get("Reason") + " Restarts=" + job.get("Restarts");
    }

    /** Appends the job's "STATE/Reason" when it changed. */
    private static void note(List<String> seen, Map<String, String> job) {
        String s = job.get("JobState") + "/" + job.get("Reason") + (job.get("Restarts").equals("0") ? "" : " r" + job.get("Restarts"));
        if (seen.isEmpty() || !seen.get(seen.size() - 1).equals(s)) {
            seen.add(s);
        }
    }

    private static void waitFor(BooleanSupplier done, Duration limit, String what) {
        Instant end = Instant.now().plus(limit);
        while (!done.getAsBoolean()) {
            if (Instant.now().isAfter(end)) {
                throw new AssertionError("not within " + limit + ": " + what);
            }
            sleep(100);
        }
    }

    private static String tail(Path file, int lines) {
        if (file == null || !Files.exists(file)) {
            return "(no " + file + ")";
        }
        try (Stream<String> s = Files.lines(file)) {
            List<String> all = s.collect(Collectors.toList());
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException | UncheckedIOException e) {
            return "(cannot read " + file + ": " + e + ")";
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
