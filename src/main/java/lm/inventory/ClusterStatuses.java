package lm.inventory;

import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Listing;
import lm.http.Reply;
import lm.http.Routes;

/** /lm/cluster_statuses: each agent says "I am alive, expect me every N seconds". */
public final class ClusterStatuses {
    private static final String VIEW = "lm.api_cluster_statuses";
    private static final Listing LIST = new Listing("cluster status", VIEW, List.of("cluster_client_id"),
            Map.of("cluster_client_id", "cluster_client_id", "interval", "interval", "last_reported", "last_reported"));

    private ClusterStatuses() {}

    public static void routes(Routes r, DataSource ds) {
        r.put("/cluster_statuses", "status", "update", c -> {
            String iv = c.param("interval");
            int interval;
            try {
                interval = Integer.parseInt(iv == null ? "" : iv);
            } catch (NumberFormatException e) {
                throw ApiException.badRequest("query parameter interval (seconds, > 0) is required");
            }
            if (interval <= 0) {
                throw ApiException.unprocessable("interval must be > 0");
            }
            Sql.update(ds, "INSERT INTO lm.cluster_statuses (cluster_client_id, interval, last_reported) VALUES (?, ?, now())"
                    + " ON CONFLICT (cluster_client_id) DO UPDATE SET interval = excluded.interval, last_reported = excluded.last_reported",
                    c.cluster(), interval);
            return Reply.status(202);
        });
        r.get("/cluster_statuses", "status", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        r.get("/cluster_statuses/{cluster_client_id}", "status", "read", c -> LIST.one(ds, "cluster_client_id = ?",
                "no status for cluster " + c.param("cluster_client_id"), c.param("cluster_client_id")));
    }
}
