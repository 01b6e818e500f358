package ioi.display;

import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.FloatColumn;
import tech.tablesaw.api.NumericColumn;
import tech.tablesaw.api.Table;
import tech.tablesaw.columns.Column;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Tablesaw tables as styled HTML, the Java counterpart of the {@code rich} tables in the paper's
 * notebooks.
 *
 * <p>The HTML uses inline {@code style} attributes only: no {@code <style>} element, no class, no
 * script, and only CSS properties that JupyterLab's sanitizer keeps (colours as {@code #rrggbb}), so a
 * table looks the same in a live session, in a notebook opened untrusted, and in nbconvert's HTML. All
 * text is escaped. Long tables are cut to {@link TableStyle#maxRows()} rows with a notice
 * ("showing 20 of 144 rows"); {@code text/plain} carries the same cut as aligned text.
 *
 * <pre>{@code
 * Tables.styled(results, TableStyle.defaults().digits(2).diverging("logit_diff").highlightRows(0))
 * }</pre>
 */
public final class Tables {
    private Tables() {}

    private static final String FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";

    public static String html(Table table) {
        return html(table, TableStyle.defaults());
    }

    public static String text(Table table) {
        return text(table, TableStyle.defaults());
    }

    /** The MIME bundle: {@code text/html} and {@code text/plain}. */
    public static Map<String, Object> render(Table table) {
        return render(table, TableStyle.defaults());
    }

    public static Map<String, Object> render(Table table, TableStyle style) {
        Map<String, Object> bundle = new LinkedHashMap<>();
        bundle.put(Displayable.TEXT_HTML, html(table, style));
        bundle.put(Displayable.TEXT_PLAIN, text(table, style));
        return bundle;
    }

    /** The table with a style, to show as a cell's last expression or with {@code display(...)}. */
    public static Displayable styled(Table table, TableStyle style) {
        return new Styled(table, style);
    }

    private record Styled(Table table, TableStyle style) implements Displayable {
        @Override
        public Map<String, Object> mimeBundle() {
            return render(table, style);
        }

        @Override
        public String toString() {
            return text(table, style);
        }
    }

    // ---------------------------------------------------------------- HTML

    public static String html(Table table, TableStyle style) {
        Layout t = new Layout(table, style);
        StringBuilder h = new StringBuilder(256 + t.shown * t.columns.size() * 64);
        h.append("<div style=\"max-width:100%;overflow-x:auto\">");
        h.append("<table style=\"border-collapse:collapse;font-family:").append(FONT)
                .append(";font-size:12px;line-height:1.35\">");
        if (style.title() != null)
            h.append("<caption style=\"caption-side:top;text-align:left;font-weight:bold;padding:2px 0 4px 0\">")
                    .append(Html.escape(style.title())).append("</caption>");
        h.append("<thead><tr>");
        if (style.rowNumbers())
            h.append("<th style=\"").append(HEAD).append("text-align:right;color:#888888\">#</th>");
        for (Column<?> c : t.columns)
            h.append("<th style=\"").append(HEAD).append("text-align:").append(isNumeric(c) ? "right" : "left")
                    .append("\">").append(Html.escape(c.name())).append("</th>");
        h.append("</tr></thead><tbody>");
        for (int r = 0; r < t.shown; r++) {
            boolean rowLit = style.isHighlighted(r);
            h.append("<tr>");
            if (style.rowNumbers()) {
                h.append("<td style=\"").append(CELL).append("text-align:right;color:#888888");
                if (rowLit) h.append(";background-color:").append(style.highlightColor());
                h.append("\">").append(r).append("</td>");
            }
            for (int ci = 0; ci < t.columns.size(); ci++) {
                Column<?> c = t.columns.get(ci);
                h.append("<td style=\"").append(CELL).append("text-align:").append(isNumeric(c) ? "right" : "left");
                String background = null, color = null;
                if (isNumeric(c) && !c.isMissing(r)) {
                    double v = ((NumericColumn<?>) c).getDouble(r);
                    if (Double.isNaN(v)) color = "#999999";
                    else if (t.limits[ci] > 0) {
                        background = Colors.diverging(v / t.limits[ci]);
                        color = Colors.textOn(background);
                    } else if (style.signColors() && isFloating(c) && v != 0)
                        color = v < 0 ? Colors.NEGATIVE : Colors.POSITIVE;
                }
                if (background == null && rowLit) {
                    background = style.highlightColor();
                    if (color == null) color = "#000000";
                }
                if (background != null) h.append(";background-color:").append(background);
                if (color != null) h.append(";color:").append(color);
                if (rowLit || style.isHighlighted(r, c.name())) h.append(";font-weight:bold");
                if (style.isHighlighted(r, c.name())) h.append(";outline:2px solid #d08c00");
                h.append("\">").append(Html.escape(t.cells[r][ci])).append("</td>");
            }
            h.append("</tr>");
        }
        h.append("</tbody></table>");
        if (t.shown < t.rows)
            h.append("<div style=\"color:#666666;font-size:11px;font-style:italic;padding:3px 2px\">")
                    .append(Html.escape(notice(t))).append("</div>");
        h.append("</div>");
        return h.toString();
    }

    private static final String HEAD = "padding:3px 8px;border-bottom:1px solid #888888;font-weight:bold;white-space:nowrap;";
    private static final String CELL = "padding:2px 8px;white-space:nowrap;";

    // ---------------------------------------------------------------- text

    public static String text(Table table, TableStyle style) {
        Layout t = new Layout(table, style);
        int n = t.columns.size() + (style.rowNumbers() ? 1 : 0);
        String[] head = new String[n];
        boolean[] right = new boolean[n];
        int[] width = new int[n];
        int k = 0;
        if (style.rowNumbers()) {
            head[k] = "#";
            right[k++] = true;
        }
        for (Column<?> c : t.columns) {
            head[k] = c.name();
            right[k++] = isNumeric(c);
        }
        String[][] body = new String[t.shown][n];
        for (int r = 0; r < t.shown; r++) {
            k = 0;
            if (style.rowNumbers()) body[r][k++] = Integer.toString(r);
            for (int ci = 0; ci < t.columns.size(); ci++) body[r][k++] = t.cells[r][ci].replace('\n', ' ');
        }
        for (int j = 0; j < n; j++) {
            width[j] = head[j].length();
            for (String[] row : body) width[j] = Math.max(width[j], row[j].length());
        }
        StringBuilder s = new StringBuilder();
        if (style.title() != null) s.append(style.title()).append('\n');
        appendRow(s, head, width, right);
        for (int j = 0; j < n; j++) s.append(j == 0 ? "" : "  ").append("-".repeat(width[j]));
        s.append('\n');
        for (String[] row : body) appendRow(s, row, width, right);
        if (t.shown < t.rows) s.append(notice(t)).append('\n');
        return s.toString();
    }

    private static void appendRow(StringBuilder s, String[] cells, int[] width, boolean[] right) {
        StringBuilder line = new StringBuilder();
        for (int j = 0; j < cells.length; j++) {
            if (j > 0) line.append("  ");
            String pad = " ".repeat(width[j] - cells[j].length());
            line.append(right[j] ? pad + cells[j] : cells[j] + pad);
        }
        s.append(line.toString().stripTrailing()).append('\n');
    }

    private static String notice(Layout t) {
        return "showing " + t.shown + " of " + t.rows + " rows";
    }

    // ---------------------------------------------------------------- shared

    /** What both renderers show: the first rows, each cell formatted, the diverging scale of each column. */
    private static final class Layout {
        final List<Column<?>> columns;
        final int rows, shown;
        final String[][] cells; // [shown row, column]
        final double[] limits;  // per column: |value| of the darkest colour, 0 = no diverging scale

        Layout(Table table, TableStyle style) {
            columns = new ArrayList<>(table.columns());
            rows = table.rowCount();
            shown = style.maxRows() == 0 ? rows : Math.min(rows, style.maxRows());
            List<String> names = table.columnNames();
            for (String d : style.divergingColumns()) {
                Column<?> c = column(table, names, d);
                if (!isNumeric(c))
                    throw new IllegalArgumentException("diverging column '" + d + "' is " + c.type() + ", not numeric");
            }
            for (String h : style.highlightedCellColumns()) column(table, names, h);
            limits = new double[columns.size()];
            for (int ci = 0; ci < columns.size(); ci++) {
                Column<?> c = columns.get(ci);
                if (!style.divergingColumns().contains(c.name())) continue;
                if (!Double.isNaN(style.divergingLimit())) {
                    limits[ci] = style.divergingLimit();
                    continue;
                }
                double max = 0; // over all rows, so a cut table keeps the colours of the whole one
                NumericColumn<?> nc = (NumericColumn<?>) c;
                for (int r = 0; r < rows; r++) {
                    double v = nc.isMissing(r) ? Double.NaN : nc.getDouble(r);
                    if (Double.isFinite(v)) max = Math.max(max, Math.abs(v));
                }
                limits[ci] = max;
            }
            cells = new String[shown][columns.size()];
            for (int ci = 0; ci < columns.size(); ci++) {
                Column<?> c = columns.get(ci);
                int digits = style.digitsFor(c.name());
                for (int r = 0; r < shown; r++) cells[r][ci] = cell(c, r, digits);
            }
        }
    }

    private static Column<?> column(Table table, List<String> names, String name) {
        for (String n : names) if (n.equals(name)) return table.column(n);
        throw new IllegalArgumentException("no column '" + name + "' in the table; columns: " + names);
    }

    static String cell(Column<?> c, int row, int digits) {
        if (isFloating(c)) {
            double v = ((NumericColumn<?>) c).getDouble(row);
            return Numbers.format(v, digits); // NaN is Tablesaw's "missing" for floating columns
        }
        if (c.isMissing(row)) return "";
        if (isNumeric(c)) return Long.toString(((Number) c.get(row)).longValue());
        String s = c.getString(row);
        return s == null ? "" : s;
    }

    static boolean isNumeric(Column<?> c) {
        return c instanceof NumericColumn<?>;
    }

    static boolean isFloating(Column<?> c) {
        return c instanceof DoubleColumn || c instanceof FloatColumn;
    }
}
