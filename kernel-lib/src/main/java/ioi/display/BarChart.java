package ioi.display;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Bars over categories (tokens, heads, layers), one trace per series, grouped or stacked.
 * Built by {@link Charts#bar}. {@link #labels(String, String)} names the category axis and the value
 * axis, in that order, whichever way the bars point.
 */
public final class BarChart extends Chart<BarChart> {
    private record Series(String name, double[] y, List<String> hover) {}

    private final List<String> categories;
    private final List<Series> series = new ArrayList<>();
    private String barmode = "group";
    private boolean horizontal;

    BarChart(List<String> categories) {
        if (categories.isEmpty()) throw new IllegalArgumentException("bar: no categories");
        this.categories = List.copyOf(categories);
    }

    public BarChart add(String name, double[] values) {
        return add(name, values, null);
    }

    public BarChart add(String name, float[] values) {
        return add(name, Json.toDoubles(values), null);
    }

    /** Adds a series with hover text per bar. */
    public BarChart add(String name, double[] values, List<String> hover) {
        if (values.length != categories.size())
            throw new IllegalArgumentException("bar: series '" + name + "' has " + values.length + " values for " + categories.size() + " categories");
        if (hover != null && hover.size() != values.length)
            throw new IllegalArgumentException("bar: hover text has " + hover.size() + " entries, expected " + values.length);
        series.add(new Series(name, values.clone(), hover == null ? null : List.copyOf(hover)));
        return this;
    }

    /** {@code "group"} (default), {@code "stack"}, {@code "relative"} or {@code "overlay"}. */
    public BarChart barmode(String mode) {
        if (!List.of("group", "stack", "relative", "overlay").contains(mode))
            throw new IllegalArgumentException("barmode must be group, stack, relative or overlay, got " + mode);
        this.barmode = mode;
        return this;
    }

    /** Bars along x, categories down the y axis. */
    public BarChart horizontal() {
        this.horizontal = true;
        return this;
    }

    @Override
    public Figure figure() {
        if (series.isEmpty()) throw new IllegalStateException("bar: no series; add one with add(name, values)");
        List<Object> cats = Charts.categories(categories);
        List<Map<String, Object>> data = new ArrayList<>();
        for (Series s : series) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("type", "bar");
            t.put("name", Html.plotlyText(s.name));
            t.put(horizontal ? "y" : "x", cats);
            t.put(horizontal ? "x" : "y", Json.list(s.y));
            if (horizontal) t.put("orientation", "h");
            Charts.hover(t, s.hover, xName(), yName(), s.name, horizontal);
            // Bars draw their text inside the bar by default (textposition "auto"); it is hover text only.
            if (s.hover != null) t.put("textposition", "none");
            data.add(t);
        }
        Map<String, Object> layout = baseLayout(horizontal ? Math.max(300, 60 + 22 * categories.size()) : 420);
        Map<String, Object> categoryAxis = axis(xLabel), valueAxis = axis(yLabel);
        categoryAxis.put("type", "category");
        if (categories.size() <= 64) categoryAxis.put("dtick", 1);
        if (horizontal) categoryAxis.put("autorange", "reversed"); // first category on top
        layout.put(horizontal ? "yaxis" : "xaxis", categoryAxis);
        layout.put(horizontal ? "xaxis" : "yaxis", valueAxis);
        layout.put("barmode", barmode);
        layout.put("showlegend", series.size() > 1);
        return new Figure(data, layout);
    }

}
