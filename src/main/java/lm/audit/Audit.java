package lm.audit;

import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.http.Listing;
import lm.http.Routes;

/**
 * /lm/audit: the audit trail, read only (written by SQL, R__audit.sql). Its permission,
 * license-manager:audit:read, is in no role but admin: the rows name people (sub).
 */
public final class Audit {
    private static final String VIEW = "lm.api_audit";
    // the JSON of the rows is searched too: "abaqus" finds every change that touched it
    private static final Listing LIST = new Listing("audit event", VIEW,
            List.of("sub", "cluster_client_id", "db_user", "route", "table_name", "operation", "old::text", "new::text"),
            Map.of("id", "id", "at", "at", "sub", "sub", "cluster_client_id", "cluster_client_id", "db_user", "db_user",
                    "route", "route", "table_name", "table_name", "operation", "operation", "row_id", "row_id"));

    private Audit() {}

    public static void routes(Routes r, DataSource ds) {
        r.get("/audit", "audit", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        r.get("/audit/{id}", "audit", "read", c -> LIST.one(ds, c.id("id", "audit event")));
    }
}
