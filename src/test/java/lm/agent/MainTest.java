package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The command tree: help, a missing subcommand, and parse reachable under lm-agent. */
class MainTest {
    private String out;
    private String err;

    private int run(String... args) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        int status = Main.commandLine(Map.of(), new PrintStream(o, true, StandardCharsets.UTF_8),
                new PrintStream(e, true, StandardCharsets.UTF_8)).execute(args);
        out = o.toString(StandardCharsets.UTF_8);
        err = e.toString(StandardCharsets.UTF_8);
        return status;
    }

    @Test
    void helpListsTheCommands() {
        assertEquals(0, run("--help"));
        assertTrue(out.contains("reconcile") && out.contains("parse"), out);
    }

    @Test
    void reconcileHelpListsTheExitCodes() {
        assertEquals(0, run("reconcile", "--help"));
        assertTrue(out.contains("3   lm-server unreachable or refused the token: nothing applied"), out);
    }

    @Test
    void noCommandIsAUsageError() {
        assertEquals(Main.USAGE, run());
        assertTrue(err.contains("missing command"), err);
    }

    @Test
    void parseRunsTheParsers() {
        assertEquals(0, run("parse", "--type", "flexlm", "src/test/resources/license-servers/flexlm/flexlm_output.txt"));
        assertTrue(out.contains("\"TESTFEATURE\""), out);
    }

    @Test
    void aMissingConfigFileIsExit2() {
        assertEquals(Main.USAGE, run("reconcile", "--config", "/nonexistent/agent.conf"));
        assertTrue(err.contains("configuration error: /nonexistent/agent.conf: cannot read"), err);
    }
}
