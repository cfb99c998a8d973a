package lm.agent;

/**
 * lm-server could not be asked (down, unreachable, refused the token, answered nonsense): the pass
 * stops before touching Slurm, because any plan applied now would be a guess.
 */
final class LmServerException extends Exception {
    LmServerException(String message) {
        super(message);
    }

    LmServerException(String message, Throwable cause) {
        super(message, cause);
    }
}
