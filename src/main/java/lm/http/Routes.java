package lm.http;

import java.util.ArrayList;
import java.util.List;

/**
 * The route table of the API. Each feature lists all of its routes in one method that adds them
 * here; the OpenAPI test walks this table to keep openapi.json true.
 */
public final class Routes {
    /** {@code resource} null: no token needed (health, version, the OpenAPI document). */
    public record Route(String method, String path, String resource, String action, Endpoint endpoint) {}

    private final List<Route> routes = new ArrayList<>();

    public Routes get(String path, String resource, String action, Endpoint e) {
        return add("GET", path, resource, action, e);
    }

    public Routes post(String path, String resource, String action, Endpoint e) {
        return add("POST", path, resource, action, e);
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
        routes.add(new Route(method, path, resource, action, e));
        return this;
    }

    public List<Route> all() {
        return List.copyOf(routes);
    }
}
