package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.HookNames;
import ioi.lens.HookPoint;
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
 *   <li>cells that patch only one layer's {@code hook_z} start there: the patched heads' outputs
 *       go through {@code W_O} and the MLP, and that layer's attention is not recomputed;
 *   <li>the last block runs only at the metric's positions when no cell patches it;
 *   <li>the blocks run one call per layer, so at most one layer's intermediates are alive.
 * </ul>
 * Each group of cells is one run of the experiments' batched engine (docs/engine.md). The number
 * of copies per forward is capped ({@link Options}): memory stays bounded whatever the grid.
 * Results agree with TL's one-forward-per-cell loops to float rounding (tests: 1e-4).
 *
 * <p>The general entry point is {@link #run(List)}: each cell is a list of {@link Patch}es (any
 * hooks, regions and sources).
 *
 * <p>Lifetimes: this object borrows the model, the clean cache and the metric (keep them open), and
 * owns the corrupted run's cached residual streams, keys, values and head outputs; close it.
 * Results hold Java arrays and outlive it. Other hooks on the model during a run see the batched,
 * possibly shortened activations.
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
    private final ActivationCache corrupted; // resid_pre, k, v of every layer, resid_post of the last; pos cut
    private ActivationCache corruptedZ; // hook_z of every layer, pos cut; cached when a cell first starts at a hook_z
    private final NDArray tokens; // corrupted tokens cut to [batch, cut]
    private final long batch;
    private final long seqLen; // full sequence length (TL's pos axis)
    private final long cut; // positions run: last position the metric reads + 1
    private final long[] positions; // [batch]
    private final Readout readout; // ln_final and the unembedding columns the metric reads
    private final BatchedRun engine; // runs each group of cells
    private final PatchPlan plan; // what each cell's patches touch
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
            engine = new BatchedRun(model, batch, positions);
            plan = new PatchPlan(model, batch, seqLen, cut, positions, manager);
            this.corrupted = corruptedCache;
            try (NDScope scope = new NDScope()) {
                NDArray at = BatchedRun.rowsAt(corruptedCache.get(lastPost), positions); // [batch, d_model]
                this.baseline = readout.score(at.expandDims(0))[0];
            }
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

    private static final List<String> POS = List.of("pos");
    private static final List<String> HEAD = List.of("head_index");
    private static final List<String> POS_HEAD = List.of("pos", "head_index");

    /** TL's {@code get_act_patch_resid_pre}: the residual stream entering each layer, by position, [n_layers, pos]. */
    public PatchingResult residPre() {
        return grid("Activation patching: resid_pre by position", List.of("resid_pre"), POS);
    }

    /** TL's {@code get_act_patch_resid_mid}, [n_layers, pos]. */
    public PatchingResult residMid() {
        return grid("Activation patching: resid_mid by position", List.of("resid_mid"), POS);
    }

    /** TL's {@code get_act_patch_attn_out}: each attention layer's output by position, [n_layers, pos]. */
    public PatchingResult attnOut() {
        return grid("Activation patching: attn_out by position", List.of("attn_out"), POS);
    }

    /** TL's {@code get_act_patch_mlp_out}: each MLP's output by position, [n_layers, pos]. */
    public PatchingResult mlpOut() {
        return grid("Activation patching: mlp_out by position", List.of("mlp_out"), POS);
    }

    /**
     * TL's {@code get_act_patch_attn_head_out_all_pos}: each head's output ({@code z}) at every
     * position, [n_layers, n_heads] (ARENA: "Logit Difference From Patched Head Output").
     */
    public PatchingResult headOutAllPos() {
        return grid("Activation patching: head output (z), all positions", List.of("z"), HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_q_all_pos}, [n_layers, n_heads]. */
    public PatchingResult headQAllPos() {
        return grid("Activation patching: head queries, all positions", List.of("q"), HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_k_all_pos}, [n_layers, n_heads]. */
    public PatchingResult headKAllPos() {
        return grid("Activation patching: head keys, all positions", List.of("k"), HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_v_all_pos}, [n_layers, n_heads]. */
    public PatchingResult headVAllPos() {
        return grid("Activation patching: head values, all positions", List.of("v"), HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_pattern_all_pos}: each head's whole attention pattern, [n_layers, n_heads]. */
    public PatchingResult headPatternAllPos() {
        return grid("Activation patching: head attention patterns, all positions", List.of("pattern"), HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_out_by_pos}: each head's output at each position, [n_layers, pos, n_heads]. */
    public PatchingResult headOutByPos() {
        return grid("Activation patching: head output (z) by position", List.of("z"), POS_HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_q_by_pos}, [n_layers, pos, n_heads]. */
    public PatchingResult headQByPos() {
        return grid("Activation patching: head queries by position", List.of("q"), POS_HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_k_by_pos}, [n_layers, pos, n_heads]. */
    public PatchingResult headKByPos() {
        return grid("Activation patching: head keys by position", List.of("k"), POS_HEAD);
    }

    /** TL's {@code get_act_patch_attn_head_v_by_pos}, [n_layers, pos, n_heads]. */
    public PatchingResult headVByPos() {
        return grid("Activation patching: head values by position", List.of("v"), POS_HEAD);
    }

    /**
     * TL's {@code get_act_patch_attn_head_pattern_by_pos}: one row of a head's attention pattern (a
     * destination position), [n_layers, n_heads, dest_pos].
     */
    public PatchingResult headPatternByPos() {
        return grid("Activation patching: head attention pattern by destination position", List.of("pattern"),
                List.of("head_index", "query_pos"));
    }

    /**
     * TL's {@code get_act_patch_attn_head_pattern_dest_src_pos}: one entry of a head's attention
     * pattern, [n_layers, n_heads, dest_pos, src_pos]. The biggest grid (n_layers x n_heads x pos^2
     * cells); entries above the diagonal are 0 in both runs and are not run.
     */
    public PatchingResult headPatternDestSrc() {
        return grid("Activation patching: head attention pattern by destination and source position",
                List.of("pattern"), List.of("head_index", "query_pos", "key_pos"));
    }

    /**
     * TL's {@code get_act_patch_attn_head_all_pos_every}: output, q, k, v and pattern of each head
     * over all positions, [5, n_layers, n_heads], all in one batched run.
     */
    public PatchingResult headAllPosEvery() {
        return grid("Activation patching: head output, q, k, v, pattern (all positions)",
                List.of("z", "q", "k", "v", "pattern"), HEAD);
    }

    /**
     * TL's {@code get_act_patch_attn_head_by_pos_every}: output, q, k, v and pattern (a destination
     * row, as TL rearranges it) of each head at each position, [5, n_layers, pos, n_heads], all in one batched run.
     */
    public PatchingResult headByPosEvery() {
        return grid("Activation patching: head output, q, k, v, pattern by position",
                List.of("z", "q", "k", "v", "pattern"), POS_HEAD);
    }

    /** TL's {@code get_act_patch_block_every}: resid_pre, attn_out, mlp_out by position, [3, n_layers, pos]. */
    public PatchingResult blockEvery() {
        return grid("Activation patching: resid_pre, attn_out, mlp_out by position",
                List.of("resid_pre", "attn_out", "mlp_out"), POS);
    }

    /**
     * A grid over [act (when several), layer, dims...]: one cell per index, patching that entry of
     * the clean run's {@code act} into the corrupted run ({@link #cells}).
     */
    private PatchingResult grid(String title, List<String> acts, List<String> dims) {
        List<List<Patch>> cells = new ArrayList<>();
        for (String act : acts) {
            cells.addAll(cells(act, dims));
        }
        List<String> axes = new ArrayList<>();
        List<Long> shape = new ArrayList<>();
        if (acts.size() > 1) {
            axes.add("act");
            shape.add((long) acts.size());
        }
        axes.add("layer");
        shape.add((long) cfg.nLayers());
        for (String d : dims) {
            axes.add(switch (d) {
                case "head_index" -> "head";
                case "query_pos" -> "dest_pos";
                case "key_pos" -> "src_pos";
                default -> d;
            });
            shape.add(size(d));
        }
        return result(title, run(cells), shape.stream().mapToLong(Long::longValue).toArray(), axes);
    }

    /**
     * The cells of one activation in grid order, row-major over [layer, dims...]: each patches
     * the clean run's {@code act} at one index of each of {@code dims} (head_index, pos, query_pos,
     * key_pos), everything else whole. On attention patterns, which have no {@code pos} axis,
     * {@code pos} is the destination ({@code query_pos}), as TL's {@code *_by_pos_every} rearranges
     * them. Package-private for the tests, which run samples of the big grids.
     */
    List<List<Patch>> cells(String act, List<String> dims) {
        long[] sizes = dims.stream().mapToLong(this::size).toArray();
        long count = Arrays.stream(sizes).reduce(1, (x, y) -> x * y);
        List<List<Patch>> cells = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String name = HookNames.getActName(act, l);
            List<String> hookDims = model.hookPoint(name).dims();
            NDArray source = clean.get(name);
            List<String> onHook = dims.stream().map(d -> d.equals("pos") && !hookDims.contains("pos") ? "query_pos" : d)
                    .toList();
            int[] idx = new int[sizes.length];
            for (long c = 0; c < count; c++) {
                Region r = Region.all();
                for (String d : hookDims) { // restricted in the hook's axis order: one region, one name
                    int a = onHook.indexOf(d);
                    if (a >= 0) {
                        r = r.and(d, idx[a]);
                    }
                }
                cells.add(List.of(new Patch(name, r, source)));
                PatchPlan.increment(idx, sizes);
            }
        }
        return cells;
    }

    private long size(String dim) {
        return dim.equals("head_index") ? cfg.nHeads() : seqLen;
    }

    private PatchingResult result(String title, float[] values, long[] shape, List<String> axes) {
        return new PatchingResult(title, values, shape, axes, baseline);
    }

    // ---------------------------------------------------------------- the batched core

    /**
     * A cell ready to run: its index in the caller's list, the layer it starts at, the first
     * position it can change (0 when the prefix cannot be reused), its patches.
     */
    private record Cell(int index, int start, long from, boolean fromZ, List<Patch> patches) {}

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
                PatchPlan.Unchanged unchanged = options.skipUnchanged() ? plan.new Unchanged(cells, tokens, runManager) : null) {
            // hook -> full-length source -> cut [1, batch, ...]
            Map<String, Map<NDArray, NDArray>> cutSources = new HashMap<>();
            List<Cell> todo = new ArrayList<>();
            long skipped = 0;
            for (int i = 0; i < cells.size(); i++) {
                List<Patch> patches = cells.get(i);
                if (patches.isEmpty() || !plan.touchesRunPositions(patches)
                        || unchanged != null && unchanged.changesNothing(patches)) {
                    out[i] = (float) baseline; // nothing patched before the metric reads: the corrupted run
                    skipped++;
                    continue;
                }
                int start = plan.startLayer(patches);
                String z = start < 0 ? null : HookNames.getActName("z", start);
                boolean fromZ = patches.stream().allMatch(p -> p.hookName().equals(z));
                long from = plan.firstChanged(patches, start, unchanged, options.reusePrefix());
                todo.add(new Cell(i, start, from, fromZ, patches));
            }
            long forwards = 0;
            long tokenLayers = 0;
            progress.step(skipped);
            // stable: within a layer and a first position, cells keep their order
            todo.sort(Comparator.comparingInt(Cell::start).thenComparing(Cell::fromZ).thenComparingLong(Cell::from));
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
                        && todo.get(end).fromZ() == head.fromZ() && todo.get(end).from() <= head.from() + slack) {
                    end++;
                }
                List<Cell> group = todo.subList(first, end);
                float[] scores = runGroup(group, head.start(), head.from(), head.fromZ(), cutSources, runManager);
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
     *     blocks from the start layer on, each counted whole (a pass that starts at a layer's hook_z,
     *     or runs the last block only at the metric's positions, computes part of those two); TL's
     *     loop computes cells x batch x pos x n_layers, plus the unembedding
     */
    public record RunStats(long cells, long skipped, long forwards, long tokenLayers) {}

    public RunStats lastRunStats() {
        return stats;
    }

    /** How many cells the last {@link #run} answered without a forward pass (unchanged or after the metric's positions). */
    public long skippedCells() {
        return stats.skipped();
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
    private float[] runGroup(List<Cell> group, int start, long from, boolean fromZ,
            Map<String, Map<NDArray, NDArray>> cutSources, NDManager runManager) {
        int copies = group.size();
        try (NDManager gm = runManager.newSubManager(); NDScope scope = new NDScope()) {
            // hook name -> source groups, in first-appearance order
            Map<String, Map<NDArray, SourceGroup>> byHook = new LinkedHashMap<>();
            for (int k = 0; k < copies; k++) {
                for (Patch p : group.get(k).patches()) {
                    NDArray cutSource = cutSources.computeIfAbsent(p.hookName() + "@" + from, h -> new IdentityHashMap<>())
                            .computeIfAbsent(p.source(), s -> plan.cutSource(p, from, runManager));
                    SourceGroup g = byHook.computeIfAbsent(p.hookName(), n -> new LinkedHashMap<>())
                            .computeIfAbsent(p.source(), s -> new SourceGroup(cutSource, copies));
                    Region.Mask m = plan.mask(p, from, cut);
                    g.masks[k] = g.masks[k] == null ? m : PatchPlan.or(g.masks[k], m);
                }
            }
            List<BatchedRun.Edit> edits = new ArrayList<>();
            for (Map.Entry<String, Map<NDArray, SourceGroup>> e : byHook.entrySet()) {
                for (SourceGroup g : e.getValue().values()) {
                    edits.add(new BatchedRun.Edit(e.getKey(), PatchPlan.stackMasks(g.masks, gm), g.source));
                }
            }
            String run = ":, " + from + ":";
            BatchedRun.Start at = start < 0 ? BatchedRun.Start.tokens(tokens) // [batch, cut]: embeddings patched (from is 0 then)
                    : fromZ ? BatchedRun.Start.z(start, corrupted.get("resid_pre", start).get(run), // [batch, cut-from, d_model]
                            corruptedZ(start).get(run)) // [batch, cut-from, head_index, d_head]
                    : BatchedRun.Start.residPre(start, corrupted.get("resid_pre", start).get(run));
            BatchedRun.Prefix prefix = from == 0 ? null
                    : new BatchedRun.Prefix(from, l -> corrupted.get("k", l), l -> corrupted.get("v", l));
            return engine.run(copies, at, prefix, List.of(), edits, readout::score, gm);
        }
    }

    /**
     * The corrupted run's {@code hook_z} of {@code layer} ([batch, cut, head_index, d_head]), for
     * cells that start there. Cached on first use only, for every layer in one pass (the same
     * tokens and shapes as the first corrupted run, so the same values): grids that never start at
     * a {@code hook_z} do not hold it.
     */
    private NDArray corruptedZ(int layer) {
        if (corruptedZ == null) {
            corruptedZ = model.runWithCache(tokens, n -> n.endsWith(".attn.hook_z"),
                    RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
        }
        return corruptedZ.get("z", layer);
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
        if (corruptedZ != null) {
            corruptedZ.close();
        }
        manager.close();
    }
}
