package lm.server;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import javax.sql.DataSource;
import lm.audit.Audit;
import lm.auth.Authenticator;
import lm.booking.AgentReport;
import lm.booking.Bookings;
import lm.booking.Jobs;
import lm.booking.Offline;
import lm.http.Reply;
import lm.http.Routes;
import lm.inventory.ClusterStatuses;
import lm.inventory.Configurations;
import lm.inventory.Features;
import lm.inventory.LicenseServers;
import lm.inventory.Products;
import lm.shares.PoolDistribution;
import lm.shares.ProjectShares;

/** Every route of the API, feature by feature. */
public final class ApiRoutes {
    private ApiRoutes() {}

    public static Routes all(DataSource ds, Authenticator auth) {
        Routes r = new Routes();
        // health includes the database: a load balancer should skip an instance that can't reach
        // it, or that reaches only a standby (SELECT 1 called a read-only standby healthy): 503
        // with code database_unavailable or database_read_only (lm.http.SqlErrors)
        r.open("GET", "/health", c -> {
            try (java.sql.Connection con = ds.getConnection()) {
                if (lm.db.Database.readOnly(con)) {
                    throw new java.sql.SQLException("the database is read-only", "25006");
                }
            }
            return Reply.status(204);
        });
        r.open("GET", "/version", c -> Reply.ok("{\"version\":\"" + version() + "\"}"));
        String openapi = resource("lm/openapi.json");
        r.open("GET", "/openapi.json", c -> Reply.ok(openapi));
        Configurations.routes(r, ds);
        LicenseServers.routes(r, ds);
        Products.routes(r, ds);
        Features.routes(r, ds);
        ClusterStatuses.routes(r, ds);
        // one per server (its counters are this instance's)
        lm.metrics.Metrics metrics = new lm.metrics.Metrics(java.time.Clock.systemUTC());
        metrics.routes(r, ds);
        Jobs.routes(r, ds, metrics);
        Bookings.routes(r, ds);
        AgentReport.routes(r, ds);
        ProjectShares.routes(r, ds);
        PoolDistribution.routes(r, ds);
        lm.usage.UsageReports.routes(r, ds, java.time.Clock.systemUTC());
        lm.usage.ExpiryReport.routes(r, ds, java.time.Clock.systemUTC());
        Offline.routes(r, ds);
        lm.history.History.routes(r, ds);
        PrologToken.routes(r, auth);
        Audit.routes(r, ds);
        lm.ui.Web.routes(r, auth.settings());
        return r;
    }

    public static String version() {
        Properties p = new Properties();
        try (InputStream in = ApiRoutes.class.getClassLoader().getResourceAsStream("lm/version.properties")) {
            p.load(in);
        } catch (IOException | NullPointerException e) {
            return "unknown";
        }
        return p.getProperty("version", "unknown");
    }

    public static String resource(String name) {
        try (InputStream in = ApiRoutes.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("reading resource " + name, e);
        }
    }
}
