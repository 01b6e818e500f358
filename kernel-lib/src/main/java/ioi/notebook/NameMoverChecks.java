package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIWords;
import ioi.experiments.ActivationPatching;
import ioi.experiments.CopyingScores;
import ioi.experiments.Grid;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.experiments.LogitAttribution;
import ioi.experiments.Metrics;
import ioi.experiments.PatchingMetric;
import ioi.experiments.PatchingResult;
import ioi.experiments.PathPatching;
import ioi.experiments.WritingDirection;
import ioi.lens.ActivationCache;
import ioi.lens.HookNames;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The checks of the exercises in notebook 02 (name movers): direct logit attribution, path patching to the
 * logits, the writing direction, copying scores.
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
                "ARENA's S points use the attention from END to S1 (batch.s1()), not S2."),
            "residualStackToLogitDiff", List.of(
                "cache.applyLnToStackAtPositions(residualStack, null, false, batch.end()) divides each prompt's vector by "
                        + "ln_final's cached scale at its end (ARENA's apply_ln_to_stack(stack, layer=-1, pos_slice=-1)).",
                "Then the dot product with each prompt's direction, scaled.mul(logitDiffDirections).sum(new int[] {-1}), "
                        + "is [components, batch]; average over the prompts: .mean(new int[] {-1})."),
            "patchOrFreezeHeadVectors", List.of(
                "Start from a copy of origCache.get(hook.name()): every head frozen to its value on the original prompts.",
                "Only when hook.layer() == headToPatch.layer(): copy head headToPatch.head() from newCache, "
                        + "frozen.set(new NDIndex(\":, :, {}\", head), newZ.get(new NDIndex(\":, :, {}\", head)))."),
            "getPathPatchHeadToFinalResidPost", List.of(
                "One forward per sender (layer, head): model.runWithHooks(origTokens, Hook.matching(n -> n.endsWith(\"hook_z\"), "
                        + "(z, hook) -> patchOrFreezeHeadVectors(z, hook, newCache, origCache, sender))).",
                "Every head is frozen, so the run's own logits are ARENA's unembedded resid_post: score them with "
                        + "patchingMetric.applyAsDouble(logits), then close them.",
                "The result is [n_layers, n_heads], layer-major: values[layer * nHeads + head]."),
            "getCopyingScores", List.of(
                "Name tokens: model.tokenizer().encode(name, false)[0] (bare, as to_tokens(NAMES, prepend_bos=False)); "
                        + "embeddings model.W_E().get(new NDIndex(\"{}\", ids)) [names, d_model].",
                "After MLP0: resid = embed.add(model.mlpOut(0, embed)); a head's OV circuit W_V W_O: model.OV(layer, head) "
                        + "[d_model, d_model]. Inside try (NDScope scope = new NDScope()) { ... } every intermediate is freed.",
                "Logits: model.lnFinal(resid.matMul(wOv)).matMul(model.W_U()).add(model.b_U()) (negate wOv for the negative "
                        + "score, before the unembedding). In the top k: fewer than k logits strictly above the name's own "
                        + "(logits.gt(own.expandDims(-1)).sum(new int[] {-1}).lt(k)).",
                "ARENA skips layer 0 and stores layer L at row L - 1 of [2, n_layers, n_heads]: the last row stays 0."));

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

    // ---------------------------------------------------------------- direct logit attribution

    /** {@code residualStackToLogitDiff(residualStack [components, batch, d_model], cache, batch, logitDiffDirections [batch, d_model])} -> [components]. */
    @FunctionalInterface
    public interface ResidualStackFn {
        NDArray apply(NDArray residualStack, ActivationCache cache, IoiBatch batch, NDArray logitDiffDirections);
    }

    /**
     * ARENA's {@code residual_stack_to_logit_diff} on every head's output at each prompt's
     * {@code end} ({@code stack_head_results}), against {@link LogitAttribution#byHead}.
     */
    public static Check.Result residualStackToLogitDiff(HookedTransformer model, ActivationCache cache, IoiBatch batch,
            ResidualStackFn fn) {
        String name = "residualStackToLogitDiff";
        return Check.run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager()) {
                LogitAttribution.Attribution ref = LogitAttribution.byHead(model, cache, batch);
                NDArray expected = ref.mean().reshape(ref.mean().size()).toNDArray(m); // [n_layers * n_heads]
                NDArray heads = cache.stackHeadResults(null, false, false).stack(); // [components, batch, pos, d_model]
                NDArray atEnd = cache.atPositions(heads, batch.end()); // [components, batch, d_model]
                heads.close();
                NDArray stack = atEnd.duplicate(); // [components, batch, d_model]
                stack.attach(m);
                atEnd.close();
                NDArray wUt = model.W_U().transpose(); // [d_vocab, d_model]
                wUt.attach(m); // so that what is taken from it is freed with m
                NDArray directions = wUt.get(new NDIndex("{}", m.create(batch.ioTokenIds())))
                        .sub(wUt.get(new NDIndex("{}", m.create(batch.sTokenIds())))); // [batch, d_model]
                directions.attach(m);
                String what = name + "(every head's output at end, cache, batch, directions)";
                NDArray got = Check.call(what, () -> fn.apply(stack, cache, batch, directions));
                String failure = Check.compare(what, expected, got, List.of(
                        new Check.Mistake("leave out ln_final's scale (cache.applyLnToStackAtPositions)",
                                () -> stack.mul(directions).sum(new int[] {-1}).mean(new int[] {-1})),
                        new Check.Mistake("sum over the prompts instead of averaging", () -> expected.mul(batch.size())),
                        new Check.Mistake("use S - IO instead of IO - S", expected::neg)));
                got.close();
                return failure;
            }
        });
    }

    // ---------------------------------------------------------------- path patching: heads -> logits

    /** {@code patchOrFreezeHeadVectors(origHeadVector [batch, pos, head_index, d_head], hook, newCache, origCache, headToPatch)}. */
    @FunctionalInterface
    public interface PatchOrFreezeFn {
        NDArray apply(NDArray origHeadVector, HookPoint hook, ActivationCache newCache, ActivationCache origCache,
                Head headToPatch);
    }

    /**
     * ARENA's {@code patch_or_freeze_head_vectors} at {@code hook_z} of two layers, with the
     * sender in that layer and in another: every head frozen to {@code origCache}, the sender from
     * {@code newCache}. The activation passed in is neither (as in a pass where earlier layers
     * changed), so a hook that does not freeze shows.
     */
    public static Check.Result patchOrFreezeHeadVectors(HookedTransformer model, IoiBatch batch, PatchOrFreezeFn fn) {
        String name = "patchOrFreezeHeadVectors";
        return Check.run(name, () -> {
            int layers = model.cfg().nLayers();
            try (NDManager m = model.resultManager().newSubManager();
                    ActivationCache origCache = model.runWithCache(batch.tokens(m), n -> n.endsWith("hook_z"));
                    ActivationCache newCache = model.runWithCache(batch.abcTokens(m), n -> n.endsWith("hook_z"))) {
                int layer = layers - 1;
                int head = model.cfg().nHeads() - 1;
                String hookName = HookNames.getActName("z", layer);
                HookPoint hook = model.hookPoint(hookName);
                NDArray orig = origCache.get(hookName); // [batch, pos, head_index, d_head]
                NDArray fresh = newCache.get(hookName); // [batch, pos, head_index, d_head]
                NDArray incoming = orig.add(fresh).div(2); // [batch, pos, head_index, d_head]
                incoming.attach(m);
                for (Head sender : List.of(new Head(layer, head), new Head(0, head))) {
                    String what = name + "(z of layer " + layer + ", hook, newCache, origCache, " + sender + ")";
                    NDArray expected = patchedHead(orig, fresh, sender.layer() == layer ? head : -1); // [batch, pos, head_index, d_head]
                    expected.attach(m);
                    NDArray got = Check.call(what, () -> fn.apply(incoming.duplicate(), hook, newCache, origCache, sender));
                    String failure = Check.compare(what, expected, got, List.of(
                            new Check.Mistake("leave the other heads as they came (freeze them to origCache)", () -> {
                                NDArray a = patchedHead(incoming, fresh, sender.layer() == layer ? head : -1);
                                a.attach(m);
                                return a;
                            }),
                            new Check.Mistake("patch the sender's head index in every layer (check hook.layer() == "
                                    + "headToPatch.layer())", () -> {
                                NDArray a = patchedHead(orig, fresh, head);
                                a.attach(m);
                                return a;
                            }),
                            new Check.Mistake("patch every head from newCache", () -> fresh)));
                    got.close();
                    if (failure != null) {
                        return failure;
                    }
                }
                return null;
            }
        });
    }

    /** {@code base} with head {@code head} from {@code from} (none if -1), a new array. */
    private static NDArray patchedHead(NDArray base, NDArray from, int head) {
        NDArray out = base.duplicate(); // [batch, pos, head_index, d_head]
        if (head >= 0) {
            NDIndex at = new NDIndex(":, :, {}", head);
            out.set(at, from.get(at));
        }
        return out;
    }

    /** {@code getPathPatchHeadToFinalResidPost(model, patchingMetric, origTokens, newCache, origCache)} -> [n_layers, n_heads]. */
    @FunctionalInterface
    public interface PathPatchToLogitsFn {
        NDArray apply(HookedTransformer model, ToDoubleFunction<NDArray> patchingMetric, NDArray origTokens,
                ActivationCache newCache, ActivationCache origCache);
    }

    /**
     * ARENA's {@code get_path_patch_head_to_final_resid_post} on the first
     * {@link Check#LOOP_PROMPTS} prompts (orig = the IOI prompts, new = ABC, {@code ioi_metric_2}) against {@link PathPatching#toFinalResid()} with
     * {@link PathPatching.Options#arena()}.
     */
    public static Check.Result getPathPatchHeadToFinalResidPost(HookedTransformer model, IoiBatch fullBatch,
            PathPatchToLogitsFn fn) {
        String name = "getPathPatchHeadToFinalResidPost";
        return Check.run(name, () -> {
            IoiBatch batch = Check.loopBatch(fullBatch);
            try (NDManager m = model.resultManager().newSubManager();
                    PathPatching ref = PathPatching.arena(model, batch);
                    ActivationCache origCache = model.runWithCache(batch.tokens(m), n -> n.endsWith("hook_z"));
                    ActivationCache newCache = model.runWithCache(batch.abcTokens(m), n -> n.endsWith("hook_z"))) {
                PatchingResult grid = ref.toFinalResid();
                NDArray expected = grid.toNDArray(m); // [n_layers, n_heads]
                PatchingMetric metric = Metrics.metric2(batch, ref.cleanLogitDiff(), ref.abcLogitDiff());
                NDArray origTokens = batch.tokens(m); // [batch, pos]
                String what = name + "(model, ioiMetric2, origTokens, newCache, origCache) on the first " + batch.size()
                        + " prompts";
                NDArray got = Check.call(what, () -> fn.apply(model, logits -> Metrics.score(metric, logits), origTokens,
                        newCache, origCache));
                String failure = Check.compare(what, expected, got, List.of(
                        new Check.Mistake("do not freeze the other heads (that is activation patching of each head's "
                                + "output, its direct and indirect effect)", () -> {
                            try (ActivationCache abc = model.runWithCache(batch.abcTokens(m));
                                    ActivationPatching patching = ActivationPatching.create(model, origTokens, abc, metric)) {
                                PatchingResult all = patching.headOutAllPos();
                                return all.toNDArray(m);
                            }
                        }),
                        new Check.Mistake("patch the sender from origCache (nothing changes: every cell is 0)",
                                () -> m.zeros(expected.getShape()))));
                got.close();
                return failure;
            }
        });
    }

    // ---------------------------------------------------------------- copying scores

    /** {@code getCopyingScores(model, k, names)} -> [2, n_layers, n_heads] in ARENA 3.0's layout. */
    @FunctionalInterface
    public interface CopyingScoresFn {
        NDArray apply(HookedTransformer model, int k, List<String> names);
    }

    /**
     * ARENA 3.0's {@code get_copying_scores} (k = 5, its {@code NAMES}) against
     * {@link CopyingScores#compute}, in ARENA's layout: layer L at row L - 1, the last row 0.
     */
    public static Check.Result getCopyingScores(HookedTransformer model, CopyingScoresFn fn) {
        String name = "getCopyingScores";
        return Check.run(name, () -> {
            try (NDManager m = model.resultManager().newSubManager()) {
                CopyingScores.Result ref = CopyingScores.compute(model);
                NDArray expected = arenaLayout(ref.scores(), m); // [2, n_layers, n_heads]
                String what = name + "(model, 5, NAMES)";
                NDArray got = Check.call(what, () -> fn.apply(model, 5, IOIWords.NAMES));
                String failure = Check.compare(what, expected, got, List.of(
                        new Check.Mistake("store layer L at row L (ARENA leaves layer 0 out and puts layer L at row L - 1)",
                                () -> ref.scores().toNDArray(m)),
                        new Check.Mistake("tokenize the names with a leading space (ARENA's to_tokens(NAMES, "
                                + "prepend_bos=False) has none)", () -> {
                            CopyingScores.Result spaced = CopyingScores.compute(model, CopyingScores.Options.defaults().leadingSpace(true));
                            return arenaLayout(spaced.scores(), m);
                        })));
                got.close();
                return failure;
            }
        });
    }

    /** Scores [2, n_layers, n_heads] with layer L at row L as ARENA stores them: row L - 1, last row 0. */
    private static NDArray arenaLayout(Grid scores, NDManager m) {
        Shape s = scores.shape();
        int layers = (int) s.get(1);
        int heads = (int) s.get(2);
        float[] in = scores.toFloatArray();
        float[] out = new float[in.length];
        for (int sign = 0; sign < 2; sign++) {
            for (int l = 1; l < layers; l++) {
                System.arraycopy(in, (sign * layers + l) * heads, out, (sign * layers + l - 1) * heads, heads);
            }
        }
        return m.create(out, s);
    }
}
