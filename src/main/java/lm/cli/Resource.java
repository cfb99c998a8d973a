package lm.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import lm.cli.Table.Column;

/**
 * What the CLI knows of one API resource: its path, the columns people see, the sort fields the
 * API accepts (for the help text; the API stays the judge) and the fields of create and update.
 */
record Resource(
        String command,
        String path,
        String singular,
        List<Column> columns,
        List<String> sortFields,
        List<Field> fields,
        boolean writable) {

    /**
     * A body field set by an option; {@code number} fields are sent as JSON integers, and a
     * {@code nullable} number's value {@code none} as JSON null (a limit lifted).
     */
    record Field(String option, String key, String label, boolean number, boolean requiredOnCreate, String description,
                 boolean nullable) {
        Field(String option, String key, String label, boolean number, boolean requiredOnCreate, String description) {
            this(option, key, label, number, requiredOnCreate, description, false);
        }
    }

    private static Field share(String whose) {
        return new Field("--share", "share", "N", true, false, "Weight of " + whose + " in the pool's fair share (0 or more; server default 1).");
    }

    private static Field maxUse(String whose) {
        return new Field("--max-use", "max_use", "N|none", false, false,
                "Most licenses " + whose + " may hold at once; none: no limit (the server default).", true);
    }

    static final Resource CONFIGURATIONS = new Resource("configurations", "/configurations", "configuration",
            List.of(Column.number("id", "id"), Column.text("name", "name"), Column.text("cluster_client_id", "cluster_client_id"),
                    Column.text("type", "type"), Column.number("grace_time", "grace_time"),
                    Column.number("outage_grace", "outage_grace"),
                    new Column("license_servers", o -> servers(o.getAsJsonArray("license_servers")), false),
                    new Column("features", o -> featureNames(o.getAsJsonArray("features")), false)),
            List.of("id", "name", "cluster_client_id", "grace_time", "type", "outage_grace"),
            List.of(new Field("--name", "name", "NAME", false, true, "Name of the configuration."),
                    new Field("--cluster-client-id", "cluster_client_id", "ID", false, true,
                            "Client id of the cluster's lm-agent (its token's azp)."),
                    new Field("--grace-time", "grace_time", "SECONDS", true, false,
                            "Seconds a booking stays active after its job started (server default 60)."),
                    new Field("--license-server-type", "type", "TYPE", false, true,
                            "License server type: flexlm, rlm, lsdyna, lmx, olicense or dsls."),
                    new Field("--outage-grace", "outage_grace", "SECONDS", true, false,
                            "Seconds the last good counts stay in use while no license server answers (server default 3600).")),
            true);

    static final Resource LICENSE_SERVERS = new Resource("license-servers", "/license_servers", "license server",
            List.of(Column.number("id", "id"), Column.number("config_id", "config_id"), Column.text("host", "host"),
                    Column.number("port", "port")),
            List.of("id", "config_id", "host", "port"),
            List.of(new Field("--config-id", "config_id", "ID", true, true, "Configuration the server belongs to."),
                    new Field("--host", "host", "HOST", false, true, "Host name or address of the license server."),
                    new Field("--port", "port", "PORT", true, true, "TCP port of the license server (1-65535).")),
            true);

    static final Resource PRODUCTS = new Resource("products", "/products", "product",
            List.of(Column.number("id", "id"), Column.text("name", "name")),
            List.of("id", "name"),
            List.of(new Field("--name", "name", "NAME", false, true, "Product name (no blanks or dots).")),
            true);

    static final Resource FEATURES = new Resource("features", "/features", "feature",
            List.of(Column.number("id", "id"), new Column("product", o -> productName(o), false), Column.text("name", "name"),
                    Column.number("config_id", "config_id"), Column.number("total", "total"), Column.number("used", "used"),
                    Column.number("reserved", "reserved"), Column.number("booked_total", "booked_total"),
                    Column.number("share", "share"), Column.limit("max_use", "max_use"),
                    // the pool's true value as admission sees it, from the server: negative when
                    // outside usage grew past what was free (the reference clamped it at 0)
                    Column.number("available", "available"),
                    // the nearest expiry the license server prints (empty: none, or permanent)
                    Column.text("expires_at", "expires_at")),
            List.of("id", "name", "product_id", "product_name", "config_id", "reserved", "total", "used", "booked_total",
                    "share", "max_use", "expires_at"),
            List.of(new Field("--name", "name", "NAME", false, true, "Feature name as the license server reports it."),
                    new Field("--product-id", "product_id", "ID", true, true, "Product the feature belongs to."),
                    new Field("--config-id", "config_id", "ID", true, true, "Configuration whose license servers serve it."),
                    new Field("--reserved", "reserved", "N", true, false,
                            "Licenses kept back for users outside the cluster (server default 0)."),
                    share("the cluster"), maxUse("the cluster's jobs")),
            true);

    static final Resource JOBS = new Resource("jobs", "/jobs", "job",
            List.of(Column.number("id", "id"), Column.text("slurm_job_id", "slurm_job_id"),
                    Column.text("cluster_client_id", "cluster_client_id"), Column.text("username", "username"),
                    Column.text("lead_host", "lead_host"), Column.text("created_at", "created_at"),
                    new Column("bookings", o -> bookings(o.getAsJsonArray("bookings")), false)),
            List.of("id", "slurm_job_id", "cluster_client_id", "username", "lead_host", "created_at"),
            List.of(), false);

    static final Resource BOOKINGS = new Resource("bookings", "/bookings", "booking",
            List.of(Column.number("id", "id"), Column.number("job_id", "job_id"), Column.number("feature_id", "feature_id"),
                    Column.number("quantity", "quantity"), Column.text("active", "active"),
                    Column.text("created_at", "created_at"), Column.text("expires_at", "expires_at"),
                    Column.text("released_reason", "released_reason")),
            List.of("id", "job_id", "feature_id", "quantity", "created_at"),
            List.of(), false);

    static final Resource AUDIT = new Resource("audit", "/audit", "audit event",
            List.of(Column.number("id", "id"), Column.text("at", "at"), Column.text("sub", "sub"),
                    Column.text("cluster_client_id", "cluster_client_id"), Column.text("route", "route"),
                    Column.text("table", "table_name"), Column.text("operation", "operation"), Column.number("row_id", "row_id"),
                    new Column("what", Resource::what, false)),
            List.of("id", "at", "sub", "cluster_client_id", "db_user", "route", "table_name", "operation", "row_id"),
            List.of(), false);

    static final Resource PROJECT_SHARES = new Resource("project-shares", "/project_shares", "project share",
            List.of(Column.number("id", "id"), Column.number("feature_id", "feature_id"), Column.text("cluster_client_id", "cluster_client_id"),
                    Column.text("account", "account"), Column.number("share", "share"), Column.limit("max_use", "max_use")),
            List.of("id", "feature_id", "account", "share", "max_use", "cluster_client_id"),
            List.of(new Field("--feature-id", "feature_id", "ID", true, true, "The cluster's feature (of a pool) the share is of."),
                    new Field("--account", "account", "ACCOUNT", false, true,
                            "Slurm account (project); * stands for the accounts without a share of their own."),
                    share("the account inside its cluster"), maxUse("the account's jobs")),
            true);

    /** Read only: the distribution of each pool among its owners (GET /lm/pools). */
    static final Resource POOLS = new Resource("pools", "/pools", "pool",
            List.of(Column.number("id", "id"), Column.text("product_feature", "product_feature"), Column.text("clusters", "clusters"),
                    Column.number("total", "total"), Column.number("used", "used"), Column.number("reserved", "reserved"),
                    Column.number("booked", "booked"), Column.number("available", "available")),
            List.of("id", "product_feature", "total", "available", "booked"),
            List.of(), false);

    /** The owners of a pool, as {@code pools show} prints them. */
    static final List<Column> OWNERS = List.of(Column.text("cluster_client_id", "cluster_client_id"), Column.text("account", "account"),
            Column.number("share", "share"), Column.text("entitled", "entitled"), Column.number("in_use", "in_use"),
            Column.number("demand", "demand"), Column.text("waiting", "waiting"), Column.limit("max_use", "max_use"));

    /** Read only: jobs that ended, and why (GET /lm/job_history). */
    static final Resource JOB_HISTORY = new Resource("job-history", "/job_history", "ended job",
            List.of(Column.number("id", "id"), Column.text("cluster_client_id", "cluster_client_id"), Column.text("slurm_job_id", "slurm_job_id"),
                    Column.text("username", "username"), Column.text("account", "account"), Column.text("lead_host", "lead_host"),
                    Column.text("booked_at", "booked_at"), Column.text("released_at", "released_at"), Column.text("reason", "reason"),
                    new Column("bookings", o -> endedBookings(o.getAsJsonArray("bookings")), false)),
            List.of("id", "cluster_client_id", "slurm_job_id", "username", "account", "lead_host", "reason", "booked_at", "released_at"),
            List.of(), false);

    static final List<Resource> ALL = List.of(CONFIGURATIONS, LICENSE_SERVERS, PRODUCTS, FEATURES, JOBS, BOOKINGS, PROJECT_SHARES, POOLS, AUDIT,
            JOB_HISTORY);

    /** An UPDATE as "field: before -> after"; an INSERT or DELETE as the row (--json has it all). */
    private static String what(JsonObject event) {
        JsonElement changes = event.get("changes");
        if (changes != null && changes.isJsonObject()) {
            List<String> out = new ArrayList<>();
            for (var c : changes.getAsJsonObject().entrySet()) {
                JsonArray ba = c.getValue().getAsJsonArray();
                out.add(c.getKey() + ": " + ba.get(0) + " -> " + ba.get(1));
            }
            return String.join(", ", out);
        }
        JsonElement row = event.get("DELETE".equals(Table.scalar(event.get("operation"))) ? "old" : "new");
        return row == null || row.isJsonNull() ? "" : row.toString();
    }

    private static String productName(JsonObject feature) {
        JsonElement p = feature.get("product");
        return p != null && p.isJsonObject() ? Table.scalar(p.getAsJsonObject().get("name")) : "";
    }

    private static String servers(JsonArray a) {
        List<String> out = new ArrayList<>();
        if (a != null) {
            for (JsonElement e : a) {
                JsonObject s = e.getAsJsonObject();
                out.add(Table.scalar(s.get("host")) + ":" + Table.scalar(s.get("port")));
            }
        }
        return String.join(",", out);
    }

    private static String featureNames(JsonArray a) {
        List<String> out = new ArrayList<>();
        if (a != null) {
            for (JsonElement e : a) {
                JsonObject f = e.getAsJsonObject();
                out.add(productName(f) + "." + Table.scalar(f.get("name")));
            }
        }
        return String.join(",", out);
    }

    /** An ended job's bookings as product.feature xN, with why one stopped holding before the job ended. */
    private static String endedBookings(JsonArray a) {
        List<String> out = new ArrayList<>();
        if (a != null) {
            for (JsonElement e : a) {
                JsonObject b = e.getAsJsonObject();
                String reason = Table.scalar(b.get("released_reason"));
                out.add(Table.scalar(b.get("product_feature")) + " x" + Table.scalar(b.get("quantity")) + (reason.isEmpty() ? "" : " (" + reason + ")"));
            }
        }
        return String.join(", ", out);
    }

    /** The job's bookings as feature_id:quantity, released ones marked with their reason. */
    private static String bookings(JsonArray a) {
        List<String> out = new ArrayList<>();
        if (a != null) {
            for (JsonElement e : a) {
                JsonObject b = e.getAsJsonObject();
                String s = "feature " + Table.scalar(b.get("feature_id")) + " x" + Table.scalar(b.get("quantity"));
                out.add(b.has("active") && !b.get("active").getAsBoolean() ? s + " (released)" : s);
            }
        }
        return String.join(", ", out);
    }
}
