package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.experiments.ValidationScores;
import ioi.lens.HookedTransformer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The checks of the exercises in notebook 04 (induction, duplicate token and previous token heads).
 * The verdicts, the comparison and {@link Check#hint} are {@link Check}'s.
 */
public final class InductionChecks {

    private InductionChecks() {}

    /** The hints of this section's exercises ({@link Check#hint}). */
    static final Map<String, List<String>> HINTS = Map.of(
            "generateRepeatedTokens", List.of(
                "manager.randomInteger(0, dVocab, new Shape(batch, seqLen), DataType.INT64) draws the first half.",
                "half.concat(half, 1) repeats it along the position axis; no BOS at the start."),
            "getAttnScores", List.of(
                "For query (destination) positions d and key (source) positions s as index arrays, "
                        + "pattern.get(new NDIndex(\":, :, {}, {}\", d, s)) is [batch, head_index, n]: pattern[:, :, d, s].",
                "duplicate: d in [seqLen, 2 seqLen), s = d - seqLen. prev: d in [1, seqLen], s = d - 1. "
                        + "induction: d in [seqLen, 2 seqLen), s = d - seqLen + 1.",
                "Average over the pairs, then the batch: .mean(new int[] {2}).mean(new int[] {0}) (DJL's mean takes one "
                        + "axis at a time); copy the [n_layers, n_heads] result out of the "
                        + "cache's manager before closing the cache (toFloatArray, then create)."));

    /** {@code generateRepeatedTokens(model, seqLen, batch)} -> [batch, 2 * seqLen] token ids. */
    @FunctionalInterface
    public interface RepeatedTokensFn {
        NDArray apply(HookedTransformer model, int seqLen, int batch);
    }

    /**
     * ARENA's {@code generate_repeated_tokens}: random, so checked by what it must be: shape
     * [batch, 2 seq_len], integer ids in [0, d_vocab), second half equal to the first, no BOS,
     * and random (rows differ, tokens not all equal).
     */
    public static Check.Result generateRepeatedTokens(HookedTransformer model, RepeatedTokensFn fn) {
        String name = "generateRepeatedTokens";
        return Check.run(name, () -> {
            int seqLen = 10;
            int batch = 3;
            String what = name + "(model, " + seqLen + ", " + batch + ")";
            NDArray got = Check.call(what, () -> fn.apply(model, seqLen, batch));
            Shape want = new Shape(batch, 2 * seqLen);
            if (!got.getShape().equals(want)) {
                String bos = got.getShape().dimension() == 2 && got.getShape().get(1) == 2 * seqLen + 1
                        ? "; ARENA's repeated tokens have no start token (BOS)" : "";
                return what + " has shape " + got.getShape() + " but should have " + want + bos;
            }
            if (!got.getDataType().isInteger()) {
                return what + " has data type " + got.getDataType() + " but token ids are integers (DataType.INT64)";
            }
            long[] t = got.toType(DataType.INT64, false).toLongArray();
            got.close(); // the check's call made it: freed here, as the learner never sees it
            int vocab = model.cfg().dVocab();
            java.util.Set<Long> distinct = new java.util.HashSet<>();
            for (int b = 0; b < batch; b++) {
                for (int p = 0; p < 2 * seqLen; p++) {
                    long v = t[b * 2 * seqLen + p];
                    if (v < 0 || v >= vocab) {
                        return what + " has token " + v + " at [" + b + ", " + p + "], outside [0, d_vocab = " + vocab + ")";
                    }
                    distinct.add(v);
                }
                for (int p = 0; p < seqLen; p++) {
                    if (t[b * 2 * seqLen + p] != t[b * 2 * seqLen + seqLen + p]) {
                        return what + " is not repeated: [" + b + ", " + p + "] = " + t[b * 2 * seqLen + p] + " but ["
                                + b + ", " + (seqLen + p) + "] = " + t[b * 2 * seqLen + seqLen + p];
                    }
                }
            }
            if (distinct.size() < seqLen) {
                return what + " has only " + distinct.size() + " distinct tokens in " + batch * 2 * seqLen
                        + ": the first half should be uniform random tokens (randomInteger)";
            }
            return null;
        });
    }

    /** {@code getAttnScores(model, repTokens [batch, 2 seq_len], headType)} -> [n_layers, n_heads]. */
    @FunctionalInterface
    public interface AttnScoresFn {
        NDArray apply(HookedTransformer model, NDArray repTokens, String headType);
    }

    /**
     * ARENA's {@code get_attn_scores} for "duplicate", "prev" and "induction" on fixed repeated
     * tokens, against {@link ValidationScores#compute(HookedTransformer, long[][])}.
     */
    public static Check.Result getAttnScores(HookedTransformer model, AttnScoresFn fn) {
        String name = "getAttnScores";
        return Check.run(name, () -> {
            long[][] tokens = ValidationScores.repeatedRandomTokens(model.cfg().dVocab(), 8, 4, 0);
            try (NDManager m = model.resultManager().newSubManager()) {
                ValidationScores.Result ref = ValidationScores.compute(model, tokens);
                for (String type : ValidationScores.SCORES) {
                    String what = name + "(model, repTokens, \"" + type + "\")";
                    NDArray repTokens = m.create(tokens);
                    NDArray got = Check.call(what, () -> fn.apply(model, repTokens, type));
                    List<Check.Mistake> mistakes = new ArrayList<>();
                    for (String other : ValidationScores.SCORES) {
                        if (!other.equals(type)) {
                            mistakes.add(new Check.Mistake("compute the " + other + " score instead (check which source each "
                                    + "destination reads)", () -> ref.get(other).toNDArray(m)));
                        }
                    }
                    String failure = Check.compare(what, ref.get(type).toNDArray(m), got, mistakes);
                    got.close();
                    if (failure != null) {
                        return failure;
                    }
                }
                return null;
            }
        });
    }
}
