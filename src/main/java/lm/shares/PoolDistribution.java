package lm.shares;

import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.http.Listing;
import lm.http.Routes;

/**
 * /lm/pools: each license pool with the numbers of lm.license_pools and, per owner (cluster,
 * and account where the cluster has project shares), its share, entitlement, what it holds and
 * what it waits for: the distribution admission decides on now (lm.pool_distribution).
 */
public final class PoolDistribution {
    private static final Listing LIST = new Listing("pool", "lm.api_pools", List.of("product_feature", "clusters"), Map.of(
            "id", "id", "product_feature", "lower(product_feature)", "total", "total", "available", "available",
            "booked", "booked"));

    private PoolDistribution() {}

    public static void routes(Routes r, DataSource ds) {
        // pools are made of features: reading them is reading features
        r.get("/pools", "feature", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        r.get("/pools/{id}", "feature", "read", c -> LIST.one(ds, c.id("id", "pool")));
    }
}
