package lm.http;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import javax.sql.DataSource;
import lm.db.Sql;

/**
 * List and get-one over an API view whose column {@code j} is the resource's JSON, or a list of
 * a report function's rows ({@link #report}). The view does the shaping in SQL; this class only
 * adds search, a whitelisted sort, paging and the count.
 */
public final class Listing {
    private static final int MAX_LIMIT = 10_000;
    /**
     * Search bounds (lm-server(8), LISTS): each term is an ILIKE on every search column, so the
     * cost grows with terms × columns × rows; 24 parallel searches of 8,000 terms took
     * /lm/health from 2 ms to 3.5 s (issue 20). A person types a few words; more is a 400.
     */
    static final int MAX_SEARCH_TERMS = 32;
    static final int MAX_SEARCH_TERM_CHARS = 200;

    private final String view;
    private final List<String> searchColumns;
    private final Map<String, String> sortable;
    private final String resource;
    private final String defaultField;
    private final boolean defaultAscending;
    private final String tiebreak;
    // each row's JSON: the view's column j, or a report's whole row
    private final String json;

    /** {@code sortable}: API field name → column of the view; every view has an {@code id}, the default order and the tiebreak. */
    public Listing(String resource, String view, List<String> searchColumns, Map<String, String> sortable) {
        this(resource, view, searchColumns, sortable, "id", true, null, "p.j");
    }

    private Listing(String resource, String view, List<String> searchColumns, Map<String, String> sortable, String defaultField,
                    boolean defaultAscending, String tiebreak, String json) {
        this.resource = resource;
        this.view = view;
        this.searchColumns = searchColumns;
        this.sortable = sortable;
        this.defaultField = defaultField;
        this.defaultAscending = defaultAscending;
        this.tiebreak = tiebreak;
        this.json = json;
    }

    /**
     * A report's rows ({@code source}: a set-returning function, its arguments the first
     * parameters of {@link #list}), which have no id and are their own JSON, each column a field:
     * sorted by {@code defaultField} unless the caller asks otherwise, then always by
     * {@code tiebreak} (SQL, ascending), so that pages neither overlap nor leave a row out.
     */
    public static Listing report(String resource, String source, List<String> searchColumns, Map<String, String> sortable,
                                 String defaultField, boolean defaultAscending, String tiebreak) {
        return new Listing(resource, source, searchColumns, sortable, defaultField, defaultAscending, tiebreak, "p");
    }

    /** {@code search}: filtered by search terms; {@code reads}: what the query may take ({@link Reads}). */
    public record Query(String where, List<Object> params, String orderBy, Long limit, long offset, boolean search, Reads reads) {
        public Query with(Reads r) {
            return new Query(where, params, orderBy, limit, offset, search, r);
        }
    }

    public Query query(Function<String, String> param) {
        List<Object> params = new ArrayList<>();
        StringBuilder where = new StringBuilder("true");
        String search = param.apply("search");
        boolean searching = search != null && !search.isBlank();
        if (searching) {
            // the reference API's rule: whitespace-split terms, OR of case-insensitive substrings
            List<String> ors = new ArrayList<>();
            String[] terms = search.strip().split("\\s+");
            if (terms.length > MAX_SEARCH_TERMS) {
                throw ApiException.badRequest("search has " + terms.length + " terms; at most " + MAX_SEARCH_TERMS + " are allowed");
            }
            for (String term : terms) {
                if (term.length() > MAX_SEARCH_TERM_CHARS) {
                    throw ApiException.badRequest("a search term is " + term.length() + " characters long; at most "
                            + MAX_SEARCH_TERM_CHARS + " are allowed");
                }
                String like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%";
                for (String col : searchColumns) {
                    ors.add(col + " ILIKE ?");
                    params.add(like);
                }
            }
            where.append(" AND (").append(String.join(" OR ", ors)).append(")");
        }
        String field = param.apply("sort_field");
        String column = sortable.getOrDefault(defaultField, defaultField);
        if (field != null) {
            column = sortable.get(field);
            if (column == null) {
                throw new ApiException(400, "bad_request", "Invalid sorting column requested: " + field
                        + ". Must be one of " + new java.util.TreeSet<>(sortable.keySet()), null);
            }
        }
        String asc = param.apply("sort_ascending");
        boolean ascending = field == null ? defaultAscending : true;
        if (asc != null) {
            if (!asc.equalsIgnoreCase("true") && !asc.equalsIgnoreCase("false")) {
                throw ApiException.badRequest("sort_ascending must be true or false");
            }
            ascending = Boolean.parseBoolean(asc);
        }
        String dir = ascending ? " ASC" : " DESC";
        String orderBy = column + dir + " NULLS LAST" + (tiebreak != null ? ", " + tiebreak : column.equals("id") ? "" : ", id" + dir);
        Long limit = number(param.apply("limit"), "limit", 1, MAX_LIMIT);
        Long offset = number(param.apply("offset"), "offset", 0, Long.MAX_VALUE);
        return new Query(where.toString(), params, orderBy, limit, offset == null ? 0 : offset, searching, Reads.UNBOUNDED);
    }

    /** A query parameter's integer in [min, max]; absent is null, anything else a 400. */
    static Long number(String v, String name, long min, long max) {
        if (v == null) {
            return null;
        }
        try {
            long n = Long.parseLong(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw ApiException.badRequest(name + " must be an integer from " + min + " to " + max);
    }

    /**
     * The page as a JSON array and the count of all matches, in one statement. The page is sorted
     * with its LIMIT (a top-N sort: the first page of 300,000 report rows does not sort them all),
     * then again, only its own rows, for json_agg. Parameters: the view's (a report function's
     * arguments), then the scope's, in the SQL's order.
     */
    public Reply list(DataSource ds, Query q, String scope, Object... scopeParams) throws SQLException {
        List<Object> params = new ArrayList<>(java.util.Arrays.asList(scopeParams)); // a report's NULL arguments too
        params.addAll(q.params());
        String sql = "WITH m AS (SELECT * FROM " + view + " WHERE (" + (scope == null ? "true" : scope) + ") AND " + q.where() + ")"
                + " SELECT (SELECT count(*) FROM m),"
                + " (SELECT coalesce(json_agg(" + json + " ORDER BY " + q.orderBy() + "), '[]') FROM"
                + "   (SELECT * FROM m ORDER BY " + q.orderBy() + (q.limit() == null ? "" : " LIMIT " + q.limit()) + " OFFSET " + q.offset() + ") p)";
        Sql.Rows<Reply> page = rs -> {
            rs.next();
            return Reply.list(rs.getString(2), rs.getLong(1));
        };
        return q.reads().query(ds, q.search(), sql, page, params.toArray());
    }

    public Reply one(DataSource ds, long id) throws SQLException {
        String j = Sql.text(ds, "SELECT j FROM " + view + " WHERE id = ?", id);
        if (j == null) {
            throw ApiException.notFound(resource + " " + id + " not found");
        }
        return Reply.ok(j);
    }

    /** Get-one with an extra condition (e.g. the caller's cluster). */
    public Reply one(DataSource ds, String where, String notFound, Object... params) throws SQLException {
        String j = Sql.text(ds, "SELECT j FROM " + view + " WHERE " + where, params);
        if (j == null) {
            throw ApiException.notFound(notFound);
        }
        return Reply.ok(j);
    }
}
