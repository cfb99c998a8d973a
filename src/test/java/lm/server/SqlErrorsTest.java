package lm.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.sql.SQLException;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Constraints;
import lm.http.Json;
import lm.http.SqlErrors;
import lm.testing.Http;
import lm.testing.TestApi;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A refused write names the field and its rule in words, never PostgreSQL's own text: one test
 * per kind of error (check, foreign key, unique, not-null, data), through the API where a client
 * can cause it and through {@link SqlErrors} with the real database's exception where only a bug
 * could. And {@link Constraints} has words for exactly the constraints the migrations create.
 */
class SqlErrorsTest {
    /** What PostgreSQL's messages and details look like; none of it may reach a client. */
    static final Pattern RAW = Pattern.compile("violates|constraint \"|ERROR:|Detail:|Key \\(|Failing row|is not present in table"
            + "|still referenced from|invalid input syntax|out of range for type|value too long for type|null value in column"
            + "|unsupported Unicode|lm\\.\\w+_(?:check|key|fkey|pkey)\\b");

    @RegisterExtension
    static final TestApi api = new TestApi();
    static String admin;

    @BeforeAll
    static void start() {
        admin = api.token("errs", "license-manager:admin");
    }

    /** The problem with an error answer, or null: a 4xx {code, message, detail} without raw text. */
    static String rawText(Http.Res res) {
        if (res.status() < 400) {
            return null;
        }
        JsonObject err = res.json().getAsJsonObject();
        String all = err.get("message").getAsString() + " " + err.get("detail");
        return RAW.matcher(all).find() ? "raw PostgreSQL text in " + res : null;
    }

    private static JsonObject refused(Http.Res res, int status, String code) {
        assertEquals(status, res.status(), res::toString);
        assertNull(rawText(res));
        JsonObject err = res.json().getAsJsonObject();
        assertEquals(code, err.get("code").getAsString(), res::toString);
        return err;
    }

    private static void fieldAndRule(JsonObject err, String message, String field) {
        assertEquals(message, err.get("message").getAsString());
        assertEquals(field, err.getAsJsonObject("detail").get("field").getAsString());
        String constraint = err.getAsJsonObject("detail").get("constraint").getAsString();
        assertEquals(message, Constraints.of(constraint).message(), "the words of the constraint named");
    }

    private static long id(Http.Res res) {
        assertEquals(201, res.status(), res::toString);
        return res.json().getAsJsonObject().get("id").getAsLong();
    }

    // ---------------------------------------------------------------- one table, kept complete

    @Test
    void everyConstraintOfTheSchemaHasWordsAndNoOtherDoes() throws SQLException {
        // constraints, plus unique indexes that back none (PostgreSQL reports their name as the constraint)
        Set<String> inDatabase = Sql.query(api.ds, """
                SELECT con.conname FROM pg_constraint con
                JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = 'lm' AND t.relname <> 'flyway_schema_history'
                UNION
                SELECT i.relname FROM pg_index x
                JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = 'lm' AND t.relname <> 'flyway_schema_history' AND x.indisunique
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)""", rs -> {
            Set<String> out = new TreeSet<>();
            while (rs.next()) {
                out.add(rs.getString(1));
            }
            return out;
        });
        Set<String> missing = new TreeSet<>(inDatabase);
        missing.removeAll(Constraints.names());
        Set<String> stale = new TreeSet<>(Constraints.names());
        stale.removeAll(inDatabase);
        assertTrue(missing.isEmpty(), "constraints without words in lm.http.Constraints: " + missing);
        assertTrue(stale.isEmpty(), "lm.http.Constraints names constraints the schema doesn't have: " + stale);
        // constraint names are unique per table only; the table is keyed by name alone
        assertEquals(Long.valueOf(inDatabase.size()), Long.valueOf(Sql.text(api.ds, """
                SELECT count(DISTINCT con.conname) + 0 FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'lm' AND t.relname <> 'flyway_schema_history'""")));
    }

    // ---------------------------------------------------------------- each kind, through the API

    @Test
    void checkConstraintNamesFieldAndRule() {
        long product = id(api.http.post("/products", admin, "{\"name\":\"chk\"}"));
        Http.Res config = api.http.post("/configurations", admin, "{\"name\":\"chk\",\"cluster_client_id\":\"errs\",\"type\":\"flexlm\","
                + "\"features\":[{\"name\":\"f\",\"product_id\":" + product + ",\"reserved\":-1}]}");
        fieldAndRule(refused(config, 422, "unprocessable"), "feature: 'reserved' must be 0 or more", "reserved");
        fieldAndRule(refused(api.http.post("/configurations", admin, "{\"name\":\" \",\"cluster_client_id\":\"errs\",\"type\":\"flexlm\"}"),
                422, "unprocessable"), "configuration: 'name' must be 1 to 255 characters, not only spaces", "name");
        JsonObject type = refused(api.http.post("/configurations", admin, "{\"name\":\"t\",\"cluster_client_id\":\"errs\",\"type\":\"lsf\"}"),
                422, "unprocessable");
        assertEquals("configuration: 'type' must be a license server type (GET /lm/license_servers/types lists them)",
                type.get("message").getAsString());
        long c = id(api.http.post("/configurations", admin, "{\"name\":\"chk\",\"cluster_client_id\":\"errs\",\"type\":\"flexlm\"}"));
        fieldAndRule(refused(api.http.post("/license_servers", admin, "{\"config_id\":" + c + ",\"host\":\"h\",\"port\":70000}"),
                422, "unprocessable"), "license server: 'port' must be between 1 and 65535", "port");
    }

