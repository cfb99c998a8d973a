package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ConnectException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import lm.bench.LoadClient;
import lm.testing.ServerProcess;
import lm.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM under load, to a real lm-server process with its embedded PostgreSQL: requests in
 * flight finish, new ones are answered 503 (Retry-After, Connection: close), no connection is
 * reset, no other 5xx, and the process exits 143 in bounded time with PostgreSQL stopped.
 */
class ShutdownTest {
    @TempDir
    Path dir;

    /** One request as a client saw it: when it went out, when its answer came, what it was. */
    record Outcome(long sent, long answered, int status, String code, String retryAfter, String connection, String error) {
        @Override
        public String toString() {
            return error != null ? error : status + " " + code;
        }
    }

    /** Clients that book in a loop, each on a keep-alive connection, waiting Retry-After after a 503 as lm-prolog waits its retry_delay. */
    static final class Load {
        final List<Outcome> outcomes = Collections.synchronizedList(new ArrayList<>());
        private final List<Thread> threads = new ArrayList<>();
        private final AtomicBoolean stop = new AtomicBoolean();

        Load(ServerProcess server, String token, int clients, AtomicLong ids) {
            for (int i = 0; i < clients; i++) {
                Thread t = new Thread(() -> run(server, token, ids), "load-" + i);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }

        private void run(ServerProcess server, String token, AtomicLong ids) {
            LoadClient c = null;
            while (!stop.get()) {
                long sent = System.nanoTime();
                try {
                    if (c == null || !c.isOpen()) {
                        c = new LoadClient("127.0.0.1", server.port());
                    }
                    LoadClient.Response r = c.request("POST", "/lm/jobs", token, Licenses.job(ids.incrementAndGet(), "stop", "a", "b"));
                    String code = r.status() >= 400 ? com.google.gson.JsonParser.parseString(r.body()).getAsJsonObject().get("code").getAsString() : null;
                    outcomes.add(new Outcome(sent, System.nanoTime(), r.status(), code, r.header("Retry-After"), r.header("Connection"), null));
                    if (r.status() == 503) {
                        Thread.sleep(Long.parseLong(r.header("Retry-After")) * 1000);
                    }
                } catch (ConnectException e) {
                    // the listener is closed: the server is gone or about to be
                    outcomes.add(new Outcome(sent, System.nanoTime(), -1, null, null, null, "refused"));
                    return;
                } catch (IOException e) {
                    outcomes.add(new Outcome(sent, System.nanoTime(), -1, null, null, null, "reset: " + e));
                    c = null;
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        void awaitFirstAnswer() throws InterruptedException {
            for (int waited = 0; outcomes.isEmpty() && waited < 30_000; waited += 20) {
                Thread.sleep(20);
            }
        }

        List<Outcome> finish() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(10_000);
            }
            synchronized (outcomes) {
                return List.copyOf(outcomes);
            }
        }
    }

    @Test
    void inFlightRequestsFinishAndNewOnesAre503UntilTheProcessExits() throws Exception {
        try (ServerProcess server = ServerProcess.start(dir, Map.of("shutdown_grace", "10s", "database_lock_timeout", "30s"))) {
            Licenses.setUp(server.embeddedJdbcUrl(), "postgres", server.embeddedPassword(), "stop", "a", "b");
            Load load = new Load(server, server.token("stop", "license-manager:job:create"), 8, new AtomicLong());
            load.awaitFirstAnswer();
            Thread.sleep(1000);
            long signalled;
            long released;
            try (Connection c = DriverManager.getConnection(server.embeddedJdbcUrl(), "postgres", server.embeddedPassword())) {
                // every admission now waits in the database: these are the requests in flight at the signal
                c.setAutoCommit(false);
                try (Statement st = c.createStatement()) {
                    st.execute("LOCK TABLE lm.bookings IN EXCLUSIVE MODE");
                }
                Thread.sleep(300);
                signalled = System.nanoTime();
                server.terminate();
                Thread.sleep(700);
                released = System.nanoTime();
                c.commit();
            }
            int exit = server.waitFor(Duration.ofSeconds(30));
            double seconds = (System.nanoTime() - signalled) / 1e9;
            List<Outcome> all = load.finish();
            assertEquals(143, exit, server.stderrText());
            assertTrue(seconds < 15, "exited " + seconds + " s after SIGTERM");

            List<Outcome> resets = all.stream().filter(o -> o.error() != null && o.error().startsWith("reset")).toList();
            assertEquals(List.of(), resets, "connections reset");
            List<Outcome> wrong = all.stream().filter(o -> o.status() >= 500 && o.status() != 503
                    || o.status() == 503 && o.answered() < signalled || o.status() >= 400 && o.status() < 500).toList();
            assertEquals(List.of(), wrong, "answers other than 201 before the stop and 201/503 after it");
            List<Outcome> held = all.stream().filter(o -> o.sent() < signalled && o.answered() > released).toList();
            assertFalse(held.isEmpty(), "no request was in flight across the signal");
            assertTrue(held.stream().allMatch(o -> o.status() == 201), "in flight at SIGTERM, held by the lock past it, must finish: " + held);
            assertTrue(held.stream().allMatch(o -> "close".equals(o.connection())), "answers after the stop began close their connection: " + held);
            List<Outcome> refused = all.stream().filter(o -> o.status() == 503).toList();
            assertFalse(refused.isEmpty(), "no request was answered 503 while stopping");
            assertTrue(refused.stream().allMatch(o -> "shutting_down".equals(o.code()) && "1".equals(o.retryAfter())
                    && "close".equals(o.connection())), refused.toString());
            System.out.printf("SIGTERM under load: %d answers, %d in flight at the signal finished 201, %d answered 503 while stopping,"
                    + " %d refused after the exit, 0 reset; exited %.1f s after the signal%n",
                    all.size(), held.size(), refused.size(), all.stream().filter(o -> "refused".equals(o.error())).count(), seconds);

            String log = server.stderrText();
            assertTrue(log.contains("lm-server stopping") && log.contains("lm-server stopped"), log);
            assertFalse(log.contains("\tat ") || log.contains("Exception"), log);
            assertFalse(Files.exists(server.stateDir.resolve("pg/postmaster.pid")), "the embedded PostgreSQL was not stopped");
        }
    }

    @Test
    void pastShutdownGraceTheRestAre503AndTheProcessExitsAnyway() throws Exception {
        // an external database (the tests' own): here the pool's close is the point, not PostgreSQL's stop
        String url = TestDatabase.url(TestDatabase.create());
        try (ServerProcess server = ServerProcess.start(dir, Map.of("shutdown_grace", "1s", "database_url", url,
                "database_user", TestDatabase.user(), "database_password", TestDatabase.password(),
                "database_lock_timeout", "60s", "database_statement_timeout", "60s"))) {
            Licenses.setUp(url, TestDatabase.user(), TestDatabase.password(), "stop", "a", "b");
            String token = server.token("stop", "license-manager:job:create");
            Connection lock = DriverManager.getConnection(url, TestDatabase.user(), TestDatabase.password());
            lock.setAutoCommit(false);
            try (Statement st = lock.createStatement()) {
                st.execute("LOCK TABLE lm.bookings IN EXCLUSIVE MODE");
            }
            List<LoadClient.Response> answers = Collections.synchronizedList(new ArrayList<>());
            List<String> errors = Collections.synchronizedList(new ArrayList<>());
            List<Thread> stuck = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                long id = 1000 + i;
                Thread t = new Thread(() -> {
                    try (LoadClient c = new LoadClient("127.0.0.1", server.port())) {
                        answers.add(c.request("POST", "/lm/jobs", token, Licenses.job(id, "stop", "a", "b")));
                    } catch (IOException e) {
                        errors.add(e.toString());
                    }
                });
                t.start();
                stuck.add(t);
            }
            Thread.sleep(1000);
            long signalled = System.nanoTime();
            server.terminate();
            int exit = server.waitFor(Duration.ofSeconds(30));
            double seconds = (System.nanoTime() - signalled) / 1e9;
            for (Thread t : stuck) {
                t.join(10_000);
            }
            closeQuietly(lock);
            assertEquals(143, exit, server.stderrText());
            assertEquals(List.of(), errors, "connections reset");
            assertEquals(4, answers.size());
            for (LoadClient.Response r : answers) {
                assertEquals(503, r.status(), r.body());
                assertEquals("1", r.header("Retry-After"));
            }
            // 1 s of grace, then the pool is closed under them and they answer at once
            assertTrue(seconds < 8, "exited " + seconds + " s after SIGTERM");
            assertTrue(server.stderrText().contains("4 requests still running after shutdown_grace 1s"), server.stderrText());
        }
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close(); // rolls the lock back
        } catch (SQLException e) {
            // already gone
        }
    }
}
