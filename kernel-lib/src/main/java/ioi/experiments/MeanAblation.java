package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIDataset;
import ioi.lens.GPT2Config;
import ioi.lens.Hook;
import ioi.lens.HookNames;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;

/**
 * Mean ablation of attention heads by template group, the paper's knockout (§2.1: "all knockouts
 * are performed in ... p_ABC ... we compute the mean of a node across samples of the same
 * template"; docs/circuit-evaluation.md) as ARENA 3.0 implements it:
 * <ul>
 *   <li>{@code compute_means_by_template}: every layer's {@code hook_z} on the means dataset (the
 *       ABC prompts), averaged over the prompts of each template group, keeping pos, head and
 *       d_head, and broadcast back to each prompt of the group: {@link #means(int)}
 *       [batch, pos, head_index, d_head] per layer;</li>
 *   <li>{@code get_heads_and_posns_to_keep}: a {@link KeepMask}, per layer [batch, pos, head_index],
 *       true where z keeps its value;</li>
 *   <li>{@code hook_fn_mask_z}: on every {@code hook_z}, {@code where(mask, z, means[layer])}.</li>
 * </ul>
 * Two uses: keep a {@link Circuit} (every other head, and the circuit's heads at every other
 * position, ablated; the paper's F(C)) and knock out a head set K (only K ablated: at every
 * position, {@link #knockOut(Collection)}, or at the circuit's positions, the paper's F(M \ K),
 * {@link #knockOutNodes}). Each as scoped hooks ({@link #hooks}, try-with-resources) or as the mean
 * logit difference ({@link #logitDiff}, {@link #logitDiffs}); the latter runs many masks in one
 * forward pass: the batch is repeated along the batch axis, one copy per mask.
 *
 * <p><b>Kept positions.</b> {@link Keep#PER_PROMPT} keeps, for a class kept at {@code "end"}, each
 * prompt's own {@code end}: ARENA 3.0's {@code get_heads_and_posns_to_keep} (its solutions and
 * exercise page: {@code mask[range(batch_size), indices, head_idx] = 1}) and the paper's own code
 * (Easy-Transformer's {@code do_circuit_extraction}: {@code get_heads_circuit} gives each prompt its
 * own {@code word_idx} and every other position of {@code hook_result} is replaced by the template
 * mean, prompt by prompt; a mean of {@code hook_result} is the mean of {@code hook_z} times W_O, so
 * ablating z is the same). {@link Keep#UNION} is ARENA 2.0's solutions and the
 * {@code ioi_circuit_extraction.py} both ARENA versions ship: {@code mask[:, indices, head_idx] = 1}
 * keeps, in every prompt, the positions of all prompts, so slightly more nodes stay and F(C)
 * differs a little (tested: both match TL).
 *
 * <p>The means dataset must have the batch's shape (one ABC prompt per clean prompt, same length:
 * the ABC flip keeps every position). Positions are the batch's (with or without BOS); ARENA's
 * tensors have {@code max_len} positions, which is the token width when no BOS is prepended.
 *
 * <p>Owns the means (close it); borrows the model.
 */
public final class MeanAblation implements AutoCloseable {

    /** Which positions a circuit's class keeps: see the class comment. */
    public enum Keep {
        /** Each prompt keeps its own {@code word_idx[pos]} (ARENA 3.0's solutions; the paper's code). */
        PER_PROMPT,
        /** Every prompt keeps every prompt's {@code word_idx[pos]} (ARENA 2.0; ARENA's shipped ioi_circuit_extraction.py). */
        UNION
    }

    /**
     * @param maxTokensPerForward at most this many {@code copies * batch * pos} tokens per forward
     *     pass of {@link #logitDiffs} (memory: GPT-2 small holds about 150 KB per token per layer)
     * @param progress reports masks as they are evaluated
     */
    public record Options(long maxTokensPerForward, Progress progress) {
        public Options {
            if (maxTokensPerForward < 1) {
                throw new IllegalArgumentException("maxTokensPerForward must be >= 1 but is " + maxTokensPerForward);
            }
            progress = progress == null ? Progress.NONE : progress;
        }