    @Test
    void foreignKeyNamesTheMissingParent() {
        JsonObject err = refused(api.http.post("/license_servers", admin, "{\"config_id\":987654,\"host\":\"h\",\"port\":1}"),
                422, "unknown_reference");
        fieldAndRule(err, "license server: 'config_id' must be the id of an existing configuration", "config_id");
        // a delete that other rows still need: 409 naming them, not the constraint's text
        long product = id(api.http.post("/products", admin, "{\"name\":\"fkp\"}"));
        long c = id(api.http.post("/configurations", admin, "{\"name\":\"fk\",\"cluster_client_id\":\"errs\",\"type\":\"flexlm\","
                + "\"features\":[{\"name\":\"f\",\"product_id\":" + product + "}]}"));
        JsonObject del = refused(api.http.delete("/products/" + product, admin), 409, "still_referenced");
        assertEquals("product " + product + " is still referenced by features", del.get("message").getAsString());
        assertEquals("features", del.getAsJsonObject("detail").get("referenced_by").getAsString());
        assertEquals(200, api.http.delete("/configurations/" + c, admin).status());
    }

    @Test
    void uniqueNamesTheTakenField() {
        assertEquals(201, api.http.post("/products", admin, "{\"name\":\"uniq\"}").status());
        fieldAndRule(refused(api.http.post("/products", admin, "{\"name\":\"uniq\"}"), 409, "conflict"),
                "product: 'name' is already the name of another product", "name");
        String body = "{\"name\":\"same\",\"cluster_client_id\":\"errs\",\"type\":\"rlm\"}";
        assertEquals(201, api.http.post("/configurations", admin, body).status());
        fieldAndRule(refused(api.http.post("/configurations", admin, body), 409, "conflict"),
                "configuration: 'name' is already the name of another configuration of this cluster", "name");
    }

    @Test
    void valuesPostgresCannotStoreNameTheField() {
        JsonObject nul = refused(api.http.post("/products", admin, "{\"name\":\"a\\u0000b\"}"), 422, "unprocessable");
        assertEquals("product: 'name' must not contain the NUL character (\\u0000)", nul.get("message").getAsString());
        JsonObject big = refused(api.http.post("/configurations", admin,
                "{\"name\":\"big\",\"cluster_client_id\":\"errs\",\"type\":\"rlm\",\"grace_time\":99999999999}"), 422, "unprocessable");
        assertEquals("configuration: 'grace_time' is out of range", big.get("message").getAsString());
    }

    // ---------------------------------------------------------------- each kind, from the database itself

    private static ApiException mapped(String sql) {
        SQLException e = assertThrows(SQLException.class, () -> Sql.update(api.ds, sql));
        ApiException a = SqlErrors.toApi(e);
        assertNotNull(a, e::toString);
        String all = a.getMessage() + " " + Json.GSON.toJson(a.detail());
        assertTrue(!RAW.matcher(all).find(), "raw text: " + all + " (from " + e.getMessage() + ")");
        return a;
    }

    @Test
    void notNullNamesTheField() {
        ApiException a = mapped("INSERT INTO lm.products (name) VALUES (NULL)");
        assertEquals(422, a.status());
        assertEquals("'name' is required", a.getMessage());
        assertEquals("{\"field\":\"name\"}", Json.GSON.toJson(a.detail()));
    }

    @Test
    void dataErrorsSayWhatIsWrongInWords() {
        ApiException syntax = mapped("INSERT INTO lm.cluster_statuses (cluster_client_id, interval) VALUES ('x', 'soon')");
        assertEquals(400, syntax.status());
        assertEquals("invalid value: a value is not of its field's type", syntax.getMessage());
        ApiException range = mapped("INSERT INTO lm.cluster_statuses (cluster_client_id, interval) VALUES ('x', 99999999999)");
        assertEquals(422, range.status());
        assertEquals("invalid value: a number is out of range for its field", range.getMessage());
        ApiException nul = mapped("SELECT '{\"a\":\"\\u0000\"}'::jsonb->>'a'");
        assertEquals("invalid value: a text contains a character that cannot be stored (NUL, \\u0000)", nul.getMessage());
    }

    @Test
    void internalConstraintsAreWordedToo() {
        ApiException a = mapped("INSERT INTO lm.pool_counts (pool_id, booked) VALUES (987654, 0)");
        assertEquals(422, a.status());
        assertEquals("pool: 'id' must be the id of an existing pool", a.getMessage());
    }
}
