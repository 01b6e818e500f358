package ioi.notebook;

import ioi.display.Charts;
import ioi.display.GraphChart;
import ioi.experiments.Circuit;
import ioi.experiments.EdgeAttribution;
import ioi.experiments.Head;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The top edges of an EAP or EAP-IG run drawn as a circuit: heads at (layer, head index), each
 * layer's MLP above its heads, the input on the left and the logits on the right; heads coloured by
 * their class in a reference circuit (the paper's by default), edges by sign, width by |score| and
 * dash by the input they enter (a head's q, k or v; none for MLPs and the logits).
 */
public final class CircuitGraph {
    private CircuitGraph() {}

    /** The top {@code n} edges of {@code scores}, heads coloured by the paper's classes. */
    public static GraphChart of(EdgeAttribution.Scores scores, int n) {
        return of(scores, n, Circuit.PAPER);
    }

    /** The top {@code n} edges of {@code scores}, heads coloured by {@code reference}'s classes. */
    public static GraphChart of(EdgeAttribution.Scores scores, int n, Circuit reference) {
        EdgeAttribution.Graph graph = scores.graph();
        List<EdgeAttribution.Edge> top = scores.top(n);
        Set<String> used = new LinkedHashSet<>();
        for (EdgeAttribution.Edge e : top) {
            used.add(e.parent());
            used.add(node(e.child()));
        }
        GraphChart chart = Charts.graph();
        int nLayers = graph.nLayers();
        int nHeads = graph.nHeads();
        double middle = (nHeads - 1) / 2.0;
        for (int f = 0; f < graph.nForward(); f++) {
            String name = graph.forwardName(f);
            if (used.contains(name)) {
                addNode(chart, name, nLayers, nHeads, middle, reference);
            }
        }
        if (used.contains("logits")) {
            addNode(chart, "logits", nLayers, nHeads, middle, reference);
        }
        for (EdgeAttribution.Edge e : top) {
            String child = e.child();
            int lt = child.indexOf('<');
            String kind = lt < 0 ? null : child.substring(lt + 1, child.length() - 1);
            chart.edge(e.parent(), node(child), e.score(), kind,
                    e.name() + String.format(": %.4g", e.score()));
        }
        List<String> ticks = new ArrayList<>();
        double[] tickValues = new double[nLayers + 2];
        tickValues[0] = -1;
        ticks.add("input");
        for (int l = 0; l < nLayers; l++) {
            tickValues[l + 1] = l;
            ticks.add(String.valueOf(l));
        }
        tickValues[nLayers + 1] = nLayers;
        ticks.add("logits");
        double[] yValues = new double[nHeads + 1];
        List<String> yText = new ArrayList<>();
        for (int h = 0; h < nHeads; h++) {
            yValues[h] = h;
            yText.add(String.valueOf(h));
        }
        yValues[nHeads] = nHeads + 0.5;
        yText.add("MLP");
        return chart.xTicks(tickValues, ticks).yTicks(yValues, yText).labels("layer", "head")
                .title(scores.method() + ": the top " + top.size() + " edges (" + chart.nodeCount() + " nodes)")
                .height(650);
    }

    /** The node a downstream name belongs to: {@code a9.h9<q>} is drawn at head {@code a9.h9}. */
    private static String node(String child) {
        int lt = child.indexOf('<');
        return lt < 0 ? child : child.substring(0, lt);
    }

    private static void addNode(GraphChart chart, String name, int nLayers, int nHeads, double middle, Circuit reference) {
        if (name.equals("input")) {
            chart.node(name, -1, middle, "input", "input", "input: the token and position embeddings");
        } else if (name.equals("logits")) {
            chart.node(name, nLayers, middle, "logits", "logits", "logits: the final residual stream");
        } else if (name.startsWith("m")) {
            int layer = Integer.parseInt(name.substring(1));
            // an MLP reads its own layer's heads: drawn just after them
            chart.node(name, layer + 0.35, nHeads + 0.5, "m" + layer, "MLP", "MLP " + layer);
        } else {
            Head h = EdgeAttribution.Graph.headOf(name);
            String cls = reference.contains(h) ? reference.classOf(h) : "not in the reference circuit";
            chart.node(name, h.layer(), h.head(), h.layer() + "." + h.head(), cls, "head " + h.layer() + "." + h.head() + " (" + cls + ")");
        }
    }
}
