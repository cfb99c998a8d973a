package lm.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;
import lm.cli.Resource.Field;
import lm.cli.Table.Column;
import picocli.CommandLine;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.TypeConversionException;

/**
 * The commands of one resource: list, get-one, and for the inventory create, update and delete.
 * Built from {@link Resource} rather than written four times over: the options differ only in
 * the fields, and the help shows each resource's own fields and sort columns.
 */
final class ResourceCommands {
    enum Order { ascending, descending }

    private ResourceCommands() {}

    static CommandLine group(Main main, Resource r) {
        CommandSpec spec = CommandSpec.create().name(r.command()).addOption(Main.help());
        spec.usageMessage().description(r.writable()
                ? "List, show, create, update and delete " + r.command() + "."
                : "List " + r.command() + " (read only).");
        CommandLine cl = new CommandLine(spec);
        cl.addSubcommand("list", list(main, r));
        // pools are looked at, not edited: "show" reads better (lm-cli pools list|show)
        String getOne = r == Resource.POOLS ? "show" : "get-one";
        cl.addSubcommand(getOne, getOne(main, r, getOne));
        if (r.writable()) {
            cl.addSubcommand("create", write(main, r, true));
            cl.addSubcommand("update", write(main, r, false));
            cl.addSubcommand("delete", delete(main, r));
        }
        return cl;
    }

    private static CommandLine command(String name, String description, Callable<Integer> body, List<OptionSpec> options) {
        CommandSpec spec = CommandSpec.wrapWithoutInspection(body).name(name).addOption(Main.help());
        spec.usageMessage().description(description);
        options.forEach(spec::addOption);
        return new CommandLine(spec);
    }

    private static OptionSpec option(String name, String label, Class<?> type, boolean required, String description) {
        return OptionSpec.builder(name).paramLabel(label).type(type).required(required).description(description).build();
    }

    private static CommandLine list(Main main, Resource r) {
        OptionSpec search = option("--search", "TEXT", String.class, false,
                "Only " + r.command() + " matching any of the blank-separated words (case-insensitive).");
        OptionSpec sortField = option("--sort-field", "FIELD", String.class, false,
                "Sort by FIELD: " + String.join(", ", r.sortFields()) + " (default id).");
        OptionSpec sortOrder = option("--sort-order", "ORDER", Order.class, false, "ascending (default) or descending.");
        OptionSpec limit = option("--limit", "N", Long.class, false, "Show at most N items.");
        OptionSpec offset = option("--offset", "N", Long.class, false, "Skip the first N items.");
        Callable<Integer> body = () -> {
            Map<String, String> q = new LinkedHashMap<>();
            q.put("search", search.getValue());
            q.put("sort_field", sortField.getValue());
            Order order = sortOrder.getValue();
            q.put("sort_ascending", order == null ? null : Boolean.toString(order == Order.ascending));
            q.put("limit", str(limit.getValue()));
            q.put("offset", str(offset.getValue()));
            Api.Answer a = main.api().get(r.path(), q);
            PrintWriter out = main.out();
            if (main.json()) {
                out.println(a.body());
            } else {
                JsonArray items = a.json().getAsJsonArray();
                out.print(Table.render(r.columns(), items));
                out.println("Total items: " + (a.total() == null ? items.size() : a.total()));
            }
            return Main.EXIT_OK;
        };
        return command("list", "List " + r.command() + ", with the total count of matches.", body,
                List.of(search, sortField, sortOrder, limit, offset));
    }

    private static OptionSpec id(Resource r) {
        return option("--id", "N", Long.class, true, "Id of the " + r.singular() + ".");
    }

    private static CommandLine getOne(Main main, Resource r, String name) {
        OptionSpec id = id(r);
        Callable<Integer> body = () -> {
            show(main, r, main.api().get(r.path() + "/" + id.getValue(), Map.of()));
            return Main.EXIT_OK;
        };
        return command(name, "Show one " + r.singular() + ".", body, List.of(id));
    }

    private static CommandLine delete(Main main, Resource r) {
        OptionSpec id = id(r);
        // products are refused while features use them, project shares hold no bookings; the
        // others may release bookings
        OptionSpec force = r == Resource.PRODUCTS || r == Resource.PROJECT_SHARES ? null : OptionSpec.builder("--force").description(
                "Delete even when active bookings depend on it: they are released, and the answer says how many"
                        + " (without it such a delete is refused, naming them).").build();
        Callable<Integer> body = () -> {
            boolean forced = force != null && Boolean.TRUE.equals(force.getValue());
            Api.Answer a = main.api().send("DELETE", r.path() + "/" + id.getValue() + (forced ? "?force=true" : ""), null);
            if (main.json()) {
                main.out().println(a.body());
            } else {
                JsonObject o = a.json().getAsJsonObject();
                JsonElement m = o.get("message");
                JsonElement released = o.get("released_bookings");
                main.out().println((m == null ? r.singular() + " " + id.getValue() + " deleted" : m.getAsString())
                        + (released != null && released.getAsLong() > 0 ? ", " + released.getAsLong() + " booking(s) released" : ""));
            }
            return Main.EXIT_OK;
        };
        String cascade = r == Resource.CONFIGURATIONS ? " Its license servers and features go with it." : "";
        return command("delete", "Delete a " + r.singular() + "." + cascade, body, force == null ? List.of(id) : List.of(id, force));
    }

