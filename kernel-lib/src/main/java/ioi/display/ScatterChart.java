package ioi.display;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Points, coloured by group like plotly express's {@code scatter(color=...)}: one trace per group in
 * order of first appearance, so the legend lists the groups. Per-point hover text names the point
 * (a head "L9H6", a prompt). Built by {@link Charts#scatter}.
 */
public final class ScatterChart extends Chart<ScatterChart> {
    private final double[] x, y;
    private List<String> groups, hover;
    private String groupLabel;
    private double markerSize = 8;

    ScatterChart(double[] x, double[] y) {
        if (x.length != y.length)
            throw new IllegalArgumentException("scatter: " + x.length + " x values but " + y.length + " y values");
        this.x = x.clone();
        this.y = y.clone();
    }

    /** The group of each point; each group gets its own colour and legend entry. */
    public ScatterChart color(List<String> groups) {
        return color(null, groups);
    }

    public ScatterChart color(String legendTitle, List<String> groups) {
        if (groups.size() != x.length)
            throw new IllegalArgumentException("scatter: " + groups.size() + " groups for " + x.length + " points");
        this.groups = List.copyOf(groups);
        this.groupLabel = legendTitle;
        return this;
    }

    /** Hover text per point, e.g. head names. */
    public ScatterChart hover(List<String> text) {
        if (text.size() != x.length)
            throw new IllegalArgumentException("scatter: " + text.size() + " hover texts for " + x.length + " points");
        this.hover = List.copyOf(text);
        return this;
    }

    public ScatterChart markerSize(double px) {
        if (!(px > 0)) throw new IllegalArgumentException("markerSize must be > 0, got " + px);
        this.markerSize = px;
        return this;
    }

    @Override
    public Figure figure() {
        Map<String, List<Integer>> byGroup = new LinkedHashMap<>();
        for (int i = 0; i < x.length; i++)
            byGroup.computeIfAbsent(groups == null ? "" : groups.get(i), g -> new ArrayList<>()).add(i);
        List<Map<String, Object>> data = new ArrayList<>();
        for (Map.Entry<String, List<Integer>> e : byGroup.entrySet()) {
            List<Integer> idx = e.getValue();
            double[] gx = new double[idx.size()], gy = new double[idx.size()];
            List<String> gh = hover == null ? null : new ArrayList<>();
            for (int j = 0; j < idx.size(); j++) {
                gx[j] = x[idx.get(j)];
                gy[j] = y[idx.get(j)];
                if (gh != null) gh.add(hover.get(idx.get(j)));
            }
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("type", "scatter");
            t.put("mode", "markers");
            if (groups != null) t.put("name", Html.plotlyText(e.getKey()));
            t.put("x", Json.list(gx));
            t.put("y", Json.list(gy));
            t.put("marker", Map.of("size", markerSize));
            Charts.hover(t, gh, xName(), yName(), groups == null ? null : e.getKey());
            data.add(t);
        }
        Map<String, Object> layout = baseLayout(450);
        layout.put("xaxis", axis(xLabel));
        layout.put("yaxis", axis(yLabel));
        layout.put("showlegend", groups != null);
        if (groupLabel != null) layout.put("legend", Map.of("title", text(groupLabel)));
        layout.put("hovermode", "closest");
        return new Figure(data, layout);
    }
}
