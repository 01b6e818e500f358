package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
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
import java.util.Set;
import java.util.TreeSet;
import tech.tablesaw.api.Table;

/**
 * Path patching (paper §3.1, App B, Algorithm 1; ARENA 1.4.1 §4): the effect of a sender head
 * {@code h} on a set of receivers R through direct paths only (the residual stream and MLPs, no
 * other attention head). The clean (p_IOI) run is the base; the sender's output comes from the
 * p_ABC run; every other head's output is frozen to its clean value; the receivers' inputs are
 * recomputed; then a last clean run has only the receivers patched.
 *
 * <p>Receivers are the final residual stream (the logits: Figs 3b, 15, 19) or some heads' queries,
 * keys or values (Figs 4, 5, 12, 13). Two variants (docs/path-patching.md "Two variants"):
 * <ul>
 *   <li>{@link #arena}: the sender patched at every position, metric ARENA's {@code ioi_metric_2}
 *       {@code (ld - clean) / (clean - ABC)}, 0 = no effect, -1 = as much as the ABC run;
 *   <li>{@link #paper}: sender and receivers patched at one word position per prompt (END for the
 *       logits and name-mover queries, S2 for the S-inhibition values), metric the paper's
 *       {@code 100 (ld - clean) / clean}, % change of the logit difference.
 * </ul>
 *
 * <p>How it is computed, and why it is exact: with every head's output frozen, the attention layers
 * add exactly their clean output, so the residual stream differs from the clean one only by the
 * sender's change of output, {@code (z_abc - z_clean) W_O}, carried forward through the MLPs
 * (position-wise) and LayerNorms. This class carries that difference forward for many senders at
 * once (one copy of the batch per sender, MLPs recomputed, no attention recomputed) instead of one
 * frozen forward pass per sender, and for the logits only at each prompt's END (the only position
 * the metric reads, and the MLPs are position-wise). Receiver heads' q/k/v are then the receiver
 * layer's LayerNorm and projection of the changed residual stream, and the last pass runs the
 * clean prompts from the first receiver layer with those patched, many senders per forward. The
 * tests compare with TransformerLens running the reference procedures literally (one frozen
 * forward per sender, hooks on every {@code hook_z} or every {@code hook_q/k/v}).
 *
 * <p>Knock-outs (the backup name mover experiment, Fig 15): {@link Options#baseHooks} run in every
 * pass, clean, ABC and patched, e.g. mean ablation of the name movers. Since head outputs are
 * frozen, base hooks may only edit the attention layers ({@code blocks.L.attn.*}).
 *
 * <p>Lifetimes: borrows the model; owns the cached clean and ABC activations; close it.
 */
public final class PathPatching implements AutoCloseable {

    /** Which metric the grids report. */
    public enum Metric {
        /** ARENA's {@code ioi_metric_2}: {@code (ld - clean) / (clean - ABC)}. */
        METRIC2,
        /** The paper's % change: {@code 100 (ld - clean) / clean}. */
        PERCENT
    }

