package lm.http;

import io.undertow.server.HttpServerExchange;
import java.util.Arrays;
import java.util.function.Consumer;
import java.util.logging.Logger;
import org.xnio.IoUtils;

/**
 * One request body, received as it arrives (a slow client holds no thread) into a buffer that
 * grows with what was sent, never with what was announced (Undertow's own receiver allocates
 * the announced Content-Length at once). Bounded three ways: the route's limit (413 once the
 * announced length or the bytes sent pass it, chunked bodies too), the server's {@link
 * BodyMemory} (503 before the body is read), and http_read_timeout (a silent client is cut
 * off). Only a caller whose token was accepted gets this far.
 */
final class Upload {
    private static final Logger LOG = Logger.getLogger("lm.http");
    private static final int FIRST_BUFFER = 16 * 1024;

    private final HttpServerExchange ex;
    private final int max;
    private final BodyMemory memory;
    private final String what;
    private byte[] buf = new byte[0];
    private int size;
    private long held;
    private boolean answered;

    /** {@code what}: method and route, for the log. */
    Upload(HttpServerExchange ex, int max, BodyMemory memory, String what) {
        this.ex = ex;
        this.max = max;
        this.memory = memory;
        this.what = what;
    }

    /** Receives the body and runs {@code then} with it on a worker thread, or answers 413 or 503 itself. */
    void receive(Consumer<byte[]> then) {
        long announced = ex.getRequestContentLength();
        if (announced > max) {
            // refused before a byte of it is read; the unread rest dies with the connection
            refuse(RequestBody.tooLarge(max, ""), false);
            return;
        }
        ex.addExchangeCompleteListener((done, next) -> {
            release();
            next.proceed();
        });
        if (announced > 0 && !hold(announced)) {
            refuse(busy(), false);
            return;
        }
        ex.getRequestReceiver().receivePartialBytes((e, data, last) -> {
            if (answered) {
                return;
            }
            if ((long) size + data.length > max) {
                refuse(RequestBody.tooLarge(max, ""), true);
                return;
            }
            if (announced < 0 && !hold(data.length)) {
                refuse(busy(), true);
                return;
            }
            append(data, announced);
            if (last) {
                byte[] body = size == buf.length ? buf : Arrays.copyOf(buf, size);
                buf = null;
                e.dispatch(() -> then.accept(body));
            }
        }, (e, error) -> {
            // the client went away or fell silent for http_read_timeout: nobody to answer
            LOG.info("lm-server: " + what + ": request body not received: " + error);
            IoUtils.safeClose(e.getConnection());
        });
    }

    private void append(byte[] data, long announced) {
        if (size + data.length > buf.length) {
            long want = Math.max((long) size + data.length, Math.max(FIRST_BUFFER, 2L * buf.length));
            buf = Arrays.copyOf(buf, (int) Math.min(want, announced > 0 ? announced : max));
        }
        System.arraycopy(data, 0, buf, size, data.length);
        size += data.length;
    }

    private synchronized boolean hold(long n) {
        if (!memory.take(n, held)) {
            return false;
        }
        held += n;
        return true;
    }

    private synchronized void release() {
        memory.give(held);
        held = 0;
    }

    /** The answer before the body was read whole: the connection closes after it, the rest unread. */
    private void refuse(ApiException e, boolean reading) {
        answered = true;
        buf = null;
        ex.setPersistent(false);
        if (reading) {
            // no more reads for a body nobody will use
            ex.getRequestReceiver().pause();
        }
        ApiServer.writeError(ex, e);
    }

    private static ApiException busy() {
        return new ApiException(503, "busy", "the server is receiving too many request bodies at once"
                + " (http_body_memory_mib); try again", null);
    }
}
