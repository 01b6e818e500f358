package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ioi.lens.GPT2Config;
import ioi.lens.Hook;
import ioi.lens.HookNames;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntFunction;

/**
 * The batched run the patching experiments are clients of ({@link ActivationPatching}, {@link
 * MeanAblation}, {@link PathPatching}'s pass to receiver heads): many variants of one batch of
 * prompts in one forward pass. docs/engine.md describes it for the next engineer.
 *
 * <p>What it does: the batch is repeated along the batch axis, one copy per variant (a grid cell,
 * an ablation mask, a sender); the copies run from a start layer, block by block (one block's
 * intermediates alive at a time), with a list of {@link Edit}s per hook (per copy a mask, and a
 * source the masked entries take) and the client's own hooks; the final residual stream is read
 * at one position per prompt and handed to the client's readout (usually a {@link Readout}: the
 * final LayerNorm and the unembedding at those positions and columns only).
 *
 * <p>How it saves work, exactly:
 * <ul>
 *   <li>the run starts at the first layer a variant changes, from the unchanged run's residual
 *       stream there (everything before is that run);
 *   <li>only positions up to the last one read run (attention is causal);
 *   <li>with a {@link Prefix}, only positions from {@code from} on run: the earlier ones are the
 *       same in every copy, and their keys and values come from a cache. Each head's output is the
 *       two partial softmaxes merged ({@code z = w_run z_run + w_pre z_pre}, weights from each
 *       part's log-sum-exp, as flash attention merges blocks);
 *   <li>when nothing is hooked in the last block, it runs only at the positions read
 *       ({@link HookedTransformer#blockAt}: keys and values at every position, the rest at one).
 * </ul>
 * The client chunks its variants so that {@code copies * batch * positions} stays under its token
 * cap, and reports progress; this class runs one chunk.
 */
final class BatchedRun {

    /**
     * One edit of a hook's activation: copy k takes {@code source} where {@code mask[k]} is true.
     *
     * @param hook the hook point's name
     * @param mask BOOLEAN [copies, ...] over the activation of one copy of the batch ([batch, ...]
     *     of the positions run; axes of size 1 broadcast)
     * @param source [1 | copies, batch, ...] over the positions run
     */
    record Edit(String hook, NDArray mask, NDArray source) {}

    /**
     * Positions [0, from) that are the same in every copy (the unchanged run's): per layer their
     * keys and values, [batch, >= from, head_index, d_head].
     */
    record Prefix(long from, IntFunction<NDArray> keys, IntFunction<NDArray> values) {}

    /**
     * Where a run starts, the same in every copy.
     *
     * @param layer the first layer run; -1 for the tokens (the embeddings are run, with any edits)
     * @param input tokens [batch, pos], or the residual stream entering {@code layer}
     *     [batch, pos, d_model] (positions [from, from + pos))
     * @param z null, or the unedited heads' outputs of {@code layer} [batch, pos, head_index, d_head]:
     *     then the run starts at that layer's {@code hook_z}, whose edits are applied directly (the
     *     layer's attention is not recomputed); every edit and hook in the layer must then be on
     *     {@code hook_z}
     */
    record Start(int layer, NDArray input, NDArray z) {
        static Start tokens(NDArray tokens) {
            return new Start(-1, tokens, null);
        }

        static Start residPre(int layer, NDArray resid) {
            return new Start(layer, resid, null);
        }

        static Start z(int layer, NDArray residPre, NDArray z) {
            return new Start(layer, residPre, z);
        }
    }

    private final HookedTransformer model;
    private final GPT2Config cfg;
    private final long batch;
    private final long[] readAt; // [batch]: the position read in each prompt

    /**
     * @param batch prompts per copy
     * @param readAt per prompt the position the readout reads (e.g. END)
     */
    BatchedRun(HookedTransformer model, long batch, long[] readAt) {
        this.model = model;
        this.cfg = model.cfg();
        this.batch = batch;
        this.readAt = readAt.clone();
        if (readAt.length != batch) {
            throw new IllegalArgumentException(readAt.length + " read positions for a batch of " + batch + " prompts");
        }
    }

