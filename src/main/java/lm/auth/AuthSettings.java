package lm.auth;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Settings of the token verifier, validated here so that a bad config stops the server at start.
 *
 * @param keysFile JWKS file holding the server's own signing key pair(s); created when missing
 * @param localIssuer {@code iss} of tokens minted with the local key; blank means "lm-local"
 * @param oidcIssuer issuer URL of an identity provider, exactly as in its tokens' {@code iss}, or
 *     null (or blank) for none
 * @param permissionsClaim claim holding the permissions; blank means "permissions"
 * @param audience when set, every token's {@code aud} must contain it (and minted tokens carry
 *     it); null (or blank) checks no audience, and minted tokens carry {@link #DEFAULT_AUDIENCE}
 * @param prologTokenTtl how long a token made by POST /prolog_token is valid; null means
 *     {@link #DEFAULT_PROLOG_TOKEN_TTL}
 * @param uiClientId the identity provider's public client with which the dashboard logs people
 *     in (authorization code with PKCE); null (or blank): the dashboard takes pasted tokens only
 */
public record AuthSettings(Path keysFile, String localIssuer, String oidcIssuer, String permissionsClaim, String audience,
                           java.time.Duration prologTokenTtl, String uiClientId) {

    public static final String DEFAULT_LOCAL_ISSUER = "lm-local";
    public static final String DEFAULT_PERMISSIONS_CLAIM = "permissions";
    public static final String DEFAULT_AUDIENCE = "license-manager";
    // a day: the agent renews it every pass, so the prolog keeps working through an agent outage
    // that short, and a stolen copy is worthless after it
    public static final java.time.Duration DEFAULT_PROLOG_TOKEN_TTL = java.time.Duration.ofHours(24);

    /** Settings that check no audience. */
    public AuthSettings(Path keysFile, String localIssuer, String oidcIssuer, String permissionsClaim) {
        this(keysFile, localIssuer, oidcIssuer, permissionsClaim, null);
    }

    public AuthSettings(Path keysFile, String localIssuer, String oidcIssuer, String permissionsClaim, String audience) {
        this(keysFile, localIssuer, oidcIssuer, permissionsClaim, audience, null, null);
    }

    public AuthSettings {
        Objects.requireNonNull(keysFile, "keysFile");
        localIssuer = isBlank(localIssuer) ? DEFAULT_LOCAL_ISSUER : localIssuer.strip();
        oidcIssuer = isBlank(oidcIssuer) ? null : oidcIssuer.strip();
        permissionsClaim = isBlank(permissionsClaim) ? DEFAULT_PERMISSIONS_CLAIM : permissionsClaim.strip();
        audience = isBlank(audience) ? null : audience.strip();
        prologTokenTtl = prologTokenTtl == null ? DEFAULT_PROLOG_TOKEN_TTL : prologTokenTtl;
        uiClientId = isBlank(uiClientId) || oidcIssuer == null ? null : uiClientId.strip();
        if (oidcIssuer != null) {
            if (!oidcIssuer.startsWith("https://") && !oidcIssuer.startsWith("http://")) {
                throw new IllegalArgumentException("OIDC issuer must be an http(s) URL: " + oidcIssuer);
            }
            // Tokens are routed to a key set by their iss: one name for two key sets would be ambiguous.
            if (oidcIssuer.equals(localIssuer)) {
                throw new IllegalArgumentException("local issuer and OIDC issuer must differ: " + oidcIssuer);
            }
        }
    }

    /** The audience minted tokens carry. */
    public String mintedAudience() {
        return audience != null ? audience : DEFAULT_AUDIENCE;
    }

    private static boolean isBlank(String s) {
        return s == null || s.isBlank();
    }
}