    /**
     * @param positions the word position patched per prompt ([batch]; the sender's output and
     *     receiver heads' inputs are patched there only), or null for every position (ARENA)
     * @param positionLabel what {@code positions} are, for titles ("end", "S2"), or null
     * @param metric what is reported
     * @param baseHooks hooks run in every pass (knock-outs); names under {@code blocks.L.attn.}
     * @param maxTokensPerForward at most this many {@code copies x batch x positions} per batched
     *     pass (bounds memory like {@link ActivationPatching.Options})
     * @param progress reports senders as they finish
     */
    public record Options(long[] positions, String positionLabel, Metric metric, List<Hook> baseHooks,
            long maxTokensPerForward, Progress progress) {
        public Options {
            if (metric == null) {
                throw new IllegalArgumentException("metric is null; use Metric.METRIC2 or Metric.PERCENT");
            }
            baseHooks = baseHooks == null ? List.of() : List.copyOf(baseHooks);
            for (Hook h : baseHooks) {
                if (h.name() != null && !h.name().matches("blocks\\.\\d+\\.attn\\..*")) {
                    throw new IllegalArgumentException("base hook on " + h.name() + ": path patching freezes every head's "
                            + "output, so knock-outs may only edit attention (blocks.L.attn.*)");
                }
            }
            if (maxTokensPerForward < 1) {
                throw new IllegalArgumentException("maxTokensPerForward must be >= 1 but is " + maxTokensPerForward);
            }
            progress = progress == null ? Progress.NONE : progress;
            positions = positions == null ? null : positions.clone();
        }

        /** ARENA's variant: every position, {@code ioi_metric_2}. */
        public static Options arena() {
            return new Options(null, null, Metric.METRIC2, List.of(), 4096, Progress.NONE);
        }

        /** The paper's variant at {@code batch.wordIdx(key)}, % change. */
        public static Options paper(IoiBatch batch, String key) {
            return new Options(batch.wordIdx(key), key, Metric.PERCENT, List.of(), 4096, Progress.NONE);
        }

        public Options metric(Metric m) {
            return new Options(positions, positionLabel, m, baseHooks, maxTokensPerForward, progress);
        }

        public Options baseHooks(List<Hook> hooks) {
            return new Options(positions, positionLabel, metric, hooks, maxTokensPerForward, progress);
        }

        public Options maxTokensPerForward(long n) {
            return new Options(positions, positionLabel, metric, baseHooks, n, progress);
        }

        public Options progress(Progress p) {
            return new Options(positions, positionLabel, metric, baseHooks, maxTokensPerForward, p);
        }
    }

    /**
     * Where the paths end: the final residual stream (the logits), or the queries, keys or values
     * of some heads.
     *
     * @param act {@code "resid"} for the final residual stream, else {@code "q"}, {@code "k"} or {@code "v"}
     * @param heads the receiver heads (empty for the residual stream)
     */
    public record Receivers(String act, List<Head> heads) {
        public Receivers {
            heads = List.copyOf(heads);
            if (act.equals("resid")) {
                if (!heads.isEmpty()) {
                    throw new IllegalArgumentException("the final residual stream takes no receiver heads");
                }
            } else if (!Set.of("q", "k", "v").contains(act)) {
                throw new IllegalArgumentException("receiver input '" + act + "' is not one of q, k, v");
            } else if (heads.isEmpty()) {
                throw new IllegalArgumentException("receivers of '" + act + "' need at least one head");
            }
        }

        /** The final residual stream (direct effect on the logits). */
        public static Receivers finalResid() {
            return new Receivers("resid", List.of());
        }

        /** The {@code act} input ({@code q, k, v}) of these heads. */
        public static Receivers heads(String act, List<Head> heads) {
            return new Receivers(act, heads);
        }

        public static Receivers heads(String act, Head... heads) {
            return new Receivers(act, List.of(heads));
        }

        boolean isFinal() {
            return act.equals("resid");
        }

        /** The layer whose input ends the paths: a receiver head's, or n_layers for the residual stream. */
        int lastLayer(GPT2Config cfg) {
            return isFinal() ? cfg.nLayers() : heads.stream().mapToInt(Head::layer).max().orElseThrow();
        }

        @Override
        public String toString() {
            return isFinal() ? "final residual stream" : heads + " " + act;
        }
    }

    private final HookedTransformer model;
    private final GPT2Config cfg;
    private final IoiBatch batch;
    private final Options options;
    private final NDManager manager;
    private final int nLayers;
    private final long nBatch;
    private final long cut; // positions computed: last END + 1 (attention is causal)
    private final long[] end;
    private final NDArray senderMask; // FLOAT32 [batch, cut, 1, 1]: where senders are patched
    private final NDArray[] residPre; // [layer] -> [batch, cut, d_model], clean (layer n_layers: final resid_post)
    private final NDArray[] residMid; // [batch, cut, d_model]
    private final NDArray[] mlpOut; // [batch, cut, d_model]
    private final NDArray[] headDelta; // [layer] -> [head_index, batch, cut, d_model]: (z_abc - z_clean) W_O, masked
    private final NDArray tokens; // clean tokens [batch, cut]
    private final PatchingMetric metric;
    private final Readout readout; // the metric from the final residual stream at END
    private final BatchedRun engine; // the pass to receiver heads
    private final double cleanLogitDiff;
    private final double abcLogitDiff;

