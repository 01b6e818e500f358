package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.experiments.Circuit;
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
            counts.add(model.liveArrayCount());
        }
        assertEquals(counts.get(1), counts.get(counts.size() - 1), "live arrays after each round: " + counts);
    }
}
