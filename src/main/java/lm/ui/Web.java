package lm.ui;

import java.util.Map;
import lm.auth.AuthSettings;
import lm.http.Routes;

/**
 * The read-only dashboard at /lm/ui/ and Swagger UI at /lm/docs/, both served from the jar
 * (no asset from the internet, no build step: plain HTML, CSS and JavaScript, and two WebJars).
 */
public final class Web {
    static final String UPLOT = "uplot/1.6.30";
    static final String SWAGGER_UI = "swagger-ui/5.34.1";

    // Scripts and styles from this origin only (no inline script, no eval); the page's data
    // comes from the API on the same origin. Swagger UI sets style attributes and shows
    // data: images, so its page allows those two.
    static final String UI_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
            + " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    static final String DOCS_POLICY = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
            + " img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private Web() {}

    /**
     * With {@code auth.uiClientId()} the dashboard also logs people in at the identity provider
     * (authorization code with PKCE, a public client): the page names the issuer and client in
     * two meta tags, and may then talk to that issuer (discovery, the token endpoint).
     */
    public static void routes(Routes r, AuthSettings auth) {
        String issuer = auth.uiClientId() == null ? "" : auth.oidcIssuer();
        String client = auth.uiClientId() == null ? "" : auth.uiClientId();
        String policy = issuer.isEmpty() ? UI_POLICY : UI_POLICY.replace("connect-src 'self'", "connect-src 'self' " + origin(issuer));
        r.web("/ui", new WebFiles("lm/ui/index.html", Map.of("@OIDC_ISSUER@", issuer, "@OIDC_CLIENT@", client),
                Map.of("app.js", "lm/ui/app.js", "app.css", "lm/ui/app.css"),
                UPLOT, "META-INF/resources/webjars/" + UPLOT + "/dist", policy));
        r.web("/docs", new WebFiles("lm/ui/docs.html", Map.of(), Map.of("docs.js", "lm/ui/docs.js"),
                SWAGGER_UI, "META-INF/resources/webjars/" + SWAGGER_UI, DOCS_POLICY));
    }

    /** scheme://host[:port] of a URL: what CSP's connect-src names. */
    static String origin(String url) {
        java.net.URI u = java.net.URI.create(url);
        return u.getScheme() + "://" + u.getHost() + (u.getPort() < 0 ? "" : ":" + u.getPort());
    }
}
