package lm.agent;

import static lm.agent.AgentHarness.create;
import static lm.agent.AgentHarness.update;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import lm.agent.AgentHarness.Use;
import lm.testing.Http;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code lm-agent reconcile --dry-run} on a live cluster (issue 9, part 6): it prints the report
 * and the plan, and writes nothing anywhere — no table changes, no token file, no scontrol change —
 * although the same pass run for real changes all of them.
 */
class DryRunTest {
    private static final String ABAQUS = "abaqus.abaqus";
    private static final String ABAQUS_LIC = "abaqus.abaqus@flexlm";

    private AgentHarness h;

    @BeforeEach
    void setUp() {
        h = new AgentHarness("cluster1");
        h.configuration("abaqus", null, List.<String[]>of(new String[] {"abaqus", "abaqus"}), "lic1:27000");
        h.slurmLicenses(ABAQUS_LIC, 100, 0);
    }

    @AfterEach
    void tearDown() {
        h.close();
    }

    @Test
    void aDryRunChangesNoTableNoFileAndNoReservation() throws Exception {
        // a live cluster: a reservation holding 10, alice's job 12 (3 licenses) now checked out on
        // node01, bob's job 13 (5) ended without its epilog, carol's job 15 (2) pending in squeue
        h.flexlm("lic1:27000", new Use("abaqus", 100, 10));
        assertEquals(0, h.reconcile(), h.lastErr);
        assertEquals(ABAQUS_LIC + ":10", h.reservation());
        String prolog = h.api.token("cluster1", "license-manager:job:create");
        for (String job : List.of("\"12\",\"username\":\"alice\",\"lead_host\":\"node01\",\"bookings\":[{\"product_feature\":\"abaqus.abaqus\",\"quantity\":3}]",
                "\"13\",\"username\":\"bob\",\"lead_host\":\"node02\",\"bookings\":[{\"product_feature\":\"abaqus.abaqus\",\"quantity\":5}]",
                "\"15\",\"username\":\"carol\",\"lead_host\":\"node02\",\"bookings\":[{\"product_feature\":\"abaqus.abaqus\",\"quantity\":2}]")) {
            Http.Res r = h.http.post("/jobs", prolog, "{\"slurm_job_id\":" + job + "}");
            assertEquals(201, r.status(), r.toString());
        }
        // booked well before squeue looks, so job 13 counts as ended (time as data, no sleep)
        sql("UPDATE lm.jobs SET created_at = created_at - interval '1 minute'");
        h.slurmLicenses(ABAQUS_LIC, 100, 3);
        h.squeue("12", "15");
        h.flexlm("lic1:27000", new Use("abaqus", 100, 25,
                List.<String[]>of(new String[] {"alice", "node01.cluster", "3"}, new String[] {"dave", "ws1", "22"})));
        Files.delete(h.prologToken);
        Files.deleteIfExists(Path.of(h.conf.get("budget_file")));
        h.clearCalls();
        Map<String, List<String>> before = tables();

        assertEquals(0, h.reconcile("--dry-run"), h.lastErr);

        assertEquals(before, tables(), "a dry run must leave every table as it was");
        assertFalse(Files.exists(h.prologToken), "a dry run must not write prolog_token_file");
        assertEquals(List.of(), h.changes(), "a dry run must not change Slurm");
        assertEquals(ABAQUS_LIC + ":10", h.reservation());
        // stdout: the report, the plan, the offline budget, the change it would make, each after a '#' line
        List<String> out = h.lastOut.strip().lines().toList();
        assertEquals(8, out.size(), h.lastOut);
        assertTrue(out.get(0).startsWith("# dry run: the report"), out.get(0));
        JsonObject report = JsonParser.parseString(out.get(1)).getAsJsonObject();
        assertEquals("[12,15]", report.getAsJsonObject("slurm").get("job_ids").toString());
        assertEquals("[\"node01\",\"node02\"]", report.getAsJsonObject("slurm").get("nodes").toString());
        assertEquals(25, report.getAsJsonArray("features").get(0).getAsJsonObject().get("used").getAsLong());
        assertTrue(out.get(2).startsWith("# dry run: the plan"), out.get(2));
        JsonObject plan = JsonParser.parseString(out.get(3)).getAsJsonObject();
        assertEquals(1, plan.get("released_checkouts").getAsLong(), plan::toString);
        assertEquals(1, plan.get("ended_jobs").getAsLong(), plan::toString);
        // used 25 + carol's 2 still booked − Slurm's own 3 in use
        assertEquals("[{\"license\":\"" + ABAQUS_LIC + "\",\"count\":24,\"held\":false}]", plan.get("reservations").toString());
        assertTrue(out.get(4).startsWith("# dry run: the budget_file"), out.get(4));
        assertTrue(JsonParser.parseString(out.get(5)).getAsJsonObject().getAsJsonObject("licenses").has(ABAQUS_LIC), out.get(5));
        assertTrue(out.get(6).startsWith("# dry run: the scontrol changes"), out.get(6));
        assertEquals(h.conf.get("scontrol") + " " + update(ABAQUS_LIC + ":24"), out.get(7));
        assertFalse(Files.exists(Path.of(h.conf.get("budget_file"))), "a dry run must not write budget_file");
        assertTrue(h.lastErr.contains("1 bookings released by checkouts") && h.lastErr.contains("1 ended jobs removed"), h.lastErr);

        // the same pass for real does change all of it: the dry run was not a no-op by accident
        assertEquals(0, h.reconcile(), h.lastErr);
        assertFalse(before.equals(tables()));
        assertTrue(Files.exists(h.prologToken));
        assertEquals(List.of(update(ABAQUS_LIC + ":24")), h.changes());
        assertEquals(2, h.feature(ABAQUS).get("booked_total").getAsLong());
    }

