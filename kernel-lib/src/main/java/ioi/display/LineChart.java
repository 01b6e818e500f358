package ioi.display;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Lines, one trace per series, over shared x values (numbers, or labels such as tokens or layer
 * names). Per-point hover text is optional. Built by {@link Charts#line}.
 */
public final class LineChart extends Chart<LineChart> {
    private record Series(String name, double[] y, List<String> hover) {}

    private final List<Series> series = new ArrayList<>();
    private double[] xNumbers;
    private List<String> xLabels;
    private boolean markers;

    LineChart() {}

    /** Adds a series (all series have the same length). */
    public LineChart add(String name, double[] y) {
        return add(name, y, null);
    }

    public LineChart add(String name, float[] y) {
        return add(name, Json.toDoubles(y), null);
    }

    /** Adds a series with a hover text per point (e.g. the prompt or token of each x). */
    public LineChart add(String name, double[] y, List<String> hover) {
        if (!series.isEmpty() && series.get(0).y.length != y.length)
            throw new IllegalArgumentException("line: series '" + name + "' has " + y.length + " points, expected " + series.get(0).y.length);
        if (hover != null && hover.size() != y.length)
            throw new IllegalArgumentException("line: hover text has " + hover.size() + " entries, expected " + y.length);
        checkX(y.length);
        series.add(new Series(name, y.clone(), hover == null ? null : List.copyOf(hover)));
        return this;
    }

    public LineChart x(double[] x) {
        this.xNumbers = x.clone();
        this.xLabels = null;
        if (!series.isEmpty()) checkX(series.get(0).y.length);
        return this;
    }

    /** Categorical x (labels may repeat). */
    public LineChart x(List<String> labels) {
        this.xLabels = List.copyOf(labels);
        this.xNumbers = null;
        if (!series.isEmpty()) checkX(series.get(0).y.length);
        return this;
    }

    public LineChart markers(boolean on) {
        this.markers = on;
        return this;
    }

    private void checkX(int n) {
        int xn = xNumbers != null ? xNumbers.length : xLabels != null ? xLabels.size() : n;
        if (xn != n) throw new IllegalArgumentException("line: " + xn + " x values for series of " + n + " points");
    }

    @Override
    public Figure figure() {
        if (series.isEmpty()) throw new IllegalStateException("line: no series; add one with add(name, y)");
        List<Map<String, Object>> data = new ArrayList<>();
        List<Object> xs = xNumbers != null ? Json.list(xNumbers) : xLabels != null ? Charts.categories(xLabels) : null;
        for (Series s : series) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("type", "scatter");
            t.put("mode", markers ? "lines+markers" : "lines");
            t.put("name", Html.plotlyText(s.name));
            if (xs != null) t.put("x", xs);
            t.put("y", Json.list(s.y));
            Charts.hover(t, s.hover, xName(), yName(), s.name);
            data.add(t);
        }
        Map<String, Object> layout = baseLayout(420);
        Map<String, Object> xa = axis(xLabel);
        if (xLabels != null) {
            xa.put("type", "category");
            if (xLabels.size() <= 64) xa.put("dtick", 1);
        }
        layout.put("xaxis", xa);
        layout.put("yaxis", axis(yLabel));
        layout.put("showlegend", series.size() > 1);
        layout.put("hovermode", "closest");
        return new Figure(data, layout);
    }
}
