package lm.booking;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import javax.sql.DataSource;

/** Test fixtures written straight in SQL: configurations, features and their counts. */
final class Pools {
    private final DataSource ds;

    Pools(DataSource ds) {
        this.ds = ds;
    }

    long one(String sql, Object... params) {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    long product(String name) {
        return one("INSERT INTO lm.products (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id", name);
    }

    /** A configuration of {@code cluster} on server host:port, grace in seconds. */
    long config(String cluster, String name, String host, int port, int grace) {
        long id = one("INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type) VALUES (?, ?, ?, 'flexlm') RETURNING id",
                name, cluster, grace);
        one("INSERT INTO lm.license_servers (config_id, host, port) VALUES (?, ?, ?) RETURNING id", id, host, port);
        return id;
    }

    /** A feature whose counts the license server reported at {@code reportedAt}. */
    long feature(long config, String product, String name, long total, long used, long reserved, Timestamp reportedAt) {
        return one("INSERT INTO lm.features (config_id, product_id, name, total, used, reserved, reported_at)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", config, product(product), name, total, used, reserved, reportedAt);
    }

    /** Licenses the feature's pool has booked at {@code t} (bookings past their grace excluded). */
    long activeBooked(long feature, Timestamp t) {
        return one("SELECT booked FROM lm.pool_state(?, ?)", feature, t);
    }

    long available(long feature, Timestamp t) {
        return one("SELECT available FROM lm.pool_state(?, ?)", feature, t);
    }

    /**
     * The wall clock, for tests that go through lm-server: the server stamps bookings with the
     * database's now(), so these tests read the pool at the same clock, never at a fixed date.
     */
    static Timestamp wallClock() {
        return new Timestamp(System.currentTimeMillis());
    }
}
