package lm.db;

import java.time.Duration;

/**
 * PostgreSQL's limits on the server's sessions, set on every pooled connection: a request can't
 * hold a worker thread, a connection or a pool's lock for longer than these. Zero turns one off.
 */
public record Timeouts(Duration statement, Duration lock, Duration idleInTransaction) {
    /**
     * statement: the longest legitimate request is an agent's report of a big cluster, seconds;
     * lock: lm-prolog gives up after 5 s (its timeout), so a longer wait for a pool's lock is
     * work nobody waits for, and it queues the next admissions behind it; idle in transaction:
     * the server never waits between the statements of a transaction, so a session idle in one
     * is a stuck thread whose locks must go.
     */
    public static final Timeouts DEFAULTS = new Timeouts(Duration.ofSeconds(30), Duration.ofSeconds(5), Duration.ofSeconds(60));

    /** One statement run when the pool opens a connection (set_config rather than the startup
     * packet's options, which connection poolers such as PgBouncer refuse). */
    String initSql() {
        return "SELECT set_config('statement_timeout', '" + statement.toMillis() + "ms', false),"
                + " set_config('lock_timeout', '" + lock.toMillis() + "ms', false),"
                + " set_config('idle_in_transaction_session_timeout', '" + idleInTransaction.toMillis() + "ms', false)";
    }
}
