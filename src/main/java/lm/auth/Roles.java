package lm.auth;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Named permission sets, so that each token carries the least it needs (lm-server(8), ROLES).
 * A role is only a way to write its permissions: tokens carry the permissions, never the name.
 */
public final class Roles {
    private Roles() {}

    public static final String ADMIN = "admin";
    public static final String AGENT = "agent";
    public static final String PROLOG = "prolog";
    public static final String READER = "reader";

    private static final Map<String, List<String>> ROLES = new TreeMap<>(Map.of(
            ADMIN, List.of(Permissions.ADMIN),
            // what one cluster's lm-agent calls: its configurations, the report (feature:update)
            // and the prolog's token; the report's own SQL acts on the caller's cluster only.
            // feature:update writes readings, never policy: share, max_use and reserved change
            // only for license-manager:admin (lm.check_policy, R__inventory_functions.sql)
            AGENT, List.of(Permissions.of("config", "read"), Permissions.of("feature", "update"),
                           Permissions.of("prolog-token", "create")),
            // PrologSlurmctld books (POST /jobs), EpilogSlurmctld releases (DELETE by slurm_job_id)
            PROLOG, List.of(Permissions.of("job", "create"), Permissions.of("job", "read"), Permissions.of("job", "delete")),
            // everything an auditor or a dashboard reads; prolog tokens are made, never read, and
            // the audit trail names people (sub): admin only, or a token minted with audit:read
            READER, Permissions.RESOURCES.stream().filter(r -> !r.equals("prolog-token") && !r.equals("audit")).sorted()
                    .map(r -> Permissions.of(r, "read")).toList()));

    /** The permissions of {@code role}. @throws IllegalArgumentException for an unknown role */
    public static List<String> permissions(String role) {
        List<String> p = ROLES.get(role);
        if (p == null) {
            throw new IllegalArgumentException("unknown role '" + role + "', one of " + ROLES.keySet());
        }
        return p;
    }

    public static java.util.Set<String> names() {
        return ROLES.keySet();
    }
}
