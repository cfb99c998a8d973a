package lm.auth;

/**
 * A request that may not proceed: 401 when the caller isn't authenticated, 403 when it lacks a
 * permission, 503 when the revoked tokens cannot be checked (lm.auth.Revocations). The message is safe to send to the client; it never contains the token.
 */
public final class AuthException extends RuntimeException {

    private final int status;

    public AuthException(int status, String message) {
        super(message);
        if (status != 401 && status != 403 && status != 503) {
            throw new IllegalArgumentException("status must be 401, 403 or 503, not " + status);
        }
        this.status = status;
    }

    public int status() {
        return status;
    }

    // Thrown on every rejected request: the stack trace would cost more than the verification.
    @Override
    public synchronized Throwable fillInStackTrace() {
        return this;
    }
}
