package lm.auth;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Tokens already verified, so that a client sending the same token on every request pays for
 * one signature check, not one per request. Only verified tokens get in, so garbage can't evict
 * good entries; when full it is simply cleared, which costs one verification per live token.
 */
final class TokenCache {

    private record Entry(Authenticator.Verified verified, long validUntilMillis) {}

    private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();
    private final int maxEntries;

    TokenCache(int maxEntries) {
        this.maxEntries = maxEntries;
    }

    /** A token verified before, or null if unknown or no longer valid at now. */
    Authenticator.Verified get(String token, long nowMillis) {
        Entry e = entries.get(token);
        if (e == null) {
            return null;
        }
        if (nowMillis >= e.validUntilMillis) {
            entries.remove(token, e);
            return null;
        }
        return e.verified;
    }

    void put(String token, Authenticator.Verified verified, long validUntilMillis) {
        if (entries.size() >= maxEntries) {
            entries.clear();
        }
        entries.put(token, new Entry(verified, validUntilMillis));
    }

    int size() {
        return entries.size();
    }
}
