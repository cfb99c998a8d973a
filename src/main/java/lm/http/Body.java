package lm.http;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.Set;
import java.util.TreeSet;

/**
 * A JSON object from a request, read field by field with the type the API documents. Types are
 * checked here (400 naming the field); value rules (ranges, uniqueness) are the database's.
 */
public final class Body {
    private final JsonObject obj;
    private final String where;

    public Body(JsonElement e, String where) {
        if (e == null || !e.isJsonObject()) {
            throw ApiException.badRequest(where + " must be a JSON object");
        }
        this.obj = e.getAsJsonObject();
        this.where = where;
    }

    public JsonObject raw() {
        return obj;
    }

    /** Rejects fields the endpoint doesn't know: a typo must not be silently ignored. */
    public Body allow(String... fields) {
        Set<String> ok = Set.of(fields);
        for (String k : obj.keySet()) {
            if (!ok.contains(k)) {
                throw ApiException.badRequest(where + ": unknown field '" + k + "' (allowed: " + new TreeSet<>(ok) + ")");
            }
        }
        return this;
    }

    public boolean has(String field) {
        return obj.has(field) && !obj.get(field).isJsonNull();
    }

    /** True when the field is there and JSON null (an update that clears a nullable column). */
    public boolean isNull(String field) {
        return obj.has(field) && obj.get(field).isJsonNull();
    }

    public String string(String field) {
        return required(optString(field), field);
    }

    private <T> T required(T value, String field) {
        if (value == null) {
            throw ApiException.badRequest(where + ": '" + field + "' is required");
        }
        return value;
    }

    public String optString(String field) {
        if (!has(field)) {
            return null;
        }
        JsonElement e = obj.get(field);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw ApiException.badRequest(where + ": '" + field + "' must be a string");
        }
        String s = e.getAsString();
        if (s.indexOf('\0') >= 0) {
            // PostgreSQL text cannot hold NUL; its own error would name neither the field nor the rule
            throw ApiException.unprocessable(where + ": '" + field + "' must not contain the NUL character (\\u0000)");
        }
        return s;
    }

    public long integer(String field) {
        return required(optInteger(field), field);
    }

    /** A field stored in an {@code integer} column (seconds, ports): beyond 32 bits is out of range. */
    public int int32(String field) {
        return required(optInt32(field), field);
    }

    public Integer optInt32(String field) {
        Long n = optInteger(field);
        if (n != null && (n < Integer.MIN_VALUE || n > Integer.MAX_VALUE)) {
            throw ApiException.unprocessable(where + ": '" + field + "' is out of range");
        }
        return n == null ? null : n.intValue();
    }

    /** Integral JSON numbers only: 1.5, "3" and true are type errors; beyond 64 bits is out of range. */
    public Long optInteger(String field) {
        if (!has(field)) {
            return null;
        }
        JsonElement e = obj.get(field);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw ApiException.badRequest(where + ": '" + field + "' must be an integer");
        }
        return toLong(e.getAsJsonPrimitive(), field);
    }

    private long toLong(JsonPrimitive p, String field) {
        BigDecimal d;
        try {
            d = new BigDecimal(p.getAsString());
        } catch (NumberFormatException ex) {
            throw ApiException.badRequest(where + ": '" + field + "' must be an integer");
        }
        if (d.signum() != 0 && d.stripTrailingZeros().scale() > 0) {
            throw ApiException.badRequest(where + ": '" + field + "' must be an integer");
        }
        try {
            return d.longValueExact();
        } catch (ArithmeticException ex) {
            throw ApiException.unprocessable(where + ": '" + field + "' is out of range");
        }
    }

    /** A string or an integer, as text (Slurm job ids arrive both ways from existing clients). */
    public String stringOrInteger(String field) {
        if (!has(field)) {
            throw ApiException.badRequest(where + ": '" + field + "' is required");
        }
        JsonElement e = obj.get(field);
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) {
            return Long.toString(toLong(e.getAsJsonPrimitive(), field));
        }
        return string(field);
    }

    public Boolean optBoolean(String field) {
        if (!has(field)) {
            return null;
        }
        JsonElement e = obj.get(field);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw ApiException.badRequest(where + ": '" + field + "' must be true or false");
        }
        return e.getAsBoolean();
    }

    /** A day, {@code "2026-12-31"} (ISO 8601, a real date); null when absent or null. */
    public LocalDate optDate(String field) {
        String s = optString(field);
        if (s == null) {
            return null;
        }
        try {
            return LocalDate.parse(s);
        } catch (DateTimeParseException e) {
            throw ApiException.badRequest(where + ": '" + field + "' must be a date YYYY-MM-DD");
        }
    }

    /** Each element of the array field, as a Body; null when absent. */
    public java.util.List<Body> optObjects(String field) {
        if (!has(field)) {
            return null;
        }
        JsonElement e = obj.get(field);
        if (!e.isJsonArray()) {
            throw ApiException.badRequest(where + ": '" + field + "' must be an array");
        }
        java.util.List<Body> out = new java.util.ArrayList<>();
        int i = 0;
        for (JsonElement x : e.getAsJsonArray()) {
            out.add(new Body(x, where + "." + field + "[" + i++ + "]"));
        }
        return out;
    }
}
