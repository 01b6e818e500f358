package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ioi.experiments.ActivationPatching;
import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import ioi.experiments.PatchingMetric;
import ioi.experiments.PatchingResult;
import ioi.lens.ActivationCache;
import ioi.lens.HookNames;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.ToDoubleFunction;

/**
 * The checks of the exercises in notebook 01 (the task, and activation patching by hand).
 * The verdicts, the comparison and {@link Check#hint} are {@link Check}'s.
 */
public final class TaskChecks {

    private TaskChecks() {}

    /** The hints of this section's exercises ({@link Check#hint}). */
    static final Map<String, List<String>> HINTS = Map.of(
            "logitsToAveLogitDiff", List.of(
                "The answer is read at the last position: logits.get(\":, -1, :\") is [batch, d_vocab].",
                "finalLogits.gather(answerTokens, 1) picks each prompt's two answer logits: [batch, 2] (column 0 = IO, 1 = S).",
                "IO minus S, one value per prompt; .mean() when perPrompt is false."),
            "patchResidualComponent", List.of(
                "new NDIndex(\":, {}, :\", pos) is [:, pos, :]; cleanCache.get(hook.name()) is the clean run's value at this hook.",
                "corrupted.set(index, clean.get(index)) writes in place, as corrupted[:, pos, :] = clean[:, pos, :]; then "
                        + "return the (edited) corrupted array."),
            "getActPatchResidPre", List.of(
                "One forward per (layer, position): model.runWithHooks(corruptedTokens, Hook.of(HookNames.getActName("
                        + "\"resid_pre\", layer), (act, hook) -> patchResidualComponent(act, hook, position, cleanCache))).",
                "patchingMetric.applyAsDouble(logits) scores a run; close the logits after (they belong to the tokens' manager).",
                "Collect the scores in a float[n_layers * pos] and return model.resultManager().create(values, new Shape("
                        + "nLayers, pos)); patch the clean activation into the corrupted run, not the other way round."));

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

    // ---------------------------------------------------------------- activation patching by hand

    /** {@code patchResidualComponent(corruptedResidualComponent [batch, pos, d_model], hook, pos, cleanCache)}. */
    @FunctionalInterface
    public interface PatchResidualFn {
        NDArray apply(NDArray corruptedResidualComponent, HookPoint hook, int pos, ActivationCache cleanCache);
    }

    /**
     * ARENA's {@code patch_residual_component}, called on the ABC run's {@code resid_pre} of the
     * first, a middle and the last layer at positions 0 and 2: equal to it with {@code [:, pos, :]}
     * from {@code cleanCache}, the rest untouched.
     */
    public static Check.Result patchResidualComponent(HookedTransformer model, IoiBatch batch, ActivationCache cleanCache,
            PatchResidualFn fn) {
        String name = "patchResidualComponent";
        return Check.run(name, () -> {
            int layers = model.cfg().nLayers();
            try (NDManager m = model.resultManager().newSubManager();
                    ActivationCache corrupted = model.runWithCache(batch.abcTokens(m), n -> n.endsWith("hook_resid_pre"))) {
                for (int layer : new int[] {0, layers / 2, layers - 1}) {
                    String hookName = HookNames.getActName("resid_pre", layer);
                    HookPoint hook = model.hookPoint(hookName);
                    NDArray clean = cleanCache.get(hookName); // [batch, pos, d_model]
                    if (clean == null) {
                        throw new IllegalArgumentException("cleanCache has no " + hookName + ": cache the clean run with "
                                + "model.runWithCache(tokens) (every hook)");
                    }
                    NDArray corruptedAct = corrupted.get(hookName); // [batch, pos, d_model]
                    for (int pos : new int[] {0, 2}) {
                        int p = pos;
                        NDIndex at = new NDIndex(":, {}, :", pos);
                        NDArray expected = corruptedAct.duplicate(); // [batch, pos, d_model]
                        NDArray cleanAt = clean.get(at); // [batch, d_model], in the clean cache's manager
                        cleanAt.attach(m);
                        expected.set(at, cleanAt);
                        String what = name + "(corrupted " + hookName + ", hook, " + pos + ", cleanCache)";
                        NDArray got = Check.call(what, () -> fn.apply(corruptedAct.duplicate(), hook, p, cleanCache));
                        String failure = Check.compare(what, expected, got, List.of(
                                new Check.Mistake("return the corrupted activation unchanged", () -> corruptedAct),
                                new Check.Mistake("patch every position, not only pos", () -> clean),
                                new Check.Mistake("patch position pos + 1 (an off-by-one)", () -> {
                                    NDArray shifted = corruptedAct.duplicate();
                                    NDIndex next = new NDIndex(":, {}, :", p + 1);
                                    NDArray cleanNext = clean.get(next); // [batch, d_model]
                                    cleanNext.attach(m);
                                    shifted.set(next, cleanNext);
                                    return shifted;
                                })));
                        if (failure != null) {
                            return failure;
                        }
                    }
                }
                return null;
            }
        });
    }

