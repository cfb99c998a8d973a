package lm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import lm.agent.servers.BadServerOutputException;
import lm.agent.servers.Parsers;
import lm.agent.servers.ServerReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * lmsim answers each tool's real command line (Parsers.commandFor/stdinFor) with the right
 * server's file, so the agent's tests exercise the same argv and stdin as production.
 */
class SimulatorTest {
    private static final Path FIXTURES = Path.of("src/test/resources/license-servers");

    @TempDir
    Path dir;

    private Map<String, String> tools() throws Exception {
        Map<String, String> tools = new LinkedHashMap<>();
        Map<String, String> names = Map.of("flexlm", "lmutil", "rlm", "rlmutil", "lsdyna", "lstc_qrun",
                "lmx", "lmxendutil", "olicense", "olixtool", "dsls", "DSLicSrv");
        for (var e : names.entrySet()) {
            Path link = dir.resolve(e.getValue());
            Files.createSymbolicLink(link, AgentHarness.SIMULATOR.resolve("lmsim"));
            tools.put(e.getKey(), link.toString());
        }
        return tools;
    }

    private Exec.Result run(String type, Map<String, String> tools, String host, int port, Duration timeout) throws Exception {
        return Exec.run(Parsers.commandFor(type, tools, host, port), Parsers.stdinFor(type, host, port), Map.of(), timeout);
    }

    @ParameterizedTest
    @CsvSource({
        "flexlm, flexlm/flexlm_output.txt",
        "rlm, rlm/rlm_output.txt",
        "lsdyna, lsdyna/lsdyna_output.txt",
        "lmx, lmx/lmx_output.txt",
        "olicense, olicense/olicense_output.txt",
        "dsls, dsls/dsls_output.txt"})
    void everyToolsArgvFindsItsServer(String type, String fixture) throws Exception {
        Map<String, String> tools = tools();
        Files.copy(FIXTURES.resolve(fixture), dir.resolve("lic-a.example.org_2700.txt"));
        Files.writeString(dir.resolve("lic-b_2701.fail"), "");

        Exec.Result ok = run(type, tools, "lic-a.example.org", 2700, Duration.ofSeconds(5));
        assertEquals(0, ok.exitCode(), ok.stderr());
        ServerReport report = Parsers.forType(type).parse(Parsers.decode(ok.stdout()));
        assertFalse(report.features().isEmpty());
        ServerReport expected = Parsers.forType(type).parse(Parsers.decode(Files.readAllBytes(FIXTURES.resolve(fixture))));
        assertEquals(expected, report);

        Exec.Result down = run(type, tools, "lic-b", 2701, Duration.ofSeconds(5));
        assertEquals(1, down.exitCode());
        BadServerOutputException e = assertThrows(BadServerOutputException.class,
                () -> Parsers.forType(type).parse(Parsers.decode(down.stdout())));
        assertTrue(e.getMessage().contains("connection refused"), e.getMessage());

        Exec.Result unknown = run(type, tools, "lic-c", 2702, Duration.ofSeconds(5));
        assertEquals(2, unknown.exitCode());
        assertTrue(unknown.stderr().contains("no state for lic-c:2702"), unknown.stderr());
    }

    @Test
    void aSleepingServerIsKilledWithItsChildren() throws Exception {
        Map<String, String> tools = tools();
        Files.writeString(dir.resolve("slow_1.sleep"), "41\n");
        Files.writeString(dir.resolve("slow_1.txt"), "late\n");

        long start = System.nanoTime();
        Exec.Result r = run("flexlm", tools, "slow", 1, Duration.ofMillis(500));
        long ms = (System.nanoTime() - start) / 1_000_000;

        assertTrue(r.timedOut());
        assertTrue(ms < 4_000, "took " + ms + " ms");
        assertFalse(ProcessHandle.allProcesses().anyMatch(p -> p.info().arguments().map(a -> List.of(a).contains("41")).orElse(false)
                && p.info().command().map(c -> c.endsWith("sleep")).orElse(false)), "sleep 41 still running");
    }

    @Test
    void aToolThatCannotRunIsAnIoError() {
        assertThrows(java.io.IOException.class,
                () -> Exec.run(List.of(dir.resolve("nope").toString()), null, Map.of(), Duration.ofSeconds(1)));
    }
}
