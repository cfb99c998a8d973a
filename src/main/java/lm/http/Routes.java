package lm.http;

import java.util.ArrayList;
import java.util.List;

/**
 * The route table of the API. Each feature lists all of its routes in one method that adds them
 * here; the OpenAPI test walks this table to keep openapi.json true.
 */
public final class Routes {
    /**
     * What a request body may hold, as sent and after gzip decompression: a JSON document of
     * this size is a few times larger as a parsed tree, so routes that need more say so.
     */
    public static final int DEFAULT_MAX_BODY = 4 * 1024 * 1024;

    /**
     * {@code resource} null: no token needed (health, version, the OpenAPI document).
     * {@code maxBody}: the body limit in bytes, see {@link #DEFAULT_MAX_BODY}.
     */
    public record Route(String method, String path, String resource, String action, int maxBody, Endpoint endpoint) {}

    /** Pages and files for a browser under {@code prefix} (e.g. "/ui"): no token, not API routes. */
    public record WebTree(String prefix, io.undertow.server.HttpHandler handler) {}

    private final List<Route> routes = new ArrayList<>();
    private final List<WebTree> trees = new ArrayList<>();

    public Routes get(String path, String resource, String action, Endpoint e) {
        return add("GET", path, resource, action, e);
    }

    public Routes post(String path, String resource, String action, Endpoint e) {
        return add("POST", path, resource, action, e);
    }

    /** A POST whose body may be larger than {@link #DEFAULT_MAX_BODY}. */
    public Routes post(String path, String resource, String action, int maxBody, Endpoint e) {
        routes.add(new Route("POST", path, resource, action, maxBody, e));
        return this;
    }

    public Routes put(String path, String resource, String action, Endpoint e) {
        return add("PUT", path, resource, action, e);
    }

    public Routes delete(String path, String resource, String action, Endpoint e) {
        return add("DELETE", path, resource, action, e);
    }

    public Routes open(String method, String path, Endpoint e) {
        return add(method, path, null, null, e);
    }

    private Routes add(String method, String path, String resource, String action, Endpoint e) {
        routes.add(new Route(method, path, resource, action, DEFAULT_MAX_BODY, e));
        return this;
    }

    public Routes web(String prefix, io.undertow.server.HttpHandler handler) {
        trees.add(new WebTree(prefix, handler));
        return this;
    }

    public List<Route> all() {
        return List.copyOf(routes);
    }

    public List<WebTree> webTrees() {
        return List.copyOf(trees);
    }
}
