package lm.server;

/**
 * Another process holds what this server needs (its port, its state directory). lm-server
 * prints the message as one line and exits {@link #EXIT} (EX_TEMPFAIL): trying again once the
 * other process is gone may work, which is what systemd's Restart=on-failure does.
 */
final class StartupConflict extends RuntimeException {
    static final int EXIT = 75;

    StartupConflict(String message) {
        super(message, null, false, false);
    }
}
