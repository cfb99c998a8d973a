package lm.auth;

import java.util.Objects;
import java.util.Set;

/**
 * Who made a request, as stated by a verified token.
 *
 * @param clientId the cluster identity ({@code azp}, else {@code client_id}); null for a user
 *     token that names no client
 * @param subject the token's {@code sub}, or the client id when the token has no {@code sub}
 * @param permissions every permission string in the token, including ones that are not ours
 */
public record Principal(String clientId, String subject, Set<String> permissions) {

    public Principal {
        Objects.requireNonNull(subject, "subject");
        permissions = permissions == null ? Set.of() : Set.copyOf(permissions);
    }

    /**
     * True if the principal holds {@code license-manager:admin} or
     * {@code license-manager:<resource>:<action>}.
     *
     * @throws IllegalArgumentException for a resource or action that doesn't exist, so that a typo
     *     in a route table fails loudly instead of answering 403 to everyone
     */
    public boolean isAdmin() {
        return permissions.contains(Permissions.ADMIN);
    }

    public boolean can(String resource, String action) {
        String wanted = Permissions.of(resource, action);
        return permissions.contains(Permissions.ADMIN) || permissions.contains(wanted);
    }
}
