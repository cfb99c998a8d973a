package lm.http;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;

/** The one Gson of the process (thread-safe), and strict parsing of request bodies. */
public final class Json {
    public static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();

    private Json() {}

    /**
     * Strict RFC 8259 parsing: Gson's default is lenient and would accept {@code {a:1}},
     * single quotes, or trailing garbage, which a client would then believe was valid.
     */
    public static JsonElement parse(String text) {
        try (JsonReader r = new JsonReader(new StringReader(text))) {
            r.setStrictness(Strictness.STRICT);
            JsonElement e = com.google.gson.internal.Streams.parse(r);
            if (r.peek() != JsonToken.END_DOCUMENT) {
                throw new ApiException(400, "bad_request", "malformed JSON", "unexpected content after the JSON value");
            }
            return e;
        } catch (JsonParseException | IOException | IllegalStateException e) {
            String why = e.getCause() != null ? e.getCause().getMessage() : e.getMessage();
            throw new ApiException(400, "bad_request", "malformed JSON", why);
        }
    }

    public static String quote(String s) {
        return GSON.toJson(s);
    }
}
