package lm.agent.servers;

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
        byName.forEach((name, c) -> features.add(new FeatureUsage(name, c.total, c.used, c.queued, c.checkouts)));
        return new ServerReport(features);
    }
}
