package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import org.junit.jupiter.api.Test;

/**
 * {@link TaskChecks}: the solution passes, the stub is not implemented, the mistakes are named.
 */
class TaskChecksTest extends CheckFixture {

    static NDArray logitsToAveLogitDiff(NDArray logits, NDArray answerTokens, boolean perPrompt, int position, int sign) {
        NDArray finalLogits = logits.get(new NDIndex(":, {}, :", position)); // [batch, d_vocab]
        NDArray answerLogits = finalLogits.gather(answerTokens, 1); // [batch, 2]
        NDArray diff = answerLogits.get(":, 0").sub(answerLogits.get(":, 1")).mul(sign); // [batch]
        return perPrompt ? diff : diff.mean();
    }

    @Test
    void logitDiff() {
        passes(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, -1, 1)));
        stub(TaskChecks.logitsToAveLogitDiff((l, a, p) -> {
            throw Check.todo();
        }));
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, -1, -1)), "S - IO", "expected");
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, 0, 1)), "first position");
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, false, -1, 1)), "has shape ()",
                "should have (4)");
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> {
            throw new IllegalStateException("boom");
        }), "threw IllegalStateException: boom");
    }
}
