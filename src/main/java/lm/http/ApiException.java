package lm.http;

/** A client-visible error: status, a stable code, a message, and an optional detail (any JSON). */
public final class ApiException extends RuntimeException {
    private final int status;
    private final String code;
    private final transient Object detail;

    public ApiException(int status, String code, String message, Object detail) {
        super(message);
        this.status = status;
        this.code = code;
        this.detail = detail;
    }

    public static ApiException badRequest(String message) {
        return new ApiException(400, "bad_request", message, null);
    }

    public static ApiException notFound(String message) {
        return new ApiException(404, "not_found", message, null);
    }

    public static ApiException unprocessable(String message) {
        return new ApiException(422, "unprocessable", message, null);
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    public Object detail() {
        return detail;
    }
}
