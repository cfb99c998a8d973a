package lm.bench;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.sql.DataSource;
import lm.agent.BigCluster;

/**
 * make bench (issue 19, "no admission waits behind an agent report"): while agent passes run,
 * one thread keeps admitting and releasing one-license jobs on the big site's pools
 * (lm.book_job, then lm.release_job, round robin over its 1,000 features, as a prolog and an
 * epilog would), and another samples pg_stat_activity every {@link #SAMPLE_MS} ms for the
 * report's statements. An admission counts as "during a report" when a sample within its
 * span saw a report statement running, as "without" when none did within 100 ms of it.
 * How long the report holds pool locks: for each transaction of the report whose statement
 * holds pool locks ({@link #LOCKING}), the age of the transaction (pg_stat_activity.xact_start,
 * on the database's clock) at the last sample that saw it; the lock is that statement's first
 * step, so this is the hold to within one sampling interval (it reads short by at most that).
 */
final class ReportProbe implements AutoCloseable {
    static final int SAMPLE_MS = 2;
    /** Statements of POST /agent/report, as pg_stat_activity shows them (the report's SQL before and after issue 19). */
    static final String REPORT = "lm\\.(apply|run)_agent_report\\(";
    /**
     * Those of its transactions that hold pool locks: lm.run_agent_report names each of its
     * transactions in application_name; lm.apply_agent_report (the report before issue 19, one
     * transaction) locks every pool of the cluster first.
     */
    static final String LOCKING = "application_name = 'lm agent report: locked'"
            + " OR (query ~ 'lm\\.apply_agent_report\\(' AND application_name NOT LIKE 'lm agent report%')";

    private static final String LOCK_TIMEOUT = "55P03";

    private final DataSource ds;
    private final Thread admitter;
    private final Thread sampler;
    private volatile boolean stop;
    private volatile boolean paused;
    private volatile SQLException failed;
    // admissions: start and end, System.nanoTime
    private final List<long[]> admissions = new ArrayList<>();
    // samples: time, and whether a report statement was running
    private final List<long[]> samples = new ArrayList<>();
    // lock-holding transactions of the report (pid and xact_start): their age at the last sample, ms
    private final Map<String, Double> holds = new HashMap<>();

    ReportProbe(DataSource ds) {
        this.ds = ds;
        admitter = new Thread(this::admit, "bench-admitter");
        sampler = new Thread(this::sample, "bench-sampler");
        admitter.setDaemon(true);
        sampler.setDaemon(true);
        admitter.start();
        sampler.start();
    }

    /** While paused (the bench books its own jobs), nothing is admitted. */
    void pause(boolean p) {
        paused = p;
    }

    private void admit() {
        try (Connection c = ds.getConnection();
                PreparedStatement book = c.prepareStatement("SELECT created FROM lm.book_job('big', ?, 'probe', 'probe01', ?::jsonb)");
                PreparedStatement release = c.prepareStatement("SELECT lm.release_job('big', ?)")) {
            for (long k = 0; !stop; k++) {
                if (paused) {
                    Thread.sleep(5);
                    continue;
                }
                String id = BigCluster.listedFreeJobId(k);
                book.setString(1, id);
                book.setString(2, "[{\"product_feature\":\"" + BigCluster.feature((int) (k * 7 % 1000)) + "\",\"quantity\":1}]");
                long t0 = System.nanoTime();
                boolean timedOut = false;
                try (ResultSet rs = book.executeQuery()) {
                    rs.next();
                } catch (SQLException e) {
                    // lock_timeout (database_lock_timeout, 5 s): the prolog would have failed
                    if (!LOCK_TIMEOUT.equals(e.getSQLState())) {
                        throw e;
                    }
                    timedOut = true;
                }
                long t1 = System.nanoTime();
                synchronized (admissions) {
                    admissions.add(new long[] {t0, t1, timedOut ? 1 : 0});
                }
                release.setString(1, id);
                while (!timedOut) {
                    try (ResultSet rs = release.executeQuery()) {
                        rs.next();
                        break;
                    } catch (SQLException e) {
                        if (!LOCK_TIMEOUT.equals(e.getSQLState())) {
                            throw e;
                        }
                    }
                }
            }
        } catch (SQLException e) {
            failed = e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void sample() {
        try (Connection c = ds.getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT pid || ' ' || xact_start, " + LOCKING + ","
                        + " extract(epoch FROM clock_timestamp() - xact_start) * 1000"
                        + " FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND query ~ ?")) {
            ps.setString(1, REPORT);
            while (!stop) {
                long t = System.nanoTime();
                boolean active = false;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        active = true;
                        if (rs.getBoolean(2)) {
                            synchronized (holds) {
                                holds.merge(rs.getString(1), rs.getDouble(3), Math::max);
                            }
                        }
                    }
                }
                synchronized (samples) {
                    samples.add(new long[] {t, active ? 1 : 0});
                }
                Thread.sleep(SAMPLE_MS);
            }
        } catch (SQLException e) {
            failed = e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws Exception {
        stop = true;
        admitter.join();
        sampler.join();
        if (failed != null) {
            throw failed;
        }
    }

    /** Prints the RESULT lines; call after {@link #close}. */
    void print() {
        long[] times = new long[samples.size()];
        boolean[] active = new boolean[samples.size()];
        for (int i = 0; i < times.length; i++) {
            times[i] = samples.get(i)[0];
            active[i] = samples.get(i)[1] == 1;
        }
        List<Double> during = new ArrayList<>();
        List<Double> without = new ArrayList<>();
        int timedOut = 0;
        long margin = 100_000_000L;
        for (long[] a : admissions) {
            double ms = (a[1] - a[0]) / 1e6;
            timedOut += (int) a[2];
            if (anyActive(times, active, a[0] - SAMPLE_MS * 1_000_000L, a[1])) {
                during.add(ms);
            } else if (!anyActive(times, active, a[0] - margin, a[1] + margin)) {
                without.add(ms);
            }
        }
        double[] h = holds.values().stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(h);
        System.out.printf(Locale.ROOT, "RESULT admission (lm.book_job, one license, the report's cluster) during agent reports:"
                + " %s; without: %s; %d gave up at lock_timeout; %s%n", stats(during), stats(without), timedOut, Bench.load());
        System.out.printf(Locale.ROOT, "RESULT agent report's pool-lock hold (pg_stat_activity every %d ms): %d locking transactions"
                + " of the report, longest %.0f ms, median %.0f ms%n", SAMPLE_MS, h.length,
                h.length == 0 ? 0 : h[h.length - 1], h.length == 0 ? 0 : Bench.median(h));
    }

    private static boolean anyActive(long[] times, boolean[] active, long from, long to) {
        int i = Arrays.binarySearch(times, from);
        for (i = i < 0 ? -i - 1 : i; i < times.length && times[i] <= to; i++) {
            if (active[i]) {
                return true;
            }
        }
        return false;
    }

    private static String stats(List<Double> ms) {
        if (ms.isEmpty()) {
            return "no admissions";
        }
        double[] a = ms.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        return String.format(Locale.ROOT, "%d admissions, p50 %.1f ms, p99 %.1f ms, max %.0f ms", a.length,
                a[a.length / 2], a[Math.min(a.length - 1, (int) (a.length * 0.99))], a[a.length - 1]);
    }
}
