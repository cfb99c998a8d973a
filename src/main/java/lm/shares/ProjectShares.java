package lm.shares;

import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Body;
import lm.http.Listing;
import lm.http.Reply;
import lm.http.Routes;

/**
 * /lm/project_shares: a Slurm account's share (and max_use) inside one cluster's feature of a pool
 * (R__booking_1_shares.sql). Writes check the caller's cluster in SQL (lm.config_in_scope of the
 * feature's configuration): another cluster's feature or share is "not found" unless admin.
 */
public final class ProjectShares {
    private static final String VIEW = "lm.api_project_shares";
    private static final Listing LIST = new Listing("project share", VIEW, List.of("account", "cluster_client_id"), Map.of(
            "id", "id", "feature_id", "feature_id", "account", "lower(account)", "share", "share", "max_use", "max_use",
            "cluster_client_id", "lower(cluster_client_id)"));
    /** The feature's configuration is the caller's cluster's (NULL scope: admin). */
    private static final String IN_SCOPE = "lm.config_in_scope(?, (SELECT f.config_id FROM lm.features f WHERE f.id = feature_id))";

    private ProjectShares() {}

    public static void routes(Routes r, DataSource ds) {
        r.post("/project_shares", "project-share", "create", c -> {
            Body b = c.object("project share").allow("feature_id", "account", "share", "max_use");
            long feature = b.integer("feature_id");
            Integer share = b.optInt32("share");
            return write(ds, c.actor(), 201, "feature " + feature + " not found",
                    "INSERT INTO lm.project_shares (feature_id, account, share, max_use) SELECT ?, ?, ?, ?"
                            + " WHERE lm.config_in_scope(?, (SELECT f.config_id FROM lm.features f WHERE f.id = ?)) RETURNING id",
                    feature, b.string("account"), share == null ? 1 : share, b.optInteger("max_use"), c.clusterScope(), feature);
        });
        r.get("/project_shares", "project-share", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        r.get("/project_shares/{id}", "project-share", "read", c -> LIST.one(ds, c.id("id", "project share")));
        r.put("/project_shares/{id}", "project-share", "update", c -> {
            long id = c.id("id", "project share");
            Body b = c.object("project share").allow("account", "share", "max_use");
            return write(ds, c.actor(), 200, "project share " + id + " not found",
                    "UPDATE lm.project_shares SET account = coalesce(?, account), share = coalesce(?, share),"
                            // "max_use": null lifts the limit
                            + " max_use = CASE WHEN ? THEN NULL ELSE coalesce(?, max_use) END WHERE id = ? AND " + IN_SCOPE + " RETURNING id",
                    b.optString("account"), b.optInt32("share"), b.isNull("max_use"), b.optInteger("max_use"), id, c.clusterScope());
        });
        r.delete("/project_shares/{id}", "project-share", "delete", c -> {
            long id = c.id("id", "project share");
            if (Sql.tx(ds, c.actor(), tx -> Sql.text(tx, "DELETE FROM lm.project_shares WHERE id = ? AND " + IN_SCOPE + " RETURNING id",
                    id, c.clusterScope())) == null) {
                throw ApiException.notFound("project share " + id + " not found");
            }
            return Reply.ok("{\"message\":\"project share " + id + " deleted\"}");
        });
    }

    /** One write returning the row's id (none: {@code notFound}), then the row as the view shows it. */
    private static Reply write(DataSource ds, lm.db.Actor actor, int status, String notFound, String sql, Object... params)
            throws SQLException {
        String j = Sql.tx(ds, actor, c -> {
            String id = Sql.text(c, sql, params);
            return id == null ? null : Sql.text(c, "SELECT j FROM " + VIEW + " WHERE id = ?", Long.parseLong(id));
        });
        if (j == null) {
            throw ApiException.notFound(notFound);
        }
        return new Reply(status, j, null);
    }
}
