package lm.bench;

import com.zaxxer.hikari.HikariDataSource;
import java.util.List;
import java.util.Locale;
import lm.auth.Authenticator;
import lm.db.Sql;
import lm.http.ApiServer;
import lm.server.LmServer;

/**
 * make bench, issue 12 part 4: admission throughput with the history on (every refusal recorded
 * as denials, every ended job as job history) against the same run with it off. The workload
 * refuses about half of the requests: 64 clients live jobs (POST then DELETE) on a pool of 32
 * licenses. "Off" replaces lm.note_denials with a no-op and disables the jobs_history trigger;
 * rounds alternate off/on so drift of a loaded machine falls on both. The figure is admitted
 * jobs/s; the bar is a drop of at most 5 %.
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
        double[] on = new double[Bench.ROUNDS];
        double[] off = new double[Bench.ROUNDS];
        for (int r = 0; r < Bench.ROUNDS; r++) {
            for (boolean recording : new boolean[] {false, true}) {
                if (recording) {
                    Sql.update(ds, denials);
                    Sql.update(ds, "ALTER TABLE lm.jobs ENABLE TRIGGER jobs_history");
                } else {
                    Sql.update(ds, "CREATE OR REPLACE FUNCTION lm.note_denials(p_cluster text, p_slurm_job_id text, p_username text,"
                            + " p_account text, p_detail jsonb, p_now timestamptz DEFAULT now()) RETURNS void LANGUAGE sql AS $$ SELECT $$");
                    Sql.update(ds, "ALTER TABLE lm.jobs DISABLE TRIGGER jobs_history");
                }
                long before = Long.parseLong(Sql.text(ds, "SELECT coalesce(sum(count), 0) FROM lm.denial_log"));
                Bench.HttpResult h = Bench.runHttp(api.port(), token, Bench.SECONDS, true, "bench.tight");
                long recorded = Long.parseLong(Sql.text(ds, "SELECT coalesce(sum(count), 0) FROM lm.denial_log")) - before;
                (recording ? on : off)[r] = h.jobsPerSecond();
                System.out.printf(Locale.ROOT, "  history %s round %d: %.0f admitted jobs/s, %d refused, %d denials recorded, %d errors, %s%n",
                        recording ? "on " : "off", r + 1, h.jobsPerSecond(), h.refused(), recorded, h.errors(), Bench.load());
            }
        }
        Sql.update(ds, denials);
        Sql.update(ds, "ALTER TABLE lm.jobs ENABLE TRIGGER jobs_history");
        api.close();
        double mOn = Bench.median(on);
        double mOff = Bench.median(off);
        // each round's on against the off just before it: the pairs share the machine's state of the moment
        double[] paired = new double[Bench.ROUNDS];
        for (int r = 0; r < Bench.ROUNDS; r++) {
            paired[r] = (on[r] / off[r] - 1) * 100;
        }
        System.out.printf(Locale.ROOT, "RESULT admission with history off: %.0f jobs/s, on: %.0f jobs/s (medians), change %+.1f %%;"
                + " median of the rounds' on/off changes %+.1f %% (bar: > -5 %%), %d rounds, %s%n",
                mOff, mOn, (mOn / mOff - 1) * 100, Bench.median(paired), Bench.ROUNDS, Bench.load());
    }
}
