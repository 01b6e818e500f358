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
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 *   <li>positions before the first one a group changes are the corrupted run's in every copy: only
 *       the later positions run, attending to the prefix through the corrupted run's cached keys
 *       and values, merged into each head's output in the hooks ({@link Options#reusePrefix()}).
 *       By-position grids then run about half the positions; any grid runs only the positions
 *       from the first token where the clean and corrupted prompts differ;
 *   <li>the blocks run one call per layer, so at most one layer's intermediates are alive.
 * </ul>
 * The number of copies per forward is capped ({@link Options}): memory stays bounded whatever the
 * grid. Results agree with TL's one-forward-per-cell loops to float rounding (tests: 1e-4).
 *
 * <p>The general entry point is {@link #run(List)}: each cell is a list of {@link Patch}es (any
 * hooks, regions and sources), which is what path patching and ablations build on.
 *
 * <p>Lifetimes: this object borrows the model, the clean cache and the metric (keep them open), and
 * owns the corrupted run's cached residual streams, keys and values; close it. Each result owns
 * its grid. Other hooks on the model during a run see the batched, possibly shortened activations.
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
     * @param reusePrefix run only the positions from the first one a group's patches change: the
     *     positions before it are the corrupted run's in every copy (attention is causal), so their
     *     keys and values come from the corrupted run's cache and are merged into each head's
     *     output in the hooks (two-part softmax), exact up to float rounding. Cells patching
     *     attention scores or patterns, or the embeddings, always run every position.
     * @param progress reports cells as they finish
     */
    public record Options(int maxCellsPerForward, long maxTokensPerForward, boolean skipUnchanged, boolean reusePrefix,
            Progress progress) {
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
            return new Options(Integer.MAX_VALUE, 4096, true, true, Progress.NONE);
        }

        public Options maxCellsPerForward(int n) {
            return new Options(n, maxTokensPerForward, skipUnchanged, reusePrefix, progress);
        }

        public Options maxTokensPerForward(long n) {
            return new Options(maxCellsPerForward, n, skipUnchanged, reusePrefix, progress);
        }

        public Options skipUnchanged(boolean on) {
            return new Options(maxCellsPerForward, maxTokensPerForward, on, reusePrefix, progress);
        }

        public Options progress(Progress p) {
            return new Options(maxCellsPerForward, maxTokensPerForward, skipUnchanged, reusePrefix, p);
        }

        public Options reusePrefix(boolean on) {
            return new Options(maxCellsPerForward, maxTokensPerForward, skipUnchanged, on, progress);
        }
    }

    private final HookedTransformer model;
    private final GPT2Config cfg;
    private final ActivationCache clean;
    private final PatchingMetric metric;
    private final Options options;
    private final NDManager manager; // owns everything below
    private final ActivationCache corrupted; // resid_pre and k, v of every layer, resid_post of the last; pos cut
    private final NDArray tokens; // corrupted tokens cut to [batch, cut]
    private final long batch;
    private final long seqLen; // full sequence length (TL's pos axis)
    private final long cut; // positions run: last position the metric reads + 1
    private final long[] positions; // [batch]
    private final Readout readout; // ln_final and the unembedding columns the metric reads
    private final double baseline;
    private RunStats stats = new RunStats(0, 0, 0, 0);

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
            corruptedCache = model.runWithCache(tokens, n -> n.endsWith(".hook_resid_pre") || n.equals(lastPost)
                    || n.endsWith(".attn.hook_k") || n.endsWith(".attn.hook_v"),
                    RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
            readout = new Readout(model, metric, batch, manager);
            this.corrupted = corruptedCache;
            this.baseline = score(corruptedCache.get(lastPost), 1, 0)[0];
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
        return layerPosHead("z", "Activation patching: head output (z) by position");
    }

    /** TL's {@code get_act_patch_attn_head_q_by_pos}, [n_layers, pos, n_heads]. */
    public PatchingResult headQByPos() {
        return layerPosHead("q", "Activation patching: head queries by position");
    }

    /** TL's {@code get_act_patch_attn_head_k_by_pos}, [n_layers, pos, n_heads]. */
    public PatchingResult headKByPos() {
        return layerPosHead("k", "Activation patching: head keys by position");
    }

    /** TL's {@code get_act_patch_attn_head_v_by_pos}, [n_layers, pos, n_heads]. */
    public PatchingResult headVByPos() {
        return layerPosHead("v", "Activation patching: head values by position");
    }

    /**
     * TL's {@code get_act_patch_attn_head_pattern_by_pos}: one row of a head's attention pattern (a
     * destination position), [n_layers, n_heads, dest_pos].
     */
    public PatchingResult headPatternByPos() {
        return result("Activation patching: head attention pattern by destination position", run(patternByPosCells()),
                new long[] {cfg.nLayers(), cfg.nHeads(), seqLen}, List.of("layer", "head", "dest_pos"));
    }

    /**
     * TL's {@code get_act_patch_attn_head_pattern_dest_src_pos}: one entry of a head's attention
     * pattern, [n_layers, n_heads, dest_pos, src_pos]. The biggest grid (n_layers x n_heads x pos^2
     * cells); entries above the diagonal are 0 in both runs and are not run.
     */
    public PatchingResult headPatternDestSrc() {
        return result("Activation patching: head attention pattern by destination and source position",
                run(patternDestSrcCells()), new long[] {cfg.nLayers(), cfg.nHeads(), seqLen, seqLen},
                List.of("layer", "head", "dest_pos", "src_pos"));
    }

    /**
     * TL's {@code get_act_patch_attn_head_all_pos_every}: output, q, k, v and pattern of each head
     * over all positions, [5, n_layers, n_heads], all in one batched run.
     */
    public PatchingResult headAllPosEvery() {
        List<List<Patch>> cells = new ArrayList<>();
        for (String act : List.of("z", "q", "k", "v", "pattern")) {
            cells.addAll(layerHeadCells(act));
        }
        return result("Activation patching: head output, q, k, v, pattern (all positions)", run(cells),
                new long[] {5, cfg.nLayers(), cfg.nHeads()}, List.of("act", "layer", "head"));
    }

    /**
     * TL's {@code get_act_patch_attn_head_by_pos_every}: output, q, k, v and pattern (a destination
     * row) of each head at each position, [5, n_layers, pos, n_heads], all in one batched run.
     */
    public PatchingResult headByPosEvery() {
        return result("Activation patching: head output, q, k, v, pattern by position", run(byPosEveryCells()),
                new long[] {5, cfg.nLayers(), seqLen, cfg.nHeads()}, List.of("act", "layer", "pos", "head"));
    }

    /** TL's {@code get_act_patch_block_every}: resid_pre, attn_out, mlp_out by position, [3, n_layers, pos]. */
    public PatchingResult blockEvery() {
        List<List<Patch>> cells = new ArrayList<>();
        for (String act : List.of("resid_pre", "attn_out", "mlp_out")) {
            cells.addAll(layerPosCells(act));
        }
        return result("Activation patching: resid_pre, attn_out, mlp_out by position", run(cells),
                new long[] {3, cfg.nLayers(), seqLen}, List.of("act", "layer", "pos"));
    }

    // Cell lists in grid order (row-major over the result's axes); package-private for the tests,
    // which run samples of the big grids.

    /** [n_layers, n_heads, dest_pos]. */
    List<List<Patch>> patternByPosCells() {
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String name = HookNames.getActName("pattern", l);
            NDArray source = clean.get(name);
            for (int h = 0; h < cfg.nHeads(); h++) {
                for (long d = 0; d < seqLen; d++) {
                    cells.add(List.of(new Patch(name, Region.at("head_index", h).and("query_pos", d), source)));
                }
            }
        }
        return cells;
    }

    /** [n_layers, n_heads, dest_pos, src_pos]. */
    List<List<Patch>> patternDestSrcCells() {
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String name = HookNames.getActName("pattern", l);
            NDArray source = clean.get(name);
            for (int h = 0; h < cfg.nHeads(); h++) {
                for (long d = 0; d < seqLen; d++) {
                    for (long s = 0; s < seqLen; s++) {
                        cells.add(List.of(new Patch(name,
                                Region.at("head_index", h).and("query_pos", d).and("key_pos", s), source)));
                    }
                }
            }
        }
        return cells;
    }

    /** [5 (z, q, k, v, pattern), n_layers, pos, n_heads]; the pattern's destination row as the position, as TL rearranges it. */
    List<List<Patch>> byPosEveryCells() {
        List<List<Patch>> cells = new ArrayList<>();
        for (String act : List.of("z", "q", "k", "v")) {
            cells.addAll(layerPosHeadCells(act));
        }
        for (int l = 0; l < cfg.nLayers(); l++) {
            String name = HookNames.getActName("pattern", l);
            NDArray source = clean.get(name);
            for (long p = 0; p < seqLen; p++) {
                for (int h = 0; h < cfg.nHeads(); h++) {
                    cells.add(List.of(new Patch(name, Region.at("head_index", h).and("query_pos", p), source)));
                }
            }
        }
        return cells;
    }

    private PatchingResult layerPosHead(String act, String title) {
        return result(title, run(layerPosHeadCells(act)), new long[] {cfg.nLayers(), seqLen, cfg.nHeads()},
                List.of("layer", "pos", "head"));
    }

    /** [n_layers, pos, n_heads] of {@code act}. */
    List<List<Patch>> layerPosHeadCells(String act) {
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String name = HookNames.getActName(act, l);
            NDArray source = clean.get(name);
            for (long p = 0; p < seqLen; p++) {
                for (int h = 0; h < cfg.nHeads(); h++) {
                    cells.add(List.of(new Patch(name, Region.at("pos", p).and("head_index", h), source)));
                }
            }
        }
        return cells;
    }

    private PatchingResult layerPos(String act, String title) {
        return result(title, run(layerPosCells(act)), new long[] {cfg.nLayers(), seqLen}, List.of("layer", "pos"));
    }

    private List<List<Patch>> layerPosCells(String act) {
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String name = HookNames.getActName(act, l);
            NDArray source = clean.get(name);
            for (long p = 0; p < seqLen; p++) {
                cells.add(List.of(new Patch(name, Region.at("pos", p), source)));
            }
        }
        return cells;
    }

    private PatchingResult layerHead(String act, String title) {
        return result(title, run(layerHeadCells(act)), new long[] {cfg.nLayers(), cfg.nHeads()},
                List.of("layer", "head"));
    }

    private List<List<Patch>> layerHeadCells(String act) {
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String name = HookNames.getActName(act, l);
            NDArray source = clean.get(name);
            for (int h = 0; h < cfg.nHeads(); h++) {
                cells.add(List.of(new Patch(name, Region.at("head_index", h), source)));
            }
        }
        return cells;
    }

    private PatchingResult result(String title, float[] values, long[] shape, List<String> axes) {
        return new PatchingResult(title, values, shape, axes, baseline);
    }

    // ---------------------------------------------------------------- the batched core

    /**
     * A cell ready to run: its index in the caller's list, the layer it starts at, the first
     * position it can change (0 when the prefix cannot be reused), its patches.
     */
    private record Cell(int index, int start, long from, List<Patch> patches) {}

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
            // hook -> full-length source -> cut [1, batch, ...]
            Map<String, Map<NDArray, NDArray>> cutSources = new HashMap<>();
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
                int start = startLayer(patches);
                todo.add(new Cell(i, start, firstChanged(patches, start, unchanged), patches));
            }
            long forwards = 0;
            long tokenLayers = 0;
            progress.step(skipped);
            // stable: within a layer and a first position, cells keep their order
            todo.sort(Comparator.comparingInt(Cell::start).thenComparingLong(Cell::from));
            int first = 0;
            while (first < todo.size()) {
                Cell head = todo.get(first); // the group's smallest first position: it runs [head.from, cut)
                long tokensPerCopy = batch * (cut - head.from());
                int perForward = (int) Math.max(1, Math.min(options.maxCellsPerForward(),
                        options.maxTokensPerForward() / tokensPerCopy));
                // Every copy runs [head.from, cut): a cell whose own first position is later computes
                // the positions in between for nothing. Group only cells within 1/16 of the run length
                // of the head's first position (by-position grids: one or two positions per group;
                // measured on IOI/ABC, GPT-2 small, resid_pre: 39 s instead of 49 s with groups of 8
                // positions), as many as the caps allow when they share it (head grids).
                long slack = (cut - head.from()) / 16;
                int end = first;
                while (end < todo.size() && end - first < perForward && todo.get(end).start() == head.start()
                        && todo.get(end).from() <= head.from() + slack) {
                    end++;
                }
                List<Cell> group = todo.subList(first, end);
                float[] scores = runGroup(group, head.start(), head.from(), cutSources, runManager);
                forwards++;
                tokenLayers += group.size() * tokensPerCopy * (cfg.nLayers() - Math.max(0, head.start()));
                for (int k = 0; k < group.size(); k++) {
                    out[group.get(k).index()] = scores[k];
                }
                progress.step(group.size());
                first = end;
            }
            stats = new RunStats(cells.size(), skipped, forwards, tokenLayers);
        } finally {
            progress.done();
        }
        return out;
    }

    /**
     * What the last {@link #run} (or grid) did.
     *
     * @param cells cells asked for
     * @param skipped cells answered without a forward pass (nothing changed before the metric reads)
     * @param forwards batched forward passes
     * @param tokenLayers token-blocks computed: sum over passes of copies x batch x positions run x
     *     blocks run (TL's loop computes cells x batch x pos x n_layers, plus the unembedding)
     */
    public record RunStats(long cells, long skipped, long forwards, long tokenLayers) {}

    public RunStats lastRunStats() {
        return stats;
    }

    /** How many cells the last {@link #run} answered without a forward pass (unchanged or after the metric's positions). */
    public long skippedCells() {
        return stats.skipped();
    }

    /**
     * The corrupted run's activations at the patched hooks, to find patches that change nothing:
     * per (hook, source) a boolean [batch, ...] of where the source differs from them.
     */
    private final class Unchanged implements AutoCloseable {
        private final ActivationCache acts;
        // hook -> source -> where the cut source differs from the corrupted activation, BOOLEAN [batch, ...]
        private final Map<String, Map<NDArray, NDArray>> differs = new HashMap<>();
        private final NDManager m;

        Unchanged(List<List<Patch>> cells, NDManager m) {
            this.m = m;
            Set<String> hooks = new HashSet<>();
            for (List<Patch> c : cells) {
                for (Patch p : c) {
                    hooks.add(p.hookName());
                }
            }
            acts = model.runWithCache(tokens, hooks::contains, RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
        }

        /** Where the patch's source differs from the corrupted activation: BOOLEAN [batch, ...] over [0, cut). */
        NDArray differs(Patch p) {
            Map<NDArray, NDArray> ofHook = differs.computeIfAbsent(p.hookName(), h -> new IdentityHashMap<>());
            return ofHook.computeIfAbsent(p.source(), s -> {
                try (NDScope scope = new NDScope()) {
                    NDArray cutSource = s.get(cutIndex(model.hookPoint(p.hookName()), 0));
                    NDArray diff = cutSource.neq(acts.get(p.hookName())); // [batch, ...]
                    NDScope.unregister(diff);
                    diff.attach(m);
                    return diff;
                }
            });
        }

        boolean changesNothing(List<Patch> patches) {
            try (NDScope scope = new NDScope()) {
                for (Patch p : patches) {
                    NDArray d = differs(p);
                    Region.Mask mask = mask(p, 0, cut);
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

    /** The NDIndex of positions [from, cut) along every position axis. */
    private String cutIndex(HookPoint hp, long from) {
        StringBuilder index = new StringBuilder();
        for (String dim : hp.dims()) {
            index.append(index.length() == 0 ? "" : ", ").append(Region.isPos(dim) ? from + ":" + cut : ":");
        }
        return index.toString();
    }

    /**
     * The first position a cell's patches can change, capped at the first position the metric
     * reads; 0 when the prefix cannot be reused (option off, embeddings, or a hook without a
     * {@code pos} axis: attention scores and patterns span key positions too).
     */
    private long firstChanged(List<Patch> patches, int start, Unchanged unchanged) {
        if (!options.reusePrefix() || start < 0) {
            return 0;
        }
        long first = Arrays.stream(positions).min().orElse(0);
        for (Patch p : patches) {
            HookPoint hp = model.hookPoint(p.hookName());
            int posAxis = hp.dims().indexOf("pos");
            if (posAxis < 0 || hp.dims().contains("key_pos")) {
                return 0;
            }
            try (NDScope scope = new NDScope()) {
                Region.Mask mask = mask(p, 0, cut);
                NDArray touched = manager.create(mask.values(), new Shape(mask.shape())); // BOOLEAN, broadcasts
                Shape shape = new Shape(fullShape(hp)).slice(0, posAxis).addAll(new Shape(cut))
                        .addAll(new Shape(fullShape(hp)).slice(posAxis + 1));
                touched = touched.broadcast(shape); // [batch, cut, ...]
                if (unchanged != null) {
                    touched = touched.logicalAnd(unchanged.differs(p)); // where the patch changes a value
                }
                int[] others = new int[shape.dimension() - 1];
                for (int a = 0, o = 0; a < shape.dimension(); a++) {
                    if (a != posAxis) {
                        others[o++] = a;
                    }
                }
                long[] perPos = touched.toType(DataType.INT32, false).sum(others).toType(DataType.INT64, false)
                        .toLongArray(); // [cut]
                for (int q = 0; q < perPos.length && q < first; q++) {
                    if (perPos[q] > 0) {
                        first = q;
                    }
                }
            }
        }
        return first;
    }

    private boolean touchesRunPositions(List<Patch> patches) {
        for (Patch p : patches) {
            if (mask(p, 0, cut).any()) {
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

    /** The patch's mask over positions [from, to) (and everything else whole). */
    private Region.Mask mask(Patch p, long from, long to) {
        HookPoint hp = model.hookPoint(p.hookName());
        long[] full = fullShape(hp);
        Shape s = p.source().getShape();
        if (!s.equals(new Shape(full))) {
            throw new IllegalArgumentException(p.hookName() + ": the patch source is " + s + " but the activation is "
                    + hp.dims() + " = " + new Shape(full));
        }
        return p.region().mask(p.hookName(), hp.dims(), full, from, to);
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


    /** Patches of one hook that read the same source: the source cut, and a mask per copy. */
    private static final class SourceGroup {
        final NDArray source; // [1, batch, ...] cut
        final Region.Mask[] masks; // per copy, null where the copy does not use this source

        SourceGroup(NDArray source, int copies) {
            this.source = source;
            this.masks = new Region.Mask[copies];
        }
    }

    /**
     * Runs one group: every cell starts at layer {@code start}, and only positions [from, cut) run
     * (from > 0 only when no cell changes anything before it).
     */
    private float[] runGroup(List<Cell> group, int start, long from, Map<String, Map<NDArray, NDArray>> cutSources,
            NDManager runManager) {
        int copies = group.size();
        try (NDManager gm = runManager.newSubManager()) {
            // hook name -> source groups, in first-appearance order
            Map<String, Map<NDArray, SourceGroup>> byHook = new LinkedHashMap<>();
            for (int k = 0; k < copies; k++) {
                for (Patch p : group.get(k).patches()) {
                    NDArray cutSource = cutSources.computeIfAbsent(p.hookName() + "@" + from, h -> new IdentityHashMap<>())
                            .computeIfAbsent(p.source(), s -> cutSource(p, from, runManager));
                    SourceGroup g = byHook.computeIfAbsent(p.hookName(), n -> new LinkedHashMap<>())
                            .computeIfAbsent(p.source(), s -> new SourceGroup(cutSource, copies));
                    Region.Mask m = mask(p, from, cut);
                    g.masks[k] = g.masks[k] == null ? m : or(g.masks[k], m);
                }
            }
            PrefixAttention[] prefix = new PrefixAttention[cfg.nLayers()];
            List<Hook> hooks = new ArrayList<>();
            if (from > 0) { // the prefix's share of each head's output goes in before any patch of z
                for (int l = start; l < cfg.nLayers(); l++) {
                    PrefixAttention pa = new PrefixAttention(l, from, copies);
                    prefix[l] = pa;
                    hooks.add(Hook.of(HookNames.getActName("z", l), (z, hook) -> pa.onZ(z)));
                }
            }
            for (Map.Entry<String, Map<NDArray, SourceGroup>> e : byHook.entrySet()) {
                List<NDArray[]> edits = new ArrayList<>(); // {mask [copies, ...], source [1, batch, ...]}
                for (SourceGroup g : e.getValue().values()) {
                    edits.add(new NDArray[] {stackMasks(g.masks, gm), g.source});
                }
                hooks.add(Hook.of(e.getKey(), (act, hook) -> patchCopies(act, copies, edits)));
            }
            for (PrefixAttention pa : prefix) { // after any patch of q: the prefix scores use the patched queries
                if (pa != null) {
                    hooks.add(Hook.of(HookNames.getActName("q", pa.layer), (q, hook) -> pa.onQ(q)));
                    hooks.add(Hook.of(HookNames.getActName("attn_scores", pa.layer), (sc, hook) -> pa.onScores(sc)));
                }
            }
            NDArray x;
            try (HookScope scope = model.hooks(hooks)) {
                int firstLayer = start;
                if (start < 0) { // embeddings patched: run from the tokens (from is 0 then)
                    NDArray t = tokens.tile(new long[] {copies, 1}); // [copies*batch, cut]
                    t.attach(gm);
                    x = model.forward(t, RunOptions.defaults().stopAtLayer(0)).logits(); // [copies*batch, cut, d_model]
                    firstLayer = 0;
                } else {
                    try (NDScope s = new NDScope()) {
                        NDArray resid = corrupted.get("resid_pre", start).get(":, " + from + ":"); // [batch, cut-from, d_model]
                        x = resid.tile(new long[] {copies, 1, 1}); // [copies*batch, cut-from, d_model]
                        NDScope.unregister(x);
                    }
                    x.attach(gm);
                }
                for (int l = firstLayer; l < cfg.nLayers(); l++) {
                    // One call per block: a block's intermediates are freed before the next one runs.
                    NDArray next = model.forward(x, RunOptions.defaults().startAtLayer(l).stopAtLayer(l + 1)).logits();
                    x.close();
                    x = next; // [copies*batch, cut-from, d_model]
                }
            }
            return score(x, copies, from);
        }
    }

    /**
     * Attention of the positions run to the positions before them (the prefix, the corrupted
     * run's in every copy): a head's output over all keys is the two partial softmaxes merged,
     * {@code z = w_suf z_suf + w_pre z_pre} with weights from each part's log-sum-exp of scores
     * (as flash attention merges blocks). The model computes {@code z_suf} over the positions run;
     * {@code onQ} computes the prefix part from the corrupted run's cached keys and values,
     * {@code onScores} reads the run positions' log-sum-exp, {@code onZ} merges.
     */
    private final class PrefixAttention {
        final int layer;
        private final long from;
        private final int copies;
        private NDArray lsePre; // [batch, head_index, copies*q, 1]
        private NDArray zPre; // [batch, head_index, copies*q, d_head]
        private NDArray lseSuf; // [batch, head_index, copies*q, 1]

        PrefixAttention(int layer, long from, int copies) {
            this.layer = layer;
            this.from = from;
            this.copies = copies;
        }

        /** q [copies*batch, q, head_index, d_head] -> [batch, head_index, copies*q, d_head]. */
        private NDArray byPrompt(NDArray a) {
            Shape s = a.getShape();
            return a.reshape(copies, batch, s.get(1), s.get(2), s.get(3)).transpose(1, 3, 0, 2, 4)
                    .reshape(batch, s.get(2), copies * s.get(1), s.get(3));
        }

        NDArray onQ(NDArray q) { // [copies*batch, q, head_index, d_head]
            String idx = ":, :" + from;
            NDArray k = corrupted.get("k", layer).get(idx).transpose(0, 2, 3, 1); // [batch, head_index, d_head, from]
            NDArray v = corrupted.get("v", layer).get(idx).transpose(0, 2, 1, 3); // [batch, head_index, from, d_head]
            NDArray scores = byPrompt(q).matMul(k).div(cfg.attnScale()); // [batch, head_index, copies*q, from]
            lsePre = logSumExp(scores);
            zPre = scores.softmax(-1).matMul(v); // [batch, head_index, copies*q, d_head]
            return null;
        }

        NDArray onScores(NDArray scores) { // [copies*batch, head_index, q, q], -inf above the diagonal
            Shape s = scores.getShape();
            NDArray lse = logSumExp(scores); // [copies*batch, head_index, q, 1]
            lseSuf = lse.reshape(copies, batch, s.get(1), s.get(2)).transpose(1, 2, 0, 3)
                    .reshape(batch, s.get(1), copies * s.get(2), 1);
            return null;
        }

        NDArray onZ(NDArray z) { // [copies*batch, q, head_index, d_head]
            Shape s = z.getShape();
            NDArray max = NDArrays.maximum(lsePre, lseSuf);
            NDArray wPre = lsePre.sub(max).exp();
            NDArray wSuf = lseSuf.sub(max).exp();
            NDArray total = wPre.add(wSuf);
            NDArray merged = byPrompt(z).mul(wSuf).add(zPre.mul(wPre)).div(total); // [batch, head_index, copies*q, d_head]
            return merged.reshape(batch, s.get(2), copies, s.get(1), s.get(3)).transpose(2, 0, 3, 1, 4).reshape(s);
        }
    }

    /** log(sum(exp(x))) over the last axis, keeping it: [..., 1]. Rows need one finite entry. */
    private static NDArray logSumExp(NDArray x) {
        NDArray max = x.max(new int[] {-1}, true);
        return x.sub(max).exp().sum(new int[] {-1}, true).log().add(max);
    }

    private NDArray cutSource(Patch p, long from, NDManager runManager) {
        try (NDScope scope = new NDScope()) {
            NDArray s = p.source().get(cutIndex(model.hookPoint(p.hookName()), from)); // [batch, ...] positions [from, cut)
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
     * @param resid [copies*batch, cut - from, d_model]: positions [from, cut)
     */
    private float[] score(NDArray resid, int copies, long from) {
        try (NDScope scope = new NDScope()) {
            long d = cfg.dModel();
            long run = cut - from;
            long[] rows = new long[(int) (copies * batch)];
            for (int k = 0; k < copies; k++) {
                for (int b = 0; b < batch; b++) {
                    rows[(int) (k * batch + b)] = (k * batch + b) * run + positions[b] - from;
                }
            }
            NDArray idx = resid.getManager().create(rows); // [copies*batch]
            NDArray at = resid.reshape(copies * batch * run, d).get(new NDIndex("{}", idx)); // [copies*batch, d_model]
            return readout.score(at.reshape(copies, batch, d)); // [copies, batch, d_model] -> [copies]
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
