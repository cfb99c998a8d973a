package lm.http;

/**
 * The bytes of request bodies this server holds at once (http_body_memory_mib): a body takes its
 * announced length when it starts, or each chunk as it comes when it announces none, and gives
 * it all back when its request ends. Past the bound an upload is refused (503, come back later)
 * before its bytes are read, so many large uploads at once cannot run the heap out (issue 20:
 * 140 of them announcing 1 GiB ran a 256 MiB server out of memory). One body is always let in
 * when no other holds any, so a route's largest body fits whatever the bound.
 */
final class BodyMemory {
    private final long capacity;
    private long used;

    BodyMemory(long capacity) {
        this.capacity = capacity;
    }

    /** Takes {@code n} more bytes for a body that already holds {@code held}; false when they don't fit. */
    synchronized boolean take(long n, long held) {
        if (used + n > capacity && used != held) {
            return false;
        }
        used += n;
        return true;
    }

    synchronized void give(long n) {
        used -= n;
    }

    synchronized long used() {
        return used;
    }
}