    @Test
    void aDryRunWithoutAReservationPrintsTheCreate() {
        h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

        assertEquals(0, h.reconcile("--dry-run"), h.lastErr);

        assertEquals(List.of(), h.changes());
        assertTrue(h.lastOut.strip().endsWith(h.conf.get("scontrol") + " " + create(ABAQUS_LIC + ":40")), h.lastOut);
        assertEquals(0, h.feature(ABAQUS).get("used").getAsLong(), "the usage was not stored");
    }

    @Test
    void anLmServerWithoutDryRunsRefusesAndNothingIsApplied() throws Exception {
        // an lm-server of before dry runs, as far as a pass sees it: this cluster's
        // configurations, and 404 for any other path (POST /agent/report/dry_run among them)
        String configs = h.http.get("/configurations/by_client_id", Files.readString(h.tokenFile).strip()).body();
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        HttpServer old = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        old.createContext("/lm/", ex -> {
            seen.add(ex.getRequestMethod() + " " + ex.getRequestURI());
            boolean known = ex.getRequestURI().getPath().equals("/lm/configurations/by_client_id");
            byte[] body = (known ? configs : "{\"code\":\"not_found\",\"message\":\"no such path: " + ex.getRequestURI().getPath()
                    + "\",\"detail\":null}").getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(known ? 200 : 404, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        old.start();
        try {
            h.conf.put("api_url", "http://127.0.0.1:" + old.getAddress().getPort() + "/lm");
            h.flexlm("lic1:27000", new Use("abaqus", 100, 40));

            assertEquals(Main.SERVER, h.reconcile("--dry-run"), h.lastErr);

            assertTrue(h.lastErr.contains("this lm-server has no dry runs (404, older than lm-agent); nothing was applied"), h.lastErr);
            assertEquals(List.of("GET /lm/configurations/by_client_id", "POST /lm" + LmApi.DRY_RUN), seen);
            assertEquals(List.of(), h.changes());
        } finally {
            old.stop(0);
        }
    }

    private void sql(String statement) throws Exception {
        try (Connection c = h.api.ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(statement);
        }
    }

    /** Every row of every table of the database, as text, sorted: what "changed nothing" means. */
    private Map<String, List<String>> tables() throws Exception {
        Map<String, List<String>> all = new LinkedHashMap<>();
        try (Connection c = h.api.ds.getConnection(); Statement s = c.createStatement()) {
            List<String> names = new ArrayList<>();
            try (ResultSet rs = s.executeQuery("SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables"
                    + " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")) {
                while (rs.next()) {
                    names.add(rs.getString(1));
                }
            }
            assertTrue(names.contains("lm.jobs") && names.contains("lm.bookings") && names.contains("lm.features"), names::toString);
            for (String t : names) {
                List<String> rows = new ArrayList<>();
                try (ResultSet rs = s.executeQuery("SELECT t::text FROM " + t + " t ORDER BY 1")) {
                    while (rs.next()) {
                        rows.add(rs.getString(1));
                    }
                }
                all.put(t, rows);
            }
        }
        return all;
    }
}
