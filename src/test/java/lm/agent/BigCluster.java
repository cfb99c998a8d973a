package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.agent.AgentHarness.Use;
import lm.testing.Http;

/**
 * A big site for the agent (issue 9): SERVERS license servers of FEATURES features each
 * (50 × 20 = 1,000), a squeue of JOBS ids (150,000, pending and running alike: squeue's %A
 * doesn't tell), NODES nodes, and booked jobs: some still in squeue, some ended without their
 * epilog. For {@code BigClusterTest} and make bench, which time passes on it.
 */
public final class BigCluster implements AutoCloseable {
    public static final int SERVERS = 50;
    public static final int FEATURES = 20;
    public static final int JOBS = 150_000;
    public static final int NODES = 2_000;
    /** Booked jobs squeue still lists, and booked jobs it no longer does. */
    public static final int BOOKED = 2_000;
    public static final int ENDED = 500;
    private static final long FIRST_JOB = 1_000_001;

    final AgentHarness h = new AgentHarness("big");

    /** What one pass's "pass done" log line says. */
    public record Pass(int exit, int features, int jobs, long reportKb, long gzippedKb, long licenseServersMs, long slurmMs,
            long lmServerMs, long reportMs, long agentMs, String log) {}

    private static final Pattern DONE = Pattern.compile("pass done: (\\d+) features reported, \\d+ failed, (\\d+) jobs, report (\\d+) kB"
            + " \\((\\d+) kB gzipped\\); times: license servers (\\d+) ms, Slurm (\\d+) ms, lm-server (\\d+) ms \\(report (\\d+) ms\\),"
            + " agent (\\d+) ms; exit (\\d+)");

    public BigCluster() {
        List<String> licenses = new ArrayList<>();
        for (int s = 0; s < SERVERS; s++) {
            configuration(s);
            Use[] uses = new Use[FEATURES];
            for (int f = 0; f < FEATURES; f++) {
                // a few desktop checkouts per feature: 5,000 checkouts in the report
                List<String[]> checkouts = new ArrayList<>();
                for (int k = 0; k < 5; k++) {
                    checkouts.add(new String[] {"user" + k, "ws" + (s * FEATURES + f) % 300 + ".example.org", "2"});
                }
                uses[f] = new Use("f" + f, 1_000, 10, checkouts);
                licenses.add("p" + s + ".f" + f + "@flexlm");
            }
            h.flexlm("lic" + s + ":27000", uses);
        }
        Object[] table = new Object[licenses.size() * 3];
        for (int i = 0; i < licenses.size(); i++) {
            table[3 * i] = licenses.get(i);
            table[3 * i + 1] = 1_000;
            table[3 * i + 2] = 0;
        }
        h.slurmLicenses(table);
        StringBuilder nodes = new StringBuilder();
        for (int n = 0; n < NODES; n++) {
            nodes.append(AgentHarness.nodeLine(String.format("node%04d", n), String.format("node%04d.cluster.example.org", n)));
        }
        AgentHarness.write(h.slurm.resolve("nodes.txt"), nodes.toString());
        StringBuilder squeue = new StringBuilder();
        for (long id = FIRST_JOB; id < FIRST_JOB + JOBS; id++) {
            squeue.append(id).append('\n');
        }
        AgentHarness.write(h.slurm.resolve("squeue.txt"), squeue.toString());
    }

    private void configuration(int s) {
        Http.Res p = h.http.post("/products", h.admin, "{\"name\":\"p" + s + "\"}");
        assertEquals(201, p.status(), p.toString());
        JsonObject o = new JsonObject();
        o.addProperty("name", "cfg" + s);
        o.addProperty("cluster_client_id", h.cluster);
        o.addProperty("type", "flexlm");
        JsonArray features = new JsonArray();
        for (int f = 0; f < FEATURES; f++) {
            JsonObject x = new JsonObject();
            x.addProperty("name", "f" + f);
            x.addProperty("product_id", p.json().getAsJsonObject().get("id").getAsLong());
            features.add(x);
        }
        o.add("features", features);
        JsonArray servers = new JsonArray();
        JsonObject server = new JsonObject();
        server.addProperty("host", "lic" + s);
        server.addProperty("port", 27000);
        servers.add(server);
        o.add("license_servers", servers);
        Http.Res r = h.http.post("/configurations", h.admin, o.toString());
        assertEquals(201, r.status(), r.toString());
    }

