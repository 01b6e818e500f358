package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The checks of the exercises in notebook 01 (the task).
 * The verdicts, the comparison and {@link Check#hint} are {@link Check}'s.
 */
public final class TaskChecks {

    private TaskChecks() {}

    /** The hints of this section's exercises ({@link Check#hint}). */
    static final Map<String, List<String>> HINTS = Map.of(
            "logitsToAveLogitDiff", List.of(
                "The answer is read at the last position: logits.get(\":, -1, :\") is [batch, d_vocab].",
                "finalLogits.gather(answerTokens, 1) picks each prompt's two answer logits: [batch, 2] (column 0 = IO, 1 = S).",
                "IO minus S, one value per prompt; .mean() when perPrompt is false."));

    /** {@code logitsToAveLogitDiff(logits [batch, pos, d_vocab], answerTokens [batch, 2], perPrompt)}. */
    @FunctionalInterface
    public interface LogitDiffFn {
        NDArray apply(NDArray logits, NDArray answerTokens, boolean perPrompt);
    }

    /**
     * ARENA's {@code test_logits_to_ave_logit_diff}: random logits [4, 5, 6] and answers [4, 2];
     * per prompt, logit(IO) - logit(S) at the last position, and their mean.
     */
    public static Check.Result logitsToAveLogitDiff(LogitDiffFn fn) {
        String name = "logitsToAveLogitDiff";
        return Check.run(name, () -> {
            try (NDManager m = NDManager.newBaseManager()) {
                int batch = 4;
                int pos = 5;
                int vocab = 6;
                Random random = new Random(0);
                float[][][] l = new float[batch][pos][vocab];
                float[] flat = new float[batch * pos * vocab];
                long[][] answers = new long[batch][2];
                float[] perPrompt = new float[batch];
                for (int b = 0; b < batch; b++) {
                    for (int p = 0; p < pos; p++) {
                        for (int v = 0; v < vocab; v++) {
                            l[b][p][v] = (float) random.nextGaussian();
                            flat[(b * pos + p) * vocab + v] = l[b][p][v];
                        }
                    }
                    answers[b][0] = random.nextInt(vocab);
                    answers[b][1] = (answers[b][0] + 1 + random.nextInt(vocab - 1)) % vocab;
                    perPrompt[b] = l[b][pos - 1][(int) answers[b][0]] - l[b][pos - 1][(int) answers[b][1]];
                }
                NDArray logits = m.create(flat, new Shape(batch, pos, vocab)); // [batch, pos, d_vocab]
                NDArray answerTokens = m.create(answers); // [batch, 2]
                NDArray expected = m.create(perPrompt); // [batch]
                NDArray got = Check.call(name + "(logits, answerTokens, true)", () -> fn.apply(logits, answerTokens, true));
                String failure = Check.compare(name + "(logits, answerTokens, true)", expected, got, List.of(
                        new Check.Mistake("compute S - IO instead of IO - S", expected::neg),
                        new Check.Mistake("read the first position instead of the last", () -> {
                            float[] first = new float[batch];
                            for (int b = 0; b < batch; b++) {
                                first[b] = l[b][0][(int) answers[b][0]] - l[b][0][(int) answers[b][1]];
                            }
                            return m.create(first);
                        }),
                        new Check.Mistake("ignore perPrompt (always the mean)", expected::mean)));
                if (failure != null) {
                    return failure;
                }
                NDArray mean = Check.call(name + "(logits, answerTokens, false)", () -> fn.apply(logits, answerTokens, false));
                return Check.compare(name + "(logits, answerTokens, false)", expected.mean(), mean, List.of(
                        new Check.Mistake("ignore perPrompt (always per prompt)", () -> expected)));
            }
        });
    }
}
