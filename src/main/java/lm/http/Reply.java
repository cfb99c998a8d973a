package lm.http;

/**
 * What an endpoint answers: a status, a body (JSON unless {@code contentType} says otherwise;
 * null for none) and an optional total count.
 */
public record Reply(int status, String json, Long totalCount, String contentType) {
    public Reply(int status, String json, Long totalCount) {
        this(status, json, totalCount, "application/json");
    }

    /** A body in another format than JSON (the Prometheus text format). */
    public static Reply text(String body, String contentType) {
        return new Reply(200, body, null, contentType);
    }

    public static Reply ok(String json) {
        return new Reply(200, json, null);
    }

    public static Reply created(String json) {
        return new Reply(201, json, null);
    }

    public static Reply list(String jsonArray, long total) {
        return new Reply(200, jsonArray, total);
    }

    public static Reply status(int status) {
        return new Reply(status, null, null);
    }
}
