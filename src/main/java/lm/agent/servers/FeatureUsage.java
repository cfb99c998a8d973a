package lm.agent.servers;

import java.util.List;

/**
 * What a license server says about one feature. {@code name} keeps the case the server printed;
 * {@code used} is the server's own in-use figure (it may exceed {@code total} on some servers, and
 * may exceed the sum of {@code checkouts} when licenses are reserved).
 */
public record FeatureUsage(String name, long total, long used, long queued, List<Checkout> checkouts) {
    public FeatureUsage {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("feature without a name");
        }
        if (total < 0 || used < 0 || queued < 0) {
            throw new IllegalArgumentException(
                    "negative count for " + name + ": total=" + total + " used=" + used + " queued=" + queued);
        }
        checkouts = List.copyOf(checkouts);
    }
}
