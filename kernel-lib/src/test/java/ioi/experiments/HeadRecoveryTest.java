package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@link HeadRecovery}: precision, recall and the ROC sweep against a brute force over every n
 * (top(n), its heads, counted against the reference), on seeded random scores of a 3 x 4 graph; a
 * ranking that puts the reference's edges first has area 1.
 */
class HeadRecoveryTest {
    static final EdgeAttribution.Graph GRAPH = new EdgeAttribution.Graph(3, 4);
    static final List<Head> REFERENCE = List.of(new Head(0, 1), new Head(1, 3), new Head(2, 0));

    private static EdgeAttribution.Scores random(long seed) {
        Random r = new Random(seed);
        float[] s = new float[GRAPH.nForward() * GRAPH.nBackward()];
        for (int f = 0; f < GRAPH.nForward(); f++) {
            for (int b = 0; b < GRAPH.nBackward(); b++) {
                s[f * GRAPH.nBackward() + b] = GRAPH.isEdge(f, b) ? (float) r.nextGaussian() : 0f;
            }
        }
        return new EdgeAttribution.Scores("EAP", GRAPH, s, 0, 1);
    }

    @Test
    void rocPointsAreWhatTopNGives() {
        EdgeAttribution.Scores s = random(7);
        HeadRecovery.Roc roc = HeadRecovery.roc(s, REFERENCE);
        int negatives = 12 - REFERENCE.size();
        Set<Set<Head>> seen = new HashSet<>();
        int points = 0;
        for (int n = 0; n <= GRAPH.edgeCount(); n++) {
            Set<Head> heads = EdgeAttribution.Scores.heads(s.top(n));
            if (seen.add(heads)) {
                HeadRecovery p = roc.points().get(points++);
                assertEquals(n, p.edges(), "the first n with this head set");
                assertEquals(heads, p.found());
                long tp = heads.stream().filter(REFERENCE::contains).count();
                assertEquals(tp, p.truePositives());
                assertEquals((double) tp / REFERENCE.size(), p.recall(), 1e-12);
                assertEquals((double) (heads.size() - tp) / negatives, p.falsePositiveRate(), 1e-12);
                HeadRecovery at = HeadRecovery.at(s, n, REFERENCE);
                assertEquals(p, at, "at(n) is the sweep's point");
            }
        }
        assertEquals(points, roc.points().size());
        HeadRecovery last = roc.points().get(points - 1);
        assertEquals(1.0, last.recall(), 0, "every head has an edge to the logits");
        assertEquals(1.0, last.falsePositiveRate(), 0);
        assertTrue(roc.auc() >= 0 && roc.auc() <= 1, "area " + roc.auc());
    }

    @Test
    void theReferenceRankedFirstHasAreaOne() {
        float[] s = new float[GRAPH.nForward() * GRAPH.nBackward()];
        for (int f = 0; f < GRAPH.nForward(); f++) {
            for (int b = 0; b < GRAPH.nBackward(); b++) {
                if (GRAPH.isEdge(f, b)) {
                    Head parent = EdgeAttribution.Graph.headOf(GRAPH.forwardName(f));
                    Head child = EdgeAttribution.Graph.headOf(GRAPH.backwardName(b));
                    boolean inRef = (parent == null || REFERENCE.contains(parent)) && (child == null || REFERENCE.contains(child));
                    s[f * GRAPH.nBackward() + b] = inRef ? 10 + f : -0.01f * (1 + b); // sign does not matter: |score|
                }
            }
        }
        HeadRecovery.Roc roc = HeadRecovery.roc(new EdgeAttribution.Scores("EAP", GRAPH, s, 0, 1), REFERENCE);
        assertEquals(1.0, roc.auc(), 1e-12, "points " + roc.points());
    }

    @Test
    void badReferenceIsNamed() {
        EdgeAttribution.Scores s = random(1);
        var empty = assertThrows(IllegalArgumentException.class, () -> HeadRecovery.roc(s, List.of()));
        assertTrue(empty.getMessage().contains("no heads"), empty.getMessage());
        var outside = assertThrows(IllegalArgumentException.class, () -> HeadRecovery.at(s, 5, List.of(new Head(9, 9))));
        assertTrue(outside.getMessage().contains("9.9") && outside.getMessage().contains("3 x 4"), outside.getMessage());
    }
}
