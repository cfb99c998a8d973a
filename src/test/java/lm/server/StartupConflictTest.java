package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import lm.testing.ServerProcess;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an admin sees when lm-server can't have what it needs: one line on standard error naming
 * it, a documented exit status (lm-server(8)), no stack trace. An external database (the tests'
 * own) keeps these quick.
 */
class StartupConflictTest {
    @TempDir
    Path dir;

    private static Map<String, String> externalDatabase(String... more) {
        Map<String, String> m = new HashMap<>(Map.of("database_url", TestDatabase.url(TestDatabase.create()),
                "database_user", TestDatabase.user(), "database_password", TestDatabase.password()));
        for (int i = 0; i < more.length; i += 2) {
            m.put(more[i], more[i + 1]);
        }
        return m;
    }

    /** The one line that says why, after the usual "starting" line; no trace of a Java stack. */
    private static String onlyLine(ServerProcess p, String prefix) {
        List<String> lines = p.stderr();
        String text = String.join("\n", lines);
        assertFalse(text.contains("\tat ") || text.contains("Exception") || text.contains("Caused by"), text);
        List<String> problem = lines.stream().filter(l -> l.startsWith("lm-server: ")).toList();
        assertEquals(1, problem.size(), text);
        assertTrue(problem.get(0).startsWith(prefix), text);
        return problem.get(0);
    }

    @Test
    void portInUseIsOneLineAndExit75() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = taken.getLocalPort();
            try (ServerProcess p = ServerProcess.launch(dir, externalDatabase("http_port", Integer.toString(port)))) {
                assertEquals(StartupConflict.EXIT, p.waitFor(Duration.ofSeconds(120)), p.stderrText());
                String line = onlyLine(p, "lm-server: cannot start: ");
                assertEquals("lm-server: cannot start: port " + port + " on 127.0.0.1 (http_port, http_host) is in use by another process", line);
            }
        }
    }

    @Test
    void stateDirectoryOfARunningServerIsOneLineAndExit75() throws Exception {
        try (ServerProcess first = ServerProcess.start(dir, externalDatabase())) {
            try (ServerProcess second = ServerProcess.launch(dir, externalDatabase())) {
                assertEquals(StartupConflict.EXIT, second.waitFor(Duration.ofSeconds(120)), second.stderrText());
                String line = onlyLine(second, "lm-server: cannot start: ");
                assertEquals("lm-server: cannot start: state directory " + first.stateDir + " (state_dir) is in use by another lm-server (pid "
                        + first.pid() + "): it holds " + first.stateDir.resolve("lm-server.lock"), line);
            }
            // the first one never noticed
            assertTrue(first.isAlive());
            first.terminate();
            assertEquals(143, first.waitFor(Duration.ofSeconds(60)), first.stderrText());
        }
        // and once it is gone the directory is free again, lock file and all
        try (ServerProcess third = ServerProcess.start(dir, externalDatabase())) {
            third.terminate();
            assertEquals(143, third.waitFor(Duration.ofSeconds(60)), third.stderrText());
        }
    }

    @Test
    void httpHostThatIsNotOursIsAConfigurationError() throws Exception {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this host
        try (ServerProcess p = ServerProcess.launch(dir, externalDatabase("http_host", "192.0.2.1", "http_port", "8000"))) {
            assertEquals(78, p.waitFor(Duration.ofSeconds(120)), p.stderrText());
            String line = onlyLine(p, "lm-server: configuration error: http_host (LM_HTTP_HOST) = '192.0.2.1': cannot listen on it");
            assertTrue(line.length() < 200, line);
        }
    }
}
