package lm.db;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Who makes a write, for lm.audit_log (R__audit.sql) and for the checks SQL makes on the
 * caller: the token's {@code sub} and cluster, whether it is license-manager:admin, and the
 * request's route ("PUT /lm/features/7"). Set as transaction-local settings in the write's own
 * transaction, so they end with it and never reach the next user of the pooled connection.
 * lm.caller_cluster (R__booking_1_pools.sql) reads them: a caller short of admin may not join
 * another cluster's pool nor set policy; only the requests that are audit events pay the one
 * extra statement.
 */
public record Actor(String sub, String cluster, boolean admin, String route) {

    void claim(Connection c) throws SQLException {
        Sql.text(c, "SELECT set_config('lm.sub', coalesce(?, ''), true), set_config('lm.cluster', coalesce(?, ''), true),"
                + " set_config('lm.admin', ?, true), set_config('lm.route', coalesce(?, ''), true)",
                sub, cluster, Boolean.toString(admin), route);
    }
}
