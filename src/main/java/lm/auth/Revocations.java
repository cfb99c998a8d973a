package lm.auth;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * The revoked tokens of lm.revoked_tokens, reread at most every {@link #REFRESH_MILLIS}: a
 * revocation takes effect on every lm-server instance within that time, and a request costs a
 * lookup in memory, not a query.
 */
public final class Revocations {
    private static final Logger LOG = Logger.getLogger("lm.auth");
    static final long REFRESH_MILLIS = 5_000;

    private record Snapshot(Set<String> jtis, Map<String, Long> clientsUpTo, long loadedAt) {}

    private final DataSource ds;
    private final LongSupplier millis;
    private volatile Snapshot snapshot;

    public Revocations(DataSource ds, LongSupplier millis) {
        this.ds = ds;
        this.millis = millis;
    }

    /**
     * True when the token {@code jti} (may be null) of {@code clientId} (may be null), issued at
     * {@code issuedAt} (epoch seconds, or null), is revoked. A token without iat is revoked with
     * its client, since nothing shows it is newer than the revocation.
     */
    boolean revoked(String jti, String clientId, Long issuedAt) {
        Snapshot s = current();
        if (jti != null && s.jtis.contains(jti)) {
            return true;
        }
        Long upTo = clientId == null ? null : s.clientsUpTo.get(clientId);
        return upTo != null && (issuedAt == null || issuedAt <= upTo);
    }

    private Snapshot current() {
        Snapshot s = snapshot;
        long now = millis.getAsLong();
        if (s != null && now - s.loadedAt < REFRESH_MILLIS) {
            return s;
        }
        synchronized (this) {
            s = snapshot;
            if (s != null && now - s.loadedAt < REFRESH_MILLIS) {
                return s;
            }
            try {
                snapshot = s = load(now);
            } catch (SQLException e) {
                if (s == null) {
                    // nothing known yet: refuse rather than let a revoked token through
                    throw new AuthException(503, "cannot check revoked tokens: database unavailable");
                }
                // keep what we had (the requests themselves will hit the same outage), try again later
                LOG.warning("auth: rereading lm.revoked_tokens failed: " + e.getMessage());
                snapshot = s = new Snapshot(s.jtis, s.clientsUpTo, now);
            }
            return s;
        }
    }

    private Snapshot load(long now) throws SQLException {
        Set<String> jtis = new HashSet<>();
        Map<String, Long> clients = new HashMap<>();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT jti, client_id, floor(extract(epoch FROM revoked_at))::bigint"
                     + " FROM lm.revoked_tokens")) {
            while (rs.next()) {
                if (rs.getString(1) != null) {
                    jtis.add(rs.getString(1));
                } else {
                    clients.merge(rs.getString(2), rs.getLong(3), Math::max);
                }
            }
        }
        return new Snapshot(Set.copyOf(jtis), Map.copyOf(clients), now);
    }
}
