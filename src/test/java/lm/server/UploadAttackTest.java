package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import lm.bench.LoadClient;
import lm.testing.ServerProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20 case 4: bodies were read before the token was checked, into a buffer of the announced
 * size, so 40 unauthenticated connections announcing 16 MiB and 100 announcing 4 MiB ran a
 * -Xmx256m lm-server out of memory: its accept and I/O threads died, /lm/health never answered
 * again, SIGTERM was not handled. The real bin/lm-server (a JVM of 256 MiB, as ServerProcess
 * starts it) under that attack, then under the same from a client with a token: /lm/health
 * answers within 100 ms throughout, the attackers get 401 (or 503 once the body memory is
 * taken) without their bodies being read, and SIGTERM still stops the server.
 */
class UploadAttackTest {
    private static final int MIB = 1024 * 1024;

    @TempDir
    Path dir;

    /** A POST announcing {@code length} bytes, of which it sends only the first KiB. */
    private static Socket announce(int port, String path, String token, long length) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        s.setSoTimeout(10_000);
        OutputStream out = s.getOutputStream();
        out.write(("POST /lm" + path + " HTTP/1.1\r\nHost: x\r\n" + (token == null ? "" : "Authorization: Bearer " + token + "\r\n")
                + "Content-Type: application/json\r\nContent-Length: " + length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        byte[] start = new byte[1024];
        Arrays.fill(start, (byte) ' ');
        out.write(start);
        out.flush();
        return s;
    }

    /** The status line of the answer, or what happened instead. */
    private static String answer(Socket s) {
        try {
            byte[] buf = new byte[512];
            int n = s.getInputStream().read(buf);
            String text = new String(buf, 0, Math.max(n, 0), StandardCharsets.US_ASCII);
            return text.isEmpty() ? "(closed without an answer)" : text.lines().findFirst().orElse("");
        } catch (IOException e) {
            return "(" + e + ")";
        }
    }

    /** Health's latency in ms, {@code n} times, one connection each, 50 ms apart. */
    private static List<Double> health(int port, int n) throws Exception {
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            try (LoadClient c = new LoadClient("127.0.0.1", port)) {
                assertEquals(204, c.send("GET", "/lm/health", null, null));
            }
            ms.add((System.nanoTime() - t0) / 1e6);
            Thread.sleep(50);
        }
        return ms;
    }

    private static double percentile(List<Double> values, double p) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get((int) Math.min(sorted.size() - 1, Math.floor(p * sorted.size())));
    }

    private static List<Socket> attack(int port, String token) throws IOException {
        List<Socket> all = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            all.add(announce(port, "/agent/report", token, 16L * MIB));
        }
        for (int i = 0; i < 100; i++) {
            all.add(announce(port, "/products", token, 4L * MIB));
        }
        return all;
    }

    @Test
    void healthAnswersWithin100MsUnderSlowLargeUploads() throws Exception {
        try (ServerProcess server = ServerProcess.start(dir, Map.of())) {
            health(server.port(), 5); // warm up the JIT and the pool
            String admin = server.token("attack", "license-manager:admin");

            List<Socket> anonymous = attack(server.port(), null);
            try {
                List<Double> ms = health(server.port(), 30);
                assertTrue(percentile(ms, 0.9) < 100, "health under 140 unauthenticated uploads, ms: " + ms);
                for (Socket s : anonymous) {
                    String status = answer(s);
                    assertTrue(status.startsWith("HTTP/1.1 401"), "an upload without a token: " + status);
                }
            } finally {
                for (Socket s : anonymous) {
                    s.close();
                }
            }

            List<Socket> authenticated = attack(server.port(), admin);
            try {
                List<Double> ms = health(server.port(), 30);
                assertTrue(percentile(ms, 0.9) < 100, "health under 140 authenticated uploads, ms: " + ms);
                int busy = 0;
                for (Socket s : authenticated.subList(authenticated.size() - 20, authenticated.size())) {
                    String status = answer(s);
                    assertTrue(status.startsWith("HTTP/1.1 503"), "past the body memory, an upload is told to come back: " + status);
                    busy++;
                }
                assertEquals(20, busy);
            } finally {
                for (Socket s : authenticated) {
                    s.close();
                }
            }
            assertTrue(server.isAlive(), server.stderrText());
            // were memory to run out all the same, the JVM exits and systemd starts it again
            String cmdline = Files.readString(Path.of("/proc/" + server.pid() + "/cmdline")).replace('\0', ' ');
            assertTrue(cmdline.contains("-XX:+ExitOnOutOfMemoryError"), "bin/lm-server runs java with -XX:+ExitOnOutOfMemoryError: "
                    + cmdline.substring(0, Math.min(80, cmdline.length())));
            assertEquals(204, health(server.port(), 1).size() == 1 ? 204 : 0);
            server.terminate();
            int status = server.waitFor(Duration.ofSeconds(30));
            assertTrue(status == 0 || status == 143, "SIGTERM is a clean stop, exit " + status + ":\n" + server.stderrText());
            assertTrue(!server.stderrText().contains("OutOfMemoryError"), server.stderrText());
        }
    }
}
