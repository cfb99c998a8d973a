package lm.booking;

import java.sql.SQLException;
import javax.sql.DataSource;
import lm.db.Sql;
import org.postgresql.util.PSQLException;

/**
 * What a refusal (LM001, 409) leaves behind: demand and denials (R__history.sql), recorded in a
 * transaction of its own since the refusal's rolled back. Losing it loses one count of a report
 * and delays fairness until the agent's next squeue reports the job pending, so a failure here
 * never changes the prolog's answer.
 */
final class Refusals {
    /** lm.book_job's and lm.book_feature's refusal: not enough licenses, or the share rule. */
    private static final String REFUSED = "LM001";

    private Refusals() {}

    /** Calls {@code sql} with the refusal's DETAIL as its last parameter when {@code e} is a refusal. */
    static void note(DataSource ds, SQLException e, String sql, Object... params) {
        if (!REFUSED.equals(e.getSQLState())) {
            return;
        }
        String detail = e instanceof PSQLException p && p.getServerErrorMessage() != null ? p.getServerErrorMessage().getDetail() : null;
        Object[] all = java.util.Arrays.copyOf(params, params.length + 1);
        all[params.length] = detail;
        try {
            Sql.text(ds, sql, all);
        } catch (SQLException ignored) {
            // the 409 the caller gets is what matters
        }
    }
}
