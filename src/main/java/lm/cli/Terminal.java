package lm.cli;

import java.io.FilterWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.Charset;

/**
 * What lm-cli prints reaches a terminal, and most of it (user names, hosts, messages) was written
 * by someone else: a control character in a stored value would be run by the terminal (issue 20,
 * case 7: an escape sequence in a user name, shown by lm-cli jobs list, recoloured and rewrote
 * the screen). So control characters (C0, DEL, C1) and the bidirectional-text controls that make
 * text read other than it is stored are written as {@code \}{@code uXXXX}: the escape of JSON,
 * so --json output stays JSON with the same values.
 */
final class Terminal {
    private Terminal() {}

    /** True for what a terminal acts on instead of showing, or shows in another order. */
    static boolean unsafe(char c) {
        return c < 0x20 || c >= 0x7f && c <= 0x9f
                // ALM, LRM, RLM; embeddings and overrides LRE..RLO; isolates LRI..PDI
                || c == 0x061c || c == 0x200e || c == 0x200f || c >= 0x202a && c <= 0x202e || c >= 0x2066 && c <= 0x2069;
    }

    /** {@code s} with every unsafe character (line breaks and tabs too) as {@code \}{@code uXXXX}: one table cell. */
    static String escape(String s) {
        return s == null ? "" : escape(s, 0, s.length(), false);
    }

    /** {@code s[off, end)} escaped; with {@code lineEnds}, a line feed and a CR before one stay. */
    private static String escape(String s, int off, int end, boolean lineEnds) {
        StringBuilder out = null;
        for (int i = off; i < end; i++) {
            char c = s.charAt(i);
            boolean keep = !unsafe(c) || lineEnds && (c == '\n' || c == '\r' && i + 1 < end && s.charAt(i + 1) == '\n');
            if (!keep && out == null) {
                out = new StringBuilder(end - off + 8).append(s, off, i);
            }
            if (!keep) {
                out.append(String.format("\\u%04x", (int) c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? s.substring(off, end) : out.toString();
    }

    /**
     * lm-cli's standard output or error: what is written to it passes except unsafe characters,
     * which are escaped, line ends excepted: a line feed, and a carriage return right before one
     * (CSV's CRLF) within the same write. Tables escape their cells themselves (their widths
     * count the escapes); this catches everything else (messages from the server, --json and
     * --csv output, claims of a token).
     */
    static PrintWriter writer(OutputStream out) {
        // the default charset, as a PrintWriter on the stream would have
        return new PrintWriter(new Escaping(new OutputStreamWriter(out, Charset.defaultCharset())), true);
    }

    private static final class Escaping extends FilterWriter {
        Escaping(Writer out) {
            super(out);
        }

        @Override
        public void write(int c) throws IOException {
            write(String.valueOf((char) c), 0, 1);
        }

        @Override
        public void write(char[] cbuf, int off, int len) throws IOException {
            write(new String(cbuf, off, len), 0, len);
        }

        @Override
        public void write(String s, int off, int len) throws IOException {
            out.write(escape(s, off, off + len, true));
        }
    }
}
