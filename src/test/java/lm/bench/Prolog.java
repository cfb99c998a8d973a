package lm.bench;

import com.zaxxer.hikari.HikariDataSource;
import lm.auth.Authenticator;

/** Prolog latency (issue 5); filled in once bin/lm-prolog lands. */
final class Prolog {
    private Prolog() {}

    static void bench(HikariDataSource ds, Authenticator auth, String url) {
        // placeholder removed when lm-prolog is merged
    }
}
