package lm.agent.servers;

/**
 * The status tool's output cannot be trusted as a picture of the server: it could not connect,
 * crashed, or printed nothing we recognise. Callers must not treat this as "nothing in use".
 */
public final class BadServerOutputException extends Exception {
    public BadServerOutputException(String reason) {
        super(reason);
    }
}
