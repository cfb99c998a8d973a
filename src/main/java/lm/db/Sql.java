package lm.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * Every request is one statement in autocommit: the plpgsql function or the single INSERT/UPDATE
 * it runs is its own transaction, so a failure writes nothing. Deadlocks and serialization
 * failures are retried here, a few times, because they are the database telling us to.
 */
public final class Sql {
    private static final int ATTEMPTS = 3;

    private Sql() {}

    @FunctionalInterface
    public interface Rows<T> {
        T read(ResultSet rs) throws SQLException;
    }

    public static <T> T query(DataSource ds, String sql, Rows<T> rows, Object... params) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
                bind(ps, params);
                try (ResultSet rs = ps.executeQuery()) {
                    return rows.read(rs);
                }
            } catch (SQLException e) {
                if (attempt >= ATTEMPTS || !retryable(e)) {
                    throw e;
                }
            }
        }
    }

    /** The first column of the first row as text (a JSON document, usually), or null. */
    public static String text(DataSource ds, String sql, Object... params) throws SQLException {
        return query(ds, sql, rs -> rs.next() ? rs.getString(1) : null, params);
    }

    public static int update(DataSource ds, String sql, Object... params) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
                bind(ps, params);
                return ps.executeUpdate();
            } catch (SQLException e) {
                if (attempt >= ATTEMPTS || !retryable(e)) {
                    throw e;
                }
            }
        }
    }

    @FunctionalInterface
    public interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /** Several statements as one transaction: all or nothing. */
    public static <T> T tx(DataSource ds, Work<T> work) throws SQLException {
        return transaction(ds, work, true);
    }

    /** An audited write (lm.audit_log): {@link #tx} with {@code actor} named in the transaction first. */
    public static <T> T tx(DataSource ds, Actor actor, Work<T> work) throws SQLException {
        return transaction(ds, c -> {
            actor.claim(c);
            return work.run(c);
        }, true);
    }

    /**
     * The same in a transaction that is always rolled back: what the statements would do (a
     * dry run's plan), with nothing kept. The locks they take are held until the rollback.
     */
    public static <T> T rolledBack(DataSource ds, Work<T> work) throws SQLException {
        return transaction(ds, work, false);
    }

    private static <T> T transaction(DataSource ds, Work<T> work, boolean commit) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            try (Connection c = ds.getConnection()) {
                // HikariCP restores autocommit when the connection goes back to the pool
                c.setAutoCommit(false);
                try {
                    T result = work.run(c);
                    if (commit) {
                        c.commit();
                    } else {
                        c.rollback();
                    }
                    return result;
                } catch (SQLException | RuntimeException e) {
                    try {
                        c.rollback();
                    } catch (SQLException lost) {
                        // the connection is gone (e.g. the database went away): the first
                        // error is the one that says why, and PostgreSQL rolls back anyway
                        e.addSuppressed(lost);
                    }
                    throw e;
                }
            } catch (SQLException e) {
                if (attempt >= ATTEMPTS || !retryable(e)) {
                    throw e;
                }
            }
        }
    }

    /** On {@code c}: the first column of the first row, or null. */
    public static String text(Connection c, String sql, Object... params) throws SQLException {
        return query(c, sql, rs -> rs.next() ? rs.getString(1) : null, params);
    }

    /** On {@code c}: the rows of one query. */
    public static <T> T query(Connection c, String sql, Rows<T> rows, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, params);
            try (ResultSet rs = ps.executeQuery()) {
                return rows.read(rs);
            }
        }
    }

    static void bind(PreparedStatement ps, Object... params) throws SQLException {
        for (int i = 0; i < params.length; i++) {
            ps.setObject(i + 1, params[i]);
        }
    }

    private static boolean retryable(SQLException e) {
        return "40001".equals(e.getSQLState()) || "40P01".equals(e.getSQLState());
    }
}
