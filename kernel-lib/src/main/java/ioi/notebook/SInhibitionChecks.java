package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import ioi.experiments.PatchingMetric;
import ioi.experiments.PatchingResult;
import ioi.experiments.PathPatching;
import ioi.lens.ActivationCache;
import ioi.lens.HookNames;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The checks of the exercises in notebook 03 (S-inhibition heads): path patching to a receiver's input.
 * The verdicts, the comparison and {@link Check#hint} are {@link Check}'s.
 */
public final class SInhibitionChecks {

    private SInhibitionChecks() {}

    /** The hints of this section's exercises ({@link Check#hint}). */
    static final Map<String, List<String>> HINTS = Map.of(
            "patchHeadInput", List.of(
                "Only the receivers in this hook's layer: headList heads with h.layer() == hook.layer().",
                "For each, origActivation.set(new NDIndex(\":, :, {}\", h.head()), patchedCache.get(hook.name()).get(same index)); "
                        + "return origActivation."),
            "getPathPatchHeadToHeads", List.of(
                "Senders are the heads of layers 0 .. (last receiver layer - 1): the result is [that layer, n_heads].",
                "Step 2, per sender: with try (HookScope s = model.addHook(n -> n.endsWith(\"hook_z\"), (z, hook) -> "
                        + "patchOrFreezeHeadVectors(z, hook, newCache, origCache, sender))), cache the receivers' inputs: "
                        + "model.runWithCache(origTokens, receiverNames::contains) with receiverNames the "
                        + "HookNames.getActName(receiverInput, layer) of the receivers' layers.",
                "Step 3: a clean run of origTokens with Hook.matching(receiverNames::contains, (act, hook) -> "
                        + "patchHeadInput(act, hook, patchedCache, receiverHeads)); score its logits, close them and the cache."));

    // ---------------------------------------------------------------- path patching: heads -> a receiver's input

    /** {@code patchHeadInput(origActivation [batch, pos, head_index, d_head], hook, patchedCache, headList)}. */
    @FunctionalInterface
    public interface PatchHeadInputFn {
        NDArray apply(NDArray origActivation, HookPoint hook, ActivationCache patchedCache, List<Head> headList);
    }

    /**
     * ARENA's {@code patch_head_input} at {@code hook_q} of the receivers' first layer: the
     * receivers of that layer from {@code patchedCache} (here the ABC run's), every other head as
     * it came.
     */
    public static Check.Result patchHeadInput(HookedTransformer model, IoiBatch batch, List<Head> receivers,
            PatchHeadInputFn fn) {
        String name = "patchHeadInput";
        return Check.run(name, () -> {
            int layer = receivers.stream().mapToInt(Head::layer).min().orElseThrow();
            String hookName = HookNames.getActName("q", layer);
            try (NDManager m = model.resultManager().newSubManager();
                    ActivationCache orig = model.runWithCache(batch.tokens(m), hookName::equals);
                    ActivationCache patched = model.runWithCache(batch.abcTokens(m), hookName::equals)) {
                HookPoint hook = model.hookPoint(hookName);
                NDArray origQ = orig.get(hookName); // [batch, pos, head_index, d_head]
                NDArray expected = withHeads(origQ, patched.get(hookName), receivers, layer, m);
                String what = name + "(q of layer " + layer + ", hook, patchedCache, " + receivers + ")";
                NDArray got = Check.call(what, () -> fn.apply(origQ.duplicate(), hook, patched, receivers));
                String failure = Check.compare(what, expected, got, List.of(
                        new Check.Mistake("return the activation unchanged", () -> origQ),
                        new Check.Mistake("patch each receiver's head index in every layer (keep those with h.layer() == "
                                + "hook.layer())", () -> withHeads(origQ, patched.get(hookName), receivers, -1, m))));
                got.close();
                return failure;
            }
        });
    }

    /** {@code base} with the heads of {@code heads} in {@code layer} (every one if -1) from {@code from}. */
    private static NDArray withHeads(NDArray base, NDArray from, List<Head> heads, int layer, NDManager m) {
        NDArray out = base.duplicate(); // [batch, pos, head_index, d_head]
        out.attach(m);
        for (Head h : heads) {
            if (layer < 0 || h.layer() == layer) {
                NDIndex at = new NDIndex(":, :, {}", h.head());
                out.set(at, from.get(at));
            }
        }
        return out;
    }

    /**
     * {@code getPathPatchHeadToHeads(receiverHeads, receiverInput, model, patchingMetric, origTokens, newCache,
     * origCache)} -> [last receiver layer, n_heads].
     */
    @FunctionalInterface
    public interface PathPatchToHeadsFn {
        NDArray apply(List<Head> receiverHeads, String receiverInput, HookedTransformer model,
                ToDoubleFunction<NDArray> patchingMetric, NDArray origTokens, ActivationCache newCache,
                ActivationCache origCache);
    }

    /**
     * ARENA's {@code get_path_patch_head_to_heads} to the receivers' {@code receiverInput} on the
     * first {@link Check#LOOP_PROMPTS} prompts (orig = the IOI prompts, new = ABC, {@code ioi_metric_2}) against {@link PathPatching#toHeads} with
     * {@link PathPatching.Options#arena()}.
     */
    public static Check.Result getPathPatchHeadToHeads(HookedTransformer model, IoiBatch fullBatch, List<Head> receivers,
            String receiverInput, PathPatchToHeadsFn fn) {
        String name = "getPathPatchHeadToHeads";
        return Check.run(name, () -> {
            IoiBatch batch = Check.loopBatch(fullBatch);
            List<Head> receiverList = new ArrayList<>(receivers);
            try (NDManager m = model.resultManager().newSubManager();
                    PathPatching ref = PathPatching.arena(model, batch);
                    ActivationCache origCache = model.runWithCache(batch.tokens(m), n -> n.endsWith("hook_z"));
                    ActivationCache newCache = model.runWithCache(batch.abcTokens(m), n -> n.endsWith("hook_z"))) {
                PatchingResult grid = ref.toHeads(receiverInput, receiverList);
                NDArray expected = grid.toNDArray(m); // [last receiver layer, n_heads]
                PatchingMetric metric = Metrics.metric2(batch, ref.cleanLogitDiff(), ref.abcLogitDiff());
                NDArray origTokens = batch.tokens(m); // [batch, pos]
                String what = name + "(" + receivers + ", \"" + receiverInput + "\", model, ioiMetric2, origTokens, newCache, "
                        + "origCache) on the first " + batch.size() + " prompts";
                NDArray got = Check.call(what, () -> fn.apply(receiverList, receiverInput, model,
                        logits -> Metrics.score(metric, logits), origTokens, newCache, origCache));
                String failure = Check.compare(what, expected, got, List.of(
                        new Check.Mistake("score the step-2 run (every head frozen) instead of step 3's run with only the "
                                + "receivers' " + receiverInput + " patched: that is path patching to the logits", () -> {
                            PatchingResult toLogits = ref.toFinalResid();
                            return toLogits.toNDArray(m).get(new NDIndex(":{}",
                                    expected.getShape().get(0)));
                        }),
                        new Check.Mistake("patch the sender from origCache (nothing changes: every cell is 0)",
                                () -> m.zeros(expected.getShape()))));
                got.close();
                return failure;
            }
        });
    }
}
