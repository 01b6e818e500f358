package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import org.junit.jupiter.api.Test;

/**
 * {@link InductionChecks}: the solution passes, the stub is not implemented, the mistakes are named.
 */
class InductionChecksTest extends CheckFixture {

    static NDArray generateRepeatedTokens(HookedTransformer model, int seqLen, int batch) {
        NDArray half = model.resultManager().randomInteger(0, model.cfg().dVocab(), new Shape(batch, seqLen),
                DataType.INT64); // [batch, seq_len]
        return half.concat(half, 1); // [batch, 2 * seq_len]
    }

    @Test
    void repeatedTokens() {
        passes(InductionChecks.generateRepeatedTokens(model, RepeatedTokensSolution::solve));
        stub(InductionChecks.generateRepeatedTokens(model, (mo, s, b) -> {
            throw Check.todo();
        }));
        fails(InductionChecks.generateRepeatedTokens(model, (mo, s, b) -> {
            NDArray t = generateRepeatedTokens(mo, s, b);
            return mo.resultManager().full(new Shape(b, 1), 50256L).concat(t, 1);
        }), "(3, 21)", "no start token");
        fails(InductionChecks.generateRepeatedTokens(model, (mo, s, b) -> {
            NDArray half = mo.resultManager().randomInteger(0, mo.cfg().dVocab(), new Shape(b, s), DataType.INT64);
            NDArray other = mo.resultManager().randomInteger(0, mo.cfg().dVocab(), new Shape(b, s), DataType.INT64);
            return half.concat(other, 1);
        }), "is not repeated");
        fails(InductionChecks.generateRepeatedTokens(model, (mo, s, b) -> mo.resultManager().zeros(new Shape(b, 2 * s), DataType.INT64)),
                "distinct tokens");
    }

    /** A method reference works as well as a lambda. */
    static final class RepeatedTokensSolution {
        static NDArray solve(HookedTransformer model, int seqLen, int batch) {
            return generateRepeatedTokens(model, seqLen, batch);
        }
    }

    static NDArray getAttnScores(HookedTransformer model, NDArray repTokens, String headType, int inductionOffset) {
        int seqLen = (int) repTokens.getShape().get(1) / 2;
        long[] dest = new long[seqLen];
        long[] src = new long[seqLen];
        for (int i = 0; i < seqLen; i++) {
            switch (headType) {
                case "duplicate" -> { dest[i] = seqLen + i; src[i] = i; }
                case "prev" -> { dest[i] = i + 1; src[i] = i; }
                case "induction" -> { dest[i] = seqLen + i; src[i] = i + inductionOffset; }
                default -> throw new IllegalArgumentException("headType " + headType);
            }
        }
        int layers = model.cfg().nLayers();
        int heads = model.cfg().nHeads();
        float[] results = new float[layers * heads];
        try (ActivationCache c = model.runWithCache(repTokens, name -> name.endsWith("hook_pattern"))) {
            NDManager cm = c.get("pattern", 0).getManager();
            NDArray d = cm.create(dest);
            NDArray s = cm.create(src);
            for (int layer = 0; layer < layers; layer++) {
                NDArray pattern = c.get("pattern", layer); // [batch, head_index, query_pos, key_pos]
                NDArray scores = pattern.get(new NDIndex(":, :, {}, {}", d, s)); // [batch, head_index, seq_len]
                float[] perHead = scores.mean(new int[] {2}).mean(new int[] {0}).toFloatArray(); // [head_index]
                System.arraycopy(perHead, 0, results, layer * heads, heads);
            }
        }
        return model.resultManager().create(results, new Shape(layers, heads)); // [n_layers, n_heads]
    }

    @Test
    void attnScores() {
        passes(InductionChecks.getAttnScores(model, (mo, t, type) -> getAttnScores(mo, t, type, 1)));
        stub(InductionChecks.getAttnScores(model, (mo, t, type) -> {
            throw Check.todo();
        }));
        fails(InductionChecks.getAttnScores(model, (mo, t, type) -> getAttnScores(mo, t, type, 0)), "\"induction\"",
                "duplicate score instead");
    }
}
