package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import lm.testing.Http;
import lm.testing.TestApi;

/**
 * A real lm-server on a fresh PostgreSQL database, license servers simulated by lmsim, and a
 * fake scontrol/squeue that logs what the agent asked: everything a reconcile pass touches,
 * without Slurm. Runs passes in-process through {@link Main#commandLine}.
 */
final class AgentHarness implements AutoCloseable {
    static final Path SIMULATOR = Path.of("src/test/simulator").toAbsolutePath();

    final TestApi api;
    final Http http;
    final String admin;
    final String cluster;
    final Path dir;
    final Path tools;
    final Path slurm;
    final Path tokenFile;
    final Path prologToken;
    final Map<String, String> conf = new LinkedHashMap<>();
    String lastErr = "";
    String lastOut = "";

    AgentHarness(String cluster) {
        this(cluster, new TestApi());
    }

    /** Over {@code api}, e.g. a server that trusts an identity provider. */
    AgentHarness(String cluster, TestApi api) {
        this.api = api;
        this.http = api.http;
        this.admin = api.admin();
        this.cluster = cluster;
        try {
            dir = Files.createTempDirectory("lm-agent-test");
            tools = Files.createDirectories(dir.resolve("tools"));
            slurm = Files.createDirectories(dir.resolve("slurm"));
            for (String tool : List.of("lmutil", "rlmutil", "lstc_qrun", "lmxendutil", "olixtool", "DSLicSrv")) {
                Files.createSymbolicLink(tools.resolve(tool), SIMULATOR.resolve("lmsim"));
            }
            for (String s : List.of("fake-scontrol", "fake-squeue")) {
                Files.copy(SIMULATOR.resolve(s), slurm.resolve(s), StandardCopyOption.COPY_ATTRIBUTES);
            }
            Files.writeString(slurm.resolve("lic.txt"), "");
            Files.writeString(slurm.resolve("squeue.txt"), "");
            Files.writeString(slurm.resolve("nodes.txt"), nodeLine("node01", "node01") + nodeLine("node02", "node02.cluster"));
            tokenFile = dir.resolve("agent.token");
            // as `lm-server token --output` makes it: lm-agent refuses a token others can read
            Files.createFile(tokenFile, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                    java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
            Files.writeString(tokenFile, api.token(cluster, "license-manager:admin") + "\n");
            prologToken = dir.resolve("lib/prolog.token");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        conf.put("api_url", "http://127.0.0.1:" + api.port() + "/lm");
        conf.put("token_file", tokenFile.toString());
        conf.put("prolog_token_file", prologToken.toString());
        conf.put("prolog_token_group", "root");
        conf.put("budget_file", dir.resolve("budget/budget.json").toString());
        conf.put("offline_dir", dir.resolve("offline").toString());
        conf.put("command_timeout", "5");
        conf.put("tool_flexlm", tools.resolve("lmutil").toString());
        conf.put("tool_rlm", tools.resolve("rlmutil").toString());
        conf.put("tool_lsdyna", tools.resolve("lstc_qrun").toString());
        conf.put("tool_lmx", tools.resolve("lmxendutil").toString());
        conf.put("tool_olicense", tools.resolve("olixtool").toString());
        conf.put("tool_dsls", tools.resolve("DSLicSrv").toString());
        conf.put("scontrol", slurm.resolve("fake-scontrol").toString());
        conf.put("squeue", slurm.resolve("fake-squeue").toString());
    }

    /** Runs {@code lm-agent reconcile --config FILE OPTIONS} with {@link #conf}; returns the exit status. */
    int reconcile(String... options) {
        StringBuilder text = new StringBuilder("# written by AgentHarness\n");
        conf.forEach((k, v) -> text.append(k).append(" = ").append(v).append('\n'));
        Path file = dir.resolve("agent.conf");
        write(file, text.toString());
        List<String> args = new ArrayList<>(List.of("reconcile", "--config", file.toString()));
        args.addAll(List.of(options));
        return run(args.toArray(String[]::new));
    }

    int run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.commandLine(Map.of(), o, e).execute(args);
        }
        lastOut = out.toString(StandardCharsets.UTF_8);
        lastErr = err.toString(StandardCharsets.UTF_8);
        // shown in the test report when an assertion fails
        System.err.print(lastErr);
        return status;
    }

