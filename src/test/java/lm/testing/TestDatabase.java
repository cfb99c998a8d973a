package lm.testing;

import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicInteger;
import lm.db.Database;
import lm.db.EmbeddedBinaries;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * One real PostgreSQL per test JVM (Testcontainers where Docker exists, else Zonky's embedded
 * server), migrated once into a template; each test class gets a fresh database copied from it,
 * which takes milliseconds instead of a migration run.
 */
public final class TestDatabase {
    private static final AtomicInteger SEQ = new AtomicInteger();
    private static String host;
    private static int port;
    private static String user;
    private static String password;

    private TestDatabase() {}

    private static synchronized void start() throws IOException, SQLException {
        if (host != null) {
            return;
        }
        if (dockerAvailable()) {
            PostgreSQLContainer c = new PostgreSQLContainer("postgres:15-alpine")
                    .withCommand("postgres", "-c", "fsync=off", "-c", "max_connections=400");
            c.start();
            host = c.getHost();
            port = c.getFirstMappedPort();
            user = c.getUsername();
            password = c.getPassword();
        } else {
            // Zonky's default, $TMPDIR/embedded-pg, is a directory anyone may prepare first (issue 20)
            Path binaries = Path.of(System.getProperty("lm.project.dir", System.getProperty("user.dir")), "target", "embedded-pg");
            EmbeddedPostgres pg = EmbeddedBinaries.builder(binaries)
                    // test speed only: losing this data on a crash costs nothing (lm-server's own
                    // embedded database turns both on: lm.db.Database, lm.server.CrashTest)
                    .setServerConfig("fsync", "off")
                    .setServerConfig("synchronous_commit", "off")
                    .setServerConfig("full_page_writes", "off")
                    .setServerConfig("max_connections", "400")
                    // statistics as a long-running site has them: with none, generic plans made
                    // while a table was empty stay bad as it grows (the bench's pgbench went from
                    // 1,300 to 150 admissions/s until autoanalyze ran, a minute later by default)
                    .setServerConfig("autovacuum_naptime", "1s")
                    .start();
            host = "localhost";
            port = pg.getPort();
            user = "postgres";
            password = "";
        }
        try (Connection c = DriverManager.getConnection(url("postgres"), user, password); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE lm_template");
        }
        Database.migrate(url("lm_template"), user, password);
    }

    private static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (Throwable t) {
            return false;
        }
    }

    public static String url(String db) {
        return "jdbc:postgresql://" + host + ":" + port + "/" + db;
    }

    public static String user() {
        return user;
    }

    public static String password() {
        return password;
    }

    /** A new migrated database; returns its name. */
    public static String create() {
        try {
            start();
            String name = "t" + ProcessHandle.current().pid() + "_" + SEQ.incrementAndGet();
            try (Connection c = DriverManager.getConnection(url("postgres"), user, password); Statement s = c.createStatement()) {
                s.execute("CREATE DATABASE " + name + " TEMPLATE lm_template");
            }
            return name;
        } catch (IOException | SQLException e) {
            throw new IllegalStateException("test database: " + e.getMessage(), e);
        }
    }

    /** A pool on a new migrated database. */
    public static HikariDataSource pool(int size) {
        return Database.pool(url(create()), user, password, size);
    }
}