    /**
     * Books BOOKED jobs squeue lists and ENDED jobs it doesn't (again, after a pass removed
     * them), then dates them a minute back: old enough for the pass to end the ENDED ones
     * without a sleep (booking at that past instant would precede the pools' reading).
     */
    public void bookJobs() throws SQLException {
        // one call a job, as prologs do (one statement over generate_series saw its own pools as full)
        try (Connection c = h.api.ds.getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT created FROM lm.book_job('big', ?, ?, ?, ?::jsonb)");
                Statement s = c.createStatement()) {
            // ended: ids below squeue's first; listed: every 50th job of squeue
            int n = 0;
            for (long id = FIRST_JOB - ENDED; id < FIRST_JOB; id++) {
                book(ps, id, n++);
            }
            for (long id = FIRST_JOB; id < FIRST_JOB + BOOKED * 50L; id += 50) {
                book(ps, id, n++);
            }
            s.execute("UPDATE lm.jobs SET created_at = created_at - interval '1 minute' WHERE cluster_client_id = 'big'");
        }
    }

    /** Job {@code id} books one license of the {@code n}th feature (round robin over all 1,000). */
    private static void book(PreparedStatement ps, long id, int n) throws SQLException {
        ps.setString(1, Long.toString(id));
        ps.setString(2, "u" + id % 97);
        ps.setString(3, String.format("node%04d", id % NODES));
        ps.setString(4, "[{\"product_feature\":\"" + feature(n) + "\",\"quantity\":1}]");
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
        } catch (SQLException e) {
            throw new SQLException("job " + id + ": " + e.getMessage(), e);
        }
    }

    /**
     * A job id squeue lists that {@link #bookJobs} never books, for jobs admitted while a pass
     * runs (make bench): being listed, the pass's sweep leaves them alone.
     */
    public static String listedFreeJobId(long k) {
        return Long.toString(FIRST_JOB + 25 + 50 * Math.floorMod(k, BOOKED));
    }

    /** The {@code n}th of the site's features as Slurm names it ("p3.f7"), round robin over all 1,000. */
    public static String feature(int n) {
        return "p" + n / FEATURES % SERVERS + ".f" + n % FEATURES;
    }

    /** Jobs of the cluster in lm.jobs: listed in squeue, and not. */
    public long[] jobsInDatabase() throws SQLException {
        try (Connection c = h.api.ds.getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FILTER (WHERE slurm_job_id::bigint >= " + FIRST_JOB + "),"
                        + " count(*) FILTER (WHERE slurm_job_id::bigint < " + FIRST_JOB + ") FROM lm.jobs WHERE cluster_client_id = 'big'")) {
            rs.next();
            return new long[] {rs.getLong(1), rs.getLong(2)};
        }
    }

    /** One {@code lm-agent reconcile} pass, in-process. */
    public Pass pass() {
        int exit = h.reconcile();
        Matcher m = DONE.matcher(h.lastErr);
        if (!m.find()) {
            throw new AssertionError("no pass done line (exit " + exit + "):\n" + h.lastErr);
        }
        return new Pass(exit, Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Long.parseLong(m.group(3)),
                Long.parseLong(m.group(4)), Long.parseLong(m.group(5)), Long.parseLong(m.group(6)), Long.parseLong(m.group(7)),
                Long.parseLong(m.group(8)), Long.parseLong(m.group(9)), h.lastErr);
    }

    /** The report a pass would send now, as {@code reconcile --dry-run} prints it. */
    public String dryRunReport() {
        int exit = h.reconcile("--dry-run");
        if (exit != 0) {
            throw new AssertionError("dry run: exit " + exit + "\n" + h.lastErr);
        }
        return h.lastOut.lines().toList().get(1);
    }

    public javax.sql.DataSource dataSource() {
        return h.api.ds;
    }

    @Override
    public void close() {
        h.close();
    }
}
