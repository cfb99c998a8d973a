package lm.db;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Who makes an audited write, for lm.audit_log (R__audit.sql): the token's {@code sub} and
 * cluster, and the request's route ("PUT /lm/features/7"). Set as transaction-local settings in
 * the write's own transaction, so they end with it and never reach the next user of the pooled
 * connection; only the requests that are audit events pay the one extra statement.
 */
public record Actor(String sub, String cluster, String route) {

    void claim(Connection c) throws SQLException {
        Sql.text(c, "SELECT set_config('lm.sub', coalesce(?, ''), true), set_config('lm.cluster', coalesce(?, ''), true),"
                + " set_config('lm.route', coalesce(?, ''), true)", sub, cluster, route);
    }
}
