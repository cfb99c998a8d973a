package lm.http;

import java.time.Duration;

/**
 * What one lm-server lets a request take (lm.conf(5)). {@code readTimeout}: a client that sends
 * nothing for this long is cut off (http_read_timeout). {@code bodyMemory}: bytes of request
 * bodies held at once ({@link BodyMemory}, http_body_memory_mib). {@code readStatementTimeout}:
 * the longest a list, search or report may run in the database (database_read_statement_timeout;
 * zero: only database_statement_timeout). {@code searches}: how many searches may run at once
 * ({@link Reads}: half of database_pool_size).
 */
public record Limits(Duration readTimeout, long bodyMemory, Duration readStatementTimeout, int searches) {
    public Limits withReadTimeout(Duration d) {
        return new Limits(d, bodyMemory, readStatementTimeout, searches);
    }
}
