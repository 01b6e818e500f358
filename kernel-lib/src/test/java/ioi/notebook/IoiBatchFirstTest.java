package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** {@link IoiBatch#first} and {@link IoiBatch#rows}: the first prompts, cut after their last end, with the same logit differences. */
class IoiBatchFirstTest extends CheckFixture {

    @Test
    void firstPromptsKeepTheirLogitDifferences() {
        int n = 3;
        IoiBatch sub = batch.first(n);
        long cut = Arrays.stream(batch.end(), 0, n).max().orElseThrow() + 1;
        assertEquals(n, sub.size());
        assertEquals(cut, sub.seqLen());
        assertArrayEquals(Arrays.copyOf(batch.end(), n), sub.end());
        assertArrayEquals(Arrays.copyOf(batch.tokens()[1], (int) cut), sub.tokens()[1]);
        assertEquals(batch.label(2), sub.label(2));
        float[] full = Metrics.logitDiff(model.forward(batch.tokens(m)), batch, m).toFloatArray();
        float[] part = Metrics.logitDiff(model.forward(sub.tokens(m)), sub, m).toFloatArray();
        double tol = 1e-4; // the same prompts, fewer positions after end: float32 noise only
        double worst = 0;
        for (int b = 0; b < n; b++) {
            worst = Math.max(worst, Math.abs(full[b] - part[b]));
        }
        assertTrue(worst <= tol, "worst logit-difference change " + worst + " > " + tol);
    }

    @Test
    void badCountNamesTheRange() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> batch.first(0));
        assertTrue(e.getMessage().contains("first(0)") && e.getMessage().contains("[1, " + batch.size() + "]"), e.getMessage());
        IllegalArgumentException r = assertThrows(IllegalArgumentException.class, () -> batch.rows(3, 3));
        assertTrue(r.getMessage().contains("rows(3, 3)") && r.getMessage().contains("from < to"), r.getMessage());
    }

    @Test
    void rowsAreTheSamePromptsCutAfterTheirLastEnd() {
        IoiBatch part = batch.rows(2, 5);
        long cut = Arrays.stream(batch.end(), 2, 5).max().orElseThrow() + 1;
        assertEquals(3, part.size());
        assertEquals(cut, part.seqLen());
        assertArrayEquals(Arrays.copyOfRange(batch.s2(), 2, 5), part.s2());
        assertArrayEquals(Arrays.copyOf(batch.abcTokens()[4], (int) cut), part.abcTokens()[2]);
        assertEquals(batch.label(3), part.label(1));
    }
}
