package lm.ui;

import java.util.Map;
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

    public static void routes(Routes r) {
        r.web("/ui", new WebFiles("lm/ui/index.html", Map.of("app.js", "lm/ui/app.js", "app.css", "lm/ui/app.css"),
                UPLOT, "META-INF/resources/webjars/" + UPLOT + "/dist", UI_POLICY));
        r.web("/docs", new WebFiles("lm/ui/docs.html", Map.of("docs.js", "lm/ui/docs.js"),
                SWAGGER_UI, "META-INF/resources/webjars/" + SWAGGER_UI, DOCS_POLICY));
    }
}
