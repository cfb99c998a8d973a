package lm.booking;

import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Body;
import lm.http.Listing;
import lm.http.Reply;
import lm.http.Routes;

/** /lm/bookings: one feature's licenses promised to one job. POST admits like POST /jobs. */
public final class Bookings {
    private static final String VIEW = "lm.api_bookings";
    private static final Listing LIST = new Listing("booking", VIEW, List.of("cluster_client_id"), Map.of(
            "id", "id", "job_id", "job_id", "feature_id", "feature_id", "quantity", "quantity", "created_at", "created_at"));

    private Bookings() {}

    public static void routes(Routes r, DataSource ds) {
        r.post("/bookings", "booking", "create", c -> {
            Body b = c.object("booking").allow("job_id", "feature_id", "quantity");
            long quantity = b.integer("quantity");
            if (quantity <= 0) {
                throw ApiException.unprocessable("quantity must be > 0");
            }
            long job = b.integer("job_id");
            long id;
            try {
                id = Long.parseLong(Sql.text(ds, "SELECT lm.book_feature(?, ?, ?, ?)", c.clusterScope(), job, b.integer("feature_id"), quantity));
            } catch (java.sql.SQLException e) {
                Refusals.note(ds, e, "SELECT lm.note_booking_refusal(?, ?, ?::jsonb)", c.clusterScope(), job);
                throw e;
            }
            return Reply.created(Sql.text(ds, "SELECT j FROM " + VIEW + " WHERE id = ?", id));
        });
        r.get("/bookings", "booking", "read", c -> LIST.list(ds, c.listQuery(LIST), null));
        r.get("/bookings/{id}", "booking", "read", c -> LIST.one(ds, c.id("id", "booking")));
        r.delete("/bookings/{id}", "booking", "delete", c -> Release.byId(ds, c.actor(), "lm.delete_booking", "booking", c.clusterScope(), c.id("id", "booking")));
    }
}