    // --- inventory -----------------------------------------------------------------------

    long product(String name) {
        Http.Res r = http.post("/products", admin, "{\"name\":\"" + name + "\"}");
        assertEquals(201, r.status(), r.toString());
        return r.json().getAsJsonObject().get("id").getAsLong();
    }

    /** A flexlm configuration of this cluster; features as product name → feature name. */
    long configuration(String name, Integer outageGrace, List<String[]> features, String... servers) {
        JsonObject o = new JsonObject();
        o.addProperty("name", name);
        o.addProperty("cluster_client_id", cluster);
        o.addProperty("type", "flexlm");
        if (outageGrace != null) {
            o.addProperty("outage_grace", outageGrace);
        }
        JsonArray fs = new JsonArray();
        for (String[] pf : features) {
            JsonObject f = new JsonObject();
            f.addProperty("name", pf[1]);
            f.addProperty("product_id", product(pf[0]));
            fs.add(f);
        }
        o.add("features", fs);
        JsonArray ss = new JsonArray();
        for (String s : servers) {
            JsonObject x = new JsonObject();
            x.addProperty("host", s.substring(0, s.indexOf(':')));
            x.addProperty("port", Integer.parseInt(s.substring(s.indexOf(':') + 1)));
            ss.add(x);
        }
        o.add("license_servers", ss);
        Http.Res r = http.post("/configurations", admin, o.toString());
        assertEquals(201, r.status(), r.toString());
        return r.json().getAsJsonObject().get("id").getAsLong();
    }

    /** GET /features entry for product.feature. */
    JsonObject feature(String productFeature) {
        Http.Res r = http.get("/features", admin);
        assertEquals(200, r.status(), r.toString());
        for (JsonElement e : r.json().getAsJsonArray()) {
            JsonObject f = e.getAsJsonObject();
            if ((f.getAsJsonObject("product").get("name").getAsString() + "." + f.get("name").getAsString()).equals(productFeature)) {
                return f;
            }
        }
        throw new AssertionError("no feature " + productFeature + " in " + r);
    }

    // --- simulated license servers -------------------------------------------------------

    record Use(String feature, long total, long used, List<String[]> checkouts) {
        /**
         * All {@code used} licenses checked out by one desktop user, whom no booking matches: a
         * FlexLM table lists every checkout, and the parser refuses one whose checkouts add up
         * to less than "in use" (output cut short).
         */
        Use(String feature, long total, long used) {
            this(feature, total, used, used == 0 ? List.of() : List.<String[]>of(new String[] {"desk", "ws-desktop", Long.toString(used)}));
        }
    }

    /** Makes host:port answer like lmutil lmstat -a with these features (FlexLM format). */
    void flexlm(String server, Use... uses) {
        StringBuilder s = new StringBuilder();
        s.append("lmutil - Copyright (c) 1989-2019 Flexera. All Rights Reserved.\n");
        s.append("Flexible License Manager status on Thu 1/2/2026 10:00\n\n");
        s.append("License server status: ").append(port(server)).append('@').append(host(server)).append('\n');
        s.append(host(server)).append(": license server UP (MASTER) v11.16.2\n\n");
        s.append("Feature usage info:\n\n");
        for (Use u : uses) {
            s.append("Users of ").append(u.feature()).append(":  (Total of ").append(u.total())
                    .append(" licenses issued;  Total of ").append(u.used()).append(" licenses in use)\n\n");
            s.append("  \"").append(u.feature()).append("\" v62.2, vendor: ABAQUSLM, expiry: 31-dec-2026\n");
            s.append("  floating license\n\n");
            for (String[] c : u.checkouts()) {
                s.append("    ").append(c[0]).append(' ').append(c[1]).append(" /dev/tty (v62.2) (")
                        .append(host(server)).append('/').append(port(server)).append(" 1234), start Thu 1/2 9:00, ")
                        .append(c[2]).append(" licenses\n");
            }
            s.append('\n');
        }
        clearServer(server);
        write(tools.resolve(stateName(server) + ".txt"), s.toString());
    }

