package ioi.display;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A drawn graph: nodes at fixed places, weighted edges between them (a circuit: heads by layer and
 * index, edges scored by EAP). Built by {@link Charts#graph}; a Plotly figure, so it draws offline as
 * every chart does.
 *
 * <p>Edges are lines from node to node, blue for a positive weight and red for a negative one, wider
 * for larger |weight| (four widths, scaled to the largest |weight|). An edge's {@code kind} (e.g. the
 * input it enters: {@code q}, {@code k}, {@code v}) picks its dash: solid without a kind, then one dash
 * per kind in alphabetical order (k dashed, q dotted, v dash-dotted); the legend lists sign × kind.
 * Hovering a node or an edge's midpoint shows its text. Nodes are coloured by group (one legend entry each) and labelled.
 *
 * <p>Why by hand: Plotly has no graph trace; this is the usual lines-with-gaps layout (one trace per
 * sign, kind and width, segments separated by {@code null}) that plotly's own network examples use.
 */
public final class GraphChart extends Chart<GraphChart> {
    private static final String[] DASHES = {"solid", "dash", "dot", "dashdot", "longdash"};
    private static final double[] WIDTHS = {1, 2.5, 4, 6};

    private record Node(double x, double y, String label, String group, String hover) {}

    private record Edge(String from, String to, double weight, String kind, String hover) {}

    /** One line trace: the sign, the index of the kind (its dash) and of the width. */
    private record LineStyle(boolean positive, int kind, int width) {}

    private final Map<String, Node> nodes = new LinkedHashMap<>();
    private final List<Edge> edges = new ArrayList<>();
    private double[] xTickValues;
    private List<String> xTickText;
    private double[] yTickValues;
    private List<String> yTickText;

    GraphChart() {}

    /**
     * A node at (x, y), with its label drawn beside it, its group (colour and legend) and hover
     * text. Ids are unique.
     */
    public GraphChart node(String id, double x, double y, String label, String group, String hover) {
        if (id == null || nodes.containsKey(id)) {
            throw new IllegalArgumentException("graph: node id " + (id == null ? "null" : "'" + id + "' is already used")
                    + "; every node needs its own id");
        }
        if (!Double.isFinite(x) || !Double.isFinite(y)) {
            throw new IllegalArgumentException("graph: node '" + id + "' is at (" + x + ", " + y + "); expected finite coordinates");
        }
        nodes.put(id, new Node(x, y, label == null ? id : label, group == null ? "" : group, hover == null ? id : hover));
        return this;
    }

    /** An edge between two nodes already added; {@code kind} may be null (solid lines). */
    public GraphChart edge(String from, String to, double weight, String kind, String hover) {
        for (String end : new String[] {from, to}) {
            if (!nodes.containsKey(end)) {
                throw new IllegalArgumentException("graph: edge " + from + " -> " + to + " names node '" + end
                        + "', which was not added; add nodes first (" + nodes.size() + " so far)");
            }
        }
        if (!Double.isFinite(weight)) {
            throw new IllegalArgumentException("graph: edge " + from + " -> " + to + " has weight " + weight + "; expected a finite number");
        }
        edges.add(new Edge(from, to, weight, kind == null ? "" : kind, hover == null ? from + " -> " + to : hover));
        return this;
    }

    /** Tick labels of the x axis (e.g. "input", "0" … "11", "logits"). */
    public GraphChart xTicks(double[] values, List<String> text) {
        if (values.length != text.size()) {
            throw new IllegalArgumentException("graph: " + values.length + " x ticks but " + text.size() + " labels");
        }
        this.xTickValues = values.clone();
        this.xTickText = List.copyOf(text);
        return this;
    }

    /** Tick labels of the y axis. */
    public GraphChart yTicks(double[] values, List<String> text) {
        if (values.length != text.size()) {
            throw new IllegalArgumentException("graph: " + values.length + " y ticks but " + text.size() + " labels");
        }
        this.yTickValues = values.clone();
        this.yTickText = List.copyOf(text);
        return this;
    }

    public int nodeCount() {
        return nodes.size();
    }

    public int edgeCount() {
        return edges.size();
    }

