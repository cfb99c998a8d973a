package lm.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Aligned plain-text tables: what people read; scripts use --json. A cell is one line, its
 * control characters escaped (Terminal), so that its width is what the terminal shows.
 */
final class Table {

    /** A column: its header, how to get the cell from a resource, and whether it holds numbers. */
    record Column(String header, Function<JsonObject, String> cell, boolean numeric) {
        static Column text(String header, String field) {
            return new Column(header, o -> scalar(o.get(field)), false);
        }

        static Column number(String header, String field) {
            return new Column(header, o -> scalar(o.get(field)), true);
        }

        /** A limit: {@code none} where the API says null (no limit). */
        static Column limit(String header, String field) {
            return new Column(header, o -> o.get(field) == null || o.get(field).isJsonNull() ? "none" : scalar(o.get(field)), true);
        }
    }

    private Table() {}

    /** The rows of {@code items} under the columns' headers; numbers (and their headers) right-aligned. */
    static String render(List<Column> columns, JsonArray items) {
        List<String[]> rows = new ArrayList<>();
        String[] head = new String[columns.size()];
        for (int i = 0; i < head.length; i++) {
            head[i] = columns.get(i).header();
        }
        rows.add(head);
        for (JsonElement e : items) {
            JsonObject o = e.getAsJsonObject();
            String[] row = new String[columns.size()];
            for (int i = 0; i < row.length; i++) {
                row[i] = Terminal.escape(columns.get(i).cell().apply(o));
            }
            rows.add(row);
        }
        int[] width = new int[columns.size()];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        StringBuilder out = new StringBuilder();
        for (int r = 0; r < rows.size(); r++) {
            String[] row = rows.get(r);
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                if (i > 0) {
                    line.append("  ");
                }
                boolean right = columns.get(i).numeric();
                line.append(right ? pad(row[i], width[i], true) : i == row.length - 1 ? row[i] : pad(row[i], width[i], false));
            }
            out.append(line.toString().stripTrailing()).append('\n');
            if (r == 0) {
                StringBuilder rule = new StringBuilder();
                for (int i = 0; i < width.length; i++) {
                    if (i > 0) {
                        rule.append("  ");
                    }
                    rule.append("-".repeat(width[i]));
                }
                out.append(rule).append('\n');
            }
        }
        return out.toString();
    }

    /** One resource as "field  value" lines, in the columns' order. */
    static String record(List<Column> columns, JsonObject o) {
        int width = 0;
        for (Column c : columns) {
            width = Math.max(width, c.header().length());
        }
        StringBuilder out = new StringBuilder();
        for (Column c : columns) {
            out.append(pad(c.header(), width, false)).append("  ").append(Terminal.escape(c.cell().apply(o))).append('\n');
        }
        return out.toString();
    }

    static String scalar(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return "";
        }
        return e.isJsonPrimitive() ? e.getAsString() : e.toString();
    }

    private static String pad(String s, int width, boolean right) {
        String fill = " ".repeat(Math.max(0, width - s.length()));
        return right ? fill + s : s + fill;
    }
}
