package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIWords;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.lens.ActivationCache;
import ioi.lens.Hook;
import ioi.lens.HookFunction;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import java.util.List;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * {@link NameMoverChecks}: the solution passes, the stub is not implemented, the mistakes are named.
 */
class NameMoverChecksTest extends CheckFixture {

    static NDArray embeddingVsAttn(HookedTransformer model, ActivationCache cache, IoiBatch batch, int layer, int head,
            long[] sPositions) {
        NDManager mm = cache.get("z", layer).getManager();
        int n = batch.size();
        NDArray rows = Check.rows(mm, n); // [batch]
        NDArray end = mm.create(batch.end()); // [batch]
        NDArray z = cache.get("z", layer).get(new NDIndex(":, :, {}", head)); // [batch, pos, d_head]
        NDArray output = z.matMul(model.W_O().get(new NDIndex("{}, {}", layer, head))); // [batch, pos, d_model]
        NDArray outputEnd = output.get(new NDIndex("{}, {}", rows, end)); // [batch, d_model]
        NDArray wUt = model.W_U().transpose(); // [d_vocab, d_model]
        NDArray ioUnembed = wUt.get(new NDIndex("{}", mm.create(batch.ioTokenIds()))); // [batch, d_model]
        NDArray sUnembed = wUt.get(new NDIndex("{}", mm.create(batch.sTokenIds()))); // [batch, d_model]
        NDArray projIo = outputEnd.mul(ioUnembed).sum(new int[] {-1}); // [batch]
        NDArray projS = outputEnd.mul(sUnembed).sum(new int[] {-1}); // [batch]
        NDArray pattern = cache.get("pattern", layer).get(new NDIndex(":, {}", head)); // [batch, query_pos, key_pos]
        NDArray attnIo = pattern.get(new NDIndex("{}, {}, {}", rows, end, mm.create(batch.io()))); // [batch]
        NDArray attnS = pattern.get(new NDIndex("{}, {}, {}", rows, end, mm.create(sPositions))); // [batch]
        return NDArrays.stack(new NDList(attnIo, attnS, projIo, projS)); // [4, batch]
    }