    /** create (required fields enforced by picocli) or update (every field optional, at least one). */
    private static CommandLine write(Main main, Resource r, boolean create) {
        List<OptionSpec> options = new ArrayList<>();
        OptionSpec id = create ? null : id(r);
        if (id != null) {
            options.add(id);
        }
        Map<Field, OptionSpec> fields = new LinkedHashMap<>();
        for (Field f : r.fields()) {
            OptionSpec o = f.nullable()
                    ? OptionSpec.builder(f.option()).paramLabel(f.label()).type(String.class).description(f.description())
                            .converters(ResourceCommands::numberOrNone).build()
                    : option(f.option(), f.label(), f.number() ? Long.class : String.class, create && f.requiredOnCreate(),
                    f.description());
            fields.put(f, o);
            options.add(o);
        }
        OptionSpec servers = null;
        OptionSpec features = null;
        if (create && r == Resource.CONFIGURATIONS) {
            servers = nested("--license-server", "HOST:PORT", ResourceCommands::server,
                    "A license server of the configuration; repeat for more (tried in order).");
            features = nested("--feature", "NAME:PRODUCT_ID[:RESERVED]", ResourceCommands::feature,
                    "A feature of the configuration; repeat for more.");
            options.add(servers);
            options.add(features);
        }
        OptionSpec serversOpt = servers;
        OptionSpec featuresOpt = features;
        Callable<Integer> body = () -> {
            JsonObject o = new JsonObject();
            fields.forEach((f, spec) -> {
                Object v = spec.getValue();
                if (f.nullable() && "none".equals(v)) {
                    o.add(f.key(), com.google.gson.JsonNull.INSTANCE);
                } else if (f.nullable() && v != null) {
                    o.addProperty(f.key(), Long.parseLong((String) v));
                } else if (v instanceof Long n) {
                    o.addProperty(f.key(), n);
                } else if (v != null) {
                    o.addProperty(f.key(), (String) v);
                }
            });
            if (serversOpt != null) {
                o.add("license_servers", array(serversOpt.getValue()));
                o.add("features", array(featuresOpt.getValue()));
            }
            Api.Answer a;
            if (create) {
                a = main.api().send("POST", r.path(), o);
            } else {
                if (o.size() == 0) {
                    List<String> names = new ArrayList<>();
                    r.fields().forEach(f -> names.add(f.option()));
                    throw new ParameterException(fields.values().iterator().next().command().commandLine(),
                            "nothing to update: give at least one of " + String.join(", ", names));
                }
                a = main.api().send("PUT", r.path() + "/" + id.getValue(), o);
            }
            show(main, r, a);
            return Main.EXIT_OK;
        };
        String description = create
                ? "Create a " + r.singular() + (r == Resource.CONFIGURATIONS ? ", with its license servers and features" : "") + "."
                : "Change fields of a " + r.singular() + "; the others keep their value.";
        return command(create ? "create" : "update", description, body, options);
    }

    /** A number, or {@code none} (a nullable field's JSON null). */
    private static String numberOrNone(String v) {
        if (!v.equals("none")) {
            try {
                Long.parseLong(v);
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + v + "' is not a number or none");
            }
        }
        return v;
    }

    private static OptionSpec nested(String name, String label, Function<String, JsonObject> parse, String description) {
        ITypeConverter<JsonObject> conv = v -> {
            try {
                return parse.apply(v);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException("'" + v + "' is not " + label + ": " + e.getMessage());
            }
        };
        return OptionSpec.builder(name).paramLabel(label).type(List.class).auxiliaryTypes(JsonObject.class)
                .converters(conv).description(description).build();
    }

    static JsonObject server(String v) {
        int colon = v.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("missing ':PORT'");
        }
        JsonObject o = new JsonObject();
        o.addProperty("host", v.substring(0, colon));
        o.addProperty("port", integer(v.substring(colon + 1), "PORT"));
        return o;
    }

    static JsonObject feature(String v) {
        String[] p = v.split(":", -1);
        if (p.length < 2 || p.length > 3 || p[0].isEmpty()) {
            throw new IllegalArgumentException("expected 2 or 3 ':'-separated parts");
        }
        JsonObject o = new JsonObject();
        o.addProperty("name", p[0]);
        o.addProperty("product_id", integer(p[1], "PRODUCT_ID"));
        if (p.length == 3) {
            o.addProperty("reserved", integer(p[2], "RESERVED"));
        }
        return o;
    }

    private static long integer(String s, String what) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " must be an integer");
        }
    }

    private static JsonArray array(List<JsonObject> items) {
        JsonArray a = new JsonArray();
        if (items != null) {
            items.forEach(a::add);
        }
        return a;
    }

    /** One resource: the API's JSON, or field/value lines (a configuration's servers and features as tables). */
    private static void show(Main main, Resource r, Api.Answer a) {
        PrintWriter out = main.out();
        if (main.json()) {
            out.println(a.body());
            return;
        }
        JsonObject o = a.json().getAsJsonObject();
        out.print(Table.record(r.columns(), o));
        if (r == Resource.CONFIGURATIONS) {
            out.println();
            out.println("License servers:");
            out.print(Table.render(without(Resource.LICENSE_SERVERS.columns(), "config_id"), o.getAsJsonArray("license_servers")));
            out.println();
            out.println("Features:");
            out.print(Table.render(without(Resource.FEATURES.columns(), "config_id"), o.getAsJsonArray("features")));
        }
        if (r == Resource.POOLS) {
            out.println();
            out.println("Owners:");
            out.print(Table.render(Resource.OWNERS, o.has("owners") && o.get("owners").isJsonArray() ? o.getAsJsonArray("owners") : new JsonArray()));
        }
    }

    private static List<Column> without(List<Column> columns, String header) {
        List<Column> out = new ArrayList<>(columns);
        out.removeIf(c -> c.header().equals(header));
        return out;
    }

    private static String str(Long n) {
        return n == null ? null : n.toString();
    }
}
