package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIWords;
import ioi.lens.GPT2Config;
import ioi.lens.Hook;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Copy scores of every attention head (the paper's §3.1 "copy score"; docs/head-scores.md): does the head's
 * OV circuit, applied to a name's representation, write that name back into the logits? Each
 * target vector goes through the head's {@code W_V W_O} (and, for the <em>negative</em> copy score,
 * {@code -W_V W_O}), then the final LayerNorm and the unembedding; the score is the fraction of
 * targets whose own token is among the top {@code k} (5) logits. In GPT-2 small the Name Movers
 * 9.9, 10.0, 9.6 score above 95% and the Negative Name Movers 10.7, 11.10 score about 98% negative,
 * against under 20% (12% negative) for an average head.
 *
 * <ul>
 *   <li>{@link #compute} is ARENA 3.0's {@code get_copying_scores} (solutions.py and the exercise
 *       page): the targets are the 109 names of {@link IOIWords#NAMES} as
 *       {@code model.to_tokens(NAMES, prepend_bos=False)} tokenizes them, bare, without a leading
 *       space (each is one token), {@code resid = W_E[name] + MLP0(ln2(W_E[name]))} (block 0's MLP
 *       acting as an extended embedding; computed by the model's own block 0 with its attention
 *       output set to zero, so ln2 is the model's: pure normalisation once {@code fold_ln} has
 *       folded its weights), then {@code resid @ W_V @ W_O}, {@code ln_final}, {@code W_U + b_U}.
 *       ARENA 3.0 loops over layers 1..n_layers-1 and stores layer L at row L-1 of a
 *       [2, n_layers, n_heads] tensor, so its last row stays zero; its "Average over all heads"
 *       (10.11% / 1.93% printed for GPT-2 small) is that tensor's mean, {@link Result#averageArena}.
 *       Here every layer is scored at its own row (layer 0 too; a head's score is the same as
 *       ARENA's); {@link Result#average} is the plain mean over every head, which is what ARENA
 *       2.0's loop over all layers printed.</li>
 *   <li>{@link #onDataset} is the paper's own {@code check_copy_circuit}: the targets are the IO, S1
 *       and S2 positions of each prompt, read from {@code blocks.0.hook_resid_post},
 *       normalised as block 1's ln1 does, then {@code @ W_V + b_V}, {@code @ W_O}, {@code ln_final},
 *       unembedding; the target token is the prompt's token at that position.</li>
 * </ul>
 *
 * <p>Membership is decided by rank: a target is in the top k when fewer than k logits are strictly
 * larger than its own ({@link Result#ranks}). {@code torch.topk} breaks exact ties arbitrarily; only
 * float near-ties at the boundary can make the two disagree. All heads of a chunk are unembedded in
 * one matmul, {@code maxLogitElements} bounding the [heads, targets, d_vocab] block.
 */
public final class CopyingScores {

    private CopyingScores() {}

    /** Which OV circuit is scored: {@code W_V W_O}, or its negative (Negative Name Movers). */
    public enum Sign {
        POSITIVE, NEGATIVE
    }

    /**
     * @param names the names to embed (ARENA: {@link IOIWords#NAMES})
     * @param k a target counts when its token is among the top k logits (5 in the paper and ARENA)
     * @param leadingSpace false (default): the bare name's token, as ARENA's
     *     {@code model.to_tokens(names, prepend_bos=False)}, and a name must be one token; true: the
     *     first token of {@code " " + name}, the token the IOI prompts contain (every ARENA name is
     *     one token both ways)
     * @param maxLogitElements upper bound on the elements of one [heads, targets, d_vocab] logits block
     * @param progress reports one unit per (sign, head)
     */
    public record Options(List<String> names, int k, boolean leadingSpace, long maxLogitElements, Progress progress) {
        public Options {
            if (names == null || names.isEmpty()) {
                throw new IllegalArgumentException("expected at least one name");
            }
            names = List.copyOf(names);
            if (k < 1) {
                throw new IllegalArgumentException("k must be >= 1 but is " + k);
            }
            if (maxLogitElements < 1) {
                throw new IllegalArgumentException("maxLogitElements must be >= 1 but is " + maxLogitElements);
            }
            if (progress == null) {
                progress = Progress.NONE;
            }
        }

        /** ARENA's names, k = 5, bare-name tokens (ARENA's), logits blocks of at most 2^24 elements. */
        public static Options defaults() {
            return new Options(IOIWords.NAMES, 5, false, 1L << 24, Progress.NONE);
        }

        public Options names(List<String> n) {
            return new Options(n, k, leadingSpace, maxLogitElements, progress);
        }

        public Options k(int n) {
            return new Options(names, n, leadingSpace, maxLogitElements, progress);
        }

        public Options leadingSpace(boolean on) {
            return new Options(names, k, on, maxLogitElements, progress);
        }

        public Options maxLogitElements(long n) {
            return new Options(names, k, leadingSpace, n, progress);
        }

        public Options progress(Progress p) {
            return new Options(names, k, leadingSpace, maxLogitElements, p);
        }
    }

    /**
     * Copy scores of every head.
     *
     * @param scores fraction of targets in the top k, [2 (positive, negative), n_layers, n_heads]
     * @param ranks per target, how many logits are strictly larger than the target's own, row-major over
     *     [2, n_layers, n_heads, targets] (in the top k iff rank &lt; k)
     * @param targets one label per target: the name, or {@code "prompt 3 S1"} for {@link #onDataset}
     * @param targetTokens the token each target must copy [targets]
     * @param k the k of {@code scores}
     * @param table one row per head (head, layer, head_index, positive_pct, negative_pct), sorted by
     *     positive score, descending
     */
    public record Result(Grid scores, long[] ranks, List<String> targets, long[] targetTokens, int k, Table table) {

        /** The ranks (a copy), row-major over [2, n_layers, n_heads, targets]. */
        @Override
        public long[] ranks() {
            return ranks.clone();
        }

        /** The score of one head, a fraction in [0, 1]. */
        public double score(Sign sign, int layer, int head) {
            int[] s = shape();
            Heads.check(s[0], s[1], layer, head);
            return scores.get(sign.ordinal(), layer, head);
        }

        public double positive(int layer, int head) {
            return score(Sign.POSITIVE, layer, head);
        }

        public double negative(int layer, int head) {
            return score(Sign.NEGATIVE, layer, head);
        }

        /** The mean score over every head of every layer (ARENA 2.0's "Average", which scored layer 0 too). */
        public double average(Sign sign) {
            return scores.slice(sign.ordinal()).mean();
        }

        /**
         * ARENA 3.0's "Average over all heads", {@code copying_results[i].mean()}: layers
         * 1..n_layers-1 summed and divided by n_layers * n_heads (ARENA 3.0 skips layer 0 and
         * averages a tensor whose last row stays zero).
         */
        public double averageArena(Sign sign) {
            int[] s = shape();
            float[] grid = scores.slice(sign.ordinal()).toFloatArray(); // [n_layers * n_heads], layer-major
            double sum = 0;
            for (int i = s[1]; i < grid.length; i++) { // from layer 1 on
                sum += grid[i];
            }
            return sum / ((double) s[0] * s[1]);
        }

        /**
         * The scores for another k, from the ranks: [2, n_layers, n_heads] flattened in that order.
         */
        public float[] scoresAt(int otherK) {
            if (otherK < 1) {
                throw new IllegalArgumentException("k must be >= 1 but is " + otherK);
            }
            long[] r = ranks;
            int n = targets.size();
            float[] out = new float[r.length / n];
            for (int i = 0; i < out.length; i++) {
                int hits = 0;
                for (int j = 0; j < n; j++) {
                    hits += r[i * n + j] < otherK ? 1 : 0;
                }
                out[i] = (float) hits / n;
            }
            return out;
        }

        /** The table sorted by the chosen score, descending. */
        public Table table(Sign sortBy) {
            return table.sortDescendingOn(sortBy == Sign.POSITIVE ? "positive_pct" : "negative_pct");
        }

        private int[] shape() {
            Shape s = scores.shape();
            return new int[] {(int) s.get(1), (int) s.get(2)};
        }
    }

    /** ARENA 3.0's {@code get_copying_scores} with its defaults (bare names, k = 5; see the class comment). */
    public static Result compute(HookedTransformer model) {
        return compute(model, Options.defaults());
    }

    /** ARENA's {@code get_copying_scores}: names through MLP0, each head's OV, ln_final, unembedding. */
    public static Result compute(HookedTransformer model, Options options) {
        long[] tokens = nameTokens(model, options.names(), options.leadingSpace());
        // The scope frees every intermediate, including the stacked W_V / W_O copies; tmp the rest.
        try (NDManager tmp = model.resultManager().newSubManager(); NDScope scope = new NDScope()) {
            NDArray resid = extendedEmbeddings(model, tokens, tmp); // [names, d_model]
            NDArray out = ovOutputs(model, resid, null); // [n_layers, n_heads, names, d_model]
            return result(model, "Copy scores (names through MLP0, k=" + options.k() + ")", out, tokens,
                    options.names(), options);
        }
    }

    /** The paper's {@code check_copy_circuit} on a batch, k = 5. */
    public static Result onDataset(HookedTransformer model, IoiBatch batch) {
        return onDataset(model, batch, Options.defaults());
    }

    /**
     * The paper's {@code check_copy_circuit} for every head: targets are each prompt's IO, S1 and S2
     * positions (prompt-major), read after block 0 and normalised as block 1's ln1 does. Only
     * {@code k}, {@code maxLogitElements} and {@code progress} of the options are used.
     */
    public static Result onDataset(HookedTransformer model, IoiBatch batch, Options options) {
        int n = batch.size();
        long[] tokens = new long[3 * n];
        List<String> labels = new ArrayList<>();
        long[] flat = new long[3 * n];
        String[] words = {"IO", "S1", "S2"};
        for (int b = 0; b < n; b++) {
            long[][] pos = {batch.io(), batch.s1(), batch.s2()};
            for (int w = 0; w < 3; w++) {
                long p = pos[w][b];
                tokens[3 * b + w] = batch.tokens()[b][(int) p];
                flat[3 * b + w] = b * (long) batch.seqLen() + p;
                labels.add("prompt " + b + " " + words[w]);
            }
        }
        try (NDManager tmp = model.resultManager().newSubManager(); NDScope scope = new NDScope()) {
            NDArray residPost0 = model.forward(batch.tokens(tmp), RunOptions.defaults().stopAtLayer(1)).logits(); // [batch, pos, d_model]
            NDArray x = residPost0.reshape(-1, model.cfg().dModel()).get(new NDIndex("{}", tmp.create(flat))); // [3 * batch, d_model]
            NDArray normalized = model.applyLayerNorm("blocks.1.ln1", x); // [3 * batch, d_model]
            NDArray out = ovOutputs(model, normalized, model.b_V()); // [n_layers, n_heads, 3 * batch, d_model]
            return result(model, "Copy scores on the dataset (IO, S1, S2 after block 0, k=" + options.k() + ")", out,
                    tokens, labels, options);
        }
    }

    /** The token ids of the names: first token of {@code " " + name} (or of the bare name). */
    static long[] nameTokens(HookedTransformer model, List<String> names, boolean leadingSpace) {
        long[] out = new long[names.size()];
        for (int i = 0; i < out.length; i++) {
            String name = names.get(i);
            long[] ids = model.tokenizer().encode(leadingSpace ? " " + name : name, false);
            if (ids.length == 0) {
                throw new IllegalArgumentException("name " + i + " '" + name + "' has no tokens");
            }
            if (!leadingSpace && ids.length != 1) {
                throw new IllegalArgumentException("name " + i + " '" + name + "' is " + ids.length
                        + " tokens without a leading space; ARENA's get_copying_scores compares one token per name "
                        + "(use one-token names, or Options.leadingSpace(true) to score the first token of ' " + name + "')");
            }
            out[i] = ids[0];
        }
        return out;
    }

    /**
     * {@code W_E[t] + MLP0(ln2(W_E[t]))} for each token (no BOS, no positional embedding), ARENA's
     * "residual stream after MLP0": the model's own block 0 on one-token sequences with
     * {@code blocks.0.hook_attn_out} set to zero. Returns [tokens, d_model] in {@code manager}.
     */
    static NDArray extendedEmbeddings(HookedTransformer model, long[] tokens, NDManager manager) {
        NDArray rows = model.W_E().get(new NDIndex("{}", manager.create(tokens))); // [tokens, d_model]
        rows.attach(manager); // created in the weights' manager: hand it to the caller's
        NDArray embed = rows.reshape(tokens.length, 1, model.cfg().dModel()); // [tokens, 1, d_model]
        try (HookScope noAttention = model.hooks(Hook.of("blocks.0.hook_attn_out", (act, hook) -> act.zerosLike()))) {
            NDArray resid = model.forward(embed, RunOptions.defaults().startAtLayer(0).stopAtLayer(1)).logits(); // [tokens, 1, d_model]
            return resid.reshape(tokens.length, model.cfg().dModel()); // [tokens, d_model]
        }
    }

    /** {@code (x @ W_V[l, h] (+ b_V[l, h])) @ W_O[l, h]} for every head: [n_layers, n_heads, targets, d_model]. */
    private static NDArray ovOutputs(HookedTransformer model, NDArray x, NDArray bV) {
        GPT2Config cfg = model.cfg();
        NDArray v = x.matMul(model.W_V()); // [n_layers, n_heads, targets, d_head]
        if (bV != null) {
            v = v.add(bV.reshape(cfg.nLayers(), cfg.nHeads(), 1, cfg.dHead())); // [n_layers, n_heads, targets, d_head]
        }
        return v.matMul(model.W_O()); // [n_layers, n_heads, targets, d_model]
    }

    private static Result result(HookedTransformer model, String title, NDArray out, long[] tokens, List<String> targets,
            Options options) {
        GPT2Config cfg = model.cfg();
        int heads = cfg.nLayers() * cfg.nHeads();
        int n = tokens.length;
        long dVocab = cfg.dVocab();
        int chunk = (int) Math.max(1, Math.min(heads, options.maxLogitElements() / ((long) n * dVocab)));
        boolean foldedFinalLn = !model.weightNames().contains("ln_final.w");
        Progress progress = options.progress();
        progress.start(2L * heads);
        try (NDScope scope = new NDScope()) {
            NDManager tm = out.getManager();
            NDArray perHead = out.reshape(heads, n, cfg.dModel()); // [heads, targets, d_model]
            NDArray target = tm.create(tokens).reshape(1, n, 1); // [1, targets, 1]
            NDArray bU = model.b_U(); // [d_vocab]
            long[][] ranks = new long[2][];
            ranks[0] = new long[heads * n];
            ranks[1] = new long[heads * n];
            NDArray positive = model.applyLayerNorm("ln_final", perHead); // [heads, targets, d_model]
            NDArray negative = foldedFinalLn ? null : model.applyLayerNorm("ln_final", perHead.neg()); // [heads, targets, d_model]
            for (int h0 = 0; h0 < heads; h0 += chunk) {
                int h1 = Math.min(heads, h0 + chunk);
                try (NDScope chunkScope = new NDScope()) {
                    NDArray idx = target.broadcast(h1 - h0, n, 1); // [chunk, targets, 1]
                    NDArray projected = positive.get(h0 + ":" + h1).matMul(model.W_U()); // [chunk, targets, d_vocab]
                    NDArray logits = projected.add(bU); // [chunk, targets, d_vocab]
                    copyRanks(logits, idx, ranks[0], h0 * n);
                    logits.close();
                    progress.step(h1 - h0);
                    // With LNPre, ln_final(-x) = -ln_final(x) exactly, so -W_V W_O needs no second matmul:
                    // its logits are b_U - x W_U, computed in place as (-(x W_U)) + b_U (the same floats).
                    NDArray negLogits = foldedFinalLn ? projected.negi().addi(bU) // [chunk, targets, d_vocab]
                            : negative.get(h0 + ":" + h1).matMul(model.W_U()).add(bU);
                    copyRanks(negLogits, idx, ranks[1], h0 * n);
                    negLogits.close();
                    projected.close();
                    progress.step(h1 - h0);
                }
            }
            long[] all = new long[2 * heads * n];
            System.arraycopy(ranks[0], 0, all, 0, heads * n);
            System.arraycopy(ranks[1], 0, all, heads * n, heads * n);
            NDArray rankArray = tm.create(all, new Shape(2, cfg.nLayers(), cfg.nHeads(), n)); // [2, n_layers, n_heads, targets]
            Grid scores = Grid.of(rankArray.lt(options.k()).toType(DataType.FLOAT32, false)
                    .mean(new int[] {-1})); // [2, n_layers, n_heads]
            return new Result(scores, all, List.copyOf(targets), tokens.clone(), options.k(),
                    table(title, scores, cfg));
        } finally {
            progress.done();
        }
    }

    /** For each (head, target) row: how many logits exceed the target token's logit. */
    private static void copyRanks(NDArray logits, NDArray idx, long[] into, int offset) {
        NDArray own = logits.gather(idx, -1); // [chunk, targets, 1]
        long[] r = logits.gt(own).countNonzero(-1).toType(DataType.INT64, false).toLongArray(); // [chunk * targets]
        System.arraycopy(r, 0, into, offset, r.length);
    }

    private static Table table(String title, Grid scores, GPT2Config cfg) {
        float[] s = scores.toFloatArray();
        int heads = cfg.nLayers() * cfg.nHeads();
        List<String> labels = new ArrayList<>();
        int[] layer = new int[heads];
        int[] head = new int[heads];
        double[] pos = new double[heads];
        double[] neg = new double[heads];
        for (int i = 0; i < heads; i++) {
            layer[i] = i / cfg.nHeads();
            head[i] = i % cfg.nHeads();
            labels.add(Heads.label(layer[i], head[i]));
            pos[i] = 100.0 * s[i];
            neg[i] = 100.0 * s[heads + i];
        }
        Table t = Table.create(title, StringColumn.create("head", labels), IntColumn.create("layer", layer),
                IntColumn.create("head_index", head), DoubleColumn.create("positive_pct", pos),
                DoubleColumn.create("negative_pct", neg));
        return t.sortDescendingOn("positive_pct");
    }
}
