package lm.metrics;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Logger;
import javax.sql.DataSource;
import lm.db.Sql;
import lm.http.ApiException;
import lm.http.Endpoint;
import lm.http.Reply;
import lm.http.Routes;
import lm.http.SqlErrors;

/**
 * GET /lm/metrics in Prometheus' text format. Gauges come from the database at scrape time
 * (lm.metric_gauges), so every instance answers the same, and so do the counters kept there
 * (lm_offline_entries_rejected_total); the other counters and the histogram are this instance's
 * admissions since it started (Prometheus sums them over instances).
 */
public final class Metrics {
    private static final Logger LOG = Logger.getLogger("lm.metrics");
    private static final PrometheusTextFormatWriter TEXT = PrometheusTextFormatWriter.create();
    // lm.metric_gauges' rows whose metric ends so are counters (Prometheus' naming rule)
    private static final String COUNTER = "_total";

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter admissions = Counter.builder().name("lm_admissions_total")
            .help("Answers of POST /lm/jobs by this instance: admitted (201), already_booked (200), refused (409 not enough licenses), error (any other).")
            .labelNames("outcome").register(registry);
    private final Counter denials = Counter.builder().name("lm_denials_total")
            .help("Licenses a refused POST /lm/jobs was short of, by this instance: one per short product.feature of each refusal.")
            .labelNames("cluster_client_id", "product_feature").register(registry);
    private final Histogram duration = Histogram.builder().name("lm_admission_duration_seconds")
            .help("Time POST /lm/jobs took in this instance, from the parsed request to the answer.")
            .classicOnly().classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
            .register(registry);
    private final Clock clock;

    public Metrics(Clock clock) {
        this.clock = clock;
    }

    public void routes(Routes r, DataSource ds) {
        r.get("/metrics", "metrics", "read", c -> Reply.text(scrape(ds), TEXT.getContentType()));
    }

    /** POST /lm/jobs, counted: its outcome, its time, and which licenses a refusal was short of. */
    public Endpoint admission(Endpoint booking) {
        return c -> {
            long start = System.nanoTime();
            try {
                Reply reply = booking.handle(c);
                admissions.labelValues(reply.status() == 201 ? "admitted" : "already_booked").inc();
                return reply;
            } catch (Exception e) {
                ApiException api = e instanceof ApiException a ? a : e instanceof SQLException s ? SqlErrors.toApi(s) : null;
                if (api != null && api.code().equals("not_enough_licenses")) {
                    admissions.labelValues("refused").inc();
                    for (String pf : shortFeatures(api.detail())) {
                        denials.labelValues(c.cluster(), pf).inc();
                    }
                } else {
                    admissions.labelValues("error").inc();
                }
                throw e;
            } finally {
                duration.observe((System.nanoTime() - start) / 1e9);
            }
        };
    }

    /** The product.feature names of a refusal's detail: [{product_feature, requested, available}]. */
    private static List<String> shortFeatures(Object detail) {
        List<String> names = new ArrayList<>();
        JsonElement d = detail instanceof JsonElement j ? j : detail instanceof String s ? JsonParser.parseString(s) : null;
        if (d instanceof JsonArray a) {
            for (JsonElement x : a) {
                if (x instanceof JsonObject o && o.has("product_feature")) {
                    names.add(o.get("product_feature").getAsString());
                }
            }
        }
        return names;
    }

    String scrape(DataSource ds) throws Exception {
        Map<String, GaugeSnapshot.Builder> gauges = new LinkedHashMap<>();
        Map<String, CounterSnapshot.Builder> counters = new LinkedHashMap<>();
        Set<String> series = new HashSet<>();
        Sql.query(ds, "SELECT metric, help, labels::text, value FROM lm.metric_gauges(?)", rs -> {
            while (rs.next()) {
                String metric = rs.getString(1);
                String help = rs.getString(2);
                // lm.metric_gauges labels each family so that no inventory makes two samples of
                // one series (MetricsTest builds the worst it can); should a later change break
                // that, the scrape drops the second sample and says so, rather than failing
                // every scrape until someone edits the inventory (issue 20, case 6: one
                // config:create token turned off all of lm-server's monitoring)
                if (!series.add(metric + rs.getString(3))) {
                    LOG.warning("lm.metrics: " + metric + " has two samples labelled " + rs.getString(3) + "; the second is left out");
                    continue;
                }
                JsonObject labels = JsonParser.parseString(rs.getString(3)).getAsJsonObject();
                Labels.Builder lb = Labels.builder();
                labels.entrySet().forEach(e -> lb.label(e.getKey(), e.getValue().getAsString()));
                if (metric.endsWith(COUNTER)) {
                    // a counter the database keeps; the text format adds the suffix back
                    counters.computeIfAbsent(metric, m -> CounterSnapshot.builder()
                            .name(m.substring(0, m.length() - COUNTER.length())).help(help)).dataPoint(
                            CounterSnapshot.CounterDataPointSnapshot.builder().labels(lb.build()).value(rs.getDouble(4)).build());
                } else {
                    gauges.computeIfAbsent(metric, m -> GaugeSnapshot.builder().name(m).help(help)).dataPoint(
                            GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(lb.build()).value(rs.getDouble(4)).build());
                }
            }
            return null;
        }, Timestamp.from(clock.instant()));
        List<MetricSnapshot> all = new ArrayList<>();
        gauges.values().forEach(g -> all.add(g.build()));
        counters.values().forEach(g -> all.add(g.build()));
        registry.scrape().forEach(all::add);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TEXT.write(out, new MetricSnapshots(all), EscapingScheme.UNDERSCORE_ESCAPING);
        return out.toString(StandardCharsets.UTF_8);
    }
}
