package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIDataset;
import ioi.experiments.Circuit;
import ioi.experiments.IoiBatch;
import ioi.experiments.MeanAblation;
import ioi.experiments.Metrics;
import ioi.lens.ActivationCache;
import ioi.lens.Hook;
import ioi.lens.HookPoint;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The checks of the exercises in notebook 06 (circuit evaluation by mean ablation).
 * The verdicts, the comparison and {@link Check#hint} are {@link Check}'s.
 */
public final class CircuitChecks {

    private CircuitChecks() {}

    /** The hints of this section's exercises ({@link Check#hint}). */
    static final Map<String, List<String>> HINTS = Map.of(
            "getHeadsAndPosnsToKeep", List.of(
                "One [batch, pos, head_index] boolean mask per layer, all false, then true where a circuit head is kept.",
                "A class is kept at circuit.positionOf(cls) (\"end\", \"S2\", ...); batch.wordIdx(key) gives that "
                        + "position for each prompt.",
                "Each prompt keeps its own position: mask[b, wordIdx[b], head] = true for every b, not every prompt's "
                        + "position in every prompt (ARENA 3.0's mask[range(batch), indices, head_idx] = 1)."),
            "computeMeansByTemplate", List.of(
                "model.runWithCache(tokens, name -> name.endsWith(\"hook_z\")) caches every layer's z [batch, pos, head_index, d_head].",
                "meansDataset.groups() lists the prompt indices of each template; z.get(new NDIndex(\"{}\", idx)).mean(new int[] {0}) "
                        + "is a group's mean [pos, head_index, d_head].",
                "Every prompt gets its group's mean: stack one per prompt (NDArrays.stack), then the layers; attach the "
                        + "result to a manager that outlives the cache (result.attach(model.resultManager()))."),
            "hookFnMaskZ", List.of(
                "keep.get(hook.layer()) is [batch, pos, head_index]; expand it to z's shape: "
                        + ".expandDims(-1).broadcast(z.getShape()) (DJL's where does not broadcast).",
                "NDArrays.where(mask, z, means.get(hook.layer())): keep z where the mask is true, the mean elsewhere."),
            "addMeanAblationHook", List.of(
                "Your three functions: means = computeMeansByTemplate(meansDataset, model), keep = "
                        + "getHeadsAndPosnsToKeep(batch, model, circuit).",
                "return model.addPermanentHook(n -> n.endsWith(\"hook_z\"), (z, hook) -> hookFnMaskZ(z, hook, keep, means)): "
                        + "the hook stays on until its scope is closed (or model.resetHooks(true))."));

    /** {@code getHeadsAndPosnsToKeep(batch, model, circuit)} -> per layer a boolean [batch, pos, head_index]. */
    @FunctionalInterface
    public interface KeepMaskFn {
        Map<Integer, NDArray> apply(IoiBatch batch, HookedTransformer model, Circuit circuit);
    }

    /** ARENA 3.0's {@code get_heads_and_posns_to_keep} (per prompt) against {@link MeanAblation#keep}. */
    public static Check.Result getHeadsAndPosnsToKeep(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset,
            Circuit circuit, KeepMaskFn fn) {
        String name = "getHeadsAndPosnsToKeep";
        return Check.run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager();
                    MeanAblation ablation = MeanAblation.byTemplate(model, batch, meansDataset)) {
                Map<Integer, NDArray> got = Check.call(name + "(batch, model, circuit)", () -> fn.apply(batch, model, circuit));
                MeanAblation.KeepMask perPrompt = ablation.keep(circuit, MeanAblation.Keep.PER_PROMPT);
                MeanAblation.KeepMask union = ablation.keep(circuit, MeanAblation.Keep.UNION);
                for (int layer = 0; layer < model.cfg().nLayers(); layer++) {
                    String what = name + "(...).get(" + layer + ")";
                    if (!got.containsKey(layer)) {
                        return "the map has no mask for layer " + layer + " (keys " + got.keySet()
                                + "); every layer needs one, all false where nothing is kept";
                    }
                    int l = layer;
                    String failure = Check.compare(what, mask(m, perPrompt, l), got.get(layer), List.of(
                            new Check.Mistake("keep every prompt's position in every prompt (mask[:, indices, head], "
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
    public static Check.Result computeMeansByTemplate(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset,
            MeansFn fn) {
        String name = "computeMeansByTemplate";
        return Check.run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager();
                    MeanAblation ablation = MeanAblation.byTemplate(model, batch, meansDataset)) {
                NDArray expected = means(ablation, m); // [n_layers, batch, pos, head_index, d_head]
                NDArray got = Check.call(name + "(meansDataset, model)", () -> fn.apply(meansDataset, model));
                String failure = Check.compare(name + "(meansDataset, model)", expected, got, List.of(
                        new Check.Mistake("average over all prompts instead of over each template group", () -> {
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
    public static Check.Result hookFnMaskZ(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset, Circuit circuit,
            MaskZFn fn) {
        String name = "hookFnMaskZ";
        return Check.run(name, () -> {
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
                Hook hook = Hook.matching(n -> n.endsWith("attn.hook_z"),
                        (z, hp) -> Check.call(name + "(z, hook, keep, means) at " + hp.name(), () -> fn.apply(z, hp, keep, means)));
                return compareAblated("the logit differences with " + name + " hooked on every hook_z", model, batch,
                        ablation, circuit, keepMask, m, () -> model.runWithHooks(tokens, hook));
            }
        });
    }

    /**
     * The per-prompt logit differences of {@code learnerRun}'s logits against the circuit kept by
     * {@link MeanAblation}, with the swapped-mask and no-ablation mistakes named.
     */
    private static String compareAblated(String what, HookedTransformer model, IoiBatch batch, MeanAblation ablation,
            Circuit circuit, MeanAblation.KeepMask keepMask, NDManager m, Supplier<NDArray> learnerRun) {
        NDArray tokens = batch.tokens(m);
        NDArray expected;
        try (var scope = ablation.keeping(circuit)) {
            expected = Metrics.logitDiff(model.forward(tokens), batch, m); // [batch]
        }
        NDArray got;
        try {
            got = Metrics.logitDiff(learnerRun.get(), batch, m); // [batch]
        } catch (Check.LearnerError | Check.NotImplemented e) {
            throw e;
        } catch (RuntimeException e) { // the model refused what the hook returned (shape, dtype)
            throw new Check.LearnerError("the model run with your hook threw " + e.getClass().getSimpleName() + ": "
                    + e.getMessage());
        }
        return Check.compare(what, expected, got, List.of(
                new Check.Mistake("swap z and the means (ablate the circuit, keep the rest)", () -> {
                    MeanAblation.KeepMask inverse = invert(keepMask);
                    try (var scope = ablation.hooks(inverse)) {
                        return Metrics.logitDiff(model.forward(tokens), batch, m);
                    }
                }),
                new Check.Mistake("return z unchanged (or add no hook)", () -> Metrics.logitDiff(model.forward(tokens), batch, m))));
    }

    /** {@code addMeanAblationHook(model, meansDataset, batch, circuit)} -> the scope of a permanent hook on every {@code hook_z}. */
    @FunctionalInterface
    public interface MeanAblationHookFn {
        HookScope apply(HookedTransformer model, IOIDataset meansDataset, IoiBatch batch, Circuit circuit);
    }

    /**
     * ARENA's {@code add_mean_ablation_hook}: with the learner's hook on, the IOI prompts' logit
     * differences against {@link MeanAblation} keeping the circuit. Like ARENA's function, the check
     * first removes every hook on the model ({@code resetHooks(true)}); afterwards it closes the
     * returned scope and removes any other hook the learner's code left on.
     */
    public static Check.Result addMeanAblationHook(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset,
            Circuit circuit, MeanAblationHookFn fn) {
        String name = "addMeanAblationHook";
        return Check.run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager();
                    MeanAblation ablation = MeanAblation.byTemplate(model, batch, meansDataset)) {
                MeanAblation.KeepMask keepMask = ablation.keep(circuit);
                NDArray tokens = batch.tokens(m);
                model.resetHooks(true); // as ARENA's add_mean_ablation_hook starts: no hook left from earlier cells
                return compareAblated("the logit differences with " + name + "'s hook on", model, batch, ablation,
                        circuit, keepMask, m, () -> {
                            HookScope scope = Check.call(name + "(model, meansDataset, batch, circuit)",
                                    () -> fn.apply(model, meansDataset, batch, circuit));
                            try {
                                return model.forward(tokens); // [batch, pos, d_vocab]
                            } finally {
                                scope.close();
                                model.resetHooks(true);
                            }
                        });
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
}