    /**
     * Runs {@code copies} copies of the batch.
     *
     * @param at where the run starts
     * @param prefix the positions before the ones run, or null (then the run starts at position 0)
     * @param hooks the client's hooks, run before the edits (for example knock-outs); they see
     *     [copies * batch, pos, ...]
     * @param edits the patches, in order; edits of one hook apply in the order given
     * @param readout the readout of the final residual stream at each prompt's read position,
     *     [copies, batch, d_model] (alive only during the call)
     * @param scratch the manager the run's arrays live in while it runs
     */
    <T> T run(int copies, Start at, Prefix prefix, List<Hook> hooks, List<Edit> edits,
            Function<NDArray, T> readout, NDManager scratch) {
        int start = at.layer();
        NDArray input = at.input();
        int last = cfg.nLayers() - 1;
        long from = prefix == null ? 0 : prefix.from();
        if (start < 0 && from > 0) {
            throw new IllegalArgumentException("a run from the tokens starts at position 0, not " + from);
        }
        // The last block at the read positions only: when nothing the client hooks or edits is in it.
        String lastPrefix = "blocks." + last + ".";
        boolean lastHooked = hooks.stream().anyMatch(h -> h.name() == null || h.name().startsWith(lastPrefix))
                || edits.stream().anyMatch(e -> e.hook().startsWith(lastPrefix));
        boolean lastAtRead = start < last && !lastHooked;
        int stop = lastAtRead ? last : cfg.nLayers();
        String startZ = at.z() == null ? null : HookNames.getActName("z", start);
        if (startZ != null) {
            String layerPrefix = "blocks." + start + ".";
            boolean other = hooks.stream().anyMatch(h -> h.name() == null || h.name().startsWith(layerPrefix))
                    || edits.stream().anyMatch(e -> e.hook().startsWith(layerPrefix) && !e.hook().equals(startZ));
            if (other) {
                throw new IllegalArgumentException("a run from " + startZ + " takes edits of that hook only in layer " + start);
            }
        }
        try (NDManager gm = scratch.newSubManager()) {
            List<Hook> all = new ArrayList<>();
            List<PrefixAttention> merges = new ArrayList<>();
            if (from > 0) { // the prefix's share of each head's output goes in before any edit or hook of z
                for (int l = startZ == null ? Math.max(start, 0) : start + 1; l < stop; l++) {
                    PrefixAttention pa = new PrefixAttention(l, prefix, copies);
                    merges.add(pa);
                    all.add(Hook.of(HookNames.getActName("z", l), (z, hook) -> pa.onZ(z)));
                }
            }
            all.addAll(hooks);
            Map<String, List<Edit>> byHook = new LinkedHashMap<>();
            for (Edit e : edits) {
                byHook.computeIfAbsent(e.hook(), n -> new ArrayList<>()).add(e);
            }
            List<Edit> zEdits = startZ == null ? List.of() : byHook.remove(startZ);
            byHook.forEach((name, list) -> all.add(Hook.of(name, (act, hook) -> apply(act, copies, list))));
            for (PrefixAttention pa : merges) { // after any edit of q: the prefix scores use the edited queries
                all.add(Hook.of(HookNames.getActName("q", pa.layer), (q, hook) -> pa.onQ(q)));
                all.add(Hook.of(HookNames.getActName("attn_scores", pa.layer), (sc, hook) -> pa.onScores(sc)));
            }
            NDArray x;
            try (HookScope scope = model.hooks(all)) {
                int first = start;
                try (NDScope s = new NDScope()) {
                    if (start < 0) {
                        NDArray t = input.tile(new long[] {copies, 1}); // [copies*batch, pos]
                        x = model.forward(t, RunOptions.defaults().stopAtLayer(0)).logits(); // [copies*batch, pos, d_model]
                        first = 0;
                    } else if (startZ != null) {
                        // The layer from its hook_z: the edited heads' outputs through W_O, then the MLP,
                        // the forward pass's arithmetic for what follows hook_z in the block.
                        NDArray z = apply(at.z().tile(new long[] {copies, 1, 1, 1}), copies,
                                zEdits == null ? List.of() : zEdits); // [copies*batch, pos, head_index, d_head]
                        NDArray mid = input.tile(new long[] {copies, 1, 1}).add(model.attnOutFromZ(start, z)); // [copies*batch, pos, d_model]
                        x = mid.add(model.mlpOut(start, mid)); // [copies*batch, pos, d_model]
                        first = start + 1;
                    } else {
                        x = input.tile(new long[] {copies, 1, 1}); // [copies*batch, pos, d_model]
                    }
                    NDScope.unregister(x);
                }
                x.attach(gm);
                for (int l = first; l < stop; l++) {
                    // One call per block: a block's intermediates are freed before the next one runs.
                    NDArray next = model.forward(x, RunOptions.defaults().startAtLayer(l).stopAtLayer(l + 1)).logits();
                    x.close();
                    x = next; // [copies*batch, pos, d_model]
                }
            }
            try (NDScope s = new NDScope()) {
                long d = cfg.dModel();
                long[] read = new long[(int) (copies * batch)]; // per row the position read, within the run
                for (int k = 0; k < copies; k++) {
                    for (int b = 0; b < batch; b++) {
                        read[(int) (k * batch + b)] = readAt[b] - from;
                    }
                }
                NDArray resid; // [copies*batch, d_model]
                if (lastAtRead) {
                    NDArray pk = null;
                    NDArray pv = null;
                    if (from > 0) {
                        String idx = ":, :" + from;
                        pk = prefix.keys().apply(last).get(idx).tile(new long[] {copies, 1, 1, 1}); // [copies*batch, from, head_index, d_head]
                        pv = prefix.values().apply(last).get(idx).tile(new long[] {copies, 1, 1, 1});
                    }
                    resid = model.blockAt(last, x, read, pk, pv);
                } else {
                    resid = rowsAt(x, read);
                }
                return readout.apply(resid.reshape(copies, batch, d)); // [copies, batch, d_model]
            }
        }
    }

