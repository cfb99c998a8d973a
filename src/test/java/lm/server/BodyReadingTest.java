package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import lm.auth.AuthSettings;
import lm.auth.Authenticator;
import lm.bench.LoadClient;
import lm.config.ServerSettings;
import lm.http.ApiServer;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Request bodies are received as they arrive, holding no thread: clients that stall mid-body
 * delay nobody else, fall silent for http_read_timeout and are disconnected; a body announced
 * or sent larger than the limit is a 413, without the server allocating what was announced.
 */
class BodyReadingTest {
    static HikariDataSource ds;
    static Authenticator auth;
    static String admin;

    @BeforeAll
    static void start() throws IOException {
        ds = TestDatabase.pool(4);
        auth = new Authenticator(new AuthSettings(Files.createTempDirectory("lm-keys").resolve("jwks.json"), "lm-local", null, "permissions"));
        admin = auth.mint("body", List.of("license-manager:admin"), Duration.ofHours(1));
    }

    @AfterAll
    static void stop() {
        ds.close();
    }

    private static ApiServer server(Duration readTimeout) {
        ApiServer api = new ApiServer("127.0.0.1", 0, ApiRoutes.all(ds, auth), auth, LmServer.limits(ServerSettings.defaults()).withReadTimeout(readTimeout));
        api.start();
        return api;
    }

    /** Sends headers announcing a body of {@code length} bytes, and only the first bytes of it. */
    private static Socket stalled(int port, long length) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        OutputStream out = s.getOutputStream();
        out.write(("POST /lm/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin
                + "\r\nContent-Type: application/json\r\nContent-Length: " + length + "\r\n\r\n{\"name\":").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        return s;
    }

    @Test
    void stalledBodiesHoldNoThread() throws Exception {
        ApiServer api = server(Duration.ofSeconds(60));
        List<Socket> stalled = new ArrayList<>();
        try {
            // more than Undertow's worker threads (8 per core): when bodies were read in blocking
            // mode these took every worker and the next request waited for http_read_timeout
            for (int i = 0; i < 40; i++) {
                stalled.add(stalled(api.port(), 100));
            }
            Thread.sleep(300);
            long t0 = System.nanoTime();
            try (LoadClient c = new LoadClient("127.0.0.1", api.port())) {
                assertEquals(204, c.send("GET", "/lm/health", admin, null));
                assertEquals(201, c.send("POST", "/lm/products", admin, "{\"name\":\"while-others-stall\"}"));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds < 10, "answered after " + seconds + " s behind 40 stalled bodies");
        } finally {
            for (Socket s : stalled) {
                s.close();
            }
            api.close();
        }
    }

    @Test
    void aSilentClientIsDisconnectedAfterTheReadTimeout() throws Exception {
        ApiServer api = server(Duration.ofSeconds(1));
        try (Socket s = stalled(api.port(), 100)) {
            s.setSoTimeout(20_000);
            long t0 = System.nanoTime();
            assertEquals(-1, readOrReset(s.getInputStream()), "no answer is owed to a body that never came");
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds >= 0.9 && seconds < 15, "disconnected after " + seconds + " s with a 1 s read timeout");
            // and an idle keep-alive connection goes the same way
            try (Socket idle = new Socket("127.0.0.1", api.port())) {
                idle.setSoTimeout(20_000);
                idle.getOutputStream().write("GET /lm/version HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                byte[] buf = new byte[4096];
                int n = idle.getInputStream().read(buf);
                assertTrue(new String(buf, 0, Math.max(n, 0), StandardCharsets.US_ASCII).startsWith("HTTP/1.1 200"));
                long t1 = System.nanoTime();
                assertEquals(-1, readOrReset(idle.getInputStream()));
                assertTrue((System.nanoTime() - t1) / 1e9 < 15);
            }
        } finally {
            api.close();
        }
    }

