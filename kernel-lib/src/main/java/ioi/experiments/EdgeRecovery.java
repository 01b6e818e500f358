package ioi.experiments;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * How well the top edges of an EAP run match a reference circuit's <em>edges</em>, as ACDC (Conmy et
 * al. 2023) and EAP (Syed et al. 2023) score circuit recovery: a circuit is the top-n edges by
 * |score|; each is a true or a false positive; sweeping n gives the ROC curve and its area.
 *
 * <p>The reference is {@link #acdcIoi}: the paper's 26 heads wired as ACDC's IOI ground truth wires
 * them ([ACDC] {@code acdc/ioi/utils.py}, {@code get_ioi_true_edges}), written in the names of
 * EAP-IG's graph ({@link EdgeAttribution.Graph}).
 *
 * @param edges n, the number of top edges kept
 * @param truePositives kept edges in the reference
 * @param falsePositives kept edges not in it
 * @param falseNegatives reference edges not kept
 * @param precision tp / n, 1 when nothing is kept
 * @param recall tp / |reference| (the true-positive rate)
 * @param falsePositiveRate fp / (edges of the graph not in the reference)
 */
public record EdgeRecovery(int edges, int truePositives, int falsePositives, int falseNegatives, double precision,
        double recall, double falsePositiveRate) {

    /** The ROC curve (one point per n) and its area. */
    public record Roc(List<EdgeRecovery> points, double auc) {}

    /**
     * Which class feeds which, through which input, in ACDC's IOI ground truth: "input" (the
     * embeddings) into a class's q/k/v, class into class, and the name movers into the logits.
     */
    private static final List<String[]> ACDC_CONNECTIONS = List.of(
            new String[] {"input", "previous token", "qkv"},
            new String[] {"input", "duplicate token", "qkv"},
            new String[] {"input", "s2 inhibition", "q"},
            new String[] {"input", "negative name mover", "kv"},
            new String[] {"input", "name mover", "kv"},
            new String[] {"input", "backup name mover", "kv"},
            new String[] {"previous token", "induction", "kv"},
            new String[] {"induction", "s2 inhibition", "kv"},
            new String[] {"duplicate token", "s2 inhibition", "kv"},
            new String[] {"s2 inhibition", "negative name mover", "q"},
            new String[] {"s2 inhibition", "name mover", "q"},
            new String[] {"s2 inhibition", "backup name mover", "q"},
            new String[] {"negative name mover", "logits", ""},
            new String[] {"name mover", "logits", ""},
            new String[] {"backup name mover", "logits", ""});

    /**
     * ACDC's IOI ground truth on GPT-2 small in EAP-IG's graph names ({@code parent->child}). ACDC
     * starts from the whole graph, removes every head outside {@link Circuit#PAPER}, then cuts the
     * circuit heads' edges from the embeddings and from other heads into their q/k/v and from heads
     * into the logits, and adds back only {@link #ACDC_CONNECTIONS} (from an earlier layer to a later
     * one). So every MLP edge stays: input and MLPs into MLPs and the logits, input into the logits,
     * circuit heads into MLPs, MLPs into every circuit head's q, k and v: 963 edges. ACDC's own count
     * (1041) also has the 78 edges inside the heads (a head's q input into its q, and k, v) that
     * EAP-IG's graph has no nodes for.
     *
     * @throws IllegalArgumentException unless the graph is GPT-2 small's (12 x 12)
     */
    public static Set<String> acdcIoi(EdgeAttribution.Graph graph) {
        if (graph.nLayers() != 12 || graph.nHeads() != 12) {
            throw new IllegalArgumentException("ACDC's IOI ground truth is of GPT-2 small (12 layers x 12 heads) but the"
                    + " scores are of a " + graph.nLayers() + " x " + graph.nHeads() + " model");
        }
        Circuit c = Circuit.PAPER;
        Set<String> out = new LinkedHashSet<>();
        int nLayers = graph.nLayers();
        // MLP edges: input and MLPs into later MLPs and into the logits
        for (int l = 0; l < nLayers; l++) {
            out.add("input->m" + l);
            out.add("m" + l + "->logits");
            for (int k = 0; k < l; k++) {
                out.add("m" + k + "->m" + l);
            }
        }
        out.add("input->logits");
        for (Head h : c.heads()) {
            String head = name(h);
            for (int l = h.layer(); l < nLayers; l++) {
                out.add(head + "->m" + l); // a head into its own layer's MLP and later ones
            }
            for (int l = 0; l < h.layer(); l++) {
                for (char x : "qkv".toCharArray()) {
                    out.add("m" + l + "->" + head + "<" + x + ">");
                }
            }
        }
        for (String[] conn : ACDC_CONNECTIONS) {
            List<Head> receivers = conn[1].equals("logits") ? null : c.headsOf(conn[1]);
            List<String> senders = new ArrayList<>();
            List<Integer> senderLayers = new ArrayList<>();
            if (conn[0].equals("input")) {
                senders.add("input");
                senderLayers.add(-1);
            } else {
                for (Head h : c.headsOf(conn[0])) {
                    senders.add(name(h));
                    senderLayers.add(h.layer());
                }
            }
            for (int i = 0; i < senders.size(); i++) {
                if (receivers == null) {
                    out.add(senders.get(i) + "->logits");
                    continue;
                }
                for (Head r : receivers) {
                    if (senderLayers.get(i) < r.layer()) {
                        for (char x : conn[2].toCharArray()) {
                            out.add(senders.get(i) + "->" + name(r) + "<" + x + ">");
                        }
                    }
                }
            }
        }
        for (String e : out) { // every name is an edge of the graph
            String[] ends = e.split("->");
            if (!graph.isEdge(graph.forwardIndex(ends[0]), graph.backwardIndex(ends[1]))) {
                throw new IllegalStateException("ACDC's ground truth has " + e + ", which is not an edge of the graph");
            }
        }
        return Set.copyOf(out);
    }

    /** The top {@code n} edges of {@code scores} against {@code reference} ({@code parent->child} names). */
    public static EdgeRecovery at(EdgeAttribution.Scores scores, int n, Collection<String> reference) {
        Set<String> ref = checked(scores, reference);
        int tp = 0;
        List<EdgeAttribution.Edge> top = scores.top(n);
        for (EdgeAttribution.Edge e : top) {
            tp += ref.contains(e.name()) ? 1 : 0;
        }
        return of(top.size(), tp, ref.size(), scores.graph().edgeCount());
    }

    /** Every n from 0 to the number of edges; the area by trapezoids. */
    public static Roc roc(EdgeAttribution.Scores scores, Collection<String> reference) {
        Set<String> ref = checked(scores, reference);
        List<EdgeAttribution.Edge> ranked = scores.edges();
        ranked.sort(Comparator.comparingDouble((EdgeAttribution.Edge e) -> -Math.abs(e.score())));
        int total = scores.graph().edgeCount();
        List<EdgeRecovery> points = new ArrayList<>(ranked.size() + 1);
        points.add(of(0, 0, ref.size(), total));
        int tp = 0;
        double auc = 0;
        for (int i = 0; i < ranked.size(); i++) {
            tp += ref.contains(ranked.get(i).name()) ? 1 : 0;
            EdgeRecovery b = of(i + 1, tp, ref.size(), total);
            EdgeRecovery a = points.get(points.size() - 1);
            auc += HeadRecovery.trapezoid(a.falsePositiveRate(), a.recall(), b.falsePositiveRate(), b.recall());
            points.add(b);
        }
        return new Roc(List.copyOf(points), auc);
    }

    /**
     * One row per (method, n): the top n edges against {@code reference}, with precision, recall and
     * the false-positive rate.
     */
    public static tech.tablesaw.api.Table table(List<EdgeAttribution.Scores> methods, int[] ns, Collection<String> reference) {
        tech.tablesaw.api.StringColumn method = tech.tablesaw.api.StringColumn.create("method");
        tech.tablesaw.api.IntColumn edges = tech.tablesaw.api.IntColumn.create("top edges");
        tech.tablesaw.api.IntColumn tp = tech.tablesaw.api.IntColumn.create("in the reference");
        tech.tablesaw.api.DoubleColumn precision = tech.tablesaw.api.DoubleColumn.create("precision");
        tech.tablesaw.api.DoubleColumn recall = tech.tablesaw.api.DoubleColumn.create("recall");
        tech.tablesaw.api.DoubleColumn fpr = tech.tablesaw.api.DoubleColumn.create("false-positive rate");
        for (EdgeAttribution.Scores s : methods) {
            for (int n : ns) {
                EdgeRecovery r = at(s, n, reference);
                method.append(s.method());
                edges.append(r.edges());
                tp.append(r.truePositives());
                precision.append(r.precision());
                recall.append(r.recall());
                fpr.append(r.falsePositiveRate());
            }
        }
        return tech.tablesaw.api.Table.create("Top edges vs the reference circuit's " + Set.copyOf(reference).size() + " edges",
                method, edges, tp, precision, recall, fpr);
    }

    private static EdgeRecovery of(int n, int tp, int positives, int total) {
        int fp = n - tp;
        int negatives = total - positives;
        return new EdgeRecovery(n, tp, fp, positives - tp, n == 0 ? 1 : (double) tp / n, (double) tp / positives,
                negatives == 0 ? 0 : (double) fp / negatives);
    }

    private static Set<String> checked(EdgeAttribution.Scores scores, Collection<String> reference) {
        if (reference == null || reference.isEmpty()) {
            throw new IllegalArgumentException("the reference circuit has no edges: pass e.g. EdgeRecovery.acdcIoi(scores.graph())");
        }
        EdgeAttribution.Graph g = scores.graph();
        for (String e : reference) {
            String[] ends = e.split("->");
            if (ends.length != 2 || !g.isEdge(g.forwardIndex(ends[0]), g.backwardIndex(ends[1]))) {
                throw new IllegalArgumentException("reference edge '" + e + "' is not an edge of the " + g.nLayers() + " x "
                        + g.nHeads() + " graph (names as parent->child, e.g. a9.h9->logits)");
            }
        }
        return Set.copyOf(reference);
    }

    private static String name(Head h) {
        return "a" + h.layer() + ".h" + h.head();
    }
}
