package lm.agent.servers;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects features while a parser walks an output. A name seen twice (two license blocks,
 * two servers of one {@code -a} dump, two versions of a feature) is one pool for the cluster:
 * a client takes whichever is free, so the counts are summed.
 */
final class Tally {
    private final Map<String, Counts> byName = new LinkedHashMap<>();

    static final class Counts {
        private long total;
        private long used;
        private long queued;
        private final List<Checkout> checkouts = new ArrayList<>();
        private LocalDate expires;
        private Long expiring;

        /**
         * One license (an INCREMENT, a license block, a DSLS license row) of the feature expires
         * on {@code date} (null: permanent), {@code count} licenses of it (null: not printed).
         * The feature keeps the nearest date that still has licenses, and how many expire then.
         */
        void expire(LocalDate date, Long count) throws BadServerOutputException {
            if (date == null || (count != null && count == 0)) {
                return;
            }
            if (expires == null || date.isBefore(expires)) {
                expires = date;
                expiring = count;
            } else if (date.equals(expires)) {
                expiring = expiring == null || count == null ? null : ServerOutput.add(expiring, count);
            }
        }

        void add(long moreTotal, long moreUsed, long moreQueued) throws BadServerOutputException {
            total = ServerOutput.add(total, moreTotal);
            used = ServerOutput.add(used, moreUsed);
            queued = ServerOutput.add(queued, moreQueued);
        }

        void checkout(Checkout checkout) {
            checkouts.add(checkout);
        }
    }

    Counts feature(String name) {
        return byName.computeIfAbsent(name, n -> new Counts());
    }

    boolean has(String name) {
        return byName.containsKey(name);
    }

    /** @throws BadServerOutputException when nothing was found: an empty report is never "all free" */
    ServerReport report(String output) throws BadServerOutputException {
        if (byName.isEmpty()) {
            throw ServerOutput.failure(output);
        }
        List<FeatureUsage> features = new ArrayList<>();
        byName.forEach((name, c) -> features.add(new FeatureUsage(name, c.total, c.used, c.queued, c.checkouts,
                c.expires, c.expiring)));
        return new ServerReport(features);
    }
}
