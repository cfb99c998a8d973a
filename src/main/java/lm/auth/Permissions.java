package lm.auth;

import java.util.Set;

/** The permission names this project understands. */
final class Permissions {

    static final String PREFIX = "license-manager:";
    static final String ADMIN = PREFIX + "admin";
    static final Set<String> RESOURCES =
            Set.of("config", "license-server", "product", "feature", "job", "booking", "status", "metrics",
                   // POST /prolog_token: a cluster's agent fetches the narrow token its prolog uses
                   "prolog-token",
                   // GET /audit: the audit trail
                   "audit");
    static final Set<String> ACTIONS = Set.of("create", "read", "update", "delete");

    private Permissions() {}

    static String of(String resource, String action) {
        if (!RESOURCES.contains(resource)) {
            throw new IllegalArgumentException("unknown resource '" + resource + "', one of " + RESOURCES);
        }
        if (!ACTIONS.contains(action)) {
            throw new IllegalArgumentException("unknown action '" + action + "', one of " + ACTIONS);
        }
        return PREFIX + resource + ":" + action;
    }

    /** True for {@code license-manager:admin} and every {@code license-manager:<resource>:<action>}. */
    static boolean isKnown(String permission) {
        if (ADMIN.equals(permission)) {
            return true;
        }
        if (permission == null || !permission.startsWith(PREFIX)) {
            return false;
        }
        String[] parts = permission.substring(PREFIX.length()).split(":", -1);
        return parts.length == 2 && RESOURCES.contains(parts[0]) && ACTIONS.contains(parts[1]);
    }
}
