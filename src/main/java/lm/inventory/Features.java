package lm.inventory;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Body;
import lm.http.Json;
import lm.http.Listing;
import lm.http.Reply;
import lm.http.Routes;

/** /lm/features: a product's feature as served by one configuration, with its live counts. */
public final class Features {
    private static final String VIEW = "lm.api_features";
    private static final Listing LIST = new Listing("feature", VIEW, List.of("name", "product_name"), Map.ofEntries(
            Map.entry("id", "id"), Map.entry("name", "lower(name)"), Map.entry("product_id", "product_id"),
            Map.entry("product_name", "lower(product_name)"), Map.entry("config_id", "config_id"), Map.entry("reserved", "reserved"),
            Map.entry("total", "total"), Map.entry("used", "used"), Map.entry("booked_total", "booked_total"),
            Map.entry("share", "share"), Map.entry("max_use", "max_use"),
            Map.entry("expires_at", "expires_at")));

    private Features() {}

    public static void routes(Routes r, DataSource ds) {
        r.post("/features", "feature", "create", c -> {
            Body b = c.object("feature").allow("name", "product_id", "config_id", "reserved", "share", "max_use");
            Long reserved = b.optInteger("reserved");
            Integer share = b.optInt32("share");
            long config = b.integer("config_id");
            return Writes.createIn(ds, c.actor(), VIEW, "configuration " + config,
                    "INSERT INTO lm.features (name, product_id, config_id, reserved, share, max_use)"
                            + " SELECT ?, ?, ?, ?, ?, ? WHERE lm.config_in_scope(?, ?) RETURNING id",
                    b.string("name"), b.integer("product_id"), config, reserved == null ? 0L : reserved,
                    share == null ? 1 : share, b.optInteger("max_use"), c.clusterScope(), config);
        });
        r.get("/features", "feature", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        // the agent's report of its license servers: every item must be a feature of the caller's cluster
        r.put("/features/bulk", "feature", "update", c -> {
            JsonElement e = c.json();
            if (!e.isJsonArray()) {
                throw ApiException.badRequest("body must be a JSON array of {product_name, feature_name, total, used[, expires_at, expiring]}");
            }
            JsonArray items = new JsonArray();
            int i = 0;
            for (JsonElement x : e.getAsJsonArray()) {
                items.add(reportItem(new Body(x, "item[" + i++ + "]")));
            }
            return bulk(ds, c.cluster(), items);
        });
        r.put("/features/by_client_id", "feature", "update", c -> {
            JsonArray items = new JsonArray();
            items.add(reportItem(c.object("feature")));
            return bulk(ds, c.cluster(), items);
        });
        r.get("/features/{id}", "feature", "read", c -> LIST.one(ds, c.id("id", "feature")));
        r.put("/features/{id}", "feature", "update", c -> {
            long id = c.id("id", "feature");
            Body b = c.object("feature").allow("name", "product_id", "config_id", "reserved", "total", "used", "share", "max_use",
                    Expiry.EXPIRES_AT, Expiry.EXPIRING);
            JsonObject expiry = new JsonObject();
            Expiry.copy(b, expiry);
            Long total = b.optInteger("total");
            Long used = b.optInteger("used");
            boolean reading = total != null || used != null;
            return Writes.update(ds, c.actor(), VIEW, "feature", id,
                    "UPDATE lm.features SET name = coalesce(?, name), product_id = coalesce(?, product_id),"
                            + " config_id = coalesce(?, config_id), reserved = coalesce(?, reserved),"
                            + " total = coalesce(?, total), used = coalesce(?, used), share = coalesce(?, share),"
                            // "max_use": null lifts the limit
                            + " max_use = CASE WHEN ? THEN NULL ELSE coalesce(?, max_use) END,"
                            // the expiry as given, a field left out keeps its value (see Expiry)
                            + " expires_at = CASE WHEN ?::jsonb -> 'expires_at' IS NULL THEN expires_at ELSE (?::jsonb ->> 'expires_at')::date END,"
                            + " expiring = CASE WHEN ?::jsonb -> 'expires_at' IS NULL THEN expiring ELSE (?::jsonb ->> 'expiring')::bigint END,"
                            // counts set by hand are a reading: without an agent, a site keeps them
                            // trusted with a large outage_grace (lm-server(8), outage policy)
                            + " reported_at = CASE WHEN ? THEN now() ELSE reported_at END,"
                            + " failed_at = CASE WHEN ? THEN NULL ELSE failed_at END WHERE id = ?"
                            // a cluster changes its own features only, and can't move one to another
                            // cluster's configuration (NULL scope: admin); else "not found"
                            + " AND lm.config_in_scope(?, config_id) AND lm.config_in_scope(?, coalesce(?, config_id)) RETURNING id",
                    b.optString("name"), b.optInteger("product_id"), b.optInteger("config_id"), b.optInteger("reserved"),
                    total, used, b.optInt32("share"), b.isNull("max_use"), b.optInteger("max_use"),
                    expiry.toString(), expiry.toString(), expiry.toString(), expiry.toString(), reading, reading, id, c.clusterScope(), c.clusterScope(), b.optInteger("config_id"));
        });
        r.delete("/features/{id}", "feature", "delete", c -> Writes.deleteInUse(ds, c.actor(), c.clusterScope(), "feature", c.id("id", "feature"), c.flag("force")));
    }

    private static JsonObject reportItem(Body b) {
        b.allow("product_name", "feature_name", "total", "used", Expiry.EXPIRES_AT, Expiry.EXPIRING);
        JsonObject o = new JsonObject();
        o.addProperty("product_name", b.string("product_name"));
        o.addProperty("feature_name", b.string("feature_name"));
        long total = b.integer("total");
        long used = b.integer("used");
        if (total < 0 || used < 0) {
            throw ApiException.unprocessable("total and used must not be negative");
        }
        o.addProperty("total", total);
        o.addProperty("used", used);
        Expiry.copy(b, o);
        return o;
    }

    private static Reply bulk(DataSource ds, String cluster, JsonArray items) throws java.sql.SQLException {
        String n = Sql.text(ds, "SELECT lm.update_features_bulk(?, ?::jsonb)", cluster, Json.GSON.toJson(items));
        return Reply.ok("{\"updated\":" + n + "}");
    }
}
