package lm.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import lm.cli.Table.Column;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * lm-cli report: the history reports (issue 12) over a time window. Each report is one
 * subcommand added in {@link #group}; they share the window (--since, --until) and the output
 * (a table, --csv, or the API's JSON with --json), so a new report is a path and its columns.
 */
final class ReportCommands {
    private static final Pattern RELATIVE = Pattern.compile("(\\d+)([mhdw])");
    /** The most rows a report asks for: the API's page limit (lm.http.Listing). */
    private static final long MAX_ROWS = 10_000;

    static final List<Column> DENIALS = List.of(Column.text("last_at", "last_at"), Column.text("cluster_client_id", "cluster_client_id"),
            Column.text("slurm_job_id", "slurm_job_id"), Column.text("username", "username"), Column.text("account", "account"),
            Column.text("product_feature", "product_feature"), Column.number("requested", "requested"),
            Column.number("available", "available"), Column.text("reason", "reason"), Column.number("count", "count"),
            Column.text("first_at", "first_at"));

    private ReportCommands() {}

    static CommandLine group(Main main, Clock clock) {
        CommandSpec spec = CommandSpec.create().name("report").addOption(Main.help());
        spec.usageMessage().description("Reports over a time window: tables for people, --csv or --json for scripts.");
        CommandLine cl = new CommandLine(spec);
        cl.addSubcommand("denials", report(main, clock, "denials", "/denials", "last_at", DENIALS,
                "Refusals of jobs (409), one row per cluster, job and license with how often, newest first."));
        // the usage history's rollups (lm.cli.UsageCommands)
        cl.addSubcommand("usage", UsageCommands.usage(main, clock));
        cl.addSubcommand("users", UsageCommands.users(main, clock));
        cl.addSubcommand("expiry", UsageCommands.expiry(main));
        return cl;
    }

    /** A report: GET {@code path} with since/until and the search, sorted by {@code newest} descending. */
    static CommandLine report(Main main, Clock clock, String name, String path, String newest, List<Column> columns, String description) {
        OptionSpec since = since("default 7d");
        OptionSpec until = until();
        OptionSpec search = option("--search", "TEXT", "Only rows matching any of the blank-separated words (case-insensitive).");
        OptionSpec csv = csv();
        Callable<Integer> body = () -> {
            Map<String, String> q = new LinkedHashMap<>();
            q.put("since", when(since.getValue() == null ? "7d" : since.getValue(), clock, "--since"));
            q.put("until", when(until.getValue(), clock, "--until"));
            q.put("search", search.getValue());
            q.put("sort_field", newest);
            q.put("sort_ascending", "false");
            q.put("limit", Long.toString(MAX_ROWS));
            Api.Answer a = main.api().get(path, q);
            if (main.json()) {
                main.out().println(a.body());
            } else if (Boolean.TRUE.equals(csv.getValue())) {
                main.out().print(csv(columns, a.json().getAsJsonArray()));
            } else {
                JsonArray rows = a.json().getAsJsonArray();
                main.out().print(Table.render(columns, rows));
                long total = a.total() == null ? rows.size() : a.total();
                main.out().println("Total items: " + total + (total > rows.size() ? " (the newest " + rows.size() + " shown)" : ""));
            }
            return Main.EXIT_OK;
        };
        CommandSpec spec = CommandSpec.wrapWithoutInspection(body).name(name).addOption(Main.help());
        spec.usageMessage().description(description);
        List.of(since, until, search, csv).forEach(spec::addOption);
        return new CommandLine(spec);
    }

    /** --since of a report; {@code byDefault} says where the window starts without it. */
    static OptionSpec since(String byDefault) {
        return option("--since", "WHEN", "Start of the window: a time (2026-11-20, 2026-11-20T08:00:00Z) or an age"
                + " (30m, 24h, 7d, 2w before now; " + byDefault + ").");
    }

    static OptionSpec until() {
        return option("--until", "WHEN", "End of the window, excluded: a time or an age as --since (default: now).");
    }

    static OptionSpec csv() {
        return OptionSpec.builder("--csv").description("Print CSV (a header line, then one line per row) instead of a table.").build();
    }

    /** --limit N of a list or report; {@code description} says what the N are. */
    static OptionSpec limit(String description) {
        return OptionSpec.builder("--limit").paramLabel("N").type(Long.class).description(description).build();
    }

    /** An option's value as a query parameter: its text, or null (left out) when not given. */
    static String value(OptionSpec o) {
        return o.getValue() == null ? null : o.getValue().toString();
    }

    static OptionSpec option(String name, String label, String description) {
        return OptionSpec.builder(name).paramLabel(label).type(String.class).description(description).build();
    }

    /**
     * An option's time as the API takes it (ISO-8601, UTC), null when not given; a usage error
     * (exit 2) when unreadable, so every report reads --since and --until alike.
     */
    static String when(String v, Clock clock, String option) {
        if (v == null) {
            return null;
        }
        Matcher m = RELATIVE.matcher(v);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            Duration d = switch (m.group(2)) {
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                case "d" -> Duration.ofDays(n);
                default -> Duration.ofDays(7 * n);
            };
            return Instant.now(clock).minus(d).toString();
        }
        try {
            return OffsetDateTime.parse(v).toInstant().toString();
        } catch (DateTimeParseException e) {
            // a date alone is its midnight, UTC
        }
        try {
            return LocalDate.parse(v).atStartOfDay(ZoneOffset.UTC).toInstant().toString();
        } catch (DateTimeParseException e) {
            throw new CliException(Main.EXIT_USAGE, option + " " + v + ": give a time (2026-11-20, 2026-11-20T08:00:00Z) or an age (30m, 24h, 7d, 2w)");
        }
    }

    /** RFC 4180 (headers in lower case): a field with a comma, quote or line break is quoted, its quotes doubled. */
    static String csv(List<Column> columns, JsonArray items) {
        StringBuilder out = new StringBuilder();
        out.append(String.join(",", columns.stream().map(c -> field(c.header().toLowerCase())).toList())).append("\r\n");
        for (JsonElement e : items) {
            JsonObject o = e.getAsJsonObject();
            out.append(String.join(",", columns.stream().map(c -> field(c.cell().apply(o))).toList())).append("\r\n");
        }
        return out.toString();
    }

    private static String field(String s) {
        if (s == null) {
            return "";
        }
        return s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }
}
