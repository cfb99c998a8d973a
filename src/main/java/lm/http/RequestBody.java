package lm.http;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/**
 * A request body as text: at most the route's limit, and gunzipped when the client sent
 * {@code Content-Encoding: gzip} (lm-agent does: a report of a big cluster's job ids shrinks
 * about fivefold). The limit holds both for the bytes sent and for the bytes they decompress
 * to, so a small gzip bomb is stopped after {@code max} bytes, not when the heap runs out.
 */
final class RequestBody {
    private RequestBody() {}

    /** The body {@code sent} as text, gunzipped if {@code contentEncoding} says gzip. */
    static String decode(byte[] sent, String contentEncoding, int max) {
        String encoding = contentEncoding == null ? "identity" : contentEncoding.strip().toLowerCase(Locale.ROOT);
        byte[] body = switch (encoding) {
            case "", "identity" -> sent;
            case "gzip", "x-gzip" -> gunzip(sent, max);
            // RFC 9110 says 415; 400 keeps the set of answers each route documents unchanged
            default -> throw ApiException.badRequest("Content-Encoding '" + contentEncoding + "' is not supported (use gzip or none)");
        };
        return new String(body, StandardCharsets.UTF_8);
    }

    private static byte[] gunzip(byte[] sent, int max) {
        try (InputStream z = new GZIPInputStream(new ByteArrayInputStream(sent))) {
            byte[] body = z.readNBytes(max + 1);
            if (body.length > max) {
                throw tooLarge(max, " once decompressed");
            }
            return body;
        } catch (IOException e) {
            // read from memory: any I/O error is the data's (a bad header, a cut stream, a bad CRC)
            throw new ApiException(400, "bad_request", "Content-Encoding is gzip but the body is not valid gzip", e.toString());
        }
    }

    /** 413 naming the route's limit; {@code when}: "" for the bytes sent, or how they grew past it. */
    static ApiException tooLarge(int max, String when) {
        return new ApiException(413, "too_large", "request body larger than " + max + " bytes" + when
                + " (" + (max / (1024 * 1024)) + " MiB, the limit of this route)", null);
    }
}
