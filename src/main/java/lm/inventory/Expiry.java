package lm.inventory;

import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.time.LocalDate;
import lm.http.ApiException;
import lm.http.Body;

/**
 * A feature's license expiry as every route takes it (agent report items, PUT /features/bulk,
 * /features/by_client_id and /features/{id}): {@code expires_at}, the nearest expiry day the
 * license server prints, or null for none; {@code expiring}, how many licenses expire that day,
 * or null when the server doesn't say. Stored in lm.features (V13__expiry.sql).
 */
public final class Expiry {
    public static final String EXPIRES_AT = "expires_at";
    public static final String EXPIRING = "expiring";

    private Expiry() {}

    /**
     * Checks the two fields of {@code b} and, when {@code expires_at} is there, copies both into
     * {@code out} (null as JSON null): a count belongs to its day, so a new day without one
     * clears it. Without {@code expires_at} nothing is copied, and SQL keeps the stored expiry.
     */
    public static void copy(Body b, JsonObject out) {
        LocalDate date = b.optDate(EXPIRES_AT);
        Long expiring = b.optInteger(EXPIRING);
        if (expiring != null && (expiring < 0 || date == null)) {
            throw ApiException.unprocessable("'" + EXPIRING + "' must be 0 or more, and comes with '" + EXPIRES_AT + "'");
        }
        if (b.raw().has(EXPIRES_AT)) {
            out.add(EXPIRES_AT, date == null ? JsonNull.INSTANCE : new JsonPrimitive(date.toString()));
            out.add(EXPIRING, expiring == null ? JsonNull.INSTANCE : new JsonPrimitive(expiring));
        }
    }
}