    private PathPatching(HookedTransformer model, IoiBatch batch, Options options) {
        this.model = model;
        this.cfg = model.cfg();
        this.batch = batch;
        this.options = options;
        this.nLayers = cfg.nLayers();
        this.nBatch = batch.size();
        this.end = batch.end();
        this.cut = Arrays.stream(end).max().orElseThrow() + 1;
        if (options.positions() != null && options.positions().length != nBatch) {
            throw new IllegalArgumentException("positions has " + options.positions().length + " entries but the batch has "
                    + nBatch + " prompts");
        }
        this.manager = model.resultManager().newSubManager();
        this.residPre = new NDArray[nLayers + 1];
        this.residMid = new NDArray[nLayers];
        this.mlpOut = new NDArray[nLayers];
        this.headDelta = new NDArray[nLayers];
        try {
            tokens = manager.create(batch.tokens()).get(":, :" + cut).duplicate(); // [batch, cut]
            NDArray abcTokens = manager.create(batch.abcTokens()).get(":, :" + cut).duplicate(); // [batch, cut]
            senderMask = senderMask();
            String lastPost = HookNames.getActName("resid_post", nLayers - 1);
            try (HookScope base = model.hooks(options.baseHooks());
                    ActivationCache clean = model.runWithCache(tokens, n -> n.endsWith("hook_resid_pre")
                            || n.endsWith("hook_resid_mid") || n.endsWith("hook_mlp_out") || n.endsWith("attn.hook_z")
                            || n.equals(lastPost), RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
                    ActivationCache abc = model.runWithCache(abcTokens, n -> n.endsWith("attn.hook_z") || n.equals(lastPost),
                            RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
                    NDScope scope = new NDScope()) {
                for (int l = 0; l < nLayers; l++) {
                    residPre[l] = keep(clean.get("resid_pre", l).duplicate());
                    residMid[l] = keep(clean.get("resid_mid", l).duplicate());
                    mlpOut[l] = keep(clean.get("mlp_out", l).duplicate());
                    NDArray dz = abc.get("z", l).sub(clean.get("z", l)).mul(senderMask); // [batch, cut, head_index, d_head]
                    NDArray wO = model.weight("blocks." + l + ".attn.W_O"); // [head_index, d_head, d_model]
                    // [head_index, batch, cut, d_head] @ [head_index, 1, d_head, d_model]
                    headDelta[l] = keep(dz.transpose(2, 0, 1, 3).matMul(wO.expandDims(1))); // [head_index, batch, cut, d_model]
                }
                residPre[nLayers] = keep(clean.get(lastPost).duplicate());
                Readout ld = new Readout(model, Metrics.logitDiffMetric(batch), nBatch, manager);
                cleanLogitDiff = ld.score(BatchedRun.rowsAt(clean.get(lastPost), end).expandDims(0))[0]; // [1, batch, d_model]
                abcLogitDiff = ld.score(BatchedRun.rowsAt(abc.get(lastPost), end).expandDims(0))[0]; // [1, batch, d_model]
            }
            metric = options.metric() == Metric.METRIC2 ? Metrics.metric2(batch, cleanLogitDiff, abcLogitDiff)
                    : Metrics.percentChange(batch, cleanLogitDiff);
            readout = new Readout(model, metric, nBatch, manager);
            engine = new BatchedRun(model, nBatch, end);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** ARENA's variant (every position, {@code ioi_metric_2}) on a batch's clean and ABC prompts. */
    public static PathPatching arena(HookedTransformer model, IoiBatch batch) {
        return create(model, batch, Options.arena());
    }

    /** The paper's variant at {@code batch.wordIdx(positionKey)} ("end", "S2", "S1+1"), % change. */
    public static PathPatching paper(HookedTransformer model, IoiBatch batch, String positionKey) {
        return create(model, batch, Options.paper(batch, positionKey));
    }

    public static PathPatching create(HookedTransformer model, IoiBatch batch, Options options) {
        return new PathPatching(model, batch, options);
    }

    /** Mean logit difference of the clean run (with the base hooks). */
    public double cleanLogitDiff() {
        return cleanLogitDiff;
    }

    /** Mean logit difference of the ABC run against the clean answers (with the base hooks). */
    public double abcLogitDiff() {
        return abcLogitDiff;
    }

    // ---------------------------------------------------------------- grids

    /**
     * Each head → the final residual stream (Fig 3b; ARENA {@code
     * get_path_patch_head_to_final_resid_post}): [n_layers, n_heads].
     */
    public PatchingResult toFinalResid() {
        return grid(Receivers.finalResid(), nLayers, "Path patching: head → logits");
    }

    /**
     * Each head in the layers before the last receiver → the receivers' {@code act} input (Figs 4b,
     * 5b, 12, 13; ARENA {@code get_path_patch_head_to_heads}): [last receiver layer, n_heads].
     */
    public PatchingResult toHeads(String act, List<Head> receivers) {
        Receivers r = Receivers.heads(act, receivers);
        return grid(r, r.lastLayer(cfg), "Path patching: head → " + receivers + " " + act);
    }

    private PatchingResult grid(Receivers receivers, int layers, String title) {
        List<List<Head>> cells = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < cfg.nHeads(); h++) {
                cells.add(List.of(new Head(l, h)));
            }
        }
        float[] values = run(cells, receivers);
        String where = options.positionLabel() == null ? "" : " at " + options.positionLabel();
        String unit = options.metric() == Metric.PERCENT ? " (% change of the logit diff)" : " (ioi_metric_2)";
        return new PatchingResult(title + where + unit, values, new long[] {layers, cfg.nHeads()},
                List.of("layer", "head"), 0.0);
    }

    // ---------------------------------------------------------------- the batched core

    /**
     * The metric with each cell's senders patched together (a cell of one head is the usual path
     * patching; Fig 4c patches the four S-inhibition heads at once), paths ending at
     * {@code receivers}. One value per cell, in order.
     */
    public float[] run(List<List<Head>> cells, Receivers receivers) {
        for (List<Head> cell : cells) {
            for (Head h : cell) {
                h.checkIn(cfg);
            }
        }
        for (Head h : receivers.heads()) {
            h.checkIn(cfg);
        }
        float[] out = new float[cells.size()];
        long perCopy = receivers.isFinal() ? nBatch : nBatch * cut;
        int chunk = (int) Math.max(1, Math.min(cells.size(), options.maxTokensPerForward() / perCopy));
        Progress progress = options.progress();
        progress.start(cells.size());
        try {
            for (int from = 0; from < cells.size(); from += chunk) {
                List<List<Head>> part = cells.subList(from, Math.min(cells.size(), from + chunk));
                float[] scores = receivers.isFinal() ? runFinal(part) : runHeads(part, receivers, null);
                System.arraycopy(scores, 0, out, from, scores.length);
                progress.step(part.size());
            }
        } finally {
            progress.done();
        }
        return out;
    }

    /** Senders → logits: the residual-stream difference carried to the end at END only. */
    private float[] runFinal(List<List<Head>> cells) {
        try (NDScope scope = new NDScope()) {
            NDArray d = carry(cells, nLayers, true, null); // [copies, batch, 1, d_model]
            NDArray resid = atEnd(residPre[nLayers]).expandDims(0).add(d); // [copies, batch, 1, d_model]
            return readout.score(resid.squeeze(2)); // [copies, batch, d_model]
        }
    }

    /**
     * The difference the cells' senders make to the residual stream entering layer {@code last}
     * (n_layers: the final resid_post), attention frozen: each layer adds the senders' output
     * change, each MLP its change of output. Receiver inputs are taken on the way when
     * {@code receiverInputs} is not null (layer -> {@code resid_pre + d} at that layer).
     *
     * @param endOnly carry only each prompt's END position
     * @return [copies, batch, pos, d_model] (pos = 1 when endOnly, else cut)
     */
    private NDArray carry(List<List<Head>> cells, int last, boolean endOnly, Map<Integer, NDArray> receiverInputs) {
        int copies = cells.size();
        int first = last;
        for (List<Head> c : cells) {
            for (Head h : c) {
                first = Math.min(first, h.layer());
            }
        }
        long pos = endOnly ? 1 : cut;
        NDArray d = manager.zeros(new Shape(copies, nBatch, pos, cfg.dModel())); // [copies, batch, pos, d_model]
        for (int l = 0; l <= Math.min(last, nLayers - 1); l++) {
            if (receiverInputs != null && receiverInputs.containsKey(l)) {
                receiverInputs.put(l, view(residPre[l], endOnly).expandDims(0).add(d)); // [copies, batch, pos, d_model]
            }
            if (l == last || l < first) {
                continue; // d is still zero before the first sender
            }
            float[] select = new float[copies * cfg.nHeads()];
            boolean any = false;
            for (int k = 0; k < copies; k++) {
                for (Head h : cells.get(k)) {
                    if (h.layer() == l) {
                        select[k * cfg.nHeads() + h.head()] = 1f;
                        any = true;
                    }
                }
            }
            if (any) {
                NDArray delta = view(headDelta[l], endOnly); // [head_index, batch, pos, d_model]
                NDArray s = manager.create(select, new Shape(copies, cfg.nHeads())); // [copies, head_index]
                NDArray added = s.matMul(delta.reshape(cfg.nHeads(), -1)); // [copies, batch*pos*d_model]
                d = d.add(added.reshape(d.getShape())); // [copies, batch, pos, d_model]
            }
            NDArray mid = view(residMid[l], endOnly).expandDims(0).add(d); // [copies, batch, pos, d_model]
            NDArray mlp = model.mlpOut(l, mid); // [copies, batch, pos, d_model]
            d = d.add(mlp.sub(view(mlpOut[l], endOnly).expandDims(0))); // [copies, batch, pos, d_model]
        }
        return d;
    }

    /** An activation [..., batch, cut, d_model] at each prompt's END ([..., batch, 1, d_model]), or whole. */
    private NDArray view(NDArray a, boolean endOnly) {
        return endOnly ? atEnd(a) : a;
    }

    /** [..., batch, cut, d_model] -> [..., batch, 1, d_model] at each prompt's END. */
    private NDArray atEnd(NDArray a) {
        Shape s = a.getShape();
        int rank = s.dimension();
        long lead = s.size() / (nBatch * cut * s.get(rank - 1));
        NDArray flat = a.reshape(lead, nBatch, cut, s.get(rank - 1)); // [lead, batch, cut, d]
        NDList parts = new NDList();
        for (int b = 0; b < nBatch; b++) {
            parts.add(flat.get(new NDIndex(":, {}, {}:{}", b, end[b], end[b] + 1))); // [lead, 1, d]
        }
        NDArray out = NDArrays.stack(parts, 1); // [lead, batch, 1, d]
        Shape target = s.slice(0, rank - 3).addAll(new Shape(nBatch, 1, s.get(rank - 1)));
        return out.reshape(target);
    }

    /**
     * Senders → receiver heads' q/k/v: their inputs recomputed from the changed residual stream,
     * then the clean prompts run from the first receiver layer with only those patched.
     *
     * @param patternHeads heads whose attention pattern from END is captured (else null)
     */
    private float[] runHeads(List<List<Head>> cells, Receivers receivers, Map<Head, NDArray> patternHeads) {
        int copies = cells.size();
        int last = receivers.lastLayer(cfg);
        TreeSet<Integer> layers = new TreeSet<>();
        for (Head h : receivers.heads()) {
            layers.add(h.layer());
        }
        try (NDManager gm = manager.newSubManager(); NDScope scope = new NDScope()) {
            List<Hook> hooks = new ArrayList<>(options.baseHooks());
            List<BatchedRun.Edit> edits = new ArrayList<>();
            Map<Integer, NDArray> inputs = new LinkedHashMap<>();
            for (int l : layers) {
                inputs.put(l, null);
            }
            carry(cells, last, false, inputs);
            for (int l : layers) {
                NDArray values = model.projectHeads(l, receivers.act(), inputs.get(l)); // [copies, batch, cut, head_index, d_head]
                edits.add(new BatchedRun.Edit(HookNames.getActName(receivers.act(), l), receiverMask(l, receivers), values));
            }
            if (patternHeads != null) {
                for (int l : patternHeads.keySet().stream().map(Head::layer).distinct().toList()) {
                    hooks.add(Hook.of(HookNames.getActName("pattern", l), (p, hook) -> {
                        for (Head h : patternHeads.keySet()) {
                            if (h.layer() == l) {
                                NDArray rows = patternRows(p.get(new NDIndex(":, {}", h.head()))); // [batch, key_pos]
                                NDScope.unregister(rows);
                                rows.attach(manager);
                                patternHeads.put(h, rows);
                            }
                        }
                        return null;
                    }));
                }
            }
            BatchedRun.Start start = BatchedRun.Start.residPre(layers.first(), residPre[layers.first()]);
            return engine.run(copies, start, null, hooks, edits, readout::score, gm);
        }
    }

    /** Rows at each prompt's END of a pattern [copies*batch, query_pos, key_pos] (first copy): [batch, key_pos]. */
    NDArray patternRows(NDArray p) {
        NDList rows = new NDList();
        for (int b = 0; b < nBatch; b++) {
            rows.add(p.get(new NDIndex("{}, {}", b, end[b])));
        }
        return NDArrays.stack(rows); // [batch, key_pos]
    }

    /** Where receivers are patched: their heads, at the patched positions. BOOLEAN [1, batch, cut, head_index, 1]. */
    private NDArray receiverMask(int layer, Receivers receivers) {
        int heads = cfg.nHeads();
        boolean[] m = new boolean[(int) (nBatch * cut * heads)];
        long[] positions = options.positions();
        for (Head h : receivers.heads()) {
            if (h.layer() != layer) {
                continue;
            }
            for (int b = 0; b < nBatch; b++) {
                for (int p = 0; p < cut; p++) {
                    if (positions == null || positions[b] == p) {
                        m[(b * (int) cut + p) * heads + h.head()] = true;
                    }
                }
            }
        }
        return manager.create(m, new Shape(1, nBatch, cut, heads, 1)); // [1, batch, cut, head_index, 1]
    }

    /** FLOAT32 [batch, cut, 1, 1]: 1 where the senders' output is patched. */
    private NDArray senderMask() {
        float[] m = new float[(int) (nBatch * cut)];
        long[] positions = options.positions();
        for (int b = 0; b < nBatch; b++) {
            for (int p = 0; p < cut; p++) {
                m[(int) (b * cut + p)] = positions == null || positions[b] == p ? 1f : 0f;
            }
        }
        return manager.create(m, new Shape(nBatch, cut, 1, 1));
    }

    // ---------------------------------------------------------------- attention after patching

    /**
     * Fig 4c: the attention of {@code heads} from END to IO, S1 and S2, in the clean run and after
     * path patching {@code senders} together → {@code receivers} (e.g. the four S-inhibition heads →
     * the name movers' queries). Mean over prompts with standard deviations, as the figure's error bars.
     */
    public Table attentionAfter(List<Head> senders, Receivers receivers, List<Head> heads) {
        return new AttentionAfterPatching(this).table(senders, receivers, heads);
    }

    // for AttentionAfterPatching (Fig 4c)

    HookedTransformer model() {
        return model;
    }

    IoiBatch batch() {
        return batch;
    }

    List<Hook> baseHooks() {
        return options.baseHooks();
    }

    NDArray cleanTokens() {
        return tokens;
    }

    NDManager manager() {
        return manager;
    }

    /** One pass with {@code senders} patched together, capturing each given head's pattern rows at END. */
    void runCapturing(List<Head> senders, Receivers receivers, Map<Head, NDArray> patterns) {
        for (Head h : senders) {
            h.checkIn(cfg);
        }
        runHeads(List.of(senders), receivers, patterns);
    }

    private NDArray keep(NDArray a) {
        NDScope.unregister(a);
        a.attach(manager);
        return a;
    }

    /** Frees the cached activations. Results handed out stay valid. */
    @Override
    public void close() {
        manager.close();
    }
}
