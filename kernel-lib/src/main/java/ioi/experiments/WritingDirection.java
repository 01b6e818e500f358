package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Does a head write the names it attends to? The paper's Fig 3c (§3.1) and ARENA's
 * {@code calculate_and_show_scatter_embedding_vs_attn}: per prompt, the head's attention from END
 * to IO and to S, against the dot product of the head's output at END ({@code z @ W_O[l, h]}, no
 * bias) with the unembedding of that name ({@code W_U[:, IO]}, {@code W_U[:, S]}). The paper finds
 * a correlation above 0.81 for the Name Movers (N = 500), negative for the Negative Name Movers.
 *
 * <p>For S the paper sums the attention on S1 and S2 ({@link SAttention#S1_PLUS_S2}, the default);
 * ARENA plots S1 only ({@link SAttention#S1}). The correlation is Pearson's over the IO and S points
 * together (2 * batch points), as the scatter shows them. Results are plain arrays (no native memory).
 */
public final class WritingDirection {

    private WritingDirection() {}

    /** Which attention the S points use. */
    public enum SAttention {
        /** The paper: END -> S1 plus END -> S2. */
        S1_PLUS_S2,
        /** ARENA: END -> S1 only. */
        S1
    }

    /**
     * Per prompt [batch] values of one head.
     *
     * @param attnIo attention END -> IO
     * @param attnS1 attention END -> S1
     * @param attnS2 attention END -> S2
     * @param projIo {@code (z[end] @ W_O[l, h]) . W_U[:, IO]}
     * @param projS {@code (z[end] @ W_O[l, h]) . W_U[:, S]}
     * @param prompts the prompts' labels (texts when the batch has them)
     */
    public record Result(int layer, int head, float[] attnIo, float[] attnS1, float[] attnS2, float[] projIo,
            float[] projS, List<String> prompts) {

        /** The attention of the S points: S1 + S2 (paper) or S1 (ARENA). */
        public float[] attnS(SAttention mode) {
            float[] out = attnS1.clone();
            if (mode == SAttention.S1_PLUS_S2) {
                for (int i = 0; i < out.length; i++) {
                    out[i] += attnS2[i];
                }
            }
            return out;
        }

        /** Pearson correlation of attention and projection over the IO and S points (the paper's S1 + S2). */
        public double correlation() {
            return correlation(SAttention.S1_PLUS_S2);
        }

        public double correlation(SAttention mode) {
            return pearson(attention(mode), projection());
        }

        /** Fig 3c's x: attention to IO for every prompt, then to S ({@code mode}) for every prompt. */
        public float[] attention(SAttention mode) {
            return concat(attnIo, attnS(mode));
        }

        /** Fig 3c's y, in {@link #attention}'s order: the projections on W_U[:, IO], then on W_U[:, S]. */
        public float[] projection() {
            return concat(projIo, projS);
        }

        /** One row per prompt: prompt, attention to IO, S1, S2, and the two projections. */
        public Table table() {
            return Table.create("Head " + layer + "." + head + ": attention from END vs writing direction",
                    StringColumn.create("prompt", prompts), DoubleColumn.create("attn_IO", doubles(attnIo)),
                    DoubleColumn.create("attn_S1", doubles(attnS1)), DoubleColumn.create("attn_S2", doubles(attnS2)),
                    DoubleColumn.create("dot_W_U_IO", doubles(projIo)), DoubleColumn.create("dot_W_U_S", doubles(projS)));
        }

    }

    /** Runs the clean prompts, caching only the head's layer ({@code hook_z}, {@code hook_pattern}). */
    public static Result compute(HookedTransformer model, IoiBatch batch, int layer, int head) {
        Heads.check(model.cfg().nLayers(), model.cfg().nHeads(), layer, head);
        String z = "blocks." + layer + ".attn.hook_z";
        String pattern = "blocks." + layer + ".attn.hook_pattern";
        try (NDManager tmp = model.resultManager().newSubManager();
                ActivationCache cache = model.runWithCache(batch.tokens(tmp), name -> name.equals(z) || name.equals(pattern),
                        RunOptions.defaults().returnType(RunOptions.ReturnType.NONE).stopAtLayer(layer + 1))) {
            return compute(model, cache, batch, layer, head);
        }
    }

    /** From a cache of the clean prompts holding {@code hook_z} and {@code hook_pattern} of {@code layer}. */
    public static Result compute(HookedTransformer model, ActivationCache cache, IoiBatch batch, int layer, int head) {
        Heads.check(model.cfg().nLayers(), model.cfg().nHeads(), layer, head);
        try (NDScope scope = new NDScope()) {
            NDArray pattern = cache.get("pattern", layer).get(new NDIndex(":, {}:{}", head, head + 1)); // [batch, 1, query_pos, key_pos]
            float[] io = NameAttention.endToWord(pattern, batch.end(), batch.io()).toFloatArray(); // [batch]
            float[] s1 = NameAttention.endToWord(pattern, batch.end(), batch.s1()).toFloatArray();
            float[] s2 = NameAttention.endToWord(pattern, batch.end(), batch.s2()).toFloatArray();
            NDArray z = cache.get("z", layer).get(new NDIndex(":, :, {}", head)); // [batch, pos, d_head]
            long n = z.getShape().get(0);
            long pos = z.getShape().get(1);
            long[] flat = new long[(int) n];
            for (int b = 0; b < n; b++) {
                flat[b] = b * pos + batch.end()[b];
            }
            NDManager m = z.getManager();
            NDArray zEnd = z.reshape(n * pos, -1).get(new NDIndex("{}", m.create(flat))); // [batch, d_head]
            NDArray out = zEnd.matMul(model.weight("blocks." + layer + ".attn.W_O").get(head)); // [batch, d_model]
            NDArray wUt = model.W_U().transpose(); // [d_vocab, d_model]
            NDArray uIo = wUt.get(new NDIndex("{}", m.create(batch.ioTokenIds()))); // [batch, d_model]
            NDArray uS = wUt.get(new NDIndex("{}", m.create(batch.sTokenIds()))); // [batch, d_model]
            float[] projIo = out.mul(uIo).sum(new int[] {-1}).toFloatArray(); // [batch]
            float[] projS = out.mul(uS).sum(new int[] {-1}).toFloatArray(); // [batch]
            List<String> labels = new ArrayList<>();
            for (int b = 0; b < n; b++) {
                labels.add(batch.label(b));
            }
            return new Result(layer, head, io, s1, s2, projIo, projS, List.copyOf(labels));
        }
    }

    /** Pearson's r of two equally long samples (NaN if either is constant). */
    static double pearson(float[] x, float[] y) {
        int n = x.length;
        double mx = 0;
        double my = 0;
        for (int i = 0; i < n; i++) {
            mx += x[i];
            my += y[i];
        }
        mx /= n;
        my /= n;
        double sxy = 0;
        double sxx = 0;
        double syy = 0;
        for (int i = 0; i < n; i++) {
            double dx = x[i] - mx;
            double dy = y[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        return sxy / Math.sqrt(sxx * syy);
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = new float[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
