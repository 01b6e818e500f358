package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIDataset;
import ioi.display.Displayable;
import ioi.experiments.Circuit;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.experiments.MeanAblation;
import ioi.experiments.Metrics;
import ioi.experiments.ValidationScores;
import ioi.experiments.WritingDirection;
import ioi.lens.ActivationCache;
import ioi.lens.Hook;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * The exercise notebooks' checks, as ARENA's {@code tests} module: each one calls the learner's
 * function on small inputs (or the loaded model and data), compares it with the library's own
 * implementation within a stated tolerance, and answers in one line ({@link Result#line()}):
 * {@code check NAME: passed}, {@code check NAME: not implemented yet} (the stub's
 * {@code throw Check.todo();} is still there) or {@code check NAME: FAILED - what differs}: a shape,
 * or the worst element with expected and got, and, when the answer is exactly a known mistake
 * (S2 instead of S1, a sign, an off-by-one position), which one. A check never throws because of
 * the learner's code: an exception in it is reported as a failure with its message.
 * {@link #hint(String)} shows an exercise's hints. {@code ./ioi exercises --check} counts these lines.
 *
 * <p>Tolerances: {@link #ATOL} + {@link #RTOL} x |expected| per element (float32 arithmetic in a
 * different order, as PyTorch's {@code assert_close} defaults for float32).
 */
public final class Check {

    /** Absolute tolerance per element. */
    public static final double ATOL = 1e-4;
    /** Relative tolerance per element. */
    public static final double RTOL = 1e-3;

    private Check() {}

    // ---------------------------------------------------------------- the stub and the result

    /** What an exercise's stub throws: {@code throw Check.todo();}. */
    public static final class NotImplemented extends RuntimeException {
        NotImplemented() {
            super("not implemented yet: replace `throw Check.todo();` with your code");
        }
    }

    /** The stub body of every exercise: {@code throw Check.todo();}. */
    public static NotImplemented todo() {
        return new NotImplemented();
    }

    public enum Status {
        PASSED, NOT_IMPLEMENTED, FAILED
    }

    /** One check's verdict; shows itself as one line (coloured in HTML). */
    public record Result(String exercise, Status status, String detail) implements Displayable {
        public boolean passed() {
            return status == Status.PASSED;
        }

        /** {@code check NAME: passed|not implemented yet|FAILED[ - detail]}: what the exercise runner counts. */
        public String line() {
            String verdict = switch (status) {
                case PASSED -> "passed";
                case NOT_IMPLEMENTED -> "not implemented yet";
                case FAILED -> "FAILED";
            };
            return "check " + exercise + ": " + verdict + (detail == null || detail.isEmpty() ? "" : " - " + detail);
        }

        @Override
        public Map<String, Object> mimeBundle() {
            String colour = switch (status) {
                case PASSED -> "#1a7f37";
                case NOT_IMPLEMENTED -> "#9a6700";
                case FAILED -> "#cf222e";
            };
            String mark = switch (status) {
                case PASSED -> "&#10004;";
                case NOT_IMPLEMENTED -> "&#8230;";
                case FAILED -> "&#10008;";
            };
            Map<String, Object> bundle = new LinkedHashMap<>();
            bundle.put(TEXT_PLAIN, line());
            bundle.put(TEXT_HTML, "<div style=\"font-family:monospace;color:" + colour + "\">" + mark + " "
                    + ioi.display.Html.escape(line()) + "</div>");
            return bundle;
        }

        @Override
        public String toString() {
            return line();
        }
    }

    /** A learner's exception, kept apart from the check's own. */
    private static final class LearnerError extends RuntimeException {
        LearnerError(String message) {
            super(message);
        }
    }

    /** Calls the learner's code: {@link NotImplemented} passes through, anything else becomes a failure line. */
    private static <T> T call(String what, Supplier<T> learner) {
        try {
            T out = learner.get();
            if (out == null) {
                throw new LearnerError(what + " returned null");
            }
            return out;
        } catch (NotImplemented e) {
            throw e;
        } catch (RuntimeException e) {
            throw new LearnerError(what + " threw " + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    /** Runs a check body: null from it is a pass, a string a failure. */
    private static Result run(String exercise, Supplier<String> body) {
        try {
            String failure = body.get();
            return failure == null ? new Result(exercise, Status.PASSED, "")
                    : new Result(exercise, Status.FAILED, failure + hintSuffix(exercise));
        } catch (NotImplemented e) {
            return new Result(exercise, Status.NOT_IMPLEMENTED,
                    "replace `throw Check.todo();` with your code; Check.hint(\"" + exercise + "\") for a hint");
        } catch (LearnerError e) {
            return new Result(exercise, Status.FAILED, e.getMessage() + hintSuffix(exercise));
        }
    }

    private static String hintSuffix(String exercise) {
        return HINTS.containsKey(exercise) ? " (Check.hint(\"" + exercise + "\") for a hint)" : "";
    }

    // ---------------------------------------------------------------- comparison

    /** A plausible wrong answer: if the learner's equals it, the failure says so. */
    record Mistake(String description, Supplier<NDArray> answer) {}

    /**
     * Null if {@code got} equals {@code expected} (shape, and every element within ATOL + RTOL x
     * |expected|), else what differs: the shape, or the worst element and how many differ, and the
     * first {@code mistakes} entry that {@code got} matches.
     */
    static String compare(String what, NDArray expected, NDArray got, List<Mistake> mistakes) {
        String diff = difference(what, expected, got);
        if (diff == null) {
            return null;
        }
        for (Mistake mistake : mistakes) {
            NDArray wrong = mistake.answer().get();
            if (difference(what, wrong, got) == null) {
                return diff + "; that is what you get if you " + mistake.description();
            }
        }
        return diff;
    }

    static String difference(String what, NDArray expected, NDArray got) {
        Shape es = expected.getShape();
        Shape gs = got.getShape();
        if (!es.equals(gs)) {
            return what + " has shape " + gs + " but should have " + es;
        }
        float[] e = expected.toType(DataType.FLOAT32, false).toFloatArray();
        float[] g = got.toType(DataType.FLOAT32, false).toFloatArray();
        int worst = -1;
        double worstExcess = 0;
        int differing = 0;
        for (int i = 0; i < e.length; i++) {
            double tol = ATOL + RTOL * Math.abs(e[i]);
            double d = Math.abs((double) e[i] - g[i]);
            boolean bad = !(d <= tol) || Float.isNaN(g[i]) != Float.isNaN(e[i]);
            if (Float.isNaN(g[i]) && Float.isNaN(e[i])) {
                bad = false;
            }
            if (bad) {
                differing++;
                double excess = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d - tol;
                if (worst < 0 || excess > worstExcess) {
                    worst = i;
                    worstExcess = excess;
                }
            }
        }
        if (worst < 0) {
            return null;
        }
        boolean bool = expected.getDataType() == DataType.BOOLEAN;
        return String.format(Locale.ROOT, "%s differs at %s: expected %s, got %s (%d of %d elements differ by more than %s)",
                what, index(es, worst), value(e[worst], bool), value(g[worst], bool), differing, e.length,
                bool ? "nothing" : String.format(Locale.ROOT, "%.0e + %.0e x |expected|", ATOL, RTOL));
    }

    private static String value(float v, boolean bool) {
        return bool ? String.valueOf(v != 0) : String.format(Locale.ROOT, "%.6g", v);
    }

    private static String index(Shape shape, int flat) {
        long[] idx = new long[shape.dimension()];
        long rest = flat;
        for (int d = idx.length - 1; d >= 0; d--) {
            idx[d] = rest % shape.get(d);
            rest /= shape.get(d);
        }
        StringBuilder sb = new StringBuilder("[");
        for (int d = 0; d < idx.length; d++) {
            sb.append(d == 0 ? "" : ", ").append(idx[d]);
        }
        return sb.append(']').toString();
    }

    // ---------------------------------------------------------------- hints

    private static final Map<String, List<String>> HINTS = new HashMap<>();

    static {
        HINTS.put("logitsToAveLogitDiff", List.of(
                "The answer is read at the last position: logits.get(\":, -1, :\") is [batch, d_vocab].",
                "finalLogits.gather(answerTokens, 1) picks each prompt's two answer logits: [batch, 2] (column 0 = IO, 1 = S).",
                "IO minus S, one value per prompt; .mean() when perPrompt is false."));
        HINTS.put("embeddingVsAttn", List.of(
                "Rows of a batch with their own positions: a.get(new NDIndex(\"{}, {}\", rows, positions)) with rows = "
                        + "m.arange(0, n, 1, DataType.INT64), as a[arange(N), idx] in PyTorch.",
                "The head's output at END is z[b, end_b, head] @ W_O[layer, head]; project it on W_U's columns of IO and S "
                        + "(model.W_U().transpose() gives one row per token).",
                "ARENA's S points use the attention from END to S1 (batch.s1()), not S2."));
        HINTS.put("generateRepeatedTokens", List.of(
                "manager.randomInteger(0, dVocab, new Shape(batch, seqLen), DataType.INT64) draws the first half.",
                "half.concat(half, 1) repeats it along the position axis; no BOS at the start."));
        HINTS.put("getAttnScores", List.of(
                "For query (destination) positions d and key (source) positions s as index arrays, "
                        + "pattern.get(new NDIndex(\":, :, {}, {}\", d, s)) is [batch, head_index, n]: pattern[:, :, d, s].",
                "duplicate: d in [seqLen, 2 seqLen), s = d - seqLen. prev: d in [1, seqLen], s = d - 1. "
                        + "induction: d in [seqLen, 2 seqLen), s = d - seqLen + 1.",
                "Average over the pairs, then the batch: .mean(new int[] {2}).mean(new int[] {0}) (DJL's mean takes one "
                        + "axis at a time); copy the [n_layers, n_heads] result out of the "
                        + "cache's manager before closing the cache (toFloatArray, then create)."));
        HINTS.put("getHeadsAndPosnsToKeep", List.of(
                "One [batch, pos, head_index] boolean mask per layer, all false, then true where a circuit head is kept.",
                "A class is kept at circuit.positionOf(cls) (\"end\", \"S2\", ...); batch.wordIdx(key) gives that "
                        + "position for each prompt.",
                "Each prompt keeps its own position: mask[b, wordIdx[b], head] = true for every b, not every prompt's "
                        + "position in every prompt (ARENA 3.0's mask[range(batch), indices, head_idx] = 1)."));
        HINTS.put("computeMeansByTemplate", List.of(
                "model.runWithCache(tokens, name -> name.endsWith(\"hook_z\")) caches every layer's z [batch, pos, head_index, d_head].",
                "meansDataset.groups() lists the prompt indices of each template; z.get(new NDIndex(\"{}\", idx)).mean(new int[] {0}) "
                        + "is a group's mean [pos, head_index, d_head].",
                "Every prompt gets its group's mean: stack one per prompt (NDArrays.stack), then the layers; attach the "
                        + "result to a manager that outlives the cache (result.attach(model.resultManager()))."));
        HINTS.put("hookFnMaskZ", List.of(
                "keep.get(hook.layer()) is [batch, pos, head_index]; expand it to z's shape: "
                        + ".expandDims(-1).broadcast(z.getShape()) (DJL's where does not broadcast).",
                "NDArrays.where(mask, z, means.get(hook.layer())): keep z where the mask is true, the mean elsewhere."));
    }

    /** The hints of one exercise, as numbered lines. */
    public static String hint(String exercise) {
        List<String> hints = HINTS.get(exercise);
        if (hints == null) {
            throw new IllegalArgumentException("no exercise named '" + exercise + "'; exercises with hints: "
                    + HINTS.keySet().stream().sorted().toList());
        }
        StringBuilder sb = new StringBuilder("Hints for " + exercise + ":");
        for (int i = 0; i < hints.size(); i++) {
            sb.append("\n  ").append(i + 1).append(". ").append(hints.get(i));
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- 01: logit difference

    /** {@code logitsToAveLogitDiff(logits [batch, pos, d_vocab], answerTokens [batch, 2], perPrompt)}. */
    @FunctionalInterface
    public interface LogitDiffFn {
        NDArray apply(NDArray logits, NDArray answerTokens, boolean perPrompt);
    }

    /**
     * ARENA's {@code test_logits_to_ave_logit_diff}: random logits [4, 5, 6] and answers [4, 2];
     * per prompt, logit(IO) - logit(S) at the last position, and their mean.
     */
    public static Result logitsToAveLogitDiff(LogitDiffFn fn) {
        String name = "logitsToAveLogitDiff";
        return run(name, () -> {
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
                NDArray got = call(name + "(logits, answerTokens, true)", () -> fn.apply(logits, answerTokens, true));
                String failure = compare(name + "(logits, answerTokens, true)", expected, got, List.of(
                        new Mistake("compute S - IO instead of IO - S", expected::neg),
                        new Mistake("read the first position instead of the last", () -> {
                            float[] first = new float[batch];
                            for (int b = 0; b < batch; b++) {
                                first[b] = l[b][0][(int) answers[b][0]] - l[b][0][(int) answers[b][1]];
                            }
                            return m.create(first);
                        }),
                        new Mistake("ignore perPrompt (always the mean)", expected::mean)));
                if (failure != null) {
                    return failure;
                }
                NDArray mean = call(name + "(logits, answerTokens, false)", () -> fn.apply(logits, answerTokens, false));
                return compare(name + "(logits, answerTokens, false)", expected.mean(), mean, List.of(
                        new Mistake("ignore perPrompt (always per prompt)", () -> expected)));
            }
        });
    }

    // ---------------------------------------------------------------- 02: writing direction vs attention

    /** {@code embeddingVsAttn(model, cache, batch, layer, head)} -> [4, batch]: attnIo, attnS1, projIo, projS. */
    @FunctionalInterface
    public interface EmbeddingVsAttnFn {
        NDArray apply(HookedTransformer model, ActivationCache cache, IoiBatch batch, int layer, int head);
    }

    /**
     * ARENA's {@code calculate_and_show_scatter_embedding_vs_attn}'s four vectors, for each head of
     * {@code heads}, against {@link WritingDirection#compute}.
     */
    public static Result embeddingVsAttn(HookedTransformer model, ActivationCache cache, IoiBatch batch,
            EmbeddingVsAttnFn fn, Head... heads) {
        String name = "embeddingVsAttn";
        return run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager()) {
                for (Head h : heads) {
                    WritingDirection.Result ref = WritingDirection.compute(model, cache, batch, h.layer(), h.head());
                    NDArray expected = m.create(new float[][] {ref.attnIo(), ref.attnS1(), ref.projIo(), ref.projS()});
                    String what = name + "(model, cache, batch, " + h.layer() + ", " + h.head() + ")";
                    NDArray got = call(what, () -> fn.apply(model, cache, batch, h.layer(), h.head()));
                    String failure = compare(what, expected, got, List.of(
                            new Mistake("use the attention to S2 instead of S1 (ARENA's S points are S1)",
                                    () -> m.create(new float[][] {ref.attnIo(), ref.attnS2(), ref.projIo(), ref.projS()})),
                            new Mistake("sum the attention to S1 and S2 (the paper's Fig 3c, not ARENA's)",
                                    () -> m.create(new float[][] {ref.attnIo(), ref.attnS(WritingDirection.SAttention.S1_PLUS_S2),
                                            ref.projIo(), ref.projS()})),
                            new Mistake("swap IO and S", () -> m.create(new float[][] {ref.attnS1(), ref.attnIo(), ref.projS(),
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

    // ---------------------------------------------------------------- 04: repeated tokens, attention scores

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
    public static Result generateRepeatedTokens(HookedTransformer model, RepeatedTokensFn fn) {
        String name = "generateRepeatedTokens";
        return run(name, () -> {
            int seqLen = 10;
            int batch = 3;
            String what = name + "(model, " + seqLen + ", " + batch + ")";
            NDArray got = call(what, () -> fn.apply(model, seqLen, batch));
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
    public static Result getAttnScores(HookedTransformer model, AttnScoresFn fn) {
        String name = "getAttnScores";
        return run(name, () -> {
            long[][] tokens = ValidationScores.repeatedRandomTokens(model.cfg().dVocab(), 8, 4, 0);
            try (NDManager m = model.resultManager().newSubManager();
                    ValidationScores.Result ref = ValidationScores.compute(model, tokens)) {
                for (String type : ValidationScores.SCORES) {
                    String what = name + "(model, repTokens, \"" + type + "\")";
                    NDArray repTokens = m.create(tokens);
                    NDArray got = call(what, () -> fn.apply(model, repTokens, type));
                    List<Mistake> mistakes = new ArrayList<>();
                    for (String other : ValidationScores.SCORES) {
                        if (!other.equals(type)) {
                            mistakes.add(new Mistake("compute the " + other + " score instead (check which source each "
                                    + "destination reads)", () -> ref.get(other)));
                        }
                    }
                    String failure = compare(what, ref.get(type), got, mistakes);
                    got.close();
                    if (failure != null) {
                        return failure;
                    }
                }
                return null;
            }
        });
    }

    // ---------------------------------------------------------------- 06: mean ablation

    /** {@code getHeadsAndPosnsToKeep(batch, model, circuit)} -> per layer a boolean [batch, pos, head_index]. */
    @FunctionalInterface
    public interface KeepMaskFn {
        Map<Integer, NDArray> apply(IoiBatch batch, HookedTransformer model, Circuit circuit);
    }

    /** ARENA 3.0's {@code get_heads_and_posns_to_keep} (per prompt) against {@link MeanAblation#keep}. */
    public static Result getHeadsAndPosnsToKeep(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset,
            Circuit circuit, KeepMaskFn fn) {
        String name = "getHeadsAndPosnsToKeep";
        return run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager();
                    MeanAblation ablation = MeanAblation.byTemplate(model, batch, meansDataset)) {
                Map<Integer, NDArray> got = call(name + "(batch, model, circuit)", () -> fn.apply(batch, model, circuit));
                MeanAblation.KeepMask perPrompt = ablation.keep(circuit, MeanAblation.Keep.PER_PROMPT);
                MeanAblation.KeepMask union = ablation.keep(circuit, MeanAblation.Keep.UNION);
                for (int layer = 0; layer < model.cfg().nLayers(); layer++) {
                    String what = name + "(...).get(" + layer + ")";
                    if (!got.containsKey(layer)) {
                        return "the map has no mask for layer " + layer + " (keys " + got.keySet()
                                + "); every layer needs one, all false where nothing is kept";
                    }
                    int l = layer;
                    String failure = compare(what, mask(m, perPrompt, l), got.get(layer), List.of(
                            new Mistake("keep every prompt's position in every prompt (mask[:, indices, head], "
                                    + "ARENA 2.0's union) instead of each prompt's own", () -> mask(m, union, l))));
                    if (failure != null) {
                        got.values().forEach(NDArray::close);
                        return failure;
                    }
                }
                got.values().forEach(NDArray::close);
                return null;
            }
        });
    }

    /** {@code computeMeansByTemplate(meansDataset, model)} -> [n_layers, batch, pos, head_index, d_head]. */
    @FunctionalInterface
    public interface MeansFn {
        NDArray apply(IOIDataset meansDataset, HookedTransformer model);
    }

    /** ARENA's {@code compute_means_by_template} against {@link MeanAblation#means(int)}. */
    public static Result computeMeansByTemplate(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset,
            MeansFn fn) {
        String name = "computeMeansByTemplate";
        return run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager();
                    MeanAblation ablation = MeanAblation.byTemplate(model, batch, meansDataset)) {
                NDArray expected = means(ablation, m); // [n_layers, batch, pos, head_index, d_head]
                NDArray got = call(name + "(meansDataset, model)", () -> fn.apply(meansDataset, model));
                String failure = compare(name + "(meansDataset, model)", expected, got, List.of(
                        new Mistake("average over all prompts instead of over each template group", () -> {
                            try (ActivationCache c = model.runWithCache(m.create(meansDataset.toks()),
                                    n -> n.endsWith("attn.hook_z"))) {
                                List<NDArray> global = new ArrayList<>();
                                for (int l = 0; l < model.cfg().nLayers(); l++) {
                                    NDArray z = c.get("z", l); // [batch, pos, head_index, d_head]
                                    global.add(z.mean(new int[] {0}, true).broadcast(z.getShape()));
                                }
                                NDArray out = NDArrays.stack(new NDList(global)); // [n_layers, batch, pos, head_index, d_head]
                                out.attach(m);
                                return out;
                            }
                        })));
                got.close();
                return failure;
            }
        });
    }

    /** Every layer's template means stacked, as ARENA's {@code means} tensor, owned by {@code m}. */
    static NDArray means(MeanAblation ablation, NDManager m) {
        List<NDArray> perLayer = new ArrayList<>();
        for (int l = 0; l < ablation.model().cfg().nLayers(); l++) {
            perLayer.add(ablation.means(l)); // [batch, pos, head_index, d_head]
        }
        NDArray stacked = NDArrays.stack(new NDList(perLayer)); // [n_layers, batch, pos, head_index, d_head]
        stacked.attach(m);
        return stacked;
    }

    /** A layer of a keep mask as a boolean [batch, pos, head_index] array. */
    static NDArray mask(NDManager m, MeanAblation.KeepMask mask, int layer) {
        return m.create(mask.keep()[layer], new Shape(mask.batch(), mask.pos(), mask.nHeads()));
    }

    /** {@code hookFnMaskZ(z, hook, keep, means)} -> z with every entry not kept replaced by the mean. */
    @FunctionalInterface
    public interface MaskZFn {
        NDArray apply(NDArray z, HookPoint hook, Map<Integer, NDArray> keep, NDArray means);
    }

    /**
     * ARENA's {@code hook_fn_mask_z}, hooked on every {@code hook_z} while the IOI prompts run with
     * the circuit kept: the per-prompt logit differences against {@link MeanAblation}'s.
     */
    public static Result hookFnMaskZ(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset, Circuit circuit,
            MaskZFn fn) {
        String name = "hookFnMaskZ";
        return run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager();
                    MeanAblation ablation = MeanAblation.byTemplate(model, batch, meansDataset)) {
                MeanAblation.KeepMask keepMask = ablation.keep(circuit);
                int layers = model.cfg().nLayers();
                Map<Integer, NDArray> keep = new HashMap<>();
                for (int l = 0; l < layers; l++) {
                    keep.put(l, mask(m, keepMask, l));
                }
                NDArray means = means(ablation, m); // [n_layers, batch, pos, head_index, d_head]
                NDArray tokens = batch.tokens(m);
                NDArray expected;
                try (var scope = ablation.keeping(circuit)) {
                    expected = Metrics.logitDiff(model.forward(tokens), batch, m); // [batch]
                }
                String what = name + " hooked on every hook_z";
                Hook hook = Hook.matching(n -> n.endsWith("attn.hook_z"),
                        (z, hp) -> call(name + "(z, hook, keep, means) at " + hp.name(), () -> fn.apply(z, hp, keep, means)));
                NDArray got;
                try {
                    got = Metrics.logitDiff(model.runWithHooks(tokens, hook), batch, m); // [batch]
                } catch (LearnerError | NotImplemented e) {
                    throw e;
                } catch (RuntimeException e) { // the model refused what the hook returned (shape, dtype)
                    throw new LearnerError("the model run with your hook threw " + e.getClass().getSimpleName() + ": "
                            + e.getMessage());
                }
                String failure = compare("the logit differences with " + what, expected, got, List.of(
                        new Mistake("swap z and the means (ablate the circuit, keep the rest)", () -> {
                            MeanAblation.KeepMask inverse = invert(keepMask);
                            try (var scope = ablation.hooks(inverse)) {
                                return Metrics.logitDiff(model.forward(tokens), batch, m);
                            }
                        }),
                        new Mistake("return z unchanged", () -> Metrics.logitDiff(model.forward(tokens), batch, m))));
                return failure;
            }
        });
    }

    private static MeanAblation.KeepMask invert(MeanAblation.KeepMask k) {
        boolean[][] inv = new boolean[k.keep().length][];
        for (int l = 0; l < inv.length; l++) {
            inv[l] = new boolean[k.keep()[l].length];
            for (int i = 0; i < inv[l].length; i++) {
                inv[l][i] = !k.keep()[l][i];
            }
        }
        return new MeanAblation.KeepMask("not " + k.label(), inv, k.batch(), k.pos(), k.nHeads());
    }

    /** Rows 0..n-1 as an index array, for {@code a[arange(N), idx]}: {@code a.get(new NDIndex("{}, {}", rows, idx))}. */
    public static NDArray rows(NDManager manager, int n) {
        return manager.arange(0, n, 1, DataType.INT64);
    }
}
