package lm.agent.servers;

import java.time.LocalDate;
import java.util.List;

/**
 * What a license server says about one feature. {@code name} keeps the case the server printed;
 * {@code used} is the server's own in-use figure (it may exceed {@code total} on some servers, and
 * may exceed the sum of {@code checkouts} when licenses are reserved). {@code expires} is the
 * nearest expiry date the server printed for a license of the feature that has licenses (null:
 * none printed, or all permanent), and {@code expiring} how many licenses expire that day, when the
 * output says (null when it doesn't: FlexLM prints no count per INCREMENT).
 */
public record FeatureUsage(String name, long total, long used, long queued, List<Checkout> checkouts,
        LocalDate expires, Long expiring) {
    public FeatureUsage {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("feature without a name");
        }
        if (total < 0 || used < 0 || queued < 0) {
            throw new IllegalArgumentException(
                    "negative count for " + name + ": total=" + total + " used=" + used + " queued=" + queued);
        }
        checkouts = List.copyOf(checkouts);
        if (expires == null && expiring != null) {
            throw new IllegalArgumentException("expiring count without a date for " + name);
        }
    }
}
