package lm.inventory;

import java.sql.SQLException;
import java.util.Map;
import javax.sql.DataSource;
import lm.db.Actor;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Reply;
import lm.http.SqlErrors;

/**
 * The write pattern every inventory resource shares: one statement that returns the row's id
 * (or none), then the row as its API view shows it, in the same transaction. Every inventory
 * write is an audit event: the transaction names its {@link Actor} first, and the row triggers
 * of R__audit.sql record it.
 */
final class Writes {
    private Writes() {}

    /** INSERT … RETURNING id, answered 201 with the new resource. */
    static Reply create(DataSource ds, Actor actor, String view, String insert, Object... params) throws SQLException {
        return createIn(ds, actor, view, null, insert, params);
    }

    /**
     * An INSERT … SELECT … WHERE the parent is in the caller's cluster RETURNING id: no row means
     * {@code parent} is not found (another cluster's is not found either).
     */
    static Reply createIn(DataSource ds, Actor actor, String view, String parent, String insert, Object... params) throws SQLException {
        String j = Sql.tx(ds, actor, c -> {
            String id = Sql.text(c, insert, params);
            return id == null ? null : Sql.text(c, "SELECT j FROM " + view + " WHERE id = ?", Long.parseLong(id));
        });
        if (j == null) {
            throw ApiException.notFound(parent + " not found");
        }
        return Reply.created(j);
    }

    /** UPDATE … WHERE id = ? RETURNING id; no row is a 404. */
    static Reply update(DataSource ds, Actor actor, String view, String what, long id, String update, Object... params) throws SQLException {
        String j = Sql.tx(ds, actor, c -> {
            String got = Sql.text(c, update, params);
            return got == null ? null : Sql.text(c, "SELECT j FROM " + view + " WHERE id = ?", id);
        });
        if (j == null) {
            throw ApiException.notFound(what + " " + id + " not found");
        }
        return Reply.ok(j);
    }

    /**
     * DELETE of a configuration, feature or license server through lm.delete_inventory, which
     * refuses (409) while active bookings depend on it, unless {@code force}, and says how many
     * bookings it released. {@code scope}: the caller's cluster (null: admin); another
     * cluster's row is not found.
     */
    static Reply deleteInUse(DataSource ds, Actor actor, String scope, String what, long id, boolean force) throws SQLException {
        String released = Sql.tx(ds, actor, c -> Sql.text(c, "SELECT lm.delete_inventory(?, ?, ?, now(), ?)", what, id, force, scope));
        if (released == null) {
            throw ApiException.notFound(what + " " + id + " not found");
        }
        return Reply.ok("{\"message\":\"" + what + " " + id + " deleted\",\"released_bookings\":" + released + "}");
    }

    /** DELETE by id; children go with it where the schema says ON DELETE CASCADE. */
    static Reply delete(DataSource ds, Actor actor, String table, String what, long id) throws SQLException {
        String n;
        try {
            n = Sql.tx(ds, actor, c -> Sql.text(c, "DELETE FROM " + table + " WHERE id = ? RETURNING id", id));
        } catch (SQLException e) {
            if ("23503".equals(e.getSQLState())) {
                // on a delete, a foreign-key violation means other rows still point here; the
                // constraint's own words describe the referencing row's field, not this delete
                String referencing = SqlErrors.table(e);
                throw new ApiException(409, "still_referenced", what + " " + id + " is still referenced"
                        + (referencing == null ? "" : " by " + referencing), referencing == null ? null : Map.of("referenced_by", referencing));
            }
            throw e;
        }
        if (n == null) {
            throw ApiException.notFound(what + " " + id + " not found");
        }
        return Reply.ok("{\"message\":\"" + what + " " + id + " deleted\"}");
    }
}
