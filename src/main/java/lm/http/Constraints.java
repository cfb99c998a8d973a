package lm.http;

import java.util.Map;
import java.util.Set;

/**
 * What each constraint of the schema (src/main/sql/V*.sql) means to a client, in words: the
 * resource and field it guards and its rule. PostgreSQL's own text ("new row … violates check
 * constraint "features_reserved_check"", "Key (id)=(7) is not present in table …") names
 * internals and quotes whole rows, so it never reaches a client; the constraint name PostgreSQL
 * sends as a structured field is looked up here instead. SqlErrorsTest compares this table with
 * pg_constraint, so a new constraint without words fails a test, and so does a stale entry.
 */
public final class Constraints {
    /** {@code resource}: singular, as the API's messages name it; {@code field}: the JSON field. */
    public record Rule(String resource, String field, String rule) {
        public String message() {
            return resource + ": '" + field + "' " + rule;
        }
    }

    private static final String NAME_RULE = "must be 1 to 255 characters, not only spaces";

    private static final Map<String, Rule> RULES = Map.ofEntries(
            // configurations
            rule("configurations_pkey", "configuration", "id", "is already taken"),
            rule("configurations_name_check", "configuration", "name", NAME_RULE),
            rule("configurations_cluster_client_id_check", "configuration", "cluster_client_id", NAME_RULE),
            rule("configurations_grace_time_check", "configuration", "grace_time", "must be a number of seconds greater than 0"),
            rule("configurations_outage_grace_check", "configuration", "outage_grace", "must be a number of seconds greater than 0"),
            // the types themselves are not repeated here: the V1 CHECK and /license_servers/types list them
            rule("configurations_type_check", "configuration", "type",
                    "must be a license server type (GET /lm/license_servers/types lists them)"),
            rule("configurations_cluster_client_id_name_key", "configuration", "name",
                    "is already the name of another configuration of this cluster"),
            // license_servers
            rule("license_servers_pkey", "license server", "id", "is already taken"),
            rule("license_servers_config_id_fkey", "license server", "config_id", "must be the id of an existing configuration"),
            rule("license_servers_host_check", "license server", "host", "must be 1 to 255 characters without spaces"),
            rule("license_servers_port_check", "license server", "port", "must be between 1 and 65535"),
            rule("license_servers_config_id_host_port_key", "license server", "host",
                    "and port are already a license server of this configuration"),
            // products
            rule("products_pkey", "product", "id", "is already taken"),
            rule("products_name_key", "product", "name", "is already the name of another product"),
            rule("products_name_check", "product", "name", "must be 1 to 255 characters without spaces or dots"),
            // features
            rule("features_pkey", "feature", "id", "is already taken"),
            rule("features_name_check", "feature", "name", "must be 1 to 255 characters without spaces"),
            rule("features_product_id_fkey", "feature", "product_id", "must be the id of an existing product"),
            rule("features_config_id_fkey", "feature", "config_id", "must be the id of an existing configuration"),
            rule("features_pool_id_fkey", "feature", "pool_id", "must be the id of an existing pool"),
            rule("features_reserved_check", "feature", "reserved", "must be 0 or more"),
            rule("features_total_check", "feature", "total", "must be 0 or more"),
            rule("features_used_check", "feature", "used", "must be 0 or more"),
            rule("features_share_check", "feature", "share", "must be 0 or more"),
            rule("features_max_use_check", "feature", "max_use", "must be 0 or more (null: no limit)"),
            rule("features_expiring_check", "feature", "expiring", "must be 0 or more, and comes with expires_at"),
            rule("features_config_id_product_id_name_key", "feature", "name",
                    "is already a feature of this product in this configuration"),
            // cluster_statuses
            rule("cluster_statuses_pkey", "cluster status", "cluster_client_id", "already has a status"),
            rule("cluster_statuses_cluster_client_id_check", "cluster status", "cluster_client_id", NAME_RULE),
            rule("cluster_statuses_interval_check", "cluster status", "interval", "must be a number of seconds greater than 0"),
            // jobs
            rule("jobs_pkey", "job", "id", "is already taken"),
            rule("jobs_slurm_job_id_check", "job", "slurm_job_id", "must be a Slurm job id: 1 to 20 digits"),
            rule("jobs_cluster_client_id_check", "job", "cluster_client_id", NAME_RULE),
            rule("jobs_username_check", "job", "username", NAME_RULE),
            rule("jobs_lead_host_check", "job", "lead_host", NAME_RULE),
            rule("jobs_account_check", "job", "account", NAME_RULE),
            rule("jobs_run_check", "job", "run", "must be the run of the job (SLURM_JOB_RESTART_COUNT): 0 to 1000000000"),
            rule("jobs_cluster_client_id_slurm_job_id_key", "job", "slurm_job_id", "is already a job of this cluster"),
            // bookings
            rule("bookings_pkey", "booking", "id", "is already taken"),
            rule("bookings_job_id_fkey", "booking", "job_id", "must be the id of an existing job"),
            rule("bookings_feature_id_fkey", "booking", "feature_id", "must be the id of an existing feature"),
            rule("bookings_quantity_check", "booking", "quantity", "must be greater than 0"),
            // CHECK (expires_at > created_at), unnamed in V1: a grace time of 0 would book nothing
            rule("bookings_check", "booking", "expires_at", "must be after the booking's creation"),
            // CHECK ((released_at IS NULL) = (released_reason IS NULL)), unnamed in V1
            rule("bookings_check1", "booking", "released_reason", "must be given exactly when released_at is"),
            rule("bookings_released_reason_check", "booking", "released_reason", "must be grace or checkout"),
            rule("bookings_job_id_feature_id_key", "booking", "feature_id", "is already booked by this job"),
            // pools (kept by triggers, never written by clients)
            rule("pools_pkey", "pool", "id", "is already taken"),
            rule("pool_counts_pkey", "pool", "id", "already has a counter"),
            rule("pool_counts_pool_id_fkey", "pool", "id", "must be the id of an existing pool"),
            rule("pool_counts_booked_check", "pool", "booked", "must be 0 or more"),
            // project_shares
            rule("project_shares_pkey", "project share", "id", "is already taken"),
            rule("project_shares_feature_id_fkey", "project share", "feature_id", "must be the id of an existing feature"),
            rule("project_shares_account_check", "project share", "account", NAME_RULE),
            rule("project_shares_share_check", "project share", "share", "must be 0 or more"),
            rule("project_shares_max_use_check", "project share", "max_use", "must be 0 or more (null: no limit)"),
            rule("project_shares_feature_id_account_key", "project share", "account", "already has a share of this feature"),
            // owner_counts, demand, settings (kept by SQL and lm-server, never written by clients)
            rule("owner_counts_pkey", "owner", "account", "already has a counter"),
            rule("owner_counts_feature_id_fkey", "owner", "feature_id", "must be the id of an existing feature"),
            rule("owner_counts_held_check", "owner", "held", "must be 0 or more"),
            rule("demand_pkey", "demand", "slurm_job_id", "is already demand of this feature"),
            rule("demand_feature_id_fkey", "demand", "feature_id", "must be the id of an existing feature"),
            rule("demand_slurm_job_id_check", "demand", "slurm_job_id", "must be a Slurm job id: 1 to 20 digits"),
            rule("demand_quantity_check", "demand", "quantity", "must be greater than 0"),
            rule("settings_pkey", "settings", "id", "is already taken"),
            rule("settings_id_check", "settings", "id", "must be true (one row)"),
            rule("settings_demand_window_check", "settings", "demand_window", "must be a number of seconds greater than 0"),
            rule("settings_distribution_log_days_check", "settings", "distribution_log_days", "must be a number of days greater than 0"),
            rule("settings_history_raw_days_check", "settings", "history_raw_days", "must be a number of days greater than 0"),
            rule("settings_history_hourly_days_check", "settings", "history_hourly_days", "must be a number of days, 0 for forever"),
            rule("settings_offline_max_age_check", "settings", "offline_max_age", "must be a number of seconds greater than 0"),
            // usage history (written by lm.record_usage only, R__usage.sql)
            rule("usage_samples_pkey", "usage sample", "at", "was already recorded for this pool"),
            rule("user_samples_pkey", "user sample", "at", "was already recorded for this pool and user"),
            rule("checkouts_pkey", "checkout", "host", "was already recorded for this pool and user"),
            rule("usage_rollups_pkey", "usage rollup", "hour", "was already rolled up for this pool"),
            rule("user_rollups_pkey", "user rollup", "hour", "was already rolled up for this pool and user"),
            rule("usage_day_rollups_pkey", "usage day rollup", "day", "was already rolled up for this pool and product_feature"),
            rule("user_day_rollups_pkey", "user day rollup", "day", "was already rolled up for this pool, user and product_feature"),
            // revoked_tokens (written by lm-server token revoke, never through the API)
            rule("revoked_tokens_pkey", "revoked token", "id", "is already taken"),
            rule("revoked_tokens_jti_check", "revoked token", "jti", NAME_RULE),
            rule("revoked_tokens_client_id_check", "revoked token", "client_id", NAME_RULE),
            // CHECK ((jti IS NULL) <> (client_id IS NULL)), unnamed in V9
            rule("revoked_tokens_check", "revoked token", "jti", "or client_id must be given, not both"),
            // audit_log (written by SQL only: lm.audit)
            rule("audit_log_pkey", "audit event", "id", "is already taken"),
            rule("audit_log_operation_check", "audit event", "operation", "must be INSERT, UPDATE or DELETE"),
            // offline_entries (written by lm.replay_offline only, from entries it checked)
            rule("offline_entries_pkey", "offline entry", "id", "was already applied for this job"),
            rule("offline_entries_op_check", "offline entry", "op", "must be book or release"),
            // checkout_covers, report_fences (written by lm.apply_usage and lm.apply_agent_report only)
            rule("checkout_covers_pkey", "checkout", "key", "was already recorded for this pool, user and host"),
            rule("checkout_covers_pool_id_fkey", "checkout", "pool_id", "must be the id of an existing pool"),
            rule("checkout_covers_quantity_check", "checkout", "quantity", "must be greater than 0"),
            rule("checkout_covers_covered_check", "checkout", "covered", "must be between 0 and the checkout's quantity"),
            rule("checkout_covers_fresh_check", "checkout", "fresh", "must be between 0 and the checkout's quantity"),
            rule("report_fences_pkey", "agent report", "cluster_client_id", "already has a fence"),
            // budget_leases, offline_rejections (written by lm.budget_json and lm.replay_offline only)
            rule("budget_leases_pkey", "budget lease", "pool_id", "is already leased to this cluster"),
            rule("budget_leases_pool_id_fkey", "budget lease", "pool_id", "must be the id of an existing pool"),
            rule("budget_leases_budget_check", "budget lease", "budget", "must not be negative"),
            rule("budget_leases_prior_budget_check", "budget lease", "prior_budget", "must not be negative"),
            rule("budget_leases_times_check", "budget lease", "expires_at", "must be between made_at and held_until"),
            rule("offline_rejections_pkey", "offline rejection", "reason", "is already counted for this cluster"),
            rule("offline_rejections_reason_check", "offline rejection", "reason", "must be invalid, time or quantity"),
            rule("offline_rejections_entries_check", "offline rejection", "entries", "must be greater than 0"),
            // untracked_licenses (written by lm.count_untracked only)
            rule("untracked_licenses_pkey", "untracked license", "license", "is already counted for this cluster"),
            rule("untracked_licenses_license_check", "untracked license", "license", "must be 1 to 200 characters"),
            rule("untracked_licenses_stripe_check", "untracked license", "stripe", "must be 0 to 15"),
            rule("untracked_licenses_jobs_check", "untracked license", "jobs", "must not be negative"),
            // denial_log, ended_jobs (written by SQL only: R__history.sql)
            rule("denial_log_pkey", "denial", "id", "is already taken"),
            rule("denial_log_reason_check", "denial", "reason", "must be pool, share or max_use"),
            rule("denial_log_count_check", "denial", "count", "must be greater than 0"),
            rule("denial_log_last_at_check", "denial", "last_at", "must not be before first_at"),
            rule("denial_log_job_feature_key", "denial", "product_feature", "is already a denial of this job"),
            rule("ended_jobs_pkey", "job history", "id", "is already taken"),
            rule("ended_jobs_reason_check", "job history", "reason",
                    "must be epilog, ended, requeue, forced or offline"));

    private Constraints() {}

    private static Map.Entry<String, Rule> rule(String constraint, String resource, String field, String rule) {
        return Map.entry(constraint, new Rule(resource, field, rule));
    }

    /** The rule a constraint stands for; null for a name this table doesn't know. */
    public static Rule of(String constraint) {
        return constraint == null ? null : RULES.get(constraint);
    }

    /** Every constraint named here (for the test that compares them with the database's). */
    public static Set<String> names() {
        return RULES.keySet();
    }
}
