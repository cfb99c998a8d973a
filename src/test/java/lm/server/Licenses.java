package lm.server;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;

/** Inventory for the tests that run lm-server as a process: one configuration, features that never run out. */
final class Licenses {
    private Licenses() {}

    /** Product {@code cluster}, configuration {@code cluster} of that cluster, the features with 10^9 licenses each. */
    static void setUp(String jdbcUrl, String user, String password, String cluster, String... features) throws SQLException {
        try (Connection c = DriverManager.getConnection(jdbcUrl, user, password)) {
            c.setAutoCommit(false);
            try (PreparedStatement p = c.prepareStatement("INSERT INTO lm.products (name) VALUES (?)");
                    PreparedStatement conf = c.prepareStatement(
                            "INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES (?, ?, 600, 'flexlm')");
                    PreparedStatement server = c.prepareStatement(
                            "INSERT INTO lm.license_servers (config_id, host, port) SELECT id, 'lic.example.org', 27000 FROM lm.configurations WHERE name = ?");
                    PreparedStatement f = c.prepareStatement("INSERT INTO lm.features (name, product_id, config_id, total, reported_at)"
                            + " SELECT unnest(?::text[]), p.id, c.id, 1000000000, now() FROM lm.products p, lm.configurations c"
                            + " WHERE p.name = ? AND c.name = ?")) {
                p.setString(1, cluster);
                p.executeUpdate();
                conf.setString(1, cluster);
                conf.setString(2, cluster);
                conf.executeUpdate();
                server.setString(1, cluster);
                server.executeUpdate();
                f.setArray(1, c.createArrayOf("text", features));
                f.setString(2, cluster);
                f.setString(3, cluster);
                f.executeUpdate();
            }
            c.commit();
        }
    }

    /** A POST /lm/jobs body booking 1 of the first feature and 2 of the second. */
    static String job(long id, String cluster, String first, String second) {
        return "{\"slurm_job_id\":\"" + id + "\",\"username\":\"u\",\"lead_host\":\"n01\",\"bookings\":["
                + "{\"product_feature\":\"" + cluster + "." + first + "\",\"quantity\":1},"
                + "{\"product_feature\":\"" + cluster + "." + second + "\",\"quantity\":2}]}";
    }
}