    /** What the simulated server prints now. */
    String output(String server) {
        try {
            return Files.readString(tools.resolve(stateName(server) + ".txt"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void serverOutput(String server, String text) {
        clearServer(server);
        write(tools.resolve(stateName(server) + ".txt"), text);
    }

    void serverDown(String server) {
        clearServer(server);
        write(tools.resolve(stateName(server) + ".fail"), "");
    }

    void serverHangs(String server, int seconds) {
        write(tools.resolve(stateName(server) + ".sleep"), seconds + "\n");
    }

    void clearServer(String server) {
        for (String ext : List.of(".txt", ".fail", ".sleep", ".exit")) {
            delete(tools.resolve(stateName(server) + ext));
        }
    }

    private static String host(String server) {
        return server.substring(0, server.indexOf(':'));
    }

    private static String port(String server) {
        return server.substring(server.indexOf(':') + 1);
    }

    private static String stateName(String server) {
        return host(server) + "_" + port(server);
    }

    // --- fake Slurm -----------------------------------------------------------------------

    /** The license table: name, Total, Used triples. */
    void slurmLicenses(Object... nameTotalUsed) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < nameTotalUsed.length; i += 3) {
            long total = ((Number) nameTotalUsed[i + 1]).longValue();
            long used = ((Number) nameTotalUsed[i + 2]).longValue();
            s.append("LicenseName=").append(nameTotalUsed[i]).append(" Total=").append(total).append(" Used=").append(used)
                    .append(" Free=").append(Math.max(0, total - used)).append(" Reserved=0 Remote=no\n");
        }
        write(slurm.resolve("lic.txt"), s.toString());
    }

    /** What squeue -h -a -o %A prints: one job id a line. */
    void squeue(String... ids) {
        write(slurm.resolve("squeue.txt"), ids.length == 0 ? "" : String.join("\n", ids) + "\n");
    }

    /**
     * One line of {@code scontrol -o show nodes} as Slurm 22.05.8 prints it (field order from
     * slurm_sprint_node_table; the OS and Reason values hold spaces, the Reason a '=').
     */
    static String nodeLine(String name, String hostname) {
        return "NodeName=" + name + " Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.09"
                + " AvailableFeatures=(null) ActiveFeatures=(null) Gres=(null) NodeAddr=10.0.0.7 NodeHostName=" + hostname
                + " Version=22.05.8 OS=Linux 6.1.0-26-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)"
                + "  RealMemory=24105 AllocMem=0 FreeMem=21000 Sockets=2 Boards=1 State=IDLE+DRAIN ThreadsPerCore=1 TmpDisk=0"
                + " Weight=1 Owner=N/A MCS_label=N/A Partitions=debug  BootTime=2026-11-20T08:00:00"
                + " SlurmdStartTime=2026-11-20T08:01:00 LastBusyTime=2026-11-27T10:00:00 CfgTRES=cpu=2,mem=24105M,billing=2"
                + " AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/s ExtSensorsWatts=0"
                + " ExtSensorsTemp=n/s Reason=moved NodeName=other [root@2026-11-27T09:00:00]\n";
    }

    /** Every scontrol/squeue invocation so far, one argv line each. */
    List<String> calls() {
        Path log = slurm.resolve("calls.log");
        try {
            return Files.exists(log) ? Files.readAllLines(log) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The calls that change Slurm (create, update, delete), in order. */
    List<String> changes() {
        List<String> out = new ArrayList<>();
        for (String c : calls()) {
            if (c.startsWith("create ") || c.startsWith("update ") || c.startsWith("delete ")) {
                out.add(c);
            }
        }
        return out;
    }

    void clearCalls() {
        delete(slurm.resolve("calls.log"));
    }

    /** The reservation's licenses= value, or null when there is none. */
    String reservation() {
        Path r = slurm.resolve("reservation");
        try {
            return Files.exists(r) ? Files.readString(r).strip() : null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String create(String licenses) {
        return "create reservation ReservationName=lm_reservation licenses=" + licenses
                + " starttime=now duration=30 flags=LICENSE_ONLY user=root";
    }

    static String update(String licenses) {
        return "update ReservationName=lm_reservation licenses=" + licenses + " endtime=now+30minutes";
    }

    static final String DELETE = "delete reservation lm_reservation";

    static void write(Path p, String text) {
        try {
            Files.writeString(p, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        api.close();
        api.ds.close();
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(AgentHarness::delete);
        } catch (IOException e) {
            // a temp dir left behind is harmless
        }
    }
}