    @Override
    public Figure figure() {
        double largest = 0;
        for (Edge e : edges) {
            largest = Math.max(largest, Math.abs(e.weight()));
        }
        List<String> kinds = new ArrayList<>(new java.util.TreeSet<>(edges.stream().map(Edge::kind).toList()));
        // One line trace per (sign, kind, width): segments joined with null gaps.
        Map<LineStyle, List<Object>[]> lines = new LinkedHashMap<>();
        List<Object> midX = new ArrayList<>();
        List<Object> midY = new ArrayList<>();
        List<String> midText = new ArrayList<>();
        for (Edge e : edges) {
            Node a = nodes.get(e.from());
            Node b = nodes.get(e.to());
            boolean positive = e.weight() >= 0;
            int kind = kinds.indexOf(e.kind());
            int w = largest == 0 ? 0 : Math.min(WIDTHS.length - 1, (int) (WIDTHS.length * Math.abs(e.weight()) / largest));
            @SuppressWarnings("unchecked")
            List<Object>[] xy = lines.computeIfAbsent(new LineStyle(positive, kind, w),
                    k -> new List[] {new ArrayList<>(), new ArrayList<>()});
            xy[0].add(a.x());
            xy[0].add(b.x());
            xy[0].add(null);
            xy[1].add(a.y());
            xy[1].add(b.y());
            xy[1].add(null);
            midX.add((a.x() + b.x()) / 2);
            midY.add((a.y() + b.y()) / 2);
            midText.add(e.hover());
        }
        List<Map<String, Object>> data = new ArrayList<>();
        java.util.Set<String> legendShown = new java.util.HashSet<>();
        for (Map.Entry<LineStyle, List<Object>[]> l : lines.entrySet()) {
            LineStyle s = l.getKey();
            String kind = kinds.get(s.kind());
            String group = (s.positive() ? "+" : "−") + (kind.isEmpty() ? "" : " " + kind);
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("type", "scatter");
            t.put("mode", "lines");
            t.put("name", Html.plotlyText(group));
            t.put("legendgroup", Html.plotlyText(group));
            t.put("showlegend", legendShown.add(group));
            t.put("x", l.getValue()[0]);
            t.put("y", l.getValue()[1]);
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("color", s.positive() ? Colors.POSITIVE : Colors.NEGATIVE);
            line.put("width", WIDTHS[s.width()]);
            line.put("dash", DASHES[s.kind() % DASHES.length]);
            t.put("line", line);
            t.put("opacity", 0.7);
            t.put("hoverinfo", "skip");
            data.add(t);
        }
        if (!edges.isEmpty()) {
            Map<String, Object> mid = new LinkedHashMap<>();
            mid.put("type", "scatter");
            mid.put("mode", "markers");
            mid.put("name", "edges");
            mid.put("showlegend", false);
            mid.put("x", midX);
            mid.put("y", midY);
            mid.put("marker", Map.of("size", 7, "color", "#888888", "opacity", 0.25));
            mid.put("text", escaped(midText));
            mid.put("hovertemplate", "%{text}<extra></extra>");
            data.add(mid);
        }
        Map<String, List<Node>> byGroup = new LinkedHashMap<>();
        for (Node n : nodes.values()) {
            byGroup.computeIfAbsent(n.group(), g -> new ArrayList<>()).add(n);
        }
        for (Map.Entry<String, List<Node>> g : byGroup.entrySet()) {
            List<Object> x = new ArrayList<>();
            List<Object> y = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            List<String> hover = new ArrayList<>();
            for (Node n : g.getValue()) {
                x.add(n.x());
                y.add(n.y());
                labels.add(n.label());
                hover.add(n.hover());
            }
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("type", "scatter");
            t.put("mode", "markers+text");
            t.put("name", Html.plotlyText(g.getKey()));
            t.put("showlegend", !g.getKey().isEmpty());
            t.put("x", x);
            t.put("y", y);
            t.put("text", escaped(labels));
            t.put("textposition", "top center");
            t.put("textfont", Map.of("size", 10));
            t.put("hovertext", escaped(hover));
            t.put("hovertemplate", "%{hovertext}<extra></extra>");
            t.put("marker", Map.of("size", 12, "line", Map.of("width", 1, "color", "#333333")));
            data.add(t);
        }
        Map<String, Object> layout = baseLayout(600);
        layout.put("xaxis", ticks(axis(xLabel), xTickValues, xTickText));
        layout.put("yaxis", ticks(axis(yLabel), yTickValues, yTickText));
        layout.put("hovermode", "closest");
        layout.put("showlegend", true);
        return new Figure(data, layout);
    }

    private static List<Object> escaped(List<String> text) {
        List<Object> out = new ArrayList<>(text.size());
        for (String s : text) {
            out.add(Html.plotlyText(s));
        }
        return out;
    }

    private static Map<String, Object> ticks(Map<String, Object> axis, double[] values, List<String> text) {
        axis.put("zeroline", false);
        axis.put("showgrid", false);
        if (values != null) {
            axis.put("tickmode", "array");
            axis.put("tickvals", Json.list(values));
            axis.put("ticktext", escaped(text));
        }
        return axis;
    }

    @Override
    public String toString() {
        return "graph: " + nodes.size() + " nodes, " + edges.size() + " edges" + (title == null ? "" : " (" + title + ")");
    }
}