    @Test
    void aSlowAnswerIsNotCutByTheReadTimeout() throws Exception {
        // the read timeout is for a silent client; a request the server itself takes long over is answered
        Licenses.setUp(ds.getJdbcUrl(), TestDatabase.user(), TestDatabase.password(), "held", "a", "b");
        String token = auth.mint("held", List.of("license-manager:job:create"), Duration.ofHours(1));
        ApiServer api = server(Duration.ofSeconds(1));
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(ds.getJdbcUrl(), TestDatabase.user(), TestDatabase.password());
                LoadClient client = new LoadClient("127.0.0.1", api.port())) {
            c.setAutoCommit(false);
            try (java.sql.Statement st = c.createStatement()) {
                st.execute("LOCK TABLE lm.bookings IN EXCLUSIVE MODE");
            }
            Thread unlock = new Thread(() -> {
                try {
                    Thread.sleep(2500);
                    c.rollback();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            unlock.start();
            assertEquals(201, client.send("POST", "/lm/jobs", token, Licenses.job(7, "held", "a", "b")));
            unlock.join();
        } finally {
            api.close();
        }
    }

    @Test
    void anAnnouncedBodyOverTheLimitIs413AtOnce() throws Exception {
        ApiServer api = server(Duration.ofSeconds(60));
        try (Socket s = stalled(api.port(), 2_000_000_000L)) {
            s.setSoTimeout(20_000);
            String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(answer.startsWith("HTTP/1.1 413"), answer);
            assertTrue(answer.contains("\"too_large\""), answer);
            try (LoadClient c = new LoadClient("127.0.0.1", api.port())) {
                assertEquals(204, c.send("GET", "/lm/health", admin, null), "and the server is fine");
            }
        } finally {
            api.close();
        }
    }

    @Test
    void aChunkedBodyOverTheLimitIs413() throws Exception {
        ApiServer api = server(Duration.ofSeconds(60));
        try (Socket s = new Socket("127.0.0.1", api.port())) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /lm/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            byte[] chunk = new byte[64 * 1024];
            java.util.Arrays.fill(chunk, (byte) ' ');
            try {
                for (int i = 0; i < 80; i++) { // 5 MiB
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            } catch (SocketException e) {
                // the server answered and closed before the rest was sent: its answer is what counts
            }
            byte[] buf = new byte[4096];
            int n = s.getInputStream().read(buf);
            String answer = new String(buf, 0, Math.max(n, 0), StandardCharsets.UTF_8);
            assertTrue(answer.startsWith("HTTP/1.1 413"), answer);
        } finally {
            api.close();
        }
    }

    /**
     * Issue 20 case 4: bodies held at once are bounded (http_body_memory_mib, here 8 MiB): past
     * it an upload is a 503 with Retry-After before its body is read, chunked or not, and what a
     * body held is given back when its request ends, also when its client went away mid-body.
     */
    @Test
    void bodiesHeldAtOnceAreBounded() throws Exception {
        ApiServer api = new ApiServer("127.0.0.1", 0, ApiRoutes.all(ds, auth), auth,
                new lm.http.Limits(Duration.ofSeconds(60), 8L * 1024 * 1024, Duration.ofSeconds(10), 4));
        api.start();
        try {
            Socket first = stalled(api.port(), 4L * 1024 * 1024);
            Socket second = stalled(api.port(), 4L * 1024 * 1024);
            Thread.sleep(300);
            try (Socket third = stalled(api.port(), 100)) {
                third.setSoTimeout(20_000);
                String answer = new String(third.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(answer.startsWith("HTTP/1.1 503"), answer);
                assertTrue(answer.contains("Retry-After: 1") && answer.contains("\"busy\""), answer);
            }
            try (Socket chunked = new Socket("127.0.0.1", api.port())) {
                chunked.setSoTimeout(20_000);
                chunked.getOutputStream().write(("POST /lm/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin
                        + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"na\r\n").getBytes(StandardCharsets.US_ASCII));
                String answer = new String(chunked.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(answer.startsWith("HTTP/1.1 503"), answer);
            }
            try (LoadClient c = new LoadClient("127.0.0.1", api.port())) {
                assertEquals(204, c.send("GET", "/lm/health", admin, null), "bodies held do not hold other requests");
            }
            first.close();
            second.close();
            long deadline = System.nanoTime() + 10_000_000_000L;
            int status;
            do {
                Thread.sleep(100);
                try (LoadClient c = new LoadClient("127.0.0.1", api.port())) {
                    status = c.send("POST", "/lm/products", admin, "{\"name\":\"after-the-stalled-ones\"}");
                }
            } while (status == 503 && System.nanoTime() < deadline);
            assertEquals(201, status, "the memory of the bodies whose clients went away is free again");
        } finally {
            api.close();
        }
    }

    /** -1 at the end of the stream; a reset from the server counts as the same: the connection is gone. */
    private static int readOrReset(InputStream in) throws IOException {
        try {
            int c;
            do {
                c = in.read();
            } while (c >= 0);
            return -1;
        } catch (SocketException e) {
            return -1;
        }
    }
}
