package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.Hook;
import ioi.lens.HookNames;
import ioi.lens.HookPoint;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Activation patching (ARENA 1.4.1 §3; the paper's App A uses it for the S-inhibition heads, Figs
 * 9-10): run the corrupted prompts (p_ABC), restore one activation from the clean run (p_IOI),
 * and measure how much of the clean behaviour comes back. The grids are TransformerLens's
 * {@code transformer_lens.patching} functions with the same semantics and shapes, a metric per
 * cell, but computed in batches:
 * <ul>
 *   <li>many cells share one forward pass: the corrupted batch is repeated along the batch axis,
 *       and in the hook each copy patches its own cell (a boolean mask per copy, one
 *       {@code where});
 *   <li>a group starts at its cells' layer, from the corrupted run's cached {@code resid_pre}
 *       ({@link RunOptions#startAtLayer}), since everything before it is the corrupted run;
 *   <li>the metric declares what it reads ({@link PatchingMetric}): sequences are cut after the
 *       last position read (exact: attention is causal; cells after it equal the unpatched run and
 *       are not run), and ln_final and the unembedding run only there, for the columns read;
 *   <li>cells whose patch changes nothing (the source equals the corrupted activation bit for bit,
 *       e.g. at positions before the first token where the clean and corrupted prompts differ)
 *       are the corrupted run and are not run ({@link Options#skipUnchanged()});
 *   <li>the blocks run one call per layer, so at most one layer's intermediates are alive.
 * </ul>
 * The number of copies per forward is capped ({@link Options}): memory stays bounded whatever the
 * grid. Results agree with TL's one-forward-per-cell loops to float rounding (tests: 1e-4).
 *
 * <p>The general entry point is {@link #run(List)}: each cell is a list of {@link Patch}es (any
 * hooks, regions and sources), which is what path patching and ablations build on.
 *
 * <p>Lifetimes: this object borrows the model, the clean cache and the metric (keep them open), and
 * owns the corrupted run's cached residual streams; close it. Each result owns its grid.
 */
public final class ActivationPatching implements AutoCloseable {

    /**
     * @param maxCellsPerForward at most this many cells (copies of the batch) per forward pass
     * @param maxTokensPerForward and at most this many {@code copies * batch * pos} tokens per pass,
     *     which bounds memory: one layer of GPT-2 small holds roughly 150 KB of intermediates per
     *     token, so the default 4096 is about 0.6 GB
     * @param skipUnchanged skip cells whose patches change nothing: where the source equals the
     *     corrupted run's activation bit for bit (e.g. every position before the first token where
     *     the clean and corrupted prompts differ), the patched run is the corrupted run, so the
     *     cell gets {@link #baseline()} without a forward pass (TL runs it anyway). Costs one
     *     cached corrupted run of the patched hooks.
     * @param progress reports cells as they finish
     */
    public record Options(int maxCellsPerForward, long maxTokensPerForward, boolean skipUnchanged, Progress progress) {
        public Options {
            if (maxCellsPerForward < 1) {
                throw new IllegalArgumentException("maxCellsPerForward must be >= 1 but is " + maxCellsPerForward);
            }
            if (maxTokensPerForward < 1) {
                throw new IllegalArgumentException("maxTokensPerForward must be >= 1 but is " + maxTokensPerForward);
            }
            if (progress == null) {
                progress = Progress.NONE;
            }
        }

        public static Options defaults() {
            return new Options(Integer.MAX_VALUE, 4096, true, Progress.NONE);
        }

        public Options maxCellsPerForward(int n) {
            return new Options(n, maxTokensPerForward, skipUnchanged, progress);
        }

        public Options maxTokensPerForward(long n) {
            return new Options(maxCellsPerForward, n, skipUnchanged, progress);
        }

        public Options skipUnchanged(boolean on) {
            return new Options(maxCellsPerForward, maxTokensPerForward, on, progress);
        }

        public Options progress(Progress p) {
            return new Options(maxCellsPerForward, maxTokensPerForward, skipUnchanged, p);
        }
    }

    private final HookedTransformer model;
    private final GPT2Config cfg;
    private final ActivationCache clean;
    private final PatchingMetric metric;
    private final Options options;
    private final NDManager manager; // owns everything below
    private final ActivationCache corrupted; // resid_pre of every layer, resid_post of the last: [batch, cut, d_model]
    private final NDArray tokens; // corrupted tokens cut to [batch, cut]
    private final long batch;
    private final long seqLen; // full sequence length (TL's pos axis)
    private final long cut; // positions run: last position the metric reads + 1
    private final long[] positions; // [batch]
    private final NDArray wU; // [batch, d_model, t], or null: the metric reads every column
    private final NDArray bU; // [batch, t]
    private final double baseline;
    private long skippedCells;

    private ActivationPatching(HookedTransformer model, NDArray corruptedTokens, ActivationCache clean,
            PatchingMetric metric, Options options) {
        this.model = model;
        this.cfg = model.cfg();
        this.clean = clean;
        this.metric = metric;
        this.options = options;
        Shape ts = corruptedTokens.getShape();
        if (ts.dimension() != 2) {
            throw new IllegalArgumentException("corrupted tokens must be [batch, pos] but are " + ts);
        }
        this.batch = ts.get(0);
        this.seqLen = ts.get(1);
        // Every patch source is checked against [batch, pos, ...] of these tokens when it is used.
        this.positions = metric.positions().clone();
        if (positions.length != batch) {
            throw new IllegalArgumentException("the metric reads " + positions.length + " positions but the batch has "
                    + batch + " prompts");
        }
        long last = 0;
        for (long p : positions) {
            if (p < 0 || p >= seqLen) {
                throw new IllegalArgumentException("metric position " + p + " is out of range [0, " + seqLen + ")");
            }
            last = Math.max(last, p);
        }
        this.cut = last + 1;
        this.manager = model.resultManager().newSubManager();
        ActivationCache corruptedCache = null;
        try {
            try (NDScope scope = new NDScope()) {
                // duplicate(): a real copy; a view of tokens made by NDManager.create would point
                // into the caller's buffer, which dies with the caller's array.
                tokens = keep(corruptedTokens.get(":, :" + cut).toType(DataType.INT64, false).duplicate()); // [batch, cut]
            }
            String lastPost = HookNames.getActName("resid_post", cfg.nLayers() - 1);
            corruptedCache = model.runWithCache(tokens, n -> n.endsWith(".hook_resid_pre") || n.equals(lastPost),
                    RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
            long[][] cols = metric.tokens();
            if (cols != null) {
                if (cols.length != batch) {
                    throw new IllegalArgumentException("the metric reads tokens for " + cols.length
                            + " prompts but the batch has " + batch);
                }
                try (NDScope scope = new NDScope()) {
                    NDArray ids = manager.create(cols); // [batch, t]
                    long t = ids.getShape().get(1);
                    NDArray rows = model.W_U().transpose().get(new NDIndex("{}", ids.flatten())); // [batch*t, d_model]
                    NDArray w = rows.reshape(batch, t, cfg.dModel()).transpose(0, 2, 1); // [batch, d_model, t]
                    NDArray b = model.b_U().get(new NDIndex("{}", ids.flatten())).reshape(batch, t); // [batch, t]
                    wU = keep(w.duplicate());
                    bU = keep(b);
                }
            } else {
                wU = null;
                bU = null;
            }
            this.corrupted = corruptedCache;
            this.baseline = score(corruptedCache.get(lastPost), 1)[0];
        } catch (RuntimeException e) {
            if (corruptedCache != null) {
                corruptedCache.close();
            }
            manager.close();
            throw e;
        }
    }

    /**
     * Patching of {@code corruptedTokens}' run with activations from {@code cleanCache} (a cache
     * of the clean prompts, same shape), scored by {@code metric}.
     */
    public static ActivationPatching create(HookedTransformer model, NDArray corruptedTokens,
            ActivationCache cleanCache, PatchingMetric metric, Options options) {
        return new ActivationPatching(model, corruptedTokens, cleanCache, metric, options);
    }

    public static ActivationPatching create(HookedTransformer model, NDArray corruptedTokens,
            ActivationCache cleanCache, PatchingMetric metric) {
        return create(model, corruptedTokens, cleanCache, metric, Options.defaults());
    }

    /** The IOI set-up: corrupted = the batch's ABC prompts, {@code cleanCache} = a cache of its clean prompts. */
    public static ActivationPatching ioi(HookedTransformer model, IoiBatch batch, ActivationCache cleanCache,
            PatchingMetric metric, Options options) {
        try (NDManager tmp = model.resultManager().newSubManager()) {
            return create(model, batch.abcTokens(tmp), cleanCache, metric, options);
        }
    }

    /** The metric of the corrupted run with nothing patched. */
    public double baseline() {
        return baseline;
    }

    // ---------------------------------------------------------------- TransformerLens's grids

    /** TL's {@code get_act_patch_resid_pre}: the residual stream entering each layer, by position, [n_layers, pos]. */
    public PatchingResult residPre() {
        return layerPos("resid_pre", "Activation patching: resid_pre by position");
    }

    /** TL's {@code get_act_patch_resid_mid}, [n_layers, pos]. */
    public PatchingResult residMid() {
        return layerPos("resid_mid", "Activation patching: resid_mid by position");
    }

    /** TL's {@code get_act_patch_attn_out}: each attention layer's output by position, [n_layers, pos]. */
    public PatchingResult attnOut() {
        return layerPos("attn_out", "Activation patching: attn_out by position");
    }

    /** TL's {@code get_act_patch_mlp_out}: each MLP's output by position, [n_layers, pos]. */
    public PatchingResult mlpOut() {
        return layerPos("mlp_out", "Activation patching: mlp_out by position");
    }

    /**
     * TL's {@code get_act_patch_attn_head_out_all_pos}: each head's output ({@code z}) at every
     * position, [n_layers, n_heads] (ARENA: "Logit Difference From Patched Head Output").
     */
    public PatchingResult headOutAllPos() {
        return layerHead("z", "Activation patching: head output (z), all positions");
    }

    /** TL's {@code get_act_patch_attn_head_q_all_pos}, [n_layers, n_heads]. */
    public PatchingResult headQAllPos() {
        return layerHead("q", "Activation patching: head queries, all positions");
    }

    /** TL's {@code get_act_patch_attn_head_k_all_pos}, [n_layers, n_heads]. */
    public PatchingResult headKAllPos() {
        return layerHead("k", "Activation patching: head keys, all positions");
    }

    /** TL's {@code get_act_patch_attn_head_v_all_pos}, [n_layers, n_heads]. */
    public PatchingResult headVAllPos() {
        return layerHead("v", "Activation patching: head values, all positions");
    }

    /** TL's {@code get_act_patch_attn_head_pattern_all_pos}: each head's whole attention pattern, [n_layers, n_heads]. */
    public PatchingResult headPatternAllPos() {
        return layerHead("pattern", "Activation patching: head attention patterns, all positions");
    }

    /** TL's {@code get_act_patch_attn_head_out_by_pos}: each head's output at each position, [n_layers, pos, n_heads]. */
    public PatchingResult headOutByPos() {
        int layers = cfg.nLayers();
        int heads = cfg.nHeads();
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            String name = HookNames.getActName("z", l);
            NDArray source = clean.get(name);
            for (long p = 0; p < seqLen; p++) {
                for (int h = 0; h < heads; h++) {
                    cells.add(List.of(new Patch(name, Region.at("pos", p).and("head_index", h), source)));
                }
            }
        }
        return result("Activation patching: head output (z) by position", run(cells),
                new long[] {layers, seqLen, heads}, List.of("layer", "pos", "head"));
    }

    private PatchingResult layerPos(String act, String title) {
        int layers = cfg.nLayers();
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            String name = HookNames.getActName(act, l);
            NDArray source = clean.get(name);
            for (long p = 0; p < seqLen; p++) {
                cells.add(List.of(new Patch(name, Region.at("pos", p), source)));
            }
        }
        return result(title, run(cells), new long[] {layers, seqLen}, List.of("layer", "pos"));
    }

    private PatchingResult layerHead(String act, String title) {
        int layers = cfg.nLayers();
        int heads = cfg.nHeads();
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            String name = HookNames.getActName(act, l);
            NDArray source = clean.get(name);
            for (int h = 0; h < heads; h++) {
                cells.add(List.of(new Patch(name, Region.at("head_index", h), source)));
            }
        }
        return result(title, run(cells), new long[] {layers, heads}, List.of("layer", "head"));
    }

    private PatchingResult result(String title, float[] values, long[] shape, List<String> axes) {
        NDManager m = model.resultManager().newSubManager();
        return new PatchingResult(title, m.create(values, new Shape(shape)), axes, baseline, m);
    }

    // ---------------------------------------------------------------- the batched core

    /** A cell ready to run: its index in the caller's list, the layer it starts at, its patches. */
    private record Cell(int index, int start, List<Patch> patches) {}

    /**
     * The metric of the corrupted run with each cell's patches applied, one value per cell in the
     * order given (TL's {@code generic_activation_patch} with {@code index_df}).
     *
     * <p>Patches on the same hook within a cell are applied grouped by source, sources in the order
     * they first appear in the cells run together. Hooks on {@code ln_final} cannot be patched (the
     * final LayerNorm is recomputed only where the metric reads).
     */
    public float[] run(List<List<Patch>> cells) {
        float[] out = new float[cells.size()];
        Progress progress = options.progress();
        progress.start(cells.size());
        try (NDManager runManager = manager.newSubManager();
                Unchanged unchanged = options.skipUnchanged() ? new Unchanged(cells, runManager) : null) {
            Map<String, Map<NDArray, NDArray>> cutSources = new java.util.HashMap<>(); // hook -> full source -> cut [1, batch, ...]
            List<Cell> todo = new ArrayList<>();
            long skipped = 0;
            for (int i = 0; i < cells.size(); i++) {
                List<Patch> patches = cells.get(i);
                if (patches.isEmpty() || !touchesRunPositions(patches)
                        || unchanged != null && unchanged.changesNothing(patches)) {
                    out[i] = (float) baseline; // nothing patched before the metric reads: the corrupted run
                    skipped++;
                    continue;
                }
                todo.add(new Cell(i, startLayer(patches), patches));
            }
            skippedCells = skipped;
            progress.step(skipped);
            todo.sort(Comparator.comparingInt(Cell::start)); // stable: cells keep their order within a layer
            int perForward = (int) Math.max(1, Math.min(options.maxCellsPerForward(),
                    options.maxTokensPerForward() / (batch * cut)));
            int from = 0;
            while (from < todo.size()) {
                int start = todo.get(from).start();
                int to = from;
                while (to < todo.size() && to - from < perForward && todo.get(to).start() == start) {
                    to++;
                }
                List<Cell> group = todo.subList(from, to);
                float[] scores = runGroup(group, start, cutSources, runManager);
                for (int k = 0; k < group.size(); k++) {
                    out[group.get(k).index()] = scores[k];
                }
                progress.step(group.size());
                from = to;
            }
        } finally {
            progress.done();
        }
        return out;
    }

    /** How many cells the last {@link #run} answered without a forward pass (unchanged or after the metric's positions). */
    public long skippedCells() {
        return skippedCells;
    }

    /**
     * The corrupted run's activations at the patched hooks, to find patches that change nothing:
     * per (hook, source) a boolean [batch, ...] of where the source differs from them.
     */
    private final class Unchanged implements AutoCloseable {
        private final ActivationCache acts;
        private final Map<String, Map<NDArray, NDArray>> differs = new java.util.HashMap<>(); // hook -> source -> BOOLEAN [batch, ...] cut
        private final NDManager m;

        Unchanged(List<List<Patch>> cells, NDManager m) {
            this.m = m;
            java.util.Set<String> hooks = new java.util.HashSet<>();
            for (List<Patch> c : cells) {
                for (Patch p : c) {
                    hooks.add(p.hookName());
                }
            }
            acts = model.runWithCache(tokens, hooks::contains, RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
        }

        boolean changesNothing(List<Patch> patches) {
            try (NDScope scope = new NDScope()) {
                for (Patch p : patches) {
                    NDArray d = differs.computeIfAbsent(p.hookName(), h -> new IdentityHashMap<>()).computeIfAbsent(p.source(), s -> {
                        NDArray cutSource = s.get(cutIndex(model.hookPoint(p.hookName())));
                        NDArray diff = cutSource.neq(acts.get(p.hookName())); // [batch, ...]
                        NDScope.unregister(diff);
                        diff.attach(m);
                        return diff;
                    });
                    Region.Mask mask = mask(p);
                    NDArray where = m.create(mask.values(), new Shape(mask.shape())).broadcast(d.getShape()); // [batch, ...]
                    if (d.logicalAnd(where).any().getBoolean()) {
                        return false;
                    }
                }
                return true;
            }
        }

        @Override
        public void close() {
            acts.close();
        }
    }

    private String cutIndex(HookPoint hp) {
        StringBuilder index = new StringBuilder();
        for (String dim : hp.dims()) {
            index.append(index.length() == 0 ? "" : ", ").append(isPos(dim) ? ":" + cut : ":");
        }
        return index.toString();
    }

    private boolean touchesRunPositions(List<Patch> patches) {
        for (Patch p : patches) {
            if (mask(p).any()) {
                return true;
            }
        }
        return false;
    }

    private int startLayer(List<Patch> patches) {
        int start = Integer.MAX_VALUE;
        for (Patch p : patches) {
            if (p.hookName().startsWith("ln_final.")) {
                throw new IllegalArgumentException(p.hookName() + " cannot be patched here: the final LayerNorm runs "
                        + "only at the metric's positions");
            }
            start = Math.min(start, model.hookPoint(p.hookName()).layer()); // -1: hook_embed / hook_pos_embed
        }
        return start;
    }

    private Region.Mask mask(Patch p) {
        HookPoint hp = model.hookPoint(p.hookName());
        long[] full = fullShape(hp);
        Shape s = p.source().getShape();
        if (!s.equals(new Shape(full))) {
            throw new IllegalArgumentException(p.hookName() + ": the patch source is " + s + " but the activation is "
                    + hp.dims() + " = " + new Shape(full));
        }
        return p.region().mask(p.hookName(), hp.dims(), full, cutShape(hp, full));
    }

    /** The activation's shape for one copy of the batch over the full sequence. */
    private long[] fullShape(HookPoint hp) {
        List<String> dims = hp.dims();
        long[] shape = new long[dims.size()];
        for (int a = 0; a < shape.length; a++) {
            shape[a] = switch (dims.get(a)) {
                case "batch" -> batch;
                case "pos", "query_pos", "key_pos" -> seqLen;
                case "head_index" -> cfg.nHeads();
                case "d_head" -> cfg.dHead();
                case "d_model" -> cfg.dModel();
                case "d_mlp" -> cfg.dMlp();
                case "d_vocab" -> cfg.dVocab();
                case "1" -> 1;
                default -> throw new IllegalArgumentException(hp.name() + ": unknown dimension " + dims.get(a));
            };
        }
        return shape;
    }

    private long[] cutShape(HookPoint hp, long[] full) {
        long[] s = full.clone();
        for (int a = 0; a < s.length; a++) {
            if (isPos(hp.dims().get(a))) {
                s[a] = cut;
            }
        }
        return s;
    }

    private static boolean isPos(String dim) {
        return dim.equals("pos") || dim.equals("query_pos") || dim.equals("key_pos");
    }

    /** Patches of one hook that read the same source: the source cut, and a mask per copy. */
    private static final class SourceGroup {
        final NDArray source; // [1, batch, ...] cut
        final Region.Mask[] masks; // per copy, null where the copy does not use this source

        SourceGroup(NDArray source, int copies) {
            this.source = source;
            this.masks = new Region.Mask[copies];
        }
    }

    private float[] runGroup(List<Cell> group, int start, Map<String, Map<NDArray, NDArray>> cutSources,
            NDManager runManager) {
        int copies = group.size();
        try (NDManager gm = runManager.newSubManager()) {
            // hook name -> source groups, in first-appearance order
            Map<String, Map<NDArray, SourceGroup>> byHook = new LinkedHashMap<>();
            for (int k = 0; k < copies; k++) {
                for (Patch p : group.get(k).patches()) {
                    NDArray cutSource = cutSources.computeIfAbsent(p.hookName(), h -> new IdentityHashMap<>())
                            .computeIfAbsent(p.source(), s -> cutSource(p, runManager));
                    SourceGroup g = byHook.computeIfAbsent(p.hookName(), n -> new LinkedHashMap<>())
                            .computeIfAbsent(p.source(), s -> new SourceGroup(cutSource, copies));
                    Region.Mask m = mask(p);
                    g.masks[k] = g.masks[k] == null ? m : or(g.masks[k], m);
                }
            }
            List<Hook> hooks = new ArrayList<>();
            for (Map.Entry<String, Map<NDArray, SourceGroup>> e : byHook.entrySet()) {
                List<NDArray[]> edits = new ArrayList<>(); // {mask [copies, ...], source [1, batch, ...]}
                for (SourceGroup g : e.getValue().values()) {
                    edits.add(new NDArray[] {stackMasks(g.masks, gm), g.source});
                }
                hooks.add(Hook.of(e.getKey(), (act, hook) -> patchCopies(act, copies, edits)));
            }
            NDArray x;
            try (HookScope scope = model.hooks(hooks)) {
                int first = start;
                if (start < 0) { // embeddings patched: run from the tokens
                    NDArray t = tokens.tile(new long[] {copies, 1}); // [copies*batch, cut]
                    t.attach(gm);
                    x = model.forward(t, RunOptions.defaults().stopAtLayer(0)).logits(); // [copies*batch, cut, d_model]
                    first = 0;
                } else {
                    x = corrupted.get("resid_pre", start).tile(new long[] {copies, 1, 1}); // [copies*batch, cut, d_model]
                    x.attach(gm);
                }
                for (int l = first; l < cfg.nLayers(); l++) {
                    // One call per block: a block's intermediates are freed before the next one runs.
                    NDArray next = model.forward(x, RunOptions.defaults().startAtLayer(l).stopAtLayer(l + 1)).logits();
                    x.close();
                    x = next; // [copies*batch, cut, d_model]
                }
            }
            return score(x, copies);
        }
    }

    private NDArray cutSource(Patch p, NDManager runManager) {
        try (NDScope scope = new NDScope()) {
            NDArray s = p.source().get(cutIndex(model.hookPoint(p.hookName()))); // [batch, ...] cut
            NDArray c = s.expandDims(0).duplicate(); // [1, batch, ...], contiguous and owned here
            NDScope.unregister(c);
            c.attach(runManager);
            return c;
        }
    }

    private static Region.Mask or(Region.Mask a, Region.Mask b) {
        long[] shape = new long[a.shape().length];
        int size = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = Math.max(a.shape()[i], b.shape()[i]);
            size *= (int) shape[i];
        }
        boolean[] v = new boolean[size];
        int[] idx = new int[shape.length];
        for (int flat = 0; flat < size; flat++) {
            v[flat] = a.at(idx) || b.at(idx);
            increment(idx, shape);
        }
        return new Region.Mask(shape, v);
    }

    /** Per-copy masks -> one boolean array [copies, ...] (axes a copy does not restrict broadcast). */
    private static NDArray stackMasks(Region.Mask[] masks, NDManager gm) {
        int rank = 0;
        for (Region.Mask m : masks) {
            if (m != null) {
                rank = m.shape().length;
            }
        }
        long[] shape = new long[rank];
        Arrays.fill(shape, 1);
        for (Region.Mask m : masks) {
            if (m != null) {
                for (int a = 0; a < rank; a++) {
                    shape[a] = Math.max(shape[a], m.shape()[a]);
                }
            }
        }
        int per = 1;
        for (long s : shape) {
            per *= (int) s;
        }
        boolean[] all = new boolean[masks.length * per];
        int[] idx = new int[rank];
        for (int k = 0; k < masks.length; k++) {
            if (masks[k] == null) {
                continue;
            }
            Arrays.fill(idx, 0);
            for (int flat = 0; flat < per; flat++) {
                all[k * per + flat] = masks[k].at(idx);
                increment(idx, shape);
            }
        }
        long[] withCopies = new long[rank + 1];
        withCopies[0] = masks.length;
        System.arraycopy(shape, 0, withCopies, 1, rank);
        return gm.create(all, new Shape(withCopies));
    }

    private static void increment(int[] idx, long[] shape) {
        for (int a = shape.length - 1; a >= 0; a--) {
            if (++idx[a] < shape[a]) {
                return;
            }
            idx[a] = 0;
        }
    }

    /** In the hook: copy k of the batch takes the source where its mask is true. */
    private NDArray patchCopies(NDArray act, int copies, List<NDArray[]> edits) {
        Shape s = act.getShape(); // [copies*batch, ...]
        if (s.get(0) != copies * batch) {
            throw new IllegalStateException("expected a batch of " + copies + " x " + batch + " but the hook saw " + s);
        }
        long[] k = new long[s.dimension() + 1];
        k[0] = copies;
        k[1] = batch;
        for (int a = 1; a < s.dimension(); a++) {
            k[a + 1] = s.get(a);
        }
        Shape byCopy = new Shape(k); // [copies, batch, ...]
        NDArray x = act.reshape(byCopy);
        for (NDArray[] e : edits) {
            x = NDArrays.where(e[0].broadcast(byCopy), e[1].broadcast(byCopy), x);
        }
        return x.reshape(s);
    }

    /**
     * The metric of each copy from the final residual stream: ln_final and the unembedding only at
     * the metric's positions and columns.
     *
     * @param resid [copies*batch, cut, d_model]
     */
    private float[] score(NDArray resid, int copies) {
        try (NDScope scope = new NDScope()) {
            long d = cfg.dModel();
            long[] rows = new long[(int) (copies * batch)];
            for (int k = 0; k < copies; k++) {
                for (int b = 0; b < batch; b++) {
                    rows[(int) (k * batch + b)] = (k * batch + b) * cut + positions[b];
                }
            }
            NDArray idx = resid.getManager().create(rows); // [copies*batch]
            NDArray at = resid.reshape(copies * batch * cut, d).get(new NDIndex("{}", idx)); // [copies*batch, d_model]
            NDArray normalized = FinalLn.apply(model, at); // [copies*batch, d_model]
            NDArray logits;
            if (wU != null) {
                NDArray byPrompt = normalized.reshape(copies, batch, d).transpose(1, 0, 2); // [batch, copies, d_model]
                logits = byPrompt.matMul(wU).transpose(1, 0, 2).add(bU); // [copies, batch, t]
            } else {
                logits = normalized.matMul(model.W_U()).add(model.b_U()).reshape(copies, batch, -1); // [copies, batch, d_vocab]
            }
            NDArray scores = metric.score(logits); // [copies]
            if (scores.getShape().dimension() != 1 || scores.getShape().get(0) != copies) {
                throw new IllegalStateException("the metric returned " + scores.getShape() + " for " + copies
                        + " copies; expected [" + copies + "]");
            }
            return scores.toType(DataType.FLOAT32, false).toFloatArray();
        }
    }

    private NDArray keep(NDArray a) {
        NDScope.unregister(a);
        a.attach(manager);
        return a;
    }

    /** Frees the corrupted run's cache and everything this object made; results stay valid. */
    @Override
    public void close() {
        corrupted.close();
        manager.close();
    }
}