        public static Options defaults() {
            return new Options(8192, Progress.NONE);
        }

        public Options maxTokensPerForward(long n) {
            return new Options(n, progress);
        }

        public Options progress(Progress p) {
            return new Options(maxTokensPerForward, p);
        }
    }

    /**
     * Which entries of each layer's {@code hook_z} keep their value; every other entry is replaced
     * by the template mean. {@code keep[layer][(b * pos + p) * nHeads + h]}.
     *
     * @param label what the mask is, for tables ({@code "C"}, {@code "M \ {9.9}"})
     */
    public record KeepMask(String label, boolean[][] keep, int batch, int pos, int nHeads) {
        public KeepMask {
            for (boolean[] k : keep) {
                if (k.length != batch * pos * nHeads) {
                    throw new IllegalArgumentException("a layer mask must have batch * pos * head_index = " + batch + " * "
                            + pos + " * " + nHeads + " entries but has " + k.length);
                }
            }
        }

        /** Whether z[b, p, h] of this layer keeps its value. */
        public boolean kept(int layer, int b, int p, int h) {
            return keep[layer][(b * pos + p) * nHeads + h];
        }

        boolean allKept(int layer) {
            for (boolean k : keep[layer]) {
                if (!k) {
                    return false;
                }
            }
            return true;
        }

        /** How many (prompt, position, head) entries are kept in all layers. */
        public long keptCount() {
            long n = 0;
            for (boolean[] l : keep) {
                for (boolean k : l) {
                    n += k ? 1 : 0;
                }
            }
            return n;
        }
    }

    private final HookedTransformer model;
    private final GPT2Config cfg;
    private final IoiBatch batch;
    private final int[] templateIdx;
    private final long[][] meansTokens; // [batch][pos]
    private final Options options;
    private final NDManager manager; // owns the means
    private final NDArray[] means; // per layer [batch, pos, head_index, d_head]
    private final int nBatch;
    private final int pos;
    private final BatchedRun engine;

