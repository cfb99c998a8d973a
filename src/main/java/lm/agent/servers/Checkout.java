package lm.agent.servers;

/**
 * One license checkout as the server printed it; {@code host} is kept in full (domain included).
 * {@code key} is what the tool prints that tells two checkouts of one user on one host apart
 * (FlexLM's handle and start time, RLM's handle), "" where it prints nothing of the kind: with the
 * user and host it is the checkout's identity, by which lm-server remembers which booking a
 * checkout has covered (lm.checkout_covers).
 */
public record Checkout(String user, String host, long quantity, String key) {
    public Checkout {
        if (user == null || host == null || key == null) {
            throw new IllegalArgumentException("checkout needs a user, a host and a key");
        }
        if (quantity < 0) {
            throw new IllegalArgumentException("negative checkout quantity " + quantity);
        }
    }

    /** A checkout the tool prints nothing of that tells it from another of the same user and host. */
    public Checkout(String user, String host, long quantity) {
        this(user, host, quantity, "");
    }
}
