package lm.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import lm.cli.Table.Column;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The usage history's commands (issue 12): {@code lm-cli checkouts} (GET /checkouts) and
 * {@code lm-cli report usage|users|expiry} (GET /reports/usage, /reports/users, /reports/expiry). The report group is
 * built here with the usage reports only; other reports (denials, job history) join it as
 * further subcommands.
 */
final class UsageCommands {
    private static final List<Column> USAGE = List.of(Column.text("FEATURE", "product_feature"), Column.text("PERIOD", "period_start"),
            Column.number("TOTAL", "total"), Column.number("USED_AVG", "used_avg"), Column.number("USED_MAX", "used_max"),
            Column.number("BOOKED_MAX", "booked_max"), Column.number("EXTERNAL_MAX", "external_max"),
            Column.number("DEMAND_MAX", "demand_max"), Column.number("QUEUED_MAX", "queued_max"), Column.number("DENIALS", "denials"));
    private static final List<Column> USERS = List.of(Column.text("USER", "username"), Column.text("FEATURE", "product_feature"),
            Column.number("LICENSE_HOURS", "license_hours"));
    private static final List<Column> CHECKOUTS = List.of(Column.text("FEATURE", "product_feature"), Column.text("USER", "username"),
            Column.text("HOST", "host"), Column.number("QUANTITY", "quantity"), Column.number("MATCHED", "matched"),
            new Column("JOBS", o -> String.join(",", o.getAsJsonArray("slurm_job_ids").asList().stream().map(JsonElement::getAsString).toList()),
                    false),
            Column.text("SINCE", "since"), Column.text("SEEN", "seen_at"));

    private static final List<Column> EXPIRY = List.of(Column.text("EXPIRES", "expires_at"), Column.number("DAYS_LEFT", "days_left"),
            Column.text("FEATURE", "product_feature"), Column.text("CLUSTER", "cluster_client_id"), Column.number("EXPIRING", "expiring"),
            Column.number("TOTAL", "total"), Column.text("SERVERS", "servers"));

    private UsageCommands() {}

    static CommandLine checkouts(Main main) {
        OptionSpec search = ReportCommands.option("--search", "TEXT", "Only checkouts whose feature, user or host matches any of the blank-separated words.");
        OptionSpec limit = ReportCommands.limit("Show at most N checkouts.");
        Callable<Integer> body = () -> {
            Map<String, String> q = new LinkedHashMap<>();
            q.put("search", search.getValue());
            q.put("limit", ReportCommands.value(limit));
            Api.Answer a = main.api().get("/checkouts", q);
            print(main, a, CHECKOUTS, false);
            return Main.EXIT_OK;
        };
        return command("checkouts", "Who holds which licenses now, per feature, user and host, as the agents last read the license"
                + " servers (like lmstat -a); MATCHED: how many of them jobs License Manager knows account for.", body, List.of(search, limit));
    }

    static CommandLine usage(Main main, Clock clock) {
        OptionSpec feature = ReportCommands.option("--feature", "PRODUCT.FEATURE", "Only this product.feature (default: all).");
        OptionSpec since = ReportCommands.since("default 7 days before --until");
        OptionSpec until = ReportCommands.until();
        OptionSpec by = ReportCommands.option("--by", "PERIOD", "hour (default) or day, in UTC.");
        OptionSpec csv = ReportCommands.csv();
        Callable<Integer> body = () -> {
            Map<String, String> q = new LinkedHashMap<>();
            q.put("product_feature", feature.getValue());
            q.put("since", ReportCommands.when(since.getValue(), clock, "--since"));
            q.put("until", ReportCommands.when(until.getValue(), clock, "--until"));
            q.put("by", by.getValue());
            print(main, main.api().get("/reports/usage", q), USAGE, Boolean.TRUE.equals(csv.getValue()));
            return Main.EXIT_OK;
        };
        return command("usage", "Per feature and hour or day: total, average and peak used, and the peaks of booked, external (used"
                + " outside known jobs), demand (waiting jobs), queued (the license server's queue), and denials.", body,
                List.of(feature, since, until, by, csv));
    }

    static CommandLine users(Main main, Clock clock) {
        OptionSpec feature = ReportCommands.option("--feature", "PRODUCT.FEATURE", "Only this product.feature (default: all).");
        OptionSpec user = ReportCommands.option("--user", "NAME", "Only this user (default: all).");
        OptionSpec limit = ReportCommands.limit("Only the N rows with the most license-hours (1 to 10000; default: all).");
        OptionSpec since = ReportCommands.since("default 7 days before --until");
        OptionSpec until = ReportCommands.until();
        OptionSpec csv = ReportCommands.csv();
        Callable<Integer> body = () -> {
            Map<String, String> q = new LinkedHashMap<>();
            q.put("product_feature", feature.getValue());
            q.put("username", user.getValue());
            q.put("limit", ReportCommands.value(limit));
            q.put("since", ReportCommands.when(since.getValue(), clock, "--since"));
            q.put("until", ReportCommands.when(until.getValue(), clock, "--until"));
            print(main, main.api().get("/reports/users", q), USERS, Boolean.TRUE.equals(csv.getValue()));
            return Main.EXIT_OK;
        };
        return command("users", "License-hours each user had checked out, per feature, most first.", body,
                List.of(feature, user, limit, since, until, csv));
    }

    private static CommandLine command(String name, String description, Callable<Integer> body, List<OptionSpec> options) {
        CommandSpec spec = CommandSpec.wrapWithoutInspection(body).name(name).addOption(Main.help());
        spec.usageMessage().description(description);
        options.forEach(spec::addOption);
        return new CommandLine(spec);
    }

    static CommandLine expiry(Main main) {
        OptionSpec within = OptionSpec.builder("--within-days").paramLabel("N").type(Integer.class)
                .description("Only licenses that expire within N days (0 to 36500; those past their day are always shown). Default: all.").build();
        OptionSpec csv = ReportCommands.csv();
        Callable<Integer> body = () -> {
            Map<String, String> q = new LinkedHashMap<>();
            q.put("within_days", ReportCommands.value(within));
            print(main, main.api().get("/reports/expiry", q), EXPIRY, Boolean.TRUE.equals(csv.getValue()));
            return Main.EXIT_OK;
        };
        return command("expiry", "Licenses that expire, nearest first: the nearest expiry day each cluster's feature's license server"
                + " prints, the days left (negative once past), how many licenses expire that day where the tool says.", body,
                List.of(within, csv));
    }

    private static void print(Main main, Api.Answer a, List<Column> columns, boolean csv) {
        if (main.json()) {
            main.out().println(a.body());
            return;
        }
        JsonArray items = a.json().getAsJsonArray();
        main.out().print(csv ? ReportCommands.csv(columns, items) : Table.render(columns, items));
    }
}
