package lm.agent.servers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ParseCommandTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {}

    private static Run run(byte[] stdin, String... args) {
        ParseCommand command = new ParseCommand();
        command.stdin = new ByteArrayInputStream(stdin);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(command);
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    private Path fixtureFile(String path) throws IOException {
        Path file = dir.resolve(path.replace('/', '_'));
        Files.write(file, Fixtures.bytes(path));
        return file;
    }

    @Test
    void printsOneJsonObjectWithEveryFeature() throws IOException {
        Run run = run(new byte[0], "--type", "lmx", fixtureFile("lmx/lmx_output.txt").toString());
        assertEquals(0, run.exit(), run.err());
        assertEquals("", run.err());
        assertEquals(1, run.out().strip().lines().count(), "one line of JSON");
        JsonArray features = JsonParser.parseString(run.out()).getAsJsonObject().getAsJsonArray("features");
        assertEquals(7, features.size());
        JsonObject flux = features.get(5).getAsJsonObject();
        assertEquals("HWFlux2D", flux.get("name").getAsString());
        assertEquals("2147483647", flux.get("total").toString(), "integers, not 2.147483647E9");
        assertEquals("30000", flux.get("used").toString());
        assertEquals("0", flux.get("queued").toString());
        assertEquals("\"2023-01-31\"", flux.get("expires").toString(), "the day, as the agent reports it");
        assertEquals("2147483647", flux.get("expiring").toString());
        JsonObject use = flux.getAsJsonArray("checkouts").get(0).getAsJsonObject();
        assertEquals("VRAAFG", use.get("user").getAsString());
        assertEquals("RD0082879", use.get("host").getAsString());
        assertEquals("15000", use.get("quantity").toString());
    }

    @Test
    void readsStdinWhenNoFileIsGiven() {
        Run run = run(Fixtures.bytes("flexlm/hw_latin1_user.txt"), "--type", "flexlm");
        assertEquals(0, run.exit(), run.err());
        JsonObject fluid = JsonParser.parseString(run.out()).getAsJsonObject()
                .getAsJsonArray("features").get(0).getAsJsonObject();
        assertEquals("Fluid", fluid.get("name").getAsString());
        assertEquals("jürgen", fluid.getAsJsonArray("checkouts").get(0).getAsJsonObject().get("user").getAsString());
    }

    @Test
    void badServerOutputIsExitTwoWithOneReasonLine() throws IOException {
        Run run = run(new byte[0], "--type", "flexlm", fixtureFile("flexlm/flexlm_output_bad.txt").toString());
        assertEquals(2, run.exit());
        assertEquals("", run.out(), "nothing on stdout that could be mistaken for a report");
        assertEquals(1, run.err().lines().count(), run.err());
        assertTrue(run.err().startsWith("lm-agent parse: flexlm: connection refused: "), run.err());
    }

    @Test
    void outputCutShortIsExitTwo() {
        // issue 9: the LS-DYNA table without its LICENSE GROUP row used to read as 0 in use
        String full = Fixtures.text("lsdyna/lsdyna_output.txt");
        byte[] cut = full.substring(0, full.indexOf("                   LICENSE GROUP")).getBytes(StandardCharsets.UTF_8);
        Run run = run(cut, "--type", "lsdyna");
        assertEquals(2, run.exit());
        assertEquals("", run.out());
        assertEquals("lm-agent parse: lsdyna: MPPDYNA_971: USED 0 + FREE 60 is not MAX 500 (output cut short?)", run.err().strip());
        String flex = Fixtures.text("flexlm/flexlm_output.txt");
        run = run(flex.substring(0, flex.indexOf(", 29 licenses")).getBytes(StandardCharsets.UTF_8), "--type", "flexlm");
        assertEquals(2, run.exit());
        assertEquals("lm-agent parse: flexlm: TESTFEATURE: 93 in use but the listed checkouts add up to 1 (output cut short?)",
                run.err().strip());
    }

    @Test
    void emptyStdinIsAFailure() {
        Run run = run(new byte[0], "--type", "dsls");
        assertEquals(2, run.exit());
        assertEquals("lm-agent parse: dsls: empty output", run.err().strip());
    }

    @Test
    void unknownTypeIsExitTwoNamingTheTypes() {
        Run run = run(new byte[0], "--type", "sentinel");
        assertEquals(2, run.exit());
        assertEquals("", run.out());
        assertTrue(run.err().contains("flexlm, rlm, lsdyna, lmx, olicense, dsls"), run.err());
    }

    @Test
    void missingFileIsExitTwo() {
        Path missing = dir.resolve("nope.txt");
        Run run = run(new byte[0], "--type", "rlm", missing.toString());
        assertEquals(2, run.exit());
        assertEquals("lm-agent parse: " + missing + ": no such file", run.err().strip());
    }

    @Test
    void missingTypeIsAUsageError() {
        Run run = run(new byte[0]);
        assertEquals(2, run.exit());
        assertTrue(run.err().contains("--type"), run.err());
        assertFalse(run.out().contains("features"));
    }
}
