package lm.bench;

import com.zaxxer.hikari.HikariDataSource;
import java.util.List;
import java.util.Locale;
import lm.auth.Authenticator;
import lm.db.Sql;
import lm.http.ApiServer;
import lm.server.LmServer;

/**
 * make bench, issue 12 part 4: admission throughput with denial recording on against the same
 * run without it (the bar: a drop of at most 5 %), and with the whole history on (job
 * history too). The workload refuses about half of the requests: 64 clients live jobs (POST
 * then DELETE) on a pool of 32 licenses. "Off" replaces lm.note_denials with a no-op and
 * disables the jobs_history trigger; "denials" restores lm.note_denials only; "all" both. Each
 * round runs the three in turn, so drift of a loaded machine falls on all; the figure is admitted
 * jobs/s, and each setting is also compared with the "off" of its own round.
 */
final class DenialBench {
    private DenialBench() {}

    static void bench(HikariDataSource ds, Authenticator auth) throws Exception {
        Sql.text(ds, "INSERT INTO lm.features (name, product_id, config_id, total, reported_at)"
                + " SELECT 'tight', p.id, c.id, " + Bench.CLIENTS / 2 + ", now() FROM lm.products p, lm.configurations c"
                + " WHERE p.name = 'bench' AND c.name = 'bench' RETURNING id");
        String denials = Sql.text(ds, "SELECT pg_get_functiondef('lm.note_denials'::regproc)");
        String token = auth.mint("bench", List.of("license-manager:job:create", "license-manager:job:delete"), java.time.Duration.ofHours(1));
        ApiServer api = LmServer.serve(ds, auth, "127.0.0.1", 0);
        Bench.runHttp(api.port(), token, 3, true, "bench.tight"); // warm-up
        String[] settings = {"off", "denials", "all"};
        double[][] rate = new double[settings.length][Bench.ROUNDS];
        for (int r = 0; r < Bench.ROUNDS; r++) {
            for (int k = 0; k < settings.length; k++) {
                if (k == 0) {
                    Sql.update(ds, "CREATE OR REPLACE FUNCTION lm.note_denials(p_cluster text, p_slurm_job_id text, p_username text,"
                            + " p_account text, p_detail jsonb, p_now timestamptz DEFAULT now()) RETURNS void LANGUAGE sql AS $$ SELECT $$");
                    Sql.update(ds, "ALTER TABLE lm.jobs DISABLE TRIGGER jobs_history");
                } else if (k == 1) {
                    Sql.update(ds, denials);
                } else {
                    Sql.update(ds, "ALTER TABLE lm.jobs ENABLE TRIGGER jobs_history");
                }
                long before = Long.parseLong(Sql.text(ds, "SELECT coalesce(sum(count), 0) FROM lm.denial_log"));
                Bench.HttpResult h = Bench.runHttp(api.port(), token, Bench.SECONDS, true, "bench.tight");
                long recorded = Long.parseLong(Sql.text(ds, "SELECT coalesce(sum(count), 0) FROM lm.denial_log")) - before;
                rate[k][r] = h.jobsPerSecond();
                System.out.printf(Locale.ROOT, "  history %-7s round %d: %.0f admitted jobs/s, %d refused, %d denials recorded, %d errors, %s%n",
                        settings[k], r + 1, h.jobsPerSecond(), h.refused(), recorded, h.errors(), Bench.load());
            }
        }
        Sql.update(ds, denials);
        Sql.update(ds, "ALTER TABLE lm.jobs ENABLE TRIGGER jobs_history");
        api.close();
        double off = Bench.median(rate[0]);
        for (int k = 1; k < settings.length; k++) {
            // each round's setting against that round's "off": the pairs share the machine's state of the moment
            double[] paired = new double[Bench.ROUNDS];
            for (int r = 0; r < Bench.ROUNDS; r++) {
                paired[r] = (rate[k][r] / rate[0][r] - 1) * 100;
            }
            double m = Bench.median(rate[k]);
            System.out.printf(Locale.ROOT, "RESULT admission with history %s: %.0f jobs/s against off %.0f (medians), change %+.1f %%;"
                    + " median of the rounds' changes %+.1f %%%s, %d rounds, %s%n", settings[k], m, off, (m / off - 1) * 100,
                    Bench.median(paired), k == 1 ? " (bar: > -5 %)" : "", Bench.ROUNDS, Bench.load());
        }
    }
}
