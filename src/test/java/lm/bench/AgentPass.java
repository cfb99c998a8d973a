package lm.bench;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Locale;
import lm.agent.BigCluster;

/**
 * make bench, issue 9: one lm-agent reconcile pass at a big site ({@link BigCluster}: 150,000
 * jobs in squeue, 1,000 features on 50 license servers, 2,000 nodes, 500 ended jobs to clean
 * each pass), in-process against a real lm-server and PostgreSQL. The license servers and Slurm
 * are shell simulators whose own time (process starts) says nothing about lm-agent, so the
 * figure is the pass beyond them: the agent's own work plus lm-server's answer to the report.
 * Meanwhile {@link ReportProbe} admits jobs on the site's pools and times them, and how long
 * the report holds pool locks (issue 19).
 */
final class AgentPass {
    static final int ROUNDS = Integer.getInteger("lm.bench.agent.rounds", 5);

    private AgentPass() {}

    static void bench() throws Exception {
        try (BigCluster site = new BigCluster()) {
            System.out.printf(Locale.ROOT, "lm bench: lm-agent pass, %d jobs in squeue, %d features on %d license servers,"
                    + " %d nodes, %d ended jobs to clean per pass, %d rounds after a warm-up pass%n", BigCluster.JOBS,
                    BigCluster.SERVERS * BigCluster.FEATURES, BigCluster.SERVERS, BigCluster.NODES, BigCluster.ENDED, ROUNDS);
            site.pass(); // JIT, first reading of every pool
            double[] beyond = new double[ROUNDS];
            double[] report = new double[ROUNDS];
            double[] own = new double[ROUNDS];
            double[] tools = new double[ROUNDS];
            BigCluster.Pass p = null;
            // admissions on the cluster's pools all along (issue 19), first 3 s without a report
            ReportProbe probe = new ReportProbe(site.dataSource());
            Thread.sleep(3000);
            for (int r = 0; r < ROUNDS; r++) {
                probe.pause(true);
                site.bookJobs();
                probe.pause(false);
                p = site.pass();
                if (p.exit() != 0 || !p.log().contains(BigCluster.ENDED + " ended jobs removed")) {
                    throw new IllegalStateException("pass failed or cleaned the wrong jobs:\n" + p.log());
                }
                beyond[r] = p.lmServerMs() + p.agentMs();
                report[r] = p.reportMs();
                own[r] = p.agentMs();
                tools[r] = p.licenseServersMs() + p.slurmMs();
                System.out.printf(Locale.ROOT, "  round %d: beyond the tools %d ms (lm-server report %d ms, agent %d ms);"
                        + " tools %d ms%n", r + 1, p.lmServerMs() + p.agentMs(), p.reportMs(), p.agentMs(), p.licenseServersMs() + p.slurmMs());
            }
            probe.close();
            probe.print();
            String json = site.dryRunReport();
            double sql = sqlAlone(site, json);
            // what the two big parts of the report cost, by leaving each out
            double withoutPlan = sqlAlone(site, without(json, "licenses"));
            double withoutJobs = sqlAlone(site, without(json, "job_ids"));
            System.out.printf(Locale.ROOT, "RESULT agent pass at %d jobs / %d features / %d servers, beyond the tools' own time:"
                    + " %.0f ms (median); tools (simulators) %.0f ms%n", BigCluster.JOBS, BigCluster.SERVERS * BigCluster.FEATURES,
                    BigCluster.SERVERS, Bench.median(beyond), Bench.median(tools));
            System.out.printf(Locale.ROOT, "RESULT lm-server's time for the report (POST /agent/report, as the agent waits for it):"
                    + " %.0f ms (median); lm.apply_agent_report alone (the pass as one transaction, as the dry run runs it) %.0f ms,"
                    + " in which the reservation plan"
                    + " (slurm.licenses) %.0f ms and the ended jobs (slurm.job_ids) %.0f ms%n", Bench.median(report), sql,
                    sql - withoutPlan, sql - withoutJobs);
            System.out.printf(Locale.ROOT, "RESULT agent's own work: %.0f ms (median); report %d kB of JSON, %d kB gzipped%n",
                    Bench.median(own), p.reportKb(), p.gzippedKb());
        }
    }

    private static String without(String json, String slurmField) {
        JsonObject o = JsonParser.parseString(json).getAsJsonObject();
        o.getAsJsonObject("slurm").remove(slurmField);
        return o.toString();
    }

    /** The SQL function alone on a report (from a dry run), in rolled-back transactions; median ms. */
    private static double sqlAlone(BigCluster site, String json) throws Exception {
        double[] ms = new double[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            try (Connection c = site.dataSource().getConnection();
                    PreparedStatement ps = c.prepareStatement("SELECT lm.apply_agent_report('big', ?::jsonb)")) {
                c.setAutoCommit(false);
                ps.setString(1, json);
                long t0 = System.nanoTime();
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                }
                ms[r] = (System.nanoTime() - t0) / 1e6;
                c.rollback();
                c.setAutoCommit(true);
            }
        }
        return Bench.median(ms);
    }
}
