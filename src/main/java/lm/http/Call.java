package lm.http;

import io.undertow.server.HttpServerExchange;
import java.util.Deque;
import java.util.Map;
import lm.auth.Principal;
import lm.db.Actor;

/** One request as endpoints see it: path and query parameters, the JSON body, the caller. */
public final class Call {
    private final HttpServerExchange exchange;
    private final Principal principal;
    private final String body;
    private final Map<String, String> path;
    private final Reads reads;

    Call(HttpServerExchange exchange, Principal principal, String body, Reads reads) {
        this.exchange = exchange;
        this.principal = principal;
        this.body = body;
        this.path = pathParameters(exchange);
        this.reads = reads;
    }

    /**
     * The route's path parameters ({@code {id}}), refused when the query names one of them too:
     * Undertow adds them to the query parameters, after those of the query string, so
     * {@code DELETE /lm/products/1?id=2} deleted product 2 (issue 20). The path names the
     * resource; a query parameter of the same name is a 400 even with the same value, as one
     * rule is simpler to document and to keep than "the same unless different".
     */
    static Map<String, String> pathParameters(HttpServerExchange exchange) {
        io.undertow.util.PathTemplateMatch match = exchange.getAttachment(io.undertow.util.PathTemplateMatch.ATTACHMENT_KEY);
        Map<String, String> path = match == null ? Map.of() : Map.copyOf(match.getParameters());
        for (String name : path.keySet()) {
            Deque<String> d = exchange.getQueryParameters().get(name);
            if (d != null && d.size() > 1) {
                throw ApiException.badRequest("query parameter '" + name + "' is not allowed here: the path gives " + name
                        + " (" + path.get(name) + ")");
            }
        }
        return path;
    }

    public Principal principal() {
        return principal;
    }

    /** The caller's cluster (azp / client_id claim); required by cluster-scoped endpoints. */
    public String cluster() {
        if (principal == null || principal.clientId() == null || principal.clientId().isBlank()) {
            throw new ApiException(403, "forbidden", "this endpoint acts on the caller's cluster, and the token names none (azp or client_id claim)", null);
        }
        return principal.clientId();
    }

    /**
     * The cluster whose rows the caller may change: its own, or null (every cluster) for
     * license-manager:admin. The SQL functions that act on a job, booking or feature by id take
     * it and treat another cluster's row as not found.
     */
    public String clusterScope() {
        return principal != null && principal.isAdmin() ? null : cluster();
    }

    /**
     * The caller and this request, for a write that is an audit event (lm.db.Sql#tx(DataSource,
     * Actor, Work)): the token's sub and cluster, whether it is admin, and method, path and query
     * as sent.
     */
    public Actor actor() {
        String query = exchange.getQueryString();
        String route = exchange.getRequestMethod() + " " + exchange.getRequestPath() + (query == null || query.isEmpty() ? "" : "?" + query);
        return new Actor(principal == null ? null : principal.subject(), principal == null ? null : principal.clientId(),
                principal != null && principal.isAdmin(), route);
    }

    /** A path parameter, else the first query parameter of this name; null when there is none. */
    public String param(String name) {
        String p = path.get(name);
        if (p != null) {
            return p;
        }
        Deque<String> d = exchange.getQueryParameters().get(name);
        return d == null || d.isEmpty() ? null : d.getFirst();
    }

    /** A boolean query parameter: absent is false; anything but true or false is a 400. */
    public boolean flag(String name) {
        String v = param(name);
        if (v == null || v.equals("false")) {
            return false;
        }
        if (v.equals("true")) {
            return true;
        }
        throw ApiException.badRequest("query parameter " + name + " must be true or false");
    }

    /**
     * A time query parameter: an ISO 8601 instant with an offset (2026-11-27T10:00:00Z) or a UTC
     * day (2026-11-27, its midnight); absent or empty is null, anything else a 400. The one rule
     * for every route that takes since and until.
     */
    public java.time.Instant time(String name) {
        String v = param(name);
        if (v == null || v.isEmpty()) {
            return null;
        }
        try {
            return v.length() == 10 ? java.time.LocalDate.parse(v).atStartOfDay(java.time.ZoneOffset.UTC).toInstant()
                    : java.time.OffsetDateTime.parse(v).toInstant();
        } catch (java.time.format.DateTimeParseException e) {
            throw ApiException.badRequest("query parameter " + name + " must be an ISO 8601 time such as 2026-11-27T10:00:00Z,"
                    + " or a day such as 2026-11-27");
        }
    }

    /** An optional id in the query (e.g. a filter): absent is null, anything but a positive integer a 400. */
    public Long queryId(String name) {
        return number(name, 1, Long.MAX_VALUE);
    }

    /** An optional integer query parameter in [min, max]: absent is null, anything else a 400 (as limit and offset). */
    public Long number(String name, long min, long max) {
        return Listing.number(param(name), name, min, max);
    }

    /** A numeric path id; anything else names no resource, hence 404. */
    public long id(String name, String resource) {
        String v = param(name);
        try {
            long id = Long.parseLong(v);
            if (id > 0) {
                return id;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw ApiException.notFound(resource + " " + v + " not found");
    }

    public com.google.gson.JsonElement json() {
        if (body == null || body.isBlank()) {
            throw ApiException.badRequest("a JSON request body is required");
        }
        return Json.parse(body);
    }

    public Body object(String what) {
        return new Body(json(), what);
    }

    public Listing.Query listQuery(Listing listing) {
        return listing.query(this::param).with(reads);
    }
}
