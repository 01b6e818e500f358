package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.experiments.WritingDirection;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import java.util.List;
import java.util.Map;

/**
 * The checks of the exercises in notebook 02 (name movers).
 * The verdicts, the comparison and {@link Check#hint} are {@link Check}'s.
 */
public final class NameMoverChecks {

    private NameMoverChecks() {}

    /** The hints of this section's exercises ({@link Check#hint}). */
    static final Map<String, List<String>> HINTS = Map.of(
            "embeddingVsAttn", List.of(
                "Rows of a batch with their own positions: a.get(new NDIndex(\"{}, {}\", rows, positions)) with rows = "
                        + "m.arange(0, n, 1, DataType.INT64), as a[arange(N), idx] in PyTorch.",
                "The head's output at END is z[b, end_b, head] @ W_O[layer, head]; project it on W_U's columns of IO and S "
                        + "(model.W_U().transpose() gives one row per token).",
                "ARENA's S points use the attention from END to S1 (batch.s1()), not S2."));

    /** {@code embeddingVsAttn(model, cache, batch, layer, head)} -> [4, batch]: attnIo, attnS1, projIo, projS. */
    @FunctionalInterface
    public interface EmbeddingVsAttnFn {
        NDArray apply(HookedTransformer model, ActivationCache cache, IoiBatch batch, int layer, int head);
    }

    /**
     * ARENA's {@code calculate_and_show_scatter_embedding_vs_attn}'s four vectors, for each head of
     * {@code heads}, against {@link WritingDirection#compute}.
     */
    public static Check.Result embeddingVsAttn(HookedTransformer model, ActivationCache cache, IoiBatch batch,
            EmbeddingVsAttnFn fn, Head... heads) {
        String name = "embeddingVsAttn";
        return Check.run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager()) {
                for (Head h : heads) {
                    WritingDirection.Result ref = WritingDirection.compute(model, cache, batch, h.layer(), h.head());
                    NDArray expected = m.create(new float[][] {ref.attnIo(), ref.attnS1(), ref.projIo(), ref.projS()});
                    String what = name + "(model, cache, batch, " + h.layer() + ", " + h.head() + ")";
                    NDArray got = Check.call(what, () -> fn.apply(model, cache, batch, h.layer(), h.head()));
                    String failure = Check.compare(what, expected, got, List.of(
                            new Check.Mistake("use the attention to S2 instead of S1 (ARENA's S points are S1)",
                                    () -> m.create(new float[][] {ref.attnIo(), ref.attnS2(), ref.projIo(), ref.projS()})),
                            new Check.Mistake("sum the attention to S1 and S2 (the paper's Fig 3c, not ARENA's)",
                                    () -> m.create(new float[][] {ref.attnIo(), ref.attnS(WritingDirection.SAttention.S1_PLUS_S2),
                                            ref.projIo(), ref.projS()})),
                            new Check.Mistake("swap IO and S", () -> m.create(new float[][] {ref.attnS1(), ref.attnIo(), ref.projS(),
                                    ref.projIo()}))));
                    got.close();
                    if (failure != null) {
                        return failure + " (rows: 0 attention END->IO, 1 END->S1, 2 projection on IO, 3 on S)";
                    }
                }
                return null;
            }
        });
    }
}
