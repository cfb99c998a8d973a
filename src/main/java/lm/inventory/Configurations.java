package lm.inventory;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.http.Body;
import lm.http.Json;
import lm.http.Listing;
import lm.http.Routes;

/** /lm/configurations: a cluster's license-server configuration, with its servers and features. */
public final class Configurations {
    private static final String VIEW = "lm.api_configurations";
    private static final Listing LIST = new Listing("configuration", VIEW, List.of("name", "cluster_client_id", "type"), Map.of(
            "id", "id", "name", "lower(name)", "cluster_client_id", "lower(cluster_client_id)", "grace_time", "grace_time", "type", "type", "outage_grace", "outage_grace"));

    private Configurations() {}

    public static void routes(Routes r, DataSource ds) {
        r.post("/configurations", "config", "create", c -> {
            Body b = c.object("configuration").allow("name", "cluster_client_id", "grace_time", "type", "outage_grace", "features", "license_servers");
            JsonObject o = new JsonObject();
            o.addProperty("name", b.string("name"));
            o.addProperty("cluster_client_id", b.string("cluster_client_id"));
            o.addProperty("grace_time", b.optInt32("grace_time"));
            o.addProperty("type", b.string("type"));
            o.addProperty("outage_grace", b.optInt32("outage_grace"));
            JsonArray servers = new JsonArray();
            for (Body s : nonNull(b.optObjects("license_servers"))) {
                s.allow("host", "port");
                JsonObject x = new JsonObject();
                x.addProperty("host", s.string("host"));
                x.addProperty("port", s.int32("port"));
                servers.add(x);
            }
            o.add("license_servers", servers);
            JsonArray features = new JsonArray();
            for (Body f : nonNull(b.optObjects("features"))) {
                f.allow("name", "product_id", "reserved", "share", "max_use");
                JsonObject x = new JsonObject();
                x.addProperty("name", f.string("name"));
                x.addProperty("product_id", f.integer("product_id"));
                x.addProperty("reserved", f.optInteger("reserved"));
                x.addProperty("share", f.optInt32("share"));
                x.addProperty("max_use", f.optInteger("max_use"));
                features.add(x);
            }
            o.add("features", features);
            // a cluster creates configurations of its own only (lm.require_cluster: 403)
            return Writes.create(ds, c.actor(), VIEW, "SELECT lm.create_configuration(?::jsonb) WHERE lm.require_cluster(?, ?)",
                    Json.GSON.toJson(o), c.clusterScope(), b.string("cluster_client_id"));
        });
        r.get("/configurations", "config", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        // the agent's view: only the caller's own cluster
        r.get("/configurations/by_client_id", "config", "read", c -> LIST.list(ds, c.listQuery(LIST), "cluster_client_id = ?", c.cluster()));
        r.get("/configurations/{id}", "config", "read", c -> LIST.one(ds, c.id("id", "configuration")));
        r.put("/configurations/{id}", "config", "update", c -> {
            long id = c.id("id", "configuration");
            Body b = c.object("configuration").allow("name", "cluster_client_id", "grace_time", "type", "outage_grace");
            return Writes.update(ds, c.actor(), VIEW, "configuration", id,
                    "UPDATE lm.configurations SET name = coalesce(?, name), cluster_client_id = coalesce(?, cluster_client_id),"
                            + " grace_time = coalesce(?, grace_time), type = coalesce(?, type), outage_grace = coalesce(?, outage_grace)"
                            // another cluster's is not found, and none moves to another cluster
                            + " WHERE id = ? AND lm.config_in_scope(?, id) AND lm.cluster_in_scope(?, coalesce(?, cluster_client_id)) RETURNING id",
                    b.optString("name"), b.optString("cluster_client_id"), b.optInt32("grace_time"), b.optString("type"),
                    b.optInt32("outage_grace"), id, c.clusterScope(), c.clusterScope(), b.optString("cluster_client_id"));
        });
        r.delete("/configurations/{id}", "config", "delete",
                c -> Writes.deleteInUse(ds, c.actor(), c.clusterScope(), "configuration", c.id("id", "configuration"), c.flag("force")));
    }

    private static List<Body> nonNull(List<Body> l) {
        return l == null ? List.of() : l;
    }

}
