package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@link EdgeRecovery}: ACDC's IOI ground truth in EAP-IG's graph, and top-n / ROC against it. */
class EdgeRecoveryTest {
    static final EdgeAttribution.Graph GRAPH = new EdgeAttribution.Graph(12, 12);
    static final Set<String> ACDC = EdgeRecovery.acdcIoi(GRAPH);

    @Test
    void acdcGroundTruthHasTheEdgesItsRulesGive() {
        for (String e : List.of("a9.h9->logits", "a10.h7->logits", "a7.h3->a9.h9<q>", "input->a9.h9<k>", "input->a9.h9<v>",
                "input->a7.h3<q>", "input->a2.h2<q>", "a2.h2->a5.h5<k>", "a4.h11->a6.h9<v>", "a5.h5->a7.h3<v>",
                "a0.h1->a7.h3<k>", "a6.h9->a8.h10<k>", "m3->a9.h9<q>", "m0->a2.h2<k>", "a0.h1->m0", "a0.h1->m5",
                "input->logits", "m2->m7", "input->m0", "m11->logits", "a8.h6->a10.h7<q>")) {
            assertTrue(ACDC.contains(e), e + " is in ACDC's IOI ground truth");
        }
        for (String e : List.of("a7.h3->a9.h9<k>", "input->a9.h9<q>", "input->a7.h3<k>", "a2.h2->a5.h5<q>",
                "a0.h1->logits", "a7.h3->logits", "m3->a1.h1<q>", "a1.h1->m5", "a0.h1->a3.h0<k>", "a9.h9->a10.h0<q>",
                "a5.h5->a7.h3<q>", "a8.h6->m7")) {
            assertFalse(ACDC.contains(e), e + " is not");
        }
        // The count from the rules, by class sizes and layers (an independent tally of the same rules).
        int mlpOnly = 12 + 66 + 12 + 1; // input->MLPs, MLP->later MLP, MLPs->logits, input->logits
        int headMlp = 0;
        int mlpHead = 0;
        for (Head h : Circuit.PAPER.heads()) {
            headMlp += 12 - h.layer();
            mlpHead += 3 * h.layer();
        }
        int embed = 3 * 2 + 3 * 3 + 4 + 2 * 13; // previous, duplicate (qkv), s2 (q), the 13 movers (kv)
        int toLogits = 13;
        int between = 0;
        String[][] conn = {{"previous token", "induction", "2"}, {"induction", "s2 inhibition", "2"},
                {"duplicate token", "s2 inhibition", "2"}, {"s2 inhibition", "name mover", "1"},
                {"s2 inhibition", "backup name mover", "1"}, {"s2 inhibition", "negative name mover", "1"}};
        for (String[] c : conn) {
            for (Head a : Circuit.PAPER.headsOf(c[0])) {
                for (Head b : Circuit.PAPER.headsOf(c[1])) {
                    between += a.layer() < b.layer() ? Integer.parseInt(c[2]) : 0;
                }
            }
        }
        assertEquals(mlpOnly + headMlp + mlpHead + embed + toLogits + between, ACDC.size());
        // ACDC's own graph has 1041 true edges on IOI (its results' true-positive counts,
        // experiments/results/plots_data/acdc-ioi-kl_div-False-0.json); it has three more per head, each
        // head's q, k and v input into its q, k and v, which EAP-IG's graph has no nodes for.
        assertEquals(1041 - 3 * 26, ACDC.size(), "ACDC's 1041 less the 78 edges inside the 26 heads");
        var small = assertThrows(IllegalArgumentException.class, () -> EdgeRecovery.acdcIoi(new EdgeAttribution.Graph(2, 4)));
        assertTrue(small.getMessage().contains("2 x 4"), small.getMessage());
    }

