package lm.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * The connection pool, the migrations, and (when no database_url is set) the embedded
 * PostgreSQL that `make run` and single-host sites use.
 */
public final class Database implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger("lm.db");

    private final HikariDataSource pool;
    private final EmbeddedPostgres embedded;

    private Database(HikariDataSource pool, EmbeddedPostgres embedded) {
        this.pool = pool;
        this.embedded = embedded;
    }

    public DataSource dataSource() {
        return pool;
    }

    /** Port of the embedded PostgreSQL, or -1 when an external database is used. */
    public int embeddedPort() {
        return embedded == null ? -1 : embedded.getPort();
    }

    /**
     * Connects to {@code url} (or starts the embedded PostgreSQL with its data in
     * {@code embeddedDir} when url is null), applies the migrations and opens the pool.
     */
    public static Database open(String url, String user, String password, int poolSize, Path embeddedDir) throws IOException {
        EmbeddedPostgres embedded = null;
        if (url == null) {
            Files.createDirectories(embeddedDir);
            // Zonky wraps initdb/postgres in `unshare -U` when run as root, which PostgreSQL refuses.
            // The data directory is kept across restarts: it is the site's database.
            embedded = EmbeddedPostgres.builder()
                    .setDataDirectory(embeddedDir)
                    .setCleanDataDirectory(false)
                    .setServerConfig("listen_addresses", "127.0.0.1")
                    .start();
            url = embedded.getJdbcUrl("postgres", "postgres");
            user = "postgres";
            password = "";
            LOG.info("embedded PostgreSQL in " + embeddedDir + " on port " + embedded.getPort()
                    + " (psql -h 127.0.0.1 -p " + embedded.getPort() + " -U postgres)");
        }
        migrate(url, user, password);
        return new Database(pool(url, user, password, poolSize), embedded);
    }

    /** Applies src/main/sql (shipped as classpath:db/migration) with Flyway. */
    public static void migrate(String url, String user, String password) {
        Flyway.configure()
                .dataSource(url, user, password)
                .locations("classpath:db/migration")
                .schemas("lm")
                // repeatable files (R__) are the current code and may be split or renamed: one
                // applied under an old name is superseded, not an error (versioned V files never change)
                .ignoreMigrationPatterns("*:future", "repeatable:missing")
                .load()
                .migrate();
    }

    public static HikariDataSource pool(String url, String user, String password, int size) {
        HikariConfig hc = new HikariConfig();
        hc.setJdbcUrl(url);
        hc.setUsername(user);
        hc.setPassword(password);
        hc.setMaximumPoolSize(size);
        hc.setMinimumIdle(Math.min(2, size));
        hc.setPoolName("lm");
        // fail fast so a request gets a 503 while the database is down instead of hanging
        hc.setConnectionTimeout(5_000);
        hc.setInitializationFailTimeout(-1);
        hc.addDataSourceProperty("ApplicationName", "lm-server");
        return new HikariDataSource(hc);
    }

    @Override
    public void close() {
        pool.close();
        if (embedded != null) {
            try {
                embedded.close();
            } catch (IOException e) {
                LOG.warning("stopping embedded PostgreSQL: " + e.getMessage());
            }
        }
    }
}
