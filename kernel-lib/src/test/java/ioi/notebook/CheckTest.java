package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.experiments.Circuit;
import ioi.experiments.Head;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Check}'s hints, and checks that free what they allocate.
 */
class CheckTest extends CheckFixture {

    @Test
    void hints() {
        assertTrue(Check.hint("getHeadsAndPosnsToKeep").contains("own position"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Check.hint("nope"));
        assertTrue(e.getMessage().contains("'nope'") && e.getMessage().contains("logitsToAveLogitDiff"), e.getMessage());
    }

    @Test
    void checksDoNotLeak() {
        List<Integer> counts = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            InductionChecks.getAttnScores(model, (mo, t, type) -> {
                throw Check.todo();
            });
            CircuitChecks.hookFnMaskZ(model, batch, abcDataset, Circuit.PAPER, (z, h, k, mn) -> z);
            // The other checks with a stub: what they allocate themselves (references, caches, inputs).
            TaskChecks.patchResidualComponent(model, batch, cache, (c, h, p, cc) -> {
                throw Check.todo();
            });
            NameMoverChecks.residualStackToLogitDiff(model, cache, batch, (s, c, b, d) -> {
                throw Check.todo();
            });
            NameMoverChecks.patchOrFreezeHeadVectors(model, batch, (z, h, nc, oc, s) -> {
                throw Check.todo();
            });
            SInhibitionChecks.patchHeadInput(model, batch, List.of(new Head(9, 9), new Head(10, 0)), (a, h, c, heads) -> {
                throw Check.todo();
            });
            CircuitChecks.addMeanAblationHook(model, batch, abcDataset, Circuit.PAPER, (mo, ds, b, c) -> {
                throw Check.todo();
            });
            counts.add(model.liveArrayCount());
        }
        assertEquals(counts.get(1), counts.get(counts.size() - 1), "live arrays after each round: " + counts);
    }
}
