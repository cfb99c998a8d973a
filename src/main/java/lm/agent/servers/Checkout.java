package lm.agent.servers;

/** One license checkout as the server printed it; {@code host} is kept in full (domain included). */
public record Checkout(String user, String host, long quantity) {
    public Checkout {
        if (user == null || host == null) {
            throw new IllegalArgumentException("checkout needs a user and a host");
        }
        if (quantity < 0) {
            throw new IllegalArgumentException("negative checkout quantity " + quantity);
        }
    }
}
