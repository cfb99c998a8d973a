package lm.inventory;

import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.http.Body;
import lm.http.Listing;
import lm.http.Routes;

/** /lm/products: the software products (abaqus, ansys …) that features belong to. */
public final class Products {
    private static final String VIEW = "lm.api_products";
    private static final Listing LIST = new Listing("product", VIEW, List.of("name"), Map.of("id", "id", "name", "lower(name)"));

    private Products() {}

    public static void routes(Routes r, DataSource ds) {
        r.post("/products", "product", "create", c -> {
            Body b = c.object("product").allow("name");
            return Writes.create(ds, c.actor(), VIEW, "INSERT INTO lm.products (name) VALUES (?) RETURNING id", b.string("name"));
        });
        r.get("/products", "product", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        r.get("/products/{id}", "product", "read", c -> LIST.one(ds, c.id("id", "product")));
        r.put("/products/{id}", "product", "update", c -> {
            long id = c.id("id", "product");
            Body b = c.object("product").allow("name");
            return Writes.update(ds, c.actor(), VIEW, "product", id,
                    "UPDATE lm.products SET name = coalesce(?, name) WHERE id = ? RETURNING id", b.optString("name"), id);
        });
        r.delete("/products/{id}", "product", "delete", c -> Writes.delete(ds, c.actor(), "lm.products", "product", c.id("id", "product")));
    }
}
