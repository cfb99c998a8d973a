package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import lm.bench.LoadClient;
import lm.testing.ServerProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The embedded PostgreSQL is supervised. Killed (kill -9 of all its processes) under booking
 * load, it is started again by lm-server itself, which books again without a restart; when it
 * cannot start, lm-server exits 69 so that systemd (Restart=on-failure) starts the service
 * again; and a stop meanwhile does not wait shutdown_grace for connections that cannot come.
 * Before, lm-server answered 503 for ever and a SIGTERM waited out its grace.
 */
class EmbeddedRestartTest {
    private static final int CLIENTS = 8;

    @TempDir
    Path dir;

    @Test
    void killedDatabaseIsRestartedUnderLoad() throws Exception {
        try (ServerProcess server = ServerProcess.start(dir, Map.of());
                Load load = Load.start(server, "restart")) {
            load.awaitBookings(50);
            long postmaster = server.postmasterPid();
            ServerProcess.kill9(server.postgresPids());
            long killedAt = System.nanoTime();
            long before = load.booked.get();
            for (int i = 0; i < 600 && (load.booked.get() <= before + 20 || server.postmasterPid() == postmaster); i++) {
                Thread.sleep(100);
            }
            assertTrue(load.booked.get() > before + 20, "bookings again after the kill:\n" + server.stderrText());
            assertTrue(server.isAlive(), "the same lm-server");
            assertTrue(server.stderrText().contains("embedded PostgreSQL restarted"), server.stderrText());
            System.out.printf("embedded restart: bookings again %.1f s after kill -9 of PostgreSQL%n", (System.nanoTime() - killedAt) / 1e9);
            assertEquals(0, load.otherThan201And503.get(), "answers other than 201 and 503");
        }
    }

    @Test
    void databaseThatCannotStartEndsTheServerAndAStopDoesNotWaitForIt() throws Exception {
        // 30 s of grace: a stop that waited for the dead database's connections would show
        try (ServerProcess server = ServerProcess.start(dir, Map.of("shutdown_grace", "30s"));
                Load load = Load.start(server, "dead")) {
            load.awaitBookings(50);
            // PostgreSQL reads PG_VERSION at start only: the running one goes on, a new one refuses
            Files.delete(server.stateDir.resolve("pg/PG_VERSION"));
            ServerProcess.kill9(server.postgresPids());
            Thread.sleep(2_500);
            assertTrue(server.isAlive(), "still trying to restart PostgreSQL:\n" + server.stderrText());
            long t0 = System.nanoTime();
            server.terminate();
            int exit = server.waitFor(Duration.ofSeconds(30));
            double took = (System.nanoTime() - t0) / 1e9;
            assertEquals(143, exit, server.stderrText());
            assertTrue(took < 4, "the stop took " + took + " s waiting for a database that is gone:\n" + server.stderrText());
        }
    }

    @Test
    void databaseThatCannotRestartExits69() throws Exception {
        try (ServerProcess server = ServerProcess.start(dir, Map.of())) {
            Files.delete(server.stateDir.resolve("pg/PG_VERSION"));
            ServerProcess.kill9(server.postgresPids());
            int exit = server.waitFor(Duration.ofSeconds(120));
            assertEquals(69, exit, server.stderrText());
            assertTrue(server.stderrText().contains("did not start again after 5 attempts"), server.stderrText());
        }
    }

    /** Clients booking through the server as fast as it answers. */
    private static final class Load implements AutoCloseable {
        final AtomicLong booked = new AtomicLong();
        final AtomicLong otherThan201And503 = new AtomicLong();
        private final AtomicBoolean stop = new AtomicBoolean();
        private final List<Thread> threads = new ArrayList<>();

        static Load start(ServerProcess server, String cluster) throws Exception {
            Licenses.setUp(server.embeddedJdbcUrl(), "postgres", server.embeddedPassword(), cluster, "a", "b");
            String token = server.token(cluster, "license-manager:job:create");
            Load l = new Load();
            AtomicLong ids = new AtomicLong();
            for (int i = 0; i < CLIENTS; i++) {
                Thread t = new Thread(() -> {
                    LoadClient c = null;
                    while (!l.stop.get()) {
                        try {
                            if (c == null || !c.isOpen()) {
                                c = new LoadClient("127.0.0.1", server.port());
                            }
                            int status = c.send("POST", "/lm/jobs", token, Licenses.job(ids.incrementAndGet(), cluster, "a", "b"));
                            if (status == 201) {
                                l.booked.incrementAndGet();
                            } else if (status != 503) {
                                l.otherThan201And503.incrementAndGet();
                            }
                        } catch (IOException e) {
                            c = null;
                            try {
                                Thread.sleep(50);
                            } catch (InterruptedException stopped) {
                                return;
                            }
                        }
                    }
                }, "restart-client-" + i);
                t.setDaemon(true);
                l.threads.add(t);
                t.start();
            }
            return l;
        }

        void awaitBookings(long n) throws InterruptedException {
            for (int waited = 0; booked.get() < n && waited < 60_000; waited += 50) {
                Thread.sleep(50);
            }
            assertTrue(booked.get() >= n, "too little load: " + booked.get());
        }

        @Override
        public void close() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(10_000);
            }
        }
    }
}