    /** Row i of x [n, pos, d] at position at[i]: [n, d]. */
    static NDArray rowsAt(NDArray x, long[] at) {
        Shape s = x.getShape();
        long n = s.get(0);
        long pos = s.get(1);
        long[] rows = new long[(int) n];
        for (int i = 0; i < n; i++) {
            rows[i] = i * pos + at[i];
        }
        return x.reshape(n * pos, s.get(2)).get(new NDIndex("{}", x.getManager().create(rows))); // [n, d]
    }

    /** In the hook: copy k of the batch takes each edit's source where the edit's mask is true. */
    private NDArray apply(NDArray act, int copies, List<Edit> edits) {
        Shape s = act.getShape(); // [copies*batch, ...]
        if (s.get(0) != copies * batch) {
            throw new IllegalStateException("expected a batch of " + copies + " x " + batch + " but the hook saw " + s);
        }
        Shape byCopy = new Shape(copies, batch).addAll(s.slice(1)); // [copies, batch, ...]
        NDArray x = act.reshape(byCopy);
        for (Edit e : edits) {
            x = NDArrays.where(e.mask().broadcast(byCopy), e.source().broadcast(byCopy), x);
        }
        return x.reshape(s);
    }

    /**
     * Attention of the positions run to the prefix: the model computes {@code z_run} over the
     * positions run; {@code onQ} computes the prefix part from the cached keys and values,
     * {@code onScores} reads the run positions' log-sum-exp, {@code onZ} merges the two.
     */
    private final class PrefixAttention {
        final int layer;
        private final Prefix prefix;
        private final int copies;
        private NDArray lsePre; // [batch, head_index, copies*q, 1]
        private NDArray zPre; // [batch, head_index, copies*q, d_head]
        private NDArray lseRun; // [batch, head_index, copies*q, 1]

        PrefixAttention(int layer, Prefix prefix, int copies) {
            this.layer = layer;
            this.prefix = prefix;
            this.copies = copies;
        }

        /** [copies*batch, q, head_index, d_head] -> [batch, head_index, copies*q, d_head]. */
        private NDArray byPrompt(NDArray a) {
            Shape s = a.getShape();
            return a.reshape(copies, batch, s.get(1), s.get(2), s.get(3)).transpose(1, 3, 0, 2, 4)
                    .reshape(batch, s.get(2), copies * s.get(1), s.get(3));
        }

        NDArray onQ(NDArray q) { // [copies*batch, q, head_index, d_head]
            String idx = ":, :" + prefix.from();
            NDArray k = prefix.keys().apply(layer).get(idx).transpose(0, 2, 3, 1); // [batch, head_index, d_head, from]
            NDArray v = prefix.values().apply(layer).get(idx).transpose(0, 2, 1, 3); // [batch, head_index, from, d_head]
            NDArray scores = byPrompt(q).matMul(k).div(cfg.attnScale()); // [batch, head_index, copies*q, from]
            lsePre = logSumExp(scores);
            zPre = scores.softmax(-1).matMul(v); // [batch, head_index, copies*q, d_head]
            return null;
        }

        NDArray onScores(NDArray scores) { // [copies*batch, head_index, q, q], -inf above the diagonal
            Shape s = scores.getShape();
            NDArray lse = logSumExp(scores); // [copies*batch, head_index, q, 1]
            lseRun = lse.reshape(copies, batch, s.get(1), s.get(2)).transpose(1, 2, 0, 3)
                    .reshape(batch, s.get(1), copies * s.get(2), 1);
            return null;
        }

        NDArray onZ(NDArray z) { // [copies*batch, q, head_index, d_head]
            Shape s = z.getShape();
            NDArray max = NDArrays.maximum(lsePre, lseRun);
            NDArray wPre = lsePre.sub(max).exp();
            NDArray wRun = lseRun.sub(max).exp();
            NDArray total = wPre.add(wRun);
            NDArray merged = byPrompt(z).mul(wRun).add(zPre.mul(wPre)).div(total); // [batch, head_index, copies*q, d_head]
            return merged.reshape(batch, s.get(2), copies, s.get(1), s.get(3)).transpose(2, 0, 3, 1, 4).reshape(s);
        }
    }

    /** log(sum(exp(x))) over the last axis, keeping it: [..., 1]. Rows need one finite entry. */
    private static NDArray logSumExp(NDArray x) {
        NDArray max = x.max(new int[] {-1}, true);
        return x.sub(max).exp().sum(new int[] {-1}, true).log().add(max);
    }
}
