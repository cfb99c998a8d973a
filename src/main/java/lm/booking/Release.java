package lm.booking;

import java.sql.SQLException;
import javax.sql.DataSource;
import lm.db.Actor;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Reply;

/**
 * DELETE by id through a SQL function that locks the pools first (lm.delete_job, lm.delete_booking).
 * A delete by id is a person's (lm-epilog releases by slurm_job_id, the agent's report ends jobs
 * in SQL): an audit event, which the function records with {@code actor}.
 */
final class Release {
    private Release() {}

    /** {@code scope}: the caller's cluster, null for admin (see lm.http.Call#clusterScope). */
    static Reply byId(DataSource ds, Actor actor, String function, String what, String scope, long id) throws SQLException {
        if (!"t".equals(Sql.tx(ds, actor, c -> Sql.text(c, "SELECT " + function + "(?, ?)", scope, id)))) {
            throw ApiException.notFound(what + " " + id + " not found");
        }
        return Reply.ok("{\"message\":\"" + what + " " + id + " deleted\"}");
    }
}