    /** {@code getActPatchResidPre(model, corruptedTokens [batch, pos], cleanCache, patchingMetric)} -> [n_layers, pos]. */
    @FunctionalInterface
    public interface ActPatchResidPreFn {
        NDArray apply(HookedTransformer model, NDArray corruptedTokens, ActivationCache cleanCache,
                ToDoubleFunction<NDArray> patchingMetric);
    }

    /**
     * ARENA's {@code get_act_patch_resid_pre} on the first {@link Check#LOOP_PROMPTS} prompts: their
     * ABC versions corrupted, a cache of the clean ones, scored by ARENA's normalised
     * {@code ioi_metric} (0 = ABC level, 1 = clean), against {@link ActivationPatching#residPre()}.
     * Positions after the last prompt's {@code end} cannot change the logits there (the model is
     * causal): the library does not run them, and their expected value is the unpatched corrupted
     * run's metric.
     */
    public static Check.Result getActPatchResidPre(HookedTransformer model, IoiBatch batch, ActPatchResidPreFn fn) {
        String name = "getActPatchResidPre";
        return Check.run(name, () -> {
            IoiBatch sub = Check.loopBatch(batch);
            try (NDManager m = model.resultManager().newSubManager();
                    ActivationCache cleanCache = model.runWithCache(sub.tokens(m))) {
                NDArray cleanTokens = sub.tokens(m); // [batch, pos]
                NDArray abcTokens = sub.abcTokens(m); // [batch, pos]
                double cleanLd = Metrics.logitDiff(model.forward(cleanTokens), sub, m).mean().getFloat();
                double abcLd = Metrics.logitDiff(model.forward(abcTokens), sub, m).mean().getFloat();
                PatchingMetric metric = Metrics.normalisedMetric(sub, cleanLd, abcLd);
                NDArray expected = residPreGrid(model, abcTokens, cleanCache, metric, sub.seqLen(), m); // [n_layers, pos]
                String what = name + "(model, corruptedTokens, cleanCache, ioiMetric) on the first " + sub.size() + " prompts";
                NDArray got = Check.call(what, () -> fn.apply(model, abcTokens, cleanCache,
                        logits -> Metrics.score(metric, logits)));
                String failure = Check.compare(what, expected, got, List.of(
                        new Check.Mistake("patch the corrupted activations into the clean run (the wrong direction)", () -> {
                            try (ActivationCache abcCache = model.runWithCache(abcTokens, n -> n.endsWith("hook_resid_pre"))) {
                                return residPreGrid(model, cleanTokens, abcCache, metric, sub.seqLen(), m);
                            }
                        }),
                        new Check.Mistake("patch from the corrupted run's own cache (nothing changes: every cell is 0)",
                                () -> m.zeros(expected.getShape()))));
                got.close();
                return failure;
            }
        });
    }

    /** The library's resid_pre grid of {@code tokens} patched from {@code cache}, [n_layers, seqLen], in {@code m}. */
    private static NDArray residPreGrid(HookedTransformer model, NDArray tokens, ActivationCache cache, PatchingMetric metric,
            int seqLen, NDManager m) {
        int layers = model.cfg().nLayers();
        try (ActivationPatching patching = ActivationPatching.create(model, tokens, cache, metric)) {
            PatchingResult grid = patching.residPre();
            float[] run = grid.toFloatArray(); // [n_layers, cut], cut = last end + 1
            int cut = (int) grid.shape().get(1);
            float[] full = new float[layers * seqLen];
            for (int l = 0; l < layers; l++) {
                for (int p = 0; p < seqLen; p++) {
                    full[l * seqLen + p] = p < cut ? run[l * cut + p] : (float) patching.baseline();
                }
            }
            return m.create(full, new Shape(layers, seqLen));
        }
    }
}