    @Test
    void writingDirection() {
        Head[] heads = {new Head(9, 9), new Head(11, 10)};
        passes(NameMoverChecks.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s1()), heads));
        stub(NameMoverChecks.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> {
            throw Check.todo();
        }, heads));
        fails(NameMoverChecks.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s2()), heads),
                "S2 instead of S1", "differs at [1,");
        fails(NameMoverChecks.embeddingVsAttn(model, cache, batch,
                (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s1()).get("0:3"), heads), "has shape (3, 8)");
    }

    // ---------------------------------------------------------------- residualStackToLogitDiff

    static NDArray residualStackToLogitDiff(NDArray stack, ActivationCache c, IoiBatch b, NDArray directions, boolean ln) {
        NDArray scaled = ln ? c.applyLnToStackAtPositions(stack, null, false, b.end()) : stack; // [components, batch, d_model]
        return scaled.mul(directions).sum(new int[] {-1}).mean(new int[] {-1}); // [components]
    }

    @Test
    void residualStack() {
        passes(NameMoverChecks.residualStackToLogitDiff(model, cache, batch,
                (s, c, b, d) -> residualStackToLogitDiff(s, c, b, d, true)));
        stub(NameMoverChecks.residualStackToLogitDiff(model, cache, batch, (s, c, b, d) -> {
            throw Check.todo();
        }));
        fails(NameMoverChecks.residualStackToLogitDiff(model, cache, batch,
                (s, c, b, d) -> residualStackToLogitDiff(s, c, b, d, false)), "ln_final's scale");
        fails(NameMoverChecks.residualStackToLogitDiff(model, cache, batch,
                (s, c, b, d) -> residualStackToLogitDiff(s, c, b, d, true).mul(b.size())), "sum over the prompts");
        fails(NameMoverChecks.residualStackToLogitDiff(model, cache, batch,
                (s, c, b, d) -> residualStackToLogitDiff(s, c, b, d.neg(), true)), "S - IO");
    }

    // ---------------------------------------------------------------- path patching: heads -> logits

    static NDArray patchOrFreezeHeadVectors(NDArray orig, HookPoint hook, ActivationCache newCache, ActivationCache origCache,
            Head sender, boolean checkLayer) {
        NDArray frozen = origCache.get(hook.name()).duplicate(); // [batch, pos, head_index, d_head]
        if (!checkLayer || sender.layer() == hook.layer()) {
            NDIndex at = new NDIndex(":, :, {}", sender.head());
            frozen.set(at, newCache.get(hook.name()).get(at));
        }
        return frozen;
    }

    @Test
    void patchOrFreeze() {
        passes(NameMoverChecks.patchOrFreezeHeadVectors(model, batch,
                (z, h, nc, oc, s) -> patchOrFreezeHeadVectors(z, h, nc, oc, s, true)));
        stub(NameMoverChecks.patchOrFreezeHeadVectors(model, batch, (z, h, nc, oc, s) -> {
            throw Check.todo();
        }));
        fails(NameMoverChecks.patchOrFreezeHeadVectors(model, batch,
                (z, h, nc, oc, s) -> patchOrFreezeHeadVectors(z, h, nc, oc, s, false)), "in every layer");
        fails(NameMoverChecks.patchOrFreezeHeadVectors(model, batch, (z, h, nc, oc, s) -> {
            NDArray out = z.duplicate();
            NDIndex at = new NDIndex(":, :, {}", s.head());
            out.set(at, nc.get(h.name()).get(at));
            return out;
        }), "freeze them to origCache");
    }

    static NDArray getPathPatchHeadToFinalResidPost(HookedTransformer model, ToDoubleFunction<NDArray> metric,
            NDArray origTokens, ActivationCache newCache, ActivationCache origCache, boolean freeze) {
        int layers = model.cfg().nLayers();
        int heads = model.cfg().nHeads();
        float[] results = new float[layers * heads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                Head sender = new Head(l, h);
                HookFunction fn = freeze ? (z, hook) -> patchOrFreezeHeadVectors(z, hook, newCache, origCache, sender, true)
                        : (z, hook) -> {
                            if (hook.layer() == sender.layer()) {
                                NDIndex at = new NDIndex(":, :, {}", sender.head());
                                z.set(at, newCache.get(hook.name()).get(at));
                            }
                            return z;
                        };
                NDArray logits = model.runWithHooks(origTokens, Hook.matching(n -> n.endsWith("hook_z"), fn)); // [batch, pos, d_vocab]
                results[l * heads + h] = (float) metric.applyAsDouble(logits);
                logits.close();
            }
        }
        return model.resultManager().create(results, new Shape(layers, heads)); // [n_layers, n_heads]
    }

    @Test
    void pathPatchToLogits() {
        passes(NameMoverChecks.getPathPatchHeadToFinalResidPost(model, batch,
                (mo, metric, t, nc, oc) -> getPathPatchHeadToFinalResidPost(mo, metric, t, nc, oc, true)));
        stub(NameMoverChecks.getPathPatchHeadToFinalResidPost(model, batch, (mo, metric, t, nc, oc) -> {
            throw Check.todo();
        }));
        fails(NameMoverChecks.getPathPatchHeadToFinalResidPost(model, batch,
                (mo, metric, t, nc, oc) -> getPathPatchHeadToFinalResidPost(mo, metric, t, nc, oc, false)),
                "do not freeze the other heads");
        fails(NameMoverChecks.getPathPatchHeadToFinalResidPost(model, batch,
                (mo, metric, t, nc, oc) -> getPathPatchHeadToFinalResidPost(mo, metric, t, oc, oc, true)),
                "from origCache");
    }

    // ---------------------------------------------------------------- getCopyingScores

    /** The notebook's solution, with every layer at its own row when {@code arenaRows} is false. */
    static NDArray getCopyingScores(HookedTransformer model, int k, List<String> names, boolean arenaRows) {
        int layers = model.cfg().nLayers();
        int heads = model.cfg().nHeads();
        long[] ids = names.stream().mapToLong(n -> model.tokenizer().encode(n, false)[0]).toArray();
        float[] scores = new float[2 * layers * heads]; // [2, n_layers, n_heads]
        try (NDScope scope = new NDScope()) {
            NDManager mm = model.resultManager();
            NDArray idx = mm.create(ids); // [names]
            NDArray rows = mm.arange(0, ids.length, 1, DataType.INT64); // [names]
            NDArray embed = model.W_E().get(new NDIndex("{}", idx)); // [names, d_model]
            NDArray resid = embed.add(model.mlpOut(0, embed)); // [names, d_model]
            for (int l = arenaRows ? 1 : 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    NDArray ov = model.OV(l, h); // [d_model, d_model]
                    for (int sign = 0; sign < 2; sign++) {
                        NDArray out = resid.matMul(sign == 0 ? ov : ov.neg()); // [names, d_model]
                        NDArray logits = model.lnFinal(out).matMul(model.W_U()).add(model.b_U()); // [names, d_vocab]
                        NDArray own = logits.get(new NDIndex("{}, {}", rows, idx)); // [names]
                        NDArray inTop = logits.gt(own.expandDims(-1)).sum(new int[] {-1}).lt(k); // [names]
                        int row = arenaRows ? l - 1 : l;
                        scores[(sign * layers + row) * heads + h] = inTop.toType(DataType.FLOAT32, false).mean().getFloat();
                    }
                }
            }
        }
        return model.resultManager().create(scores, new Shape(2, layers, heads));
    }

    @Test
    void copyingScores() {
        // One learner's run (about 40 s on this checkpoint: 2 x 144 unembeddings of 109 names): every layer at its own
        // row; ARENA's layout is the same rows shifted up, which is the solution, and the unshifted one the mistake.
        NDArray everyLayer = getCopyingScores(model, 5, IOIWords.NAMES, false); // [2, n_layers, n_heads]
        NDArray arena = everyLayer.zerosLike();
        arena.set(new NDIndex(":, :-1"), everyLayer.get(":, 1:"));
        passes(NameMoverChecks.getCopyingScores(model, (mo, k, names) -> arena.duplicate()));
        stub(NameMoverChecks.getCopyingScores(model, (mo, k, names) -> {
            throw Check.todo();
        }));
        fails(NameMoverChecks.getCopyingScores(model, (mo, k, names) -> everyLayer.duplicate()), "at row L");
        everyLayer.close();
        arena.close();
    }
}