    private MeanAblation(HookedTransformer model, IoiBatch batch, long[][] meansTokens, int[] templateIdx,
            Options options) {
        this.model = model;
        this.cfg = model.cfg();
        this.batch = batch;
        this.options = options;
        this.nBatch = batch.size();
        this.pos = batch.seqLen();
        if (templateIdx == null || templateIdx.length != nBatch) {
            throw new IllegalArgumentException("expected one template index per prompt (" + nBatch + ") but got "
                    + (templateIdx == null ? "none" : templateIdx.length));
        }
        this.templateIdx = templateIdx.clone();
        this.meansTokens = meansTokens;
        if (meansTokens.length != nBatch || Arrays.stream(meansTokens).anyMatch(r -> r.length != pos)) {
            throw new IllegalArgumentException("the means dataset must be [batch, pos] = [" + nBatch + ", " + pos
                    + "] like the batch (one ABC prompt per clean prompt)");
        }
        this.manager = model.resultManager().newSubManager();
        this.means = new NDArray[cfg.nLayers()];
        this.engine = new BatchedRun(model, nBatch, batch.end());
        try {
            TemplateMeans.compute(model, meansTokens, this.templateIdx, means, manager);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Means of {@code batch.abcTokens()} by template group, groups given as one template index per
     * prompt (prompts with equal indices form a group; ARENA's {@code TEMPLATE_IDX}).
     */
    public static MeanAblation byTemplate(HookedTransformer model, IoiBatch batch, int[] templateIdx) {
        return byTemplate(model, batch, templateIdx, Options.defaults());
    }

    public static MeanAblation byTemplate(HookedTransformer model, IoiBatch batch, int[] templateIdx, Options options) {
        return new MeanAblation(model, batch, batch.abcTokens(), templateIdx, options);
    }

    /**
     * Means of the means dataset's tokens (ARENA's {@code abc_dataset}) by its {@code groups}: what
     * {@code compute_means_by_template(means_dataset, model)} computes. The batch must be built from
     * the dataset's flip source ({@link ioi.notebook.Paper#batch}), prompt i of both being one row.
     */
    public static MeanAblation byTemplate(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset) {
        return byTemplate(model, batch, meansDataset, Options.defaults());
    }

    public static MeanAblation byTemplate(HookedTransformer model, IoiBatch batch, IOIDataset meansDataset,
            Options options) {
        return new MeanAblation(model, batch, meansDataset.toks(), templateIndex(meansDataset.groups(), meansDataset.n()),
                options);
    }

    /** One group number per prompt from {@code groups} (lists of prompt indices that cover 0..n-1 once). */
    public static int[] templateIndex(List<int[]> groups, int n) {
        int[] idx = new int[n];
        Arrays.fill(idx, -1);
        for (int g = 0; g < groups.size(); g++) {
            for (int i : groups.get(g)) {
                if (i < 0 || i >= n || idx[i] >= 0) {
                    throw new IllegalArgumentException("groups must cover prompts 0.." + (n - 1) + " once each; prompt "
                            + i + (i < 0 || i >= n ? " is out of range" : " is in two groups"));
                }
                idx[i] = g;
            }
        }
        for (int i = 0; i < n; i++) {
            if (idx[i] < 0) {
                throw new IllegalArgumentException("prompt " + i + " is in no group");
            }
        }
        return idx;
    }

    /** The model this ablation runs. */
    public HookedTransformer model() {
        return model;
    }

    /** The prompts it runs on (clean tokens) and whose word positions the masks use. */
    public IoiBatch batch() {
        return batch;
    }

    /** The template (group) index of each prompt (a copy). */
    public int[] templateIdx() {
        return templateIdx.clone();
    }

    public Options options() {
        return options;
    }

    /** A copy with other options (the means are recomputed; close both). */
    public MeanAblation withOptions(Options o) {
        return new MeanAblation(model, batch, meansTokens, templateIdx, o);
    }

    /** The template-group means of layer {@code layer}'s z, [batch, pos, head_index, d_head] (owned by this object). */
    public NDArray means(int layer) {
        if (layer < 0 || layer >= cfg.nLayers()) {
            throw new IllegalArgumentException("layer " + layer + " is out of range [0, " + cfg.nLayers() + ")");
        }
        return means[layer];
    }

    // ---------------------------------------------------------------- masks

    /** Keep a circuit, each prompt at its own positions ({@link Keep#PER_PROMPT}); the rest ablated. */
    public KeepMask keep(Circuit circuit) {
        return keep(circuit, Keep.PER_PROMPT);
    }

    /**
     * ARENA's {@code get_heads_and_posns_to_keep}: true at (prompt, {@code word_idx[position of the
     * class]}, head) for every circuit head; every other entry of every layer is ablated.
     */
    public KeepMask keep(Circuit circuit, Keep semantics) {
        circuit.checkIn(cfg);
        boolean[][] keep = new boolean[cfg.nLayers()][nBatch * pos * cfg.nHeads()];
        for (String cls : circuit.classNames()) {
            long[] at = batch.wordIdx(circuit.positionOf(cls));
            for (Head h : circuit.headsOf(cls)) {
                for (int b = 0; b < nBatch; b++) {
                    if (semantics == Keep.PER_PROMPT) {
                        keep[h.layer()][index(b, (int) at[b], h.head())] = true;
                    } else {
                        for (long p : at) {
                            keep[h.layer()][index(b, (int) p, h.head())] = true;
                        }
                    }
                }
            }
        }
        return new KeepMask("C (" + circuit.size() + " heads)", keep, nBatch, pos, cfg.nHeads());
    }

    /** Knock out K: only K's heads are ablated, at every position (F(M \ K)). */
    public KeepMask knockOut(Collection<Head> k) {
        boolean[][] keep = allKept();
        for (Head h : k) {
            h.checkIn(cfg);
            for (int b = 0; b < nBatch; b++) {
                for (int p = 0; p < pos; p++) {
                    keep[h.layer()][index(b, p, h.head())] = false;
                }
            }
        }
        return new KeepMask("M \\ " + Minimality.label(new java.util.LinkedHashSet<>(k)), keep, nBatch, pos, cfg.nHeads());
    }

    /**
     * Knock out the nodes of K: each head of K ablated only at its circuit class's position, per
     * prompt, every other head and position kept. The paper's M \ K (Easy-Transformer's
     * {@code completeness.py}: {@code do_circuit_extraction(heads_to_remove=get_heads_from_nodes(K))},
     * the nodes being (head, {@code RELEVANT_TOKENS[head]})).
     */
    public KeepMask knockOutNodes(Circuit circuit, Collection<Head> k) {
        circuit.checkIn(cfg);
        boolean[][] keep = allKept();
        for (Head h : k) {
            long[] at = batch.wordIdx(circuit.positionOf(h));
            for (int b = 0; b < nBatch; b++) {
                keep[h.layer()][index(b, (int) at[b], h.head())] = false;
            }
        }
        return new KeepMask("M \\ " + Minimality.label(new java.util.LinkedHashSet<>(k)) + " (nodes)", keep, nBatch, pos,
                cfg.nHeads());
    }

    /** Knock out K at one word position of each prompt only ({@code "end"}: ARENA's 9.9 ablation). */
    public KeepMask knockOut(Collection<Head> k, String positionKey) {
        long[] at = batch.wordIdx(positionKey);
        boolean[][] keep = allKept();
        for (Head h : k) {
            h.checkIn(cfg);
            for (int b = 0; b < nBatch; b++) {
                keep[h.layer()][index(b, (int) at[b], h.head())] = false;
            }
        }
        return new KeepMask("M \\ " + Minimality.label(new java.util.LinkedHashSet<>(k)) + " at " + positionKey, keep,
                nBatch, pos, cfg.nHeads());
    }

    /** Nothing ablated: the model itself. */
    public KeepMask nothing() {
        return new KeepMask("M", allKept(), nBatch, pos, cfg.nHeads());
    }

    private boolean[][] allKept() {
        boolean[][] keep = new boolean[cfg.nLayers()][nBatch * pos * cfg.nHeads()];
        for (boolean[] l : keep) {
            Arrays.fill(l, true);
        }
        return keep;
    }

    private int index(int b, int p, int h) {
        return (b * pos + p) * cfg.nHeads() + h;
    }

    private void check(KeepMask m) {
        if (m.batch() != nBatch || m.pos() != pos || m.nHeads() != cfg.nHeads() || m.keep().length != cfg.nLayers()) {
            throw new IllegalArgumentException("mask '" + m.label() + "' is " + m.keep().length + " layers x [" + m.batch()
                    + ", " + m.pos() + ", " + m.nHeads() + "] but this ablation is " + cfg.nLayers() + " layers x ["
                    + nBatch + ", " + pos + ", " + cfg.nHeads() + "]");
        }
    }

    // ---------------------------------------------------------------- hooks

    /**
     * Hooks on every {@code hook_z} that replace z by the means except where the mask keeps it
     * (ARENA's {@code add_mean_ablation_hook}, scoped): {@code try (var s = ablation.hooks(mask))
     * { model.forward(batch.tokens(m)) }}. The forward pass must run the batch's clean tokens,
     * [batch, pos].
     */
    public HookScope hooks(KeepMask mask) {
        return model.hooks(zHooks(mask, false));
    }

    /**
     * The same ablation as hooks to hand to another experiment, e.g. the knock-out that runs in
     * every pass of {@link PathPatching} ({@link PathPatching.Options#baseHooks}: the backup name
     * mover experiment, Fig 15). Unlike {@link #hooks}, these accept the batch in the shapes batched
     * experiments run it: {@code [copies * batch, pos', head_index, d_head]} for any number of copies
     * of the batch and {@code pos' <= pos} (sequences cut after the last position read; attention is
     * causal, so the first {@code pos'} positions are the same prompts).
     */
    public List<Hook> hookList(KeepMask mask) {
        return zHooks(mask, true);
    }

    /**
     * Hooks on every {@code hook_z} a mask ablates: z where kept, the means elsewhere. With
     * {@code batched}, z may be copies of the batch and cut positions; else exactly [batch, pos].
     */
    private List<Hook> zHooks(KeepMask mask, boolean batched) {
        check(mask);
        List<Hook> hooks = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            if (mask.allKept(l)) {
                continue;
            }
            int layer = l;
            hooks.add(Hook.of(HookNames.getActName("z", l), (z, hook) -> {
                Shape s = z.getShape(); // [copies*batch, pos', head_index, d_head]
                if (!batched && (s.dimension() != 4 || s.get(0) != nBatch || s.get(1) != pos)) {
                    throw new IllegalStateException("blocks." + layer + ".attn.hook_z is " + s + " but the mean ablation is for ["
                            + nBatch + ", " + pos + ", head_index, d_head]: run it on the batch's tokens");
                }
                if (batched && (s.dimension() != 4 || s.get(0) % nBatch != 0 || s.get(1) > pos)) {
                    throw new IllegalStateException("blocks." + layer + ".attn.hook_z is " + s + " but the mean ablation is "
                            + "for copies of [" + nBatch + ", <= " + pos + ", head_index, d_head]");
                }
                long copies = s.get(0) / nBatch;
                long p = s.get(1);
                Shape byCopy = new Shape(copies, nBatch, p, s.get(2), s.get(3));
                NDArray keep = z.getManager().create(mask.keep()[layer], new Shape(nBatch, pos, cfg.nHeads()))
                        .get(":, :" + p).expandDims(3).expandDims(0).broadcast(byCopy); // [copies, batch, pos', head_index, d_head]
                NDArray mean = means[layer].get(":, :" + p).expandDims(0).broadcast(byCopy); // [copies, batch, pos', head_index, d_head]
                return NDArrays.where(keep, z.reshape(byCopy), mean).reshape(s);
            }));
        }
        return hooks;
    }

    /** Scoped hooks keeping a circuit (the rest mean-ablated). */
    public HookScope keeping(Circuit circuit) {
        return hooks(keep(circuit));
    }

    /** Scoped hooks knocking out a head set at every position. */
    public HookScope knockingOut(Collection<Head> k) {
        return hooks(knockOut(k));
    }

    // ---------------------------------------------------------------- logit differences

    /** Mean logit difference (IO - S at END) with this mask's ablation. */
    public double logitDiff(KeepMask mask) {
        return logitDiffs(List.of(mask))[0];
    }

    /**
     * Mean logit difference of each mask, many masks per forward pass: the batch is repeated along
     * the batch axis, one copy per mask, each copy with its own mask in one {@code where} per layer.
     * Sequences are cut after the last {@code end} (attention is causal), blocks run one call per
     * layer, and ln_final and the unembedding only run at END for the IO and S columns.
     *
     * @return one mean logit difference per mask, in order
     */
    public double[] logitDiffs(List<KeepMask> masks) {
        double[][] pp = logitDiffsPerPrompt(masks);
        double[] out = new double[pp.length];
        for (int i = 0; i < pp.length; i++) {
            out[i] = Arrays.stream(pp[i]).average().orElse(Double.NaN);
        }
        return out;
    }

    /** The same, per prompt: [masks][batch]. */
    public double[][] logitDiffsPerPrompt(List<KeepMask> masks) {
        return logitDiffsPerPrompt(masks, options.progress());
    }

    /** {@link #logitDiffsPerPrompt(List)} reporting to {@code progress} instead of the options' one. */
    public double[][] logitDiffsPerPrompt(List<KeepMask> masks, Progress progress) {
        masks.forEach(this::check);
        double[][] out = new double[masks.size()][];
        if (masks.isEmpty()) {
            return out;
        }
        long[] end = batch.end();
        int cut = (int) Arrays.stream(end).max().orElseThrow() + 1;
        int perForward = (int) Math.max(1, Math.min(masks.size(), options.maxTokensPerForward() / ((long) nBatch * cut)));
        progress.start(masks.size());
        try (NDManager run = manager.newSubManager()) {
            long[][] cutTokens = new long[nBatch][];
            for (int b = 0; b < nBatch; b++) {
                cutTokens[b] = Arrays.copyOf(batch.tokens()[b], cut);
            }
            NDArray tokens = run.create(cutTokens); // [batch, cut]
            NDArray embed = model.forward(tokens, RunOptions.defaults().stopAtLayer(0)).logits(); // [batch, cut, d_model]
            NDArray[] meansCut = new NDArray[cfg.nLayers()];
            NDArray direction;
            NDArray bias;
            try (NDScope scope = new NDScope()) {
                for (int l = 0; l < cfg.nLayers(); l++) {
                    meansCut[l] = keep(means[l].get(":, :" + cut).duplicate(), run); // [batch, cut, head_index, d_head]
                }
                direction = keep(LogitAttribution.directions(model, batch).duplicate(), run); // [batch, d_model]
                NDArray bU = model.b_U();
                NDArray b = bU.get(new NDIndex("{}", bU.getManager().create(batch.ioTokenIds())))
                        .sub(bU.get(new NDIndex("{}", bU.getManager().create(batch.sTokenIds())))); // [batch]
                bias = keep(b, run);
            }
            for (int from = 0; from < masks.size(); from += perForward) {
                List<KeepMask> group = masks.subList(from, Math.min(masks.size(), from + perForward));
                double[][] r = runGroup(group, cut, embed, meansCut, direction, bias, run);
                System.arraycopy(r, 0, out, from, r.length);
                progress.step(group.size());
            }
        } finally {
            progress.done();
        }
        return out;
    }

    private double[][] runGroup(List<KeepMask> group, int cut, NDArray embed, NDArray[] meansCut, NDArray direction,
            NDArray bias, NDManager run) {
        int copies = group.size();
        int nHeads = cfg.nHeads();
        try (NDManager gm = run.newSubManager()) {
            List<BatchedRun.Edit> edits = new ArrayList<>();
            for (int l = 0; l < cfg.nLayers(); l++) {
                int layer = l;
                if (group.stream().allMatch(m -> m.allKept(layer))) {
                    continue;
                }
                boolean[] ablated = new boolean[copies * nBatch * cut * nHeads];
                for (int c = 0; c < copies; c++) {
                    boolean[] src = group.get(c).keep()[l];
                    for (int b = 0; b < nBatch; b++) {
                        for (int i = 0; i < cut * nHeads; i++) {
                            ablated[(c * nBatch + b) * cut * nHeads + i] = !src[b * pos * nHeads + i];
                        }
                    }
                }
                NDArray mask = gm.create(ablated, new Shape(copies, nBatch, cut, nHeads, 1)); // [copies, batch, cut, head_index, 1]
                edits.add(new BatchedRun.Edit(HookNames.getActName("z", l), mask, meansCut[l].expandDims(0))); // [1, batch, cut, head_index, d_head]
            }
            return engine.run(copies, BatchedRun.Start.residPre(0, embed), null, List.of(), edits, resid -> { // [copies, batch, d_model]
                long d = cfg.dModel();
                NDArray normalized = model.applyLayerNorm("ln_final", resid.reshape(copies * nBatch, d))
                        .reshape(copies, nBatch, d); // [copies, batch, d_model]
                NDArray ld = normalized.mul(direction).sum(new int[] {-1}).add(bias); // [copies, batch]
                float[] flat = ld.toType(DataType.FLOAT32, false).toFloatArray();
                double[][] out = new double[copies][nBatch];
                for (int c = 0; c < copies; c++) {
                    for (int b = 0; b < nBatch; b++) {
                        out[c][b] = flat[c * nBatch + b];
                    }
                }
                return out;
            }, gm);
        }
    }

    private static NDArray keep(NDArray a, NDManager m) {
        NDScope.unregister(a);
        a.attach(m);
        return a;
    }

    /** Frees the means. */
    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return "MeanAblation(" + nBatch + " prompts x " + pos + " positions, "
                + Arrays.stream(templateIdx).distinct().count() + " template groups)";
    }
}
