package lm.cli;

/** A failure the user is told about in one line, with the exit status of {@link Main}'s contract. */
final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int exit;

    CliException(int exit, String message) {
        super(message);
        this.exit = exit;
    }

    int exit() {
        return exit;
    }

    static CliException auth(String message) {
        return new CliException(Main.EXIT_AUTH, message);
    }

    static CliException unreachable(String message) {
        return new CliException(Main.EXIT_UNREACHABLE, message);
    }
}
