package ioi.experiments;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * How well the heads of an automatically found circuit match a reference circuit's heads (the
 * paper's 26), as ACDC (Conmy et al. 2023) and EAP report it: a circuit is the top-n edges of
 * {@link EdgeAttribution.Scores} by |score|; its heads are those at either end of one of them;
 * against the reference, a head is a true positive, a false positive or a false negative. Sweeping
 * n from 0 to every edge gives the ROC curve (false-positive rate, true-positive rate) and its area.
 *
 * @param edges n, the number of top edges kept
 * @param found the circuit's heads
 * @param truePositives found heads in the reference
 * @param falsePositives found heads not in the reference
 * @param falseNegatives reference heads not found
 * @param precision tp / (tp + fp), 1 when nothing is found
 * @param recall tp / |reference| (the true-positive rate)
 * @param falsePositiveRate fp / (heads not in the reference)
 */
public record HeadRecovery(int edges, Set<Head> found, int truePositives, int falsePositives, int falseNegatives,
        double precision, double recall, double falsePositiveRate) {

    /** The ROC curve over n (one point per n where the head set changes, from (0, 0) to (1, 1)) and its area. */
    public record Roc(List<HeadRecovery> points, double auc) {}

    /** The heads of the top {@code n} edges of {@code scores} against {@code reference}. */
    public static HeadRecovery at(EdgeAttribution.Scores scores, int n, Collection<Head> reference) {
        Set<Head> ref = checked(scores, reference);
        return of(n, EdgeAttribution.Scores.heads(scores.top(n)), ref, scores.graph());
    }

    /** Every n from 0 to the number of edges, kept where the head set changes; the area by trapezoids. */
    public static Roc roc(EdgeAttribution.Scores scores, Collection<Head> reference) {
        Set<Head> ref = checked(scores, reference);
        List<EdgeAttribution.Edge> ranked = scores.edges();
        ranked.sort(Comparator.comparingDouble((EdgeAttribution.Edge e) -> -Math.abs(e.score())));
        List<HeadRecovery> points = new ArrayList<>();
        TreeSet<Head> found = new TreeSet<>();
        points.add(of(0, found, ref, scores.graph()));
        for (int i = 0; i < ranked.size(); i++) {
            int before = found.size();
            found.addAll(EdgeAttribution.Scores.heads(List.of(ranked.get(i))));
            if (found.size() != before) {
                points.add(of(i + 1, found, ref, scores.graph()));
            }
        }
        double auc = 0;
        for (int i = 1; i < points.size(); i++) {
            HeadRecovery a = points.get(i - 1);
            HeadRecovery b = points.get(i);
            auc += trapezoid(a.falsePositiveRate(), a.recall(), b.falsePositiveRate(), b.recall());
        }
        return new Roc(List.copyOf(points), auc);
    }

    /** The ROC area between two points (false-positive rate, true-positive rate), by a trapezoid. */
    static double trapezoid(double fprA, double tprA, double fprB, double tprB) {
        return (fprB - fprA) * (tprA + tprB) / 2;
    }

    /**
     * One row per (method, n): the heads of the top n edges against {@code reference}, with
     * precision, recall and the false-positive rate.
     */
    public static tech.tablesaw.api.Table table(List<EdgeAttribution.Scores> methods, int[] ns, Collection<Head> reference) {
        tech.tablesaw.api.StringColumn method = tech.tablesaw.api.StringColumn.create("method");
        tech.tablesaw.api.IntColumn edges = tech.tablesaw.api.IntColumn.create("top edges");
        tech.tablesaw.api.IntColumn heads = tech.tablesaw.api.IntColumn.create("heads");
        tech.tablesaw.api.IntColumn tp = tech.tablesaw.api.IntColumn.create("in the paper's circuit");
        tech.tablesaw.api.DoubleColumn precision = tech.tablesaw.api.DoubleColumn.create("precision");
        tech.tablesaw.api.DoubleColumn recall = tech.tablesaw.api.DoubleColumn.create("recall");
        tech.tablesaw.api.DoubleColumn fpr = tech.tablesaw.api.DoubleColumn.create("false-positive rate");
        for (EdgeAttribution.Scores s : methods) {
            for (int n : ns) {
                HeadRecovery r = at(s, n, reference);
                method.append(s.method());
                edges.append(n);
                heads.append(r.found().size());
                tp.append(r.truePositives());
                precision.append(r.precision());
                recall.append(r.recall());
                fpr.append(r.falsePositiveRate());
            }
        }
        return tech.tablesaw.api.Table.create("Heads of the top edges vs the reference circuit", method, edges, heads, tp,
                precision, recall, fpr);
    }

    /**
     * A discovered circuit's faithfulness, as the paper's F(C) against F(M): the mean logit
     * difference with only {@code heads} kept (at every position; every other head mean-ablated by
     * template, {@link MeanAblation#knockOut} of the rest) against the model's.
     *
     * @param fraction fCircuit / fModel (the paper's circuit: 87% in §4.1)
     */
    public record Faithfulness(Set<Head> heads, double fModel, double fCircuit, double fraction) {}

    /** {@link Faithfulness} of each head set, all in one batched mean-ablation pass. */
    public static List<Faithfulness> faithfulness(MeanAblation ablation, List<Set<Head>> circuits) {
        int nLayers = ablation.model().cfg().nLayers();
        int nHeads = ablation.model().cfg().nHeads();
        List<MeanAblation.KeepMask> masks = new ArrayList<>();
        masks.add(ablation.nothing());
        for (Set<Head> c : circuits) {
            List<Head> rest = new ArrayList<>();
            for (int l = 0; l < nLayers; l++) {
                for (int h = 0; h < nHeads; h++) {
                    if (!c.contains(new Head(l, h))) {
                        rest.add(new Head(l, h));
                    }
                }
            }
            for (Head h : c) {
                h.checkIn(ablation.model().cfg());
            }
            masks.add(ablation.knockOut(rest));
        }
        double[] f = ablation.logitDiffs(masks);
        List<Faithfulness> out = new ArrayList<>();
        for (int i = 0; i < circuits.size(); i++) {
            out.add(new Faithfulness(Set.copyOf(circuits.get(i)), f[0], f[i + 1], f[i + 1] / f[0]));
        }
        return out;
    }

    private static HeadRecovery of(int n, Set<Head> found, Set<Head> ref, EdgeAttribution.Graph graph) {
        int tp = 0;
        for (Head h : found) {
            tp += ref.contains(h) ? 1 : 0;
        }
        int fp = found.size() - tp;
        int negatives = graph.nLayers() * graph.nHeads() - ref.size();
        return new HeadRecovery(n, Set.copyOf(found), tp, fp, ref.size() - tp,
                found.isEmpty() ? 1 : (double) tp / found.size(), (double) tp / ref.size(),
                negatives == 0 ? 0 : (double) fp / negatives);
    }

    private static Set<Head> checked(EdgeAttribution.Scores scores, Collection<Head> reference) {
        if (reference == null || reference.isEmpty()) {
            throw new IllegalArgumentException("the reference circuit has no heads: pass e.g. Circuit.PAPER.heads()");
        }
        EdgeAttribution.Graph g = scores.graph();
        for (Head h : reference) {
            if (h.layer() >= g.nLayers() || h.head() >= g.nHeads()) {
                throw new IllegalArgumentException("reference head " + h + " is not in the " + g.nLayers() + " x "
                        + g.nHeads() + " model the scores are of");
            }
        }
        return Set.copyOf(reference);
    }
}
