package ioi.display;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Heatmaps like plotly express's {@code imshow}, with {@code facet_col}: one panel per slice of the
 * first dimension of a {@code float[facet][row][col]}, all on one shared colour axis.
 *
 * <p>Defaults follow the IOI notebooks' {@code imshow} helper: ColorBrewer RdBu with midpoint 0
 * (negative red, positive blue), row 0 at the top, square cells. Each panel is a {@code heatmap}
 * trace on its own axes ({@code x}, {@code x2}, ..., {@code y}, {@code y2}, ...) laid out on a grid
 * of {@link #facetColWrap(int)} columns, with axes that zoom together ({@code matches}), the facet
 * label as an annotation above it, tick labels on the outer panels only, and one colour bar
 * ({@code layout.coloraxis}). Labels may repeat (tokens do): repeated categories get invisible
 * zero-width spaces so Plotly keeps them apart. NaN and ±infinity are gaps ({@code null}).
 *
 * <pre>{@code
 * Charts.imshow(pattern)                      // float[head][query_pos][key_pos]
 *       .x(tokens).y(tokens).facetLabels(List.of("L9H6", "L9H9", "L10H0"))
 *       .labels("key", "query").colorLabel("attention").range(0, 1).colorscale(Colors.BLUES)
 * }</pre>
 */
public final class Imshow extends Chart<Imshow> {
    private final float[][][] z; // [facet, row, col]
    private final boolean faceted;
    private List<String> x, y, facetLabels;
    private int facetColWrap = 0;
    private String colorLabel;
    private double zmid = 0, zmin = Double.NaN, zmax = Double.NaN;
    private List<String> colorscale = Colors.RDBU;
    private boolean equalAspect = true;

    Imshow(float[][][] z, boolean faceted) {
        if (z.length == 0) throw new IllegalArgumentException("imshow: no facets (shape " + Json.shape(0) + ")");
        int rows = z[0].length, cols = rows == 0 ? 0 : z[0][0].length;
        if (rows == 0 || cols == 0) throw new IllegalArgumentException("imshow: empty matrix " + Json.shape(z.length, rows, cols));
        for (int f = 0; f < z.length; f++) {
            if (z[f].length != rows)
                throw new IllegalArgumentException("imshow: facet " + f + " has " + z[f].length + " rows, expected " + rows);
            for (int r = 0; r < rows; r++)
                if (z[f][r].length != cols)
                    throw new IllegalArgumentException("imshow: facet " + f + " row " + r + " has " + z[f][r].length + " columns, expected " + cols);
        }
        this.z = z;
        this.faceted = faceted;
    }

    public int facets() { return z.length; }
    public int rows() { return z[0].length; }
    public int cols() { return z[0][0].length; }

    /** Column labels (length = columns), e.g. key tokens. */
    public Imshow x(List<String> labels) {
        checkLength("x labels", labels, cols());
        this.x = List.copyOf(labels);
        return this;
    }

    /** Row labels (length = rows), e.g. query tokens or layers. */
    public Imshow y(List<String> labels) {
        checkLength("y labels", labels, rows());
        this.y = List.copyOf(labels);
        return this;
    }

    /** Panel titles (length = facets), e.g. head names {@code "L9H6"}. */
    public Imshow facetLabels(List<String> labels) {
        checkLength("facet labels", labels, facets());
        this.facetLabels = List.copyOf(labels);
        return this;
    }

    /** Panels per row (default: all of them up to 6). */
    public Imshow facetColWrap(int columns) {
        if (columns <= 0) throw new IllegalArgumentException("facetColWrap must be > 0, got " + columns);
        this.facetColWrap = columns;
        return this;
    }

    /** Title of the colour bar and name of the value in hover text (default "color"). */
    public Imshow colorLabel(String label) {
        this.colorLabel = label;
        return this;
    }

    /** Midpoint of the colour scale (default 0; ignored once {@link #range} is set). */
    public Imshow zmid(double mid) {
        if (!Double.isFinite(mid)) throw new IllegalArgumentException("zmid must be finite, got " + mid);
        this.zmid = mid;
        return this;
    }

    /** Fixed ends of the colour scale, e.g. {@code range(0, 1)} for attention. */
    public Imshow range(double min, double max) {
        if (!(min < max) || !Double.isFinite(min) || !Double.isFinite(max))
            throw new IllegalArgumentException("range needs finite min < max, got " + min + ", " + max);
        this.zmin = min;
        this.zmax = max;
        return this;
    }

    /** Colour stops low to high as {@code #rrggbb} ({@link Colors#RDBU}, {@link Colors#BLUES}, ...). */
    public Imshow colorscale(List<String> stops) {
        if (stops.size() < 2) throw new IllegalArgumentException("a colour scale needs at least 2 stops, got " + stops.size());
        this.colorscale = List.copyOf(stops);
        return this;
    }

    /** Square cells (default) or cells stretched to fill the panel. */
    public Imshow equalAspect(boolean on) {
        this.equalAspect = on;
        return this;
    }

    @Override
    public Figure figure() {
        int n = facets();
        int wrap = facetColWrap > 0 ? Math.min(facetColWrap, n) : Math.min(n, 6);
        int gridRows = (n + wrap - 1) / wrap;
        double hgap = wrap > 1 ? 0.03 : 0, vgap = gridRows > 1 ? (faceted ? 0.1 : 0.05) : 0;
        double panelW = (1 - hgap * (wrap - 1)) / wrap, panelH = (1 - vgap * (gridRows - 1)) / gridRows;

        List<Object> xCats = x == null ? null : Charts.categories(x);
        List<Object> yCats = y == null ? null : Charts.categories(y);
        String valueName = colorLabel != null ? colorLabel : "color";

        List<Map<String, Object>> data = new ArrayList<>();
        int panelPx = Math.max(160, Math.min(400, 900 / wrap));
        Map<String, Object> layout = baseLayout(80 + (title != null ? 30 : 0) + gridRows * (panelPx + (faceted ? 40 : 20)));
        List<Object> annotations = new ArrayList<>();
        for (int f = 0; f < n; f++) {
            int row = f / wrap, col = f % wrap;
            String k = f == 0 ? "" : Integer.toString(f + 1);
            String label = facetLabels != null ? facetLabels.get(f) : faceted ? Integer.toString(f) : null;

            Map<String, Object> trace = new LinkedHashMap<>();
            trace.put("type", "heatmap");
            if (label != null) trace.put("name", Html.plotlyText(label));
            trace.put("z", Json.matrix(z[f]));
            if (xCats != null) trace.put("x", xCats);
            if (yCats != null) trace.put("y", yCats);
            trace.put("xaxis", "x" + k);
            trace.put("yaxis", "y" + k);
            trace.put("coloraxis", "coloraxis");
            trace.put("hoverongaps", false);
            trace.put("hovertemplate", (label != null ? "<b>" + Html.plotlyText(label) + "</b><br>" : "")
                    + Html.plotlyText(yName()) + ": %{y}<br>" + Html.plotlyText(xName()) + ": %{x}<br>"
                    + Html.plotlyText(valueName) + ": %{z:.4g}<extra></extra>");
            data.add(trace);

            double x0 = col * (panelW + hgap), y1 = 1 - row * (panelH + vgap);
            boolean bottom = f + wrap >= n, left = col == 0;
            Map<String, Object> xa = axis(bottom ? xLabel : null);
            xa.put("domain", List.of(x0, Math.min(1.0, x0 + panelW)));
            xa.put("anchor", "y" + k);
            if (xCats != null) categorical(xa, xCats.size());
            if (!bottom) xa.put("showticklabels", false);
            if (f > 0) xa.put("matches", "x");
            Map<String, Object> ya = axis(left ? yLabel : null);
            ya.put("domain", List.of(Math.max(0.0, y1 - panelH), y1));
            ya.put("anchor", "x" + k);
            ya.put("autorange", "reversed");
            if (yCats != null) categorical(ya, yCats.size());
            if (!left) ya.put("showticklabels", false);
            if (f > 0) ya.put("matches", "y");
            if (equalAspect) {
                ya.put("scaleanchor", "x" + k);
                ya.put("constrain", "domain");
                xa.put("constrain", "domain");
            }
            layout.put("xaxis" + k, xa);
            layout.put("yaxis" + k, ya);

            if (faceted && label != null) {
                Map<String, Object> a = new LinkedHashMap<>();
                a.put("text", Html.plotlyText(label));
                a.put("x", x0 + panelW / 2);
                a.put("y", y1);
                a.put("xref", "paper");
                a.put("yref", "paper");
                a.put("xanchor", "center");
                a.put("yanchor", "bottom");
                a.put("showarrow", false);
                annotations.add(a);
            }
        }
        if (!annotations.isEmpty()) layout.put("annotations", annotations);

        Map<String, Object> coloraxis = new LinkedHashMap<>();
        coloraxis.put("colorscale", Colors.plotlyScale(colorscale));
        if (!Double.isNaN(zmin)) {
            coloraxis.put("cmin", zmin);
            coloraxis.put("cmax", zmax);
        } else {
            coloraxis.put("cmid", zmid);
        }
        Map<String, Object> colorbar = new LinkedHashMap<>();
        colorbar.put("title", text(valueName));
        coloraxis.put("colorbar", colorbar);
        layout.put("coloraxis", coloraxis);
        Map<String, Object> margin = cast(layout.get("margin"));
        margin.put("l", y != null ? 90 : 50);
        margin.put("b", x != null ? 90 : 50);
        return new Figure(data, layout);
    }

    private static void categorical(Map<String, Object> axis, int n) {
        axis.put("type", "category");
        axis.put("automargin", true); // room for long tokens before the axis title
        if (n <= 64) axis.put("dtick", 1); // every token, not every other
        axis.put("tickfont", Map.of("size", n > 24 ? 9 : 11));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> cast(Object o) {
        return (Map<String, Object>) o;
    }

    private static void checkLength(String what, List<String> labels, int expected) {
        if (labels.size() != expected)
            throw new IllegalArgumentException("imshow: " + what + " has " + labels.size() + " entries, expected " + expected);
    }
}
