package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
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
import java.util.Arrays;
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
    private final int maxBuckets;
    private final double groupCost; // multiply-adds one more group of prompts costs per block; see buckets
    private long lastTokens;

    /** At most this many groups of prompts by length per run (see {@link #buckets}). */
    static final int MAX_BUCKETS = 4;
    /**
     * What one more group of prompts costs per block beyond its tokens, in multiply-adds: a block is
     * about 40 libtorch calls of some 25 us each whatever their size, about 1 ms, which is 5e7
     * multiply-adds at the 35-50 G/s two cores reach (docs/benchmarks.md). So GPT-2 small groups
     * prompts whenever that saves a token per copy; a d_model-24 test model, never.
     */
    static final double GROUP_COST = 5e7;

    /**
     * @param batch prompts per copy
     * @param readAt per prompt the position the readout reads (e.g. END)
     */
    BatchedRun(HookedTransformer model, long batch, long[] readAt) {
        this(model, batch, readAt, MAX_BUCKETS, GROUP_COST);
    }

    /**
     * @param maxBuckets at most this many groups of prompts by length per run (1: the batch runs whole)
     * @param groupCost what one more group costs per block beyond its tokens, in multiply-adds
     */
    BatchedRun(HookedTransformer model, long batch, long[] readAt, int maxBuckets, double groupCost) {
        if (maxBuckets < 1) {
            throw new IllegalArgumentException("maxBuckets must be >= 1 but is " + maxBuckets);
        }
        if (!(groupCost >= 0)) {
            throw new IllegalArgumentException("groupCost must be >= 0 but is " + groupCost);
        }
        this.maxBuckets = maxBuckets;
        this.groupCost = groupCost;
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
        int last = cfg.nLayers() - 1;
        long from = prefix == null ? 0 : prefix.from();
        if (start < 0 && from > 0) {
            throw new IllegalArgumentException("a run from the tokens starts at position 0, not " + from);
        }
        long positions = at.input().getShape().get(1);
        for (long p : readAt) {
            if (p < from || p >= from + positions) {
                throw new IllegalArgumentException("read position " + p + " is outside the positions run [" + from
                        + ", " + (from + positions) + ")");
            }
        }
        // The last block at the read positions only: when nothing the client hooks or edits is in it.
        String lastPrefix = "blocks." + last + ".";
        boolean lastHooked = hooks.stream().anyMatch(h -> h.name() == null || h.name().startsWith(lastPrefix))
                || edits.stream().anyMatch(e -> e.hook().startsWith(lastPrefix));
        boolean lastAtRead = start < last && !lastHooked;
        String startZ = at.z() == null ? null : HookNames.getActName("z", start);
        if (startZ != null) {
            String layerPrefix = "blocks." + start + ".";
            boolean other = hooks.stream().anyMatch(h -> h.name() == null || h.name().startsWith(layerPrefix))
                    || edits.stream().anyMatch(e -> e.hook().startsWith(layerPrefix) && !e.hook().equals(startZ));
            if (other) {
                throw new IllegalArgumentException("a run from " + startZ + " takes edits of that hook only in layer " + start);
            }
        }
        List<long[]> buckets = bucketable(hooks, edits, positions) ? buckets(readAt, from, maxBuckets, groupTokens(copies))
                : List.of(all());
        try (NDManager gm = scratch.newSubManager()) {
            long d = cfg.dModel();
            NDArray resid; // [copies, batch, d_model]
            long tokens = 0;
            if (buckets.size() == 1) {
                resid = runRows(copies, null, positions, at, prefix, hooks, edits, lastAtRead, gm);
                tokens = copies * batch * positions;
            } else {
                NDArray order = gm.create(concat(buckets)); // [batch]: the prompts in bucket order
                NDArray[] parts = new NDArray[buckets.size()];
                for (int i = 0; i < parts.length; i++) {
                    long[] rows = buckets.get(i);
                    long len = 0; // positions this bucket runs: up to its last read position
                    for (long b : rows) {
                        len = Math.max(len, readAt[(int) b] - from + 1);
                    }
                    parts[i] = runRows(copies, rows, len, at, prefix, hooks, edits, lastAtRead, gm); // [copies, rows, d_model]
                    tokens += copies * rows.length * len;
                }
                NDArray byBucket = NDArrays.concat(new NDList(parts), 1); // [copies, batch, d_model] in bucket order
                resid = rowsOf(byBucket, 1, order.argSort()); // [copies, batch, d_model]
            }
            lastTokens = tokens;
            try (NDScope s = new NDScope()) {
                return readout.apply(resid.reshape(copies, batch, d)); // [copies, batch, d_model]
            }
        }
    }

    /** Tokens (copies x prompts x positions) the last {@link #run} ran through its blocks. */
    long lastTokens() {
        return lastTokens;
    }

    /**
     * Bucketing slices the batch axis and the first position axis of every start array, edit and
     * prefix; hooks the client adds see whatever shape they are given, so with any the batch runs
     * whole, and so do edits of the attention pattern or scores (two position axes).
     */
    private boolean bucketable(List<Hook> hooks, List<Edit> edits, long positions) {
        if (maxBuckets < 2 || !hooks.isEmpty() || batch < 2) {
            return false;
        }
        for (Edit e : edits) {
            if (e.hook().endsWith("hook_pattern") || e.hook().endsWith("hook_attn_scores")
                    || e.mask().getShape().dimension() < 3 || e.source().getShape().dimension() < 3) {
                return false;
            }
            for (NDArray a : List.of(e.mask(), e.source())) {
                Shape s = a.getShape();
                if (s.get(1) != 1 && s.get(1) != batch || s.get(2) != 1 && s.get(2) != positions) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * Prompts grouped by their read position, so that each group runs only up to its own last read
     * position (the positions after a prompt's are its padding, which no earlier position sees).
     * The grouping with the fewest tokens for each count of groups up to {@code maxBuckets}
     * (contiguous runs of the prompts sorted by read position, by dynamic programming); of those,
     * the one with the fewest tokens plus {@code groupTokens} per extra group (what a group's own
     * block calls cost, in tokens of one copy). Each group lists its prompts in ascending order.
     */
    static List<long[]> buckets(long[] readAt, long from, int maxBuckets, double groupTokens) {
        int n = readAt.length;
        Integer[] byRead = new Integer[n];
        for (int i = 0; i < n; i++) {
            byRead[i] = i;
        }
        Arrays.sort(byRead, (a, b) -> Long.compare(readAt[a], readAt[b]));
        // cost[k][i]: fewest tokens for the first i sorted prompts in k groups; cut[k][i]: where the last group starts
        long inf = Long.MAX_VALUE / 4;
        long[][] cost = new long[maxBuckets + 1][n + 1];
        int[][] cut = new int[maxBuckets + 1][n + 1];
        for (long[] row : cost) {
            Arrays.fill(row, inf);
        }
        cost[0][0] = 0;
        for (int k = 1; k <= maxBuckets; k++) {
            for (int i = 1; i <= n; i++) {
                long len = readAt[byRead[i - 1]] - from + 1; // the group ending at i runs up to its last read position
                for (int j = k - 1; j < i; j++) {
                    if (cost[k - 1][j] < inf && cost[k - 1][j] + (i - j) * len < cost[k][i]) {
                        cost[k][i] = cost[k - 1][j] + (i - j) * len;
                        cut[k][i] = j;
                    }
                }
            }
        }
        int best = 1;
        for (int k = 2; k <= Math.min(maxBuckets, n); k++) {
            if (cost[k][n] + groupTokens * (k - 1) < cost[best][n] + groupTokens * (best - 1)) {
                best = k;
            }
        }
        List<long[]> out = new ArrayList<>();
        for (int k = best, i = n; k > 0; i = cut[k][i], k--) {
            long[] rows = new long[i - cut[k][i]];
            for (int j = cut[k][i]; j < i; j++) {
                rows[j - cut[k][i]] = byRead[j];
            }
            Arrays.sort(rows);
            out.add(0, rows);
        }
        return out;
    }

    /**
     * Runs the prompts {@code rows} (null: the whole batch) of every copy over the first
     * {@code len} positions run: [copies, rows, d_model], the final residual stream at their read
     * positions, attached to {@code gm}.
     */
    private NDArray runRows(int copies, long[] rows, long len, Start at, Prefix prefix, List<Hook> hooks,
            List<Edit> edits, boolean lastAtRead, NDManager gm) {
        int start = at.layer();
        int last = cfg.nLayers() - 1;
        int stop = lastAtRead ? last : cfg.nLayers();
        long from = prefix == null ? 0 : prefix.from();
        long n = rows == null ? batch : rows.length;
        String startZ = at.z() == null ? null : HookNames.getActName("z", start);
        try (NDManager rm = gm.newSubManager()) {
            NDArray idx = rows == null ? null : rm.create(rows); // [rows]
            Function<NDArray, NDArray> mine = a -> idx == null ? a : rowsOf(a, 0, idx).get(":, :" + len); // [rows, len, ...]
            List<Hook> all = new ArrayList<>();
            List<PrefixAttention> merges = new ArrayList<>();
            if (from > 0) { // the prefix's share of each head's output goes in before any edit or hook of z
                for (int l = startZ == null ? Math.max(start, 0) : start + 1; l < stop; l++) {
                    PrefixAttention pa = new PrefixAttention(l, prefixRows(prefix.keys(), l, from, idx),
                            prefixRows(prefix.values(), l, from, idx), copies, n);
                    merges.add(pa);
                    all.add(Hook.of(HookNames.getActName("z", l), (z, hook) -> pa.onZ(z)));
                }
            }
            all.addAll(hooks);
            Map<String, List<Edit>> byHook = new LinkedHashMap<>();
            for (Edit e : edits) {
                Edit mineE = idx == null ? e : new Edit(e.hook(), editRows(e.mask(), idx, len), editRows(e.source(), idx, len));
                byHook.computeIfAbsent(e.hook(), h -> new ArrayList<>()).add(mineE);
            }
            List<Edit> zEdits = startZ == null ? List.of() : byHook.remove(startZ);
            byHook.forEach((name, list) -> all.add(Hook.of(name, (act, hook) -> apply(act, copies, n, list))));
            for (PrefixAttention pa : merges) { // after any edit of q: the prefix scores use the edited queries
                all.add(Hook.of(HookNames.getActName("q", pa.layer), (q, hook) -> pa.onQ(q)));
                all.add(Hook.of(HookNames.getActName("attn_scores", pa.layer), (sc, hook) -> pa.onScores(sc)));
            }
            NDArray input = mine.apply(at.input()); // [rows, len] tokens or [rows, len, d_model]
            NDArray x;
            try (HookScope scope = model.hooks(all)) {
                int first = start;
                try (NDScope s = new NDScope()) {
                    if (start < 0) {
                        NDArray t = input.tile(new long[] {copies, 1}); // [copies*rows, len]
                        x = model.forward(t, RunOptions.defaults().stopAtLayer(0)).logits(); // [copies*rows, len, d_model]
                        first = 0;
                    } else if (startZ != null) {
                        // The layer from its hook_z: the edited heads' outputs through W_O, then the MLP,
                        // the forward pass's arithmetic for what follows hook_z in the block.
                        NDArray z = apply(mine.apply(at.z()).tile(new long[] {copies, 1, 1, 1}), copies, n,
                                zEdits == null ? List.of() : zEdits); // [copies*rows, len, head_index, d_head]
                        NDArray mid = input.tile(new long[] {copies, 1, 1}).add(model.attnOutFromZ(start, z)); // [copies*rows, len, d_model]
                        x = mid.add(model.mlpOut(start, mid)); // [copies*rows, len, d_model]
                        first = start + 1;
                    } else {
                        x = input.tile(new long[] {copies, 1, 1}); // [copies*rows, len, d_model]
                    }
                    NDScope.unregister(x);
                }
                x.attach(rm);
                for (int l = first; l < stop; l++) {
                    // One call per block: a block's intermediates are freed before the next one runs.
                    NDArray next = model.forward(x, RunOptions.defaults().startAtLayer(l).stopAtLayer(l + 1)).logits();
                    x.close();
                    x = next; // [copies*rows, len, d_model]
                }
            }
            try (NDScope s = new NDScope()) {
                long[] read = new long[(int) (copies * n)]; // per row the position read, within the run
                for (int k = 0; k < copies; k++) {
                    for (int b = 0; b < n; b++) {
                        read[(int) (k * n + b)] = readAt[rows == null ? b : (int) rows[b]] - from;
                    }
                }
                NDArray resid; // [copies*rows, d_model]
                if (lastAtRead) {
                    NDArray pk = null;
                    NDArray pv = null;
                    if (from > 0) {
                        pk = prefixRows(prefix.keys(), last, from, idx).tile(new long[] {copies, 1, 1, 1}); // [copies*rows, from, head_index, d_head]
                        pv = prefixRows(prefix.values(), last, from, idx).tile(new long[] {copies, 1, 1, 1});
                    }
                    resid = model.blockAt(last, x, read, pk, pv);
                } else {
                    resid = rowsAt(x, read);
                }
                NDArray out = resid.reshape(copies, n, cfg.dModel()); // [copies, rows, d_model]
                NDScope.unregister(out);
                out.attach(gm);
                return out;
            }
        }
    }

    /** {@link #groupCost} in tokens of one copy: a token costs about 4 d_model^2 + 2 d_model d_mlp per block. */
    private double groupTokens(int copies) {
        double perToken = 4.0 * cfg.dModel() * cfg.dModel() + 2.0 * cfg.dModel() * cfg.dMlp();
        return groupCost / (copies * perToken);
    }

    private long[] all() {
        long[] rows = new long[(int) batch];
        for (int b = 0; b < batch; b++) {
            rows[b] = b;
        }
        return rows;
    }

    private static long[] concat(List<long[]> parts) {
        return parts.stream().flatMapToLong(Arrays::stream).toArray();
    }

    /** A prefix's keys or values of layer l, positions [0, from), of these rows: [rows, from, head_index, d_head]. */
    private static NDArray prefixRows(IntFunction<NDArray> cache, int layer, long from, NDArray idx) {
        NDArray a = cache.apply(layer).get(":, :" + from); // [batch, from, head_index, d_head]
        return idx == null ? a : rowsOf(a, 0, idx);
    }

    /** An edit's mask or source [1 | copies, batch | 1, positions | 1, ...] cut to [.., rows, len, ...]. */
    private NDArray editRows(NDArray a, NDArray idx, long len) {
        Shape s = a.getShape();
        NDArray r = s.get(1) == batch ? rowsOf(a, 1, idx) : a;
        return s.get(2) == 1 ? r : r.get(":, :, :" + len);
    }

    /** a's entries idx along axis ({@code take} on that axis). */
    private static NDArray rowsOf(NDArray a, int axis, NDArray idx) {
        NDIndex pick = new NDIndex("{}", idx);
        return axis == 0 ? a.get(pick) : a.swapAxes(0, axis).get(pick).swapAxes(0, axis);
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
    private static NDArray apply(NDArray act, int copies, long n, List<Edit> edits) {
        Shape s = act.getShape(); // [copies*rows, ...]
        if (s.get(0) != copies * n) {
            throw new IllegalStateException("expected a batch of " + copies + " x " + n + " but the hook saw " + s);
        }
        Shape byCopy = new Shape(copies, n).addAll(s.slice(1)); // [copies, rows, ...]
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
        private final NDArray keys; // [rows, from, head_index, d_head]
        private final NDArray values; // [rows, from, head_index, d_head]
        private final int copies;
        private final long rows; // prompts per copy
        private NDArray lsePre; // [rows, head_index, copies*q, 1]
        private NDArray zPre; // [rows, head_index, copies*q, d_head]
        private NDArray lseRun; // [rows, head_index, copies*q, 1]

        PrefixAttention(int layer, NDArray keys, NDArray values, int copies, long rows) {
            this.layer = layer;
            this.keys = keys;
            this.values = values;
            this.copies = copies;
            this.rows = rows;
        }

        /** [copies*rows, q, head_index, d_head] -> [rows, head_index, copies*q, d_head]. */
        private NDArray byPrompt(NDArray a) {
            Shape s = a.getShape();
            return a.reshape(copies, rows, s.get(1), s.get(2), s.get(3)).transpose(1, 3, 0, 2, 4)
                    .reshape(rows, s.get(2), copies * s.get(1), s.get(3));
        }

        NDArray onQ(NDArray q) { // [copies*rows, q, head_index, d_head]
            NDArray k = keys.transpose(0, 2, 3, 1); // [rows, head_index, d_head, from]
            NDArray v = values.transpose(0, 2, 1, 3); // [rows, head_index, from, d_head]
            NDArray scores = byPrompt(q).matMul(k).div(cfg.attnScale()); // [rows, head_index, copies*q, from]
            lsePre = logSumExp(scores);
            zPre = scores.softmax(-1).matMul(v); // [rows, head_index, copies*q, d_head]
            return null;
        }

        NDArray onScores(NDArray scores) { // [copies*rows, head_index, q, q], -inf above the diagonal
            Shape s = scores.getShape();
            NDArray lse = logSumExp(scores); // [copies*rows, head_index, q, 1]
            lseRun = lse.reshape(copies, rows, s.get(1), s.get(2)).transpose(1, 2, 0, 3)
                    .reshape(rows, s.get(1), copies * s.get(2), 1);
            return null;
        }

        NDArray onZ(NDArray z) { // [copies*rows, q, head_index, d_head]
            Shape s = z.getShape();
            NDArray max = NDArrays.maximum(lsePre, lseRun);
            NDArray wPre = lsePre.sub(max).exp();
            NDArray wRun = lseRun.sub(max).exp();
            NDArray total = wPre.add(wRun);
            NDArray merged = byPrompt(z).mul(wRun).add(zPre.mul(wPre)).div(total); // [rows, head_index, copies*q, d_head]
            return merged.reshape(rows, s.get(2), copies, s.get(1), s.get(3)).transpose(2, 0, 3, 1, 4).reshape(s);
        }
    }

    /** log(sum(exp(x))) over the last axis, keeping it: [..., 1]. Rows need one finite entry. */
    private static NDArray logSumExp(NDArray x) {
        NDArray max = x.max(new int[] {-1}, true);
        return x.sub(max).exp().sum(new int[] {-1}, true).log().add(max);
    }
}
