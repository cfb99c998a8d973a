package lm.ui;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.handlers.resource.ClassPathResourceManager;
import io.undertow.server.handlers.resource.ResourceHandler;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.Methods;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One browser page and its files, from the jar: the page itself ({@code /}, never cached, so a
 * new release is seen at once), the project's own scripts and styles under
 * {@code /assets/<hash of their content>/} and a WebJar under {@code /vendor/<name>/<version>/}
 * (both cached for a year: their URL changes whenever their content does). Every answer carries
 * the page's Content-Security-Policy. Nothing here needs a token: the page asks the API for data
 * with the token the person gives it.
 */
final class WebFiles implements HttpHandler {
    private static final String YEAR = "public, max-age=31536000, immutable";
    private static final HttpString CSP = new HttpString("Content-Security-Policy");

    private final String page;
    private final String assetsDir;
    private final Map<String, byte[]> assets;
    private final String vendorDir;
    private final ResourceHandler vendor;
    private final String csp;

    /**
     * @param pageResource the HTML page; {@code @ASSETS@} in it becomes the assets' directory
     * @param ownResources the project's files beside it, by the name the page uses
     * @param vendorName   e.g. {@code uplot/1.6.30}: the WebJar's files under {@code vendor/uplot/1.6.30/}
     * @param vendorRoot   where they are in the jar
     */
    WebFiles(String pageResource, Map<String, String> ownResources, String vendorName, String vendorRoot, String csp) {
        this.assets = new LinkedHashMap<>();
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        // in name order, so the hash is the same at every start
        for (Map.Entry<String, String> e : new java.util.TreeMap<>(ownResources).entrySet()) {
            byte[] bytes = read(e.getValue());
            assets.put(e.getKey(), bytes);
            sha.update(bytes);
        }
        this.assetsDir = "assets/" + HexFormat.of().formatHex(sha.digest()).substring(0, 12) + "/";
        this.page = new String(read(pageResource), StandardCharsets.UTF_8).replace("@ASSETS@", assetsDir.substring(0, assetsDir.length() - 1));
        this.vendorDir = "vendor/" + vendorName + "/";
        this.vendor = new ResourceHandler(new ClassPathResourceManager(WebFiles.class.getClassLoader(), vendorRoot));
        this.csp = csp;
    }

    @Override
    public void handleRequest(HttpServerExchange ex) throws Exception {
        if (!ex.getRequestMethod().equals(Methods.GET) && !ex.getRequestMethod().equals(Methods.HEAD)) {
            text(ex, 405, "only GET and HEAD");
            return;
        }
        String path = ex.getRelativePath();
        ex.getResponseHeaders().put(CSP, csp);
        ex.getResponseHeaders().put(new HttpString("X-Content-Type-Options"), "nosniff");
        ex.getResponseHeaders().put(new HttpString("Referrer-Policy"), "no-referrer");
        if (path.isEmpty()) {
            // /lm/ui → /lm/ui/: the page's relative links need the slash
            ex.getResponseHeaders().put(Headers.LOCATION, ex.getRequestURI() + "/");
            text(ex, 301, "");
        } else if (path.equals("/")) {
            ex.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
            send(ex, "text/html; charset=utf-8", page.getBytes(StandardCharsets.UTF_8));
        } else if (path.startsWith("/" + assetsDir) && assets.containsKey(path.substring(assetsDir.length() + 1))) {
            String name = path.substring(assetsDir.length() + 1);
            ex.getResponseHeaders().put(Headers.CACHE_CONTROL, YEAR);
            send(ex, type(name), assets.get(name));
        } else if (path.startsWith("/" + vendorDir) && !path.contains("..")) {
            ex.getResponseHeaders().put(Headers.CACHE_CONTROL, YEAR);
            ex.setRelativePath(path.substring(vendorDir.length()));
            vendor.handleRequest(ex);
        } else {
            text(ex, 404, "not found");
        }
    }

    private static String type(String name) {
        return name.endsWith(".js") ? "text/javascript; charset=utf-8"
                : name.endsWith(".css") ? "text/css; charset=utf-8"
                : name.endsWith(".svg") ? "image/svg+xml" : "application/octet-stream";
    }

    private static void send(HttpServerExchange ex, String type, byte[] body) {
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, type);
        ex.getResponseSender().send(ByteBuffer.wrap(body));
    }

    private static void text(HttpServerExchange ex, int status, String body) {
        ex.setStatusCode(status);
        ex.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
        send(ex, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] read(String resource) {
        try (InputStream in = WebFiles.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("reading " + resource, e);
        }
    }
}
