package lm.inventory;

import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.http.Body;
import lm.http.Json;
import lm.http.Listing;
import lm.http.Reply;
import lm.http.Routes;

/** /lm/license_servers: host and port of each server of a configuration, tried in id order. */
public final class LicenseServers {
    static final List<String> TYPES = List.of("flexlm", "rlm", "lsdyna", "lmx", "olicense", "dsls");
    private static final String VIEW = "lm.api_license_servers";
    private static final Listing LIST = new Listing("license server", VIEW, List.of("host"),
            Map.of("id", "id", "config_id", "config_id", "host", "lower(host)", "port", "port"));

    private LicenseServers() {}

    public static void routes(Routes r, DataSource ds) {
        r.get("/license_servers/types", "license-server", "read", c -> Reply.ok(Json.GSON.toJson(TYPES)));
        r.post("/license_servers", "license-server", "create", c -> {
            Body b = c.object("license server").allow("config_id", "host", "port");
            long config = b.integer("config_id");
            return Writes.createIn(ds, c.actor(), VIEW, "configuration " + config,
                    "INSERT INTO lm.license_servers (config_id, host, port) SELECT ?, ?, ? WHERE lm.config_in_scope(?, ?) RETURNING id",
                    config, b.string("host"), b.int32("port"), c.clusterScope(), config);
        });
        r.get("/license_servers", "license-server", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        r.get("/license_servers/{id}", "license-server", "read", c -> LIST.one(ds, c.id("id", "license server")));
        r.put("/license_servers/{id}", "license-server", "update", c -> {
            long id = c.id("id", "license server");
            Body b = c.object("license server").allow("config_id", "host", "port");
            return Writes.update(ds, c.actor(), VIEW, "license server", id,
                    "UPDATE lm.license_servers SET config_id = coalesce(?, config_id), host = coalesce(?, host), port = coalesce(?, port)"
                            // another cluster's is not found, and none moves to another cluster's configuration
                            + " WHERE id = ? AND lm.config_in_scope(?, config_id) AND lm.config_in_scope(?, coalesce(?, config_id)) RETURNING id",
                    b.optInteger("config_id"), b.optString("host"), b.optInt32("port"), id, c.clusterScope(), c.clusterScope(),
                    b.optInteger("config_id"));
        });
        r.delete("/license_servers/{id}", "license-server", "delete",
                c -> Writes.deleteInUse(ds, c.actor(), c.clusterScope(), "license server", c.id("id", "license server"), c.flag("force")));
    }
}
