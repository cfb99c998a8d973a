package lm.auth;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * The revoked tokens of lm.revoked_tokens, reread at most every {@link #REFRESH_MILLIS}: a
 * revocation takes effect on every lm-server instance within that time (plus the reread
 * itself), and a request costs a lookup in memory, not a query. The reread never holds a
 * request up: the request that finds the list old starts it on a thread of its own (one at a
 * time) and is checked against the list it has. With the database down the rereads fail, and
 * the last list read stays in use for at most {@link #MAX_AGE_MILLIS}; past that, and before a
 * first list was read, tokens are refused with 503. (The reread used to run under a lock on the
 * request's thread: with the primary down it waited 5 s for a connection before the request
 * itself waited 5 s more, twice lm-prolog's timeout.)
 */
public final class Revocations {
    private static final Logger LOG = Logger.getLogger("lm.auth");
    static final long REFRESH_MILLIS = 5_000;
    static final long MAX_AGE_MILLIS = 60_000;

    private record Snapshot(Set<String> jtis, Map<String, Long> clientsUpTo, long loadedAt) {}

    private final DataSource ds;
    private final LongSupplier millis;
    private final AtomicBoolean reading = new AtomicBoolean();
    private volatile Snapshot snapshot;
    private volatile boolean failing;

    /** Reads the list once, now, on this thread: a server that starts with a database checks tokens at once. */
    public Revocations(DataSource ds, LongSupplier millis) {
        this.ds = ds;
        this.millis = millis;
        reread();
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
        if (s == null || now - s.loadedAt >= REFRESH_MILLIS) {
            rereadInBackground();
        }
        if (s == null || now - s.loadedAt >= MAX_AGE_MILLIS) {
            // a revoked token must not pass on a list this old (or none at all)
            throw new AuthException(503, "cannot check revoked tokens: database unavailable");
        }
        return s;
    }

    private void rereadInBackground() {
        if (!reading.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> {
            try {
                reread();
            } finally {
                reading.set(false);
            }
        }, "lm-revocations");
        t.setDaemon(true);
        t.start();
    }

    /** One reread; a failure keeps the list there is. One log line when rereads start and stop failing. */
    private void reread() {
        try {
            snapshot = load(millis.getAsLong());
            if (failing) {
                failing = false;
                LOG.info("auth: lm.revoked_tokens read again");
            }
        } catch (SQLException e) {
            if (!failing) {
                failing = true;
                LOG.warning("auth: rereading lm.revoked_tokens failed (the last list read is used for at most "
                        + MAX_AGE_MILLIS / 1000 + " s): " + e.getMessage());
            }
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