    static EdgeAttribution.Scores random(long seed) {
        float[] s = new float[GRAPH.nForward() * GRAPH.nBackward()];
        Random r = new Random(seed);
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) r.nextGaussian();
        }
        // Scores keeps values off the graph's edges out of edges(): zero them as EdgeAttribution does
        for (int f = 0; f < GRAPH.nForward(); f++) {
            for (int b = 0; b < GRAPH.nBackward(); b++) {
                if (!GRAPH.isEdge(f, b)) {
                    s[f * GRAPH.nBackward() + b] = 0;
                }
            }
        }
        return new EdgeAttribution.Scores("EAP", GRAPH, s, 1.0, 1);
    }

    @Test
    void rocPointsAreWhatTopNGivesAndTheAreaIsTheRankStatistic() {
        EdgeAttribution.Scores s = random(3);
        EdgeRecovery.Roc roc = EdgeRecovery.roc(s, ACDC);
        assertEquals(GRAPH.edgeCount() + 1, roc.points().size());
        for (int n : new int[] {0, 1, 50, 700, GRAPH.edgeCount()}) {
            EdgeRecovery at = EdgeRecovery.at(s, n, ACDC);
            assertEquals(at, roc.points().get(n), "point " + n);
        }
        assertEquals(1.0, roc.points().get(GRAPH.edgeCount()).recall(), 0);
        assertEquals(1.0, roc.points().get(GRAPH.edgeCount()).falsePositiveRate(), 0);
        // the area = P(|score| of a reference edge > |score| of another edge), counted pair by pair
        List<EdgeAttribution.Edge> edges = s.edges();
        List<Float> pos = edges.stream().filter(e -> ACDC.contains(e.name())).map(e -> Math.abs(e.score())).toList();
        float[] neg = new float[edges.size() - pos.size()];
        int k = 0;
        for (EdgeAttribution.Edge e : edges) {
            if (!ACDC.contains(e.name())) neg[k++] = Math.abs(e.score());
        }
        java.util.Arrays.sort(neg);
        double wins = 0;
        for (float p : pos) {
            int below = java.util.Arrays.binarySearch(neg, p);
            wins += below >= 0 ? below : -below - 1;
        }
        double brute = wins / ((double) pos.size() * neg.length);
        assertEquals(brute, roc.auc(), 1e-9, "area by trapezoids vs the rank statistic (tolerance 1e-9)");
        assertEquals(0.5, roc.auc(), 0.03, "random scores: about 0.5");
    }

    @Test
    void theReferenceRankedFirstHasAreaOne() {
        float[] s = new float[GRAPH.nForward() * GRAPH.nBackward()];
        for (String e : ACDC) {
            String[] ends = e.split("->");
            s[GRAPH.forwardIndex(ends[0]) * GRAPH.nBackward() + GRAPH.backwardIndex(ends[1])] = -2f; // sign ignored
        }
        EdgeAttribution.Scores scores = new EdgeAttribution.Scores("EAP", GRAPH, s, 1.0, 1);
        assertEquals(1.0, EdgeRecovery.roc(scores, ACDC).auc(), 1e-12);
        EdgeRecovery top = EdgeRecovery.at(scores, ACDC.size(), ACDC);
        assertEquals(1.0, top.precision(), 0);
        assertEquals(1.0, top.recall(), 0);
        assertEquals(0, top.falseNegatives());
        assertEquals(6, EdgeRecovery.table(List.of(scores), new int[] {10, 100, 200, 400, 800, 1600}, ACDC).rowCount());
    }

    @Test
    void badReferenceIsNamed() {
        EdgeAttribution.Scores s = random(1);
        var empty = assertThrows(IllegalArgumentException.class, () -> EdgeRecovery.roc(s, List.of()));
        assertTrue(empty.getMessage().contains("no edges"), empty.getMessage());
        var notEdge = assertThrows(IllegalArgumentException.class, () -> EdgeRecovery.at(s, 5, List.of("a9.h9->a3.h0<q>")));
        assertTrue(notEdge.getMessage().contains("'a9.h9->a3.h0<q>' is not an edge"), notEdge.getMessage());
        var badName = assertThrows(IllegalArgumentException.class, () -> EdgeRecovery.at(s, 5, List.of("a9.h9")));
        assertTrue(badName.getMessage().contains("a9.h9"), badName.getMessage());
    }
}
