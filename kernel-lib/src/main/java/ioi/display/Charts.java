package ioi.display;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Plotly charts for notebooks: {@link #imshow} (heatmaps, faceted), {@link #line}, {@link #scatter}
 * (colour groups), {@link #bar}. Each returns a builder that is itself displayable; its
 * {@link Chart#figure()} is a {@link Figure}, which renders as one MIME bundle
 * ({@code application/vnd.plotly.v1+json}, an offline {@code text/html} fallback, {@code text/plain}).
 *
 * <p><b>Why the Plotly JSON is built here and not with tablesaw-jsplot's figure model.</b>
 * tablesaw-jsplot (0.44.4) cannot draw what the IOI notebooks need: its heatmap trace has no
 * colour scale, {@code zmin}/{@code zmax} or colour axis; every heatmap trace is emitted as the
 * JavaScript variable {@code trace0}, so a figure with two heatmaps references an undefined
 * {@code trace1}; its layout has {@code xAxis}, {@code yAxis}..{@code yAxis4} but no {@code xaxis2+},
 * so there are no faceted heatmaps ({@code imshow(facet_col=...)}); it writes JavaScript object
 * literals with unescaped single-quoted strings, not JSON, so nothing of it can go into
 * {@code application/vnd.plotly.v1+json}; and its titles are plain strings with {@code titlefont},
 * which plotly.js 3 (the one JupyterLab's Plotly extension bundles now) dropped, while its pages load
 * plotly.js 1.58 from a CDN. Plain {@code Map}/{@code List} JSON is a few lines per trace type,
 * serialises with any Gson (the kernel's relocated one included), and works with plotly.js 2 and 3.
 */
public final class Charts {
    private Charts() {}

    // ------------------------------------------------------------ imshow

    /** One heatmap of {@code z[row][col]}. */
    public static Imshow imshow(float[][] z) {
        return new Imshow(new float[][][] {z}, false);
    }

    /** One panel per {@code z[facet]} ({@code facet_col}), on a shared colour scale. */
    public static Imshow imshow(float[][][] z) {
        return new Imshow(z, true);
    }

    public static Imshow imshow(double[][] z) {
        return imshow(toFloat(z));
    }

    /** {@link #imshow(float[][][])} of doubles. */
    public static Imshow imshow(double[][][] z) {
        float[][][] f = new float[z.length][][];
        for (int i = 0; i < z.length; i++) {
            f[i] = toFloat(z[i]);
        }
        return imshow(f);
    }

    private static float[][] toFloat(double[][] z) {
        float[][] f = new float[z.length][];
        for (int i = 0; i < z.length; i++) {
            f[i] = new float[z[i].length];
            for (int j = 0; j < z[i].length; j++) f[i][j] = (float) z[i][j];
        }
        return f;
    }

    /** A 2-D array {@code [row, col]} as one heatmap, or a 3-D array {@code [facet, row, col]} as panels. */
    public static Imshow imshow(NDArray z) {
        return switch (z.getShape().dimension()) {
            case 2 -> imshow(toFloat2(z));
            case 3 -> imshow(toFloat3(z));
            default -> throw new IllegalArgumentException("imshow: expected [row, col] or [facet, row, col], got shape " + z.getShape());
        };
    }

    /**
     * A per-head grid {@code [layer, head]} (a path-patching or activation-patching result over
     * heads, direct logit attribution per head, head scores) as one heatmap: layers down, heads
     * across, labelled as the paper's figures are, colour scale centred on 0.
     *
     * @param grid [n_layers, n_heads] (or fewer layers: senders before a receiver layer)
     * @param title the chart title
     * @param valueLabel the value's name in the colour bar and hover text
     */
    public static Imshow heads(NDArray grid, String title, String valueLabel) {
        if (grid.getShape().dimension() != 2) {
            throw new IllegalArgumentException("heads: expected a [layer, head] grid, got shape " + grid.getShape());
        }
        return heads(toFloat2(grid), title, valueLabel);
    }

    /** {@link #heads(NDArray, String, String)} of rows of plain floats, {@code [layer][head]}. */
    public static Imshow heads(float[][] z, String title, String valueLabel) {
        if (z.length == 0) {
            throw new IllegalArgumentException("heads: the grid has no layers");
        }
        List<String> layers = new java.util.ArrayList<>();
        for (int l = 0; l < z.length; l++) layers.add(Integer.toString(l));
        List<String> heads = new java.util.ArrayList<>();
        for (int h = 0; h < z[0].length; h++) heads.add(Integer.toString(h));
        return imshow(z).y(layers).x(heads).labels("Head", "Layer").colorLabel(valueLabel).title(title);
    }

    /** {@link #heads(NDArray, String, String)} of a patching result, titled with its title. */
    public static Imshow heads(ioi.experiments.PatchingResult result) {
        return heads(result.rows(), result.title(), "metric");
    }

    // ------------------------------------------------------------ line, scatter, bar

    /** Lines; add series with {@link LineChart#add}. */
    public static LineChart line() {
        return new LineChart();
    }

    /** One line over x = 0, 1, ... */
    public static LineChart line(double[] y) {
        return new LineChart().add("y", y);
    }

    public static LineChart line(float[] y) {
        return new LineChart().add("y", y);
    }

    public static LineChart line(double[] x, double[] y) {
        return new LineChart().add("y", y).x(x);
    }

    /** One line per entry, in the map's order. */
    public static LineChart line(Map<String, double[]> series) {
        LineChart c = new LineChart();
        series.forEach(c::add);
        return c;
    }

    /** A 1-D array as one line, or a 2-D array {@code [series, point]} as one line per row. */
    public static LineChart line(NDArray y) {
        return switch (y.getShape().dimension()) {
            case 1 -> line(toFloat1(y));
            case 2 -> {
                LineChart c = new LineChart();
                float[][] rows = toFloat2(y);
                for (int i = 0; i < rows.length; i++) c.add(Integer.toString(i), rows[i]);
                yield c;
            }
            default -> throw new IllegalArgumentException("line: expected [point] or [series, point], got shape " + y.getShape());
        };
    }

    public static ScatterChart scatter(double[] x, double[] y) {
        return new ScatterChart(x, y);
    }

    public static ScatterChart scatter(float[] x, float[] y) {
        return new ScatterChart(Json.toDoubles(x), Json.toDoubles(y));
    }

    /** Bars over categories; more series with {@link BarChart#add}. */
    public static BarChart bar(List<String> categories, double[] values) {
        return new BarChart(categories).add("value", values);
    }

    public static BarChart bar(List<String> categories, float[] values) {
        return new BarChart(categories).add("value", values);
    }

    public static BarChart bar(List<String> categories) {
        return new BarChart(categories);
    }

    /** A graph of placed nodes and weighted edges (a circuit); add them with {@link GraphChart#node} and {@link GraphChart#edge}. */
    public static GraphChart graph() {
        return new GraphChart();
    }

    // ------------------------------------------------------------ helpers

    /**
     * Labels as Plotly categories: escaped for Plotly's label markup, and made distinct by appending
     * zero-width spaces to repeats, since Plotly merges equal categories (a prompt has " John" twice).
     */
    static List<Object> categories(List<String> labels) {
        Map<String, Integer> seen = new HashMap<>();
        List<Object> out = new ArrayList<>(labels.size());
        for (String l : labels) {
            String s = Html.plotlyText(l == null ? "" : l);
            int n = seen.merge(s, 1, Integer::sum) - 1;
            out.add(n == 0 ? s : s + "\u200b".repeat(n));
        }
        return out;
    }

    static void hover(Map<String, Object> trace, List<String> text, String xName, String yName, String name) {
        hover(trace, text, xName, yName, name, false);
    }

    /** Hover: the point's text (if any), the x and y values, and the trace name on the side. */
    static void hover(Map<String, Object> trace, List<String> text, String xName, String yName, String name, boolean swap) {
        StringBuilder t = new StringBuilder();
        if (text != null) {
            List<Object> escaped = new ArrayList<>(text.size());
            for (String s : text) escaped.add(Html.plotlyText(s));
            trace.put("text", escaped);
            t.append("%{text}<br>");
        }
        t.append(Html.plotlyText(xName)).append(": ").append(swap ? "%{y}" : "%{x}").append("<br>")
                .append(Html.plotlyText(yName)).append(": ").append(swap ? "%{x:.4g}" : "%{y:.4g}")
                .append("<extra>").append(name == null ? "" : Html.plotlyText(name)).append("</extra>");
        trace.put("hovertemplate", t.toString());
    }

    static float[] toFloat1(NDArray a) {
        try (NDArray f = a.getDataType() == DataType.FLOAT32 ? null : a.toType(DataType.FLOAT32, true)) {
            return (f == null ? a : f).toFloatArray();
        }
    }

    static float[][] toFloat2(NDArray a) {
        long[] s = a.getShape().getShape();
        if (s.length != 2) throw new IllegalArgumentException("expected a 2-D array, got shape " + a.getShape());
        float[] flat = toFloat1(a);
        int rows = (int) s[0], cols = (int) s[1];
        float[][] out = new float[rows][cols];
        for (int r = 0; r < rows; r++) System.arraycopy(flat, r * cols, out[r], 0, cols);
        return out;
    }

    static float[][][] toFloat3(NDArray a) {
        long[] s = a.getShape().getShape();
        if (s.length != 3) throw new IllegalArgumentException("expected a 3-D array, got shape " + a.getShape());
        float[] flat = toFloat1(a);
        int d0 = (int) s[0], d1 = (int) s[1], d2 = (int) s[2];
        float[][][] out = new float[d0][d1][d2];
        for (int i = 0; i < d0; i++)
            for (int j = 0; j < d1; j++) System.arraycopy(flat, (i * d1 + j) * d2, out[i][j], 0, d2);
        return out;
    }
}
