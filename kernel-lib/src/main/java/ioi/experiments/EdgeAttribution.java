package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ioi.lens.ActivationCache;
import ioi.lens.GradientRun;
import ioi.lens.Hook;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * Edge attribution patching (EAP, Syed et al. 2023) and EAP with integrated gradients (EAP-IG,
 * Hanna et al. 2024; [EAP] in docs/sources.md): a score for every edge of the model's computational graph ({@link Graph})
 * from a few forward and backward passes, instead of one patched forward pass per edge.
 *
 * <p>For an edge u → v, with M the mean logit difference (IO − S at END) over the prompts:
 * <pre>
 *   score(u → v) = Σ over prompts, positions and d_model of (a_u(ABC) − a_u(clean)) · ∂M/∂in_v
 * </pre>
 * where a_u is u's output (the token embedding, a head's {@code attn.hook_result}, an MLP's
 * {@code hook_mlp_out}) and in_v is v's own input (a head's {@code hook_q_input}, {@code hook_k_input}
 * or {@code hook_v_input}, an MLP's {@code hook_mlp_in}, the logits' final {@code hook_resid_post}).
 * It is the first-order change of M when edge u → v alone carries the ABC run's value ("noising",
 * as EAP scores). EAP takes the gradient at the clean run: 2 forward passes and 1 backward pass.
 * EAP-IG averages it over {@code steps} runs of the clean prompts whose token embeddings are
 * {@code ABC + k/steps · (clean − ABC)}, k = 0 … steps − 1 ([EAP] {@code attribute.py}
 * {@code get_scores_eap_ig}: its interpolation of the input and its left Riemann sum): steps + 2 forward passes and steps backward passes.
 *
 * <p>The sign convention: hannamw/EAP-IG's IOI metric is the negated logit difference averaged over
 * each batch and its scores are divided again by the number of prompts, so its scores are ours × −1/N;
 * circuits are found by |score|, which that leaves alone.
 *
 * <p>Results are plain Java arrays ({@link Scores}); nothing native outlives a call.
 */
public final class EdgeAttribution {

    private EdgeAttribution() {}

    /**
     * The computational graph of a GPT-2-style model as EAP-IG draws it ([EAP] {@code graph.py}). Upstream (forward) nodes,
     * in order: {@code input}, then per layer its heads {@code a{L}.h{H}} and its MLP {@code m{L}}.
     * Downstream (backward) nodes: per layer the heads' q inputs {@code a{L}.h{H}<q>}, k inputs,
     * v inputs and the MLP {@code m{L}}; then {@code logits}. Heads of layer l read every node before
     * layer l; the MLP of layer l also reads layer l's heads; the logits read every node.
     */
    public record Graph(int nLayers, int nHeads) {
        public Graph {
            if (nLayers < 1 || nHeads < 1) {
                throw new IllegalArgumentException("a graph needs at least one layer and one head but got " + nLayers
                        + " layers x " + nHeads + " heads");
            }
        }

        public static Graph of(HookedTransformer model) {
            return new Graph(model.cfg().nLayers(), model.cfg().nHeads());
        }

        /** 1 + n_layers · (n_heads + 1): the input, every head and every MLP. */
        public int nForward() {
            return 1 + nLayers * (nHeads + 1);
        }

        /** n_layers · (3 · n_heads + 1) + 1: every head's q, k, v input, every MLP, the logits. */
        public int nBackward() {
            return nLayers * (3 * nHeads + 1) + 1;
        }

        /** The forward nodes that feed downstream node {@code b}: those with index below this. */
        int reads(int b) {
            if (b == nBackward() - 1) {
                return nForward();
            }
            int layer = b / (3 * nHeads + 1);
            boolean mlp = b % (3 * nHeads + 1) == 3 * nHeads;
            return 1 + layer * (nHeads + 1) + (mlp ? nHeads : 0);
        }

        /** Whether upstream node {@code f} feeds downstream node {@code b}. */
        public boolean isEdge(int f, int b) {
            return f >= 0 && b >= 0 && b < nBackward() && f < reads(b);
        }

        /** The number of edges (32,491 for GPT-2 small). */
        public int edgeCount() {
            int n = 0;
            for (int b = 0; b < nBackward(); b++) {
                n += reads(b);
            }
            return n;
        }

        /** {@code input}, {@code a{L}.h{H}} or {@code m{L}}. */
        public String forwardName(int f) {
            if (f < 0 || f >= nForward()) {
                throw new IllegalArgumentException("forward node " + f + " is not in [0, " + nForward() + ")");
            }
            if (f == 0) {
                return "input";
            }
            int layer = (f - 1) / (nHeads + 1);
            int i = (f - 1) % (nHeads + 1);
            return i == nHeads ? "m" + layer : "a" + layer + ".h" + i;
        }

        /** {@code a{L}.h{H}<q|k|v>}, {@code m{L}} or {@code logits}. */
        public String backwardName(int b) {
            if (b < 0 || b >= nBackward()) {
                throw new IllegalArgumentException("backward node " + b + " is not in [0, " + nBackward() + ")");
            }
            if (b == nBackward() - 1) {
                return "logits";
            }
            int layer = b / (3 * nHeads + 1);
            int i = b % (3 * nHeads + 1);
            return i == 3 * nHeads ? "m" + layer : "a" + layer + ".h" + (i % nHeads) + "<" + "qkv".charAt(i / nHeads) + ">";
        }

        /** The forward index of {@code input}, {@code a9.h9} or {@code m3}. */
        public int forwardIndex(String node) {
            for (int f = 0; f < nForward(); f++) {
                if (forwardName(f).equals(node)) {
                    return f;
                }
            }
            throw new IllegalArgumentException("'" + node + "' is not an upstream node of a " + nLayers + " x " + nHeads
                    + " graph: input, a{layer}.h{head} or m{layer}");
        }

        /** The backward index of {@code a9.h9<q>}, {@code m3} or {@code logits}. */
        public int backwardIndex(String node) {
            for (int b = 0; b < nBackward(); b++) {
                if (backwardName(b).equals(node)) {
                    return b;
                }
            }
            throw new IllegalArgumentException("'" + node + "' is not a downstream node of a " + nLayers + " x " + nHeads
                    + " graph: a{layer}.h{head}<q|k|v>, m{layer} or logits");
        }

        /** The head of a node name ({@code a9.h9} or {@code a9.h9<q>}), or null for input, MLPs and logits. */
        public static Head headOf(String node) {
            if (!node.startsWith("a")) {
                return null;
            }
            int dot = node.indexOf(".h");
            int end = node.indexOf('<');
            return new Head(Integer.parseInt(node.substring(1, dot)),
                    Integer.parseInt(node.substring(dot + 2, end < 0 ? node.length() : end)));
        }
    }

    /** One edge and its score. */
    public record Edge(String parent, String child, float score) {
        /** EAP-IG's name: {@code parent->child}. */
        public String name() {
            return parent + "->" + child;
        }
    }

    /**
     * Every edge's score, [n_forward][n_backward] flattened row-major (0 where there is no edge).
     *
     * @param method {@code EAP} or {@code EAP-IG}
     * @param steps the integrated-gradient steps (1 for EAP)
     * @param metric M at the clean run
     */
    public record Scores(String method, Graph graph, float[] scores, double metric, int steps) {
        public Scores {
            if (scores.length != graph.nForward() * graph.nBackward()) {
                throw new IllegalArgumentException("scores has " + scores.length + " values but the graph has "
                        + graph.nForward() + " x " + graph.nBackward());
            }
        }

        /** The score of the edge {@code parent -> child} (names as in {@link Graph}). */
        public float score(String parent, String child) {
            int f = graph.forwardIndex(parent);
            int b = graph.backwardIndex(child);
            if (!graph.isEdge(f, b)) {
                throw new IllegalArgumentException("there is no edge " + parent + "->" + child + ": " + child
                        + " reads only nodes before it (a head: earlier layers; an MLP: also its own layer's heads)");
            }
            return scores[f * graph.nBackward() + b];
        }

        /** Every edge, in the graph's order. */
        public List<Edge> edges() {
            List<Edge> out = new ArrayList<>(graph.edgeCount());
            for (int f = 0; f < graph.nForward(); f++) {
                for (int b = 0; b < graph.nBackward(); b++) {
                    if (graph.isEdge(f, b)) {
                        out.add(new Edge(graph.forwardName(f), graph.backwardName(b), scores[f * graph.nBackward() + b]));
                    }
                }
            }
            return out;
        }

        /** The {@code n} edges of largest |score|, largest first: the circuit EAP's "top-n" keeps. */
        public List<Edge> top(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("top(" + n + "): n must be >= 0");
            }
            List<Edge> all = edges();
            all.sort(Comparator.comparingDouble((Edge e) -> -Math.abs(e.score())));
            return List.copyOf(all.subList(0, Math.min(n, all.size())));
        }

        /** The top {@code n} edges as a table: rank, edge, upstream node, downstream node, score. */
        public tech.tablesaw.api.Table topTable(int n) {
            List<Edge> top = top(n);
            tech.tablesaw.api.IntColumn rank = tech.tablesaw.api.IntColumn.create("rank");
            tech.tablesaw.api.StringColumn edge = tech.tablesaw.api.StringColumn.create("edge");
            tech.tablesaw.api.StringColumn parent = tech.tablesaw.api.StringColumn.create("from");
            tech.tablesaw.api.StringColumn child = tech.tablesaw.api.StringColumn.create("to");
            tech.tablesaw.api.DoubleColumn score = tech.tablesaw.api.DoubleColumn.create("score");
            for (int i = 0; i < top.size(); i++) {
                rank.append(i + 1);
                edge.append(top.get(i).name());
                parent.append(top.get(i).parent());
                child.append(top.get(i).child());
                score.append(top.get(i).score());
            }
            return tech.tablesaw.api.Table.create(method + ": the top " + top.size() + " edges by |score|", rank, edge,
                    parent, child, score);
        }

        /** The heads that are an end of at least one of {@code edges}, in layer order. */
        public static Set<Head> heads(List<Edge> edges) {
            java.util.TreeSet<Head> out = new java.util.TreeSet<>();
            for (Edge e : edges) {
                for (String node : List.of(e.parent(), e.child())) {
                    Head h = Graph.headOf(node);
                    if (h != null) {
                        out.add(h);
                    }
                }
            }
            return out;
        }
    }

    // ---------------------------------------------------------------- IOI

    /** EAP on the batch's clean prompts against their ABC versions, in chunks of {@code chunk} prompts. */
    public static Scores ioi(HookedTransformer model, IoiBatch batch, int chunk, Progress progress) {
        return run(model, batch, 0, chunk, progress);
    }

    /** EAP-IG with {@code steps} interpolation steps, in chunks of {@code chunk} prompts. */
    public static Scores ioiIg(HookedTransformer model, IoiBatch batch, int steps, int chunk, Progress progress) {
        if (steps < 1) {
            throw new IllegalArgumentException("EAP-IG needs at least 1 step but got " + steps + " (EAP-IG's default is 5)");
        }
        return run(model, batch, steps, chunk, progress);
    }

    private static final java.util.regex.Pattern UPSTREAM =
            java.util.regex.Pattern.compile("hook_embed|blocks\\.\\d+\\.(attn\\.hook_result|hook_mlp_out)");

    private static final java.util.regex.Pattern DOWNSTREAM =
            java.util.regex.Pattern.compile("blocks\\.\\d+\\.hook_(q_input|k_input|v_input|mlp_in)");

    /** EAP (igSteps 0) or EAP-IG: per chunk of prompts, sums into one score matrix. */
    private static Scores run(HookedTransformer model, IoiBatch batch, int igSteps, int chunk, Progress progress) {
        if (chunk < 1) {
            throw new IllegalArgumentException("chunk must be >= 1 prompt but got " + chunk);
        }
        progress = progress == null ? Progress.NONE : progress;
        Graph graph = Graph.of(model);
        int nLayers = graph.nLayers();
        String last = "blocks." + (nLayers - 1) + ".hook_resid_post";
        java.util.function.Predicate<String> downstream = n -> n.equals(last)
                || DOWNSTREAM.matcher(n).matches();
        int passes = Math.max(1, igSteps);
        int chunks = (batch.size() + chunk - 1) / chunk;
        double[] total = new double[graph.nForward() * graph.nBackward()];
        double metric = 0;
        progress.start((long) chunks * passes);
        try {
            for (int from = 0; from < batch.size(); from += chunk) {
                IoiBatch part = batch.rows(from, Math.min(batch.size(), from + chunk));
                double weight = (double) part.size() / batch.size(); // M is the mean over every prompt
                PatchingMetric ld = Metrics.logitDiffMetric(part);
                try (NDManager m = model.resultManager().newSubManager();
                        ActivationCache clean = model.runWithCache(part.tokens(m), n -> UPSTREAM.matcher(n).matches());
                        ActivationCache abc = model.runWithCache(part.abcTokens(m), n -> UPSTREAM.matcher(n).matches())) {
                    NDArray delta = upstream(abc, graph, m).sub(upstream(clean, graph, m)); // [n_forward, batch * pos * d_model]
                    if (igSteps > 0) {
                        metric += weight * cleanMetric(model, part, ld, m);
                    }
                    NDArray gradSum = null; // [n_backward, batch * pos * d_model]
                    NDArray e0 = abc.get("hook_embed"); // [batch, pos, d_model]
                    NDArray toClean = igSteps > 0 ? clean.get("hook_embed").sub(e0) : null; // [batch, pos, d_model]
                    for (int k = 0; k < passes; k++) {
                        NDArray embed = null;
                        if (igSteps > 0) {
                            embed = e0.add(toClean.mul((double) k / igSteps)); // [batch, pos, d_model]
                            embed.attach(m);
                        }
                        NDArray input = embed;
                        try (HookScope s = input == null ? null : model.hooks(Hook.of("hook_embed", (x, h) -> input));
                                GradientRun run = model.runWithGradients(part.tokens(m), downstream,
                                        logits -> Metrics.scoreArray(ld, logits))) {
                            if (igSteps == 0) {
                                metric += weight * run.metric();
                            }
                            NDArray g = downstreamStack(run.gradients(), graph, last, m); // [n_backward, batch * pos * d_model]
                            if (gradSum == null) {
                                gradSum = g;
                            } else {
                                gradSum.addi(g);
                                g.close();
                            }
                        }
                        if (embed != null) {
                            embed.close();
                        }
                        progress.step(1);
                    }
                    // Σ over prompts, positions and d_model for every (upstream, downstream) pair at once.
                    NDArray s = delta.matMul(gradSum.transpose()).mul(weight / passes); // [n_forward, n_backward]
                    float[] part32 = s.toFloatArray();
                    for (int i = 0; i < total.length; i++) {
                        total[i] += part32[i];
                    }
                }
            }
        } finally {
            progress.done();
        }
        float[] out = new float[total.length];
        for (int f = 0; f < graph.nForward(); f++) {
            for (int b = 0; b < graph.nBackward(); b++) {
                int i = f * graph.nBackward() + b;
                out[i] = graph.isEdge(f, b) ? (float) total[i] : 0f;
            }
        }
        return new Scores(igSteps == 0 ? "EAP" : "EAP-IG", graph, out, metric, passes);
    }

    /** M at the unmodified clean run (EAP-IG's gradient runs see interpolated inputs). */
    private static double cleanMetric(HookedTransformer model, IoiBatch part, PatchingMetric ld, NDManager m) {
        try (NDScope scope = new NDScope()) {
            NDArray logits = model.forward(part.tokens(m)); // [batch, pos, d_vocab]
            return Metrics.scoreArray(ld, logits).toType(DataType.FLOAT64, false).getDouble();
        }
    }

    /** The upstream nodes' outputs in the graph's forward order: [n_forward, batch * pos * d_model], in {@code m}. */
    private static NDArray upstream(ActivationCache cache, Graph graph, NDManager m) {
        try (NDScope scope = new NDScope()) {
            List<NDArray> rows = new ArrayList<>();
            rows.add(cache.get("hook_embed").expandDims(0)); // [1, batch, pos, d_model]
            for (int l = 0; l < graph.nLayers(); l++) {
                rows.add(cache.get("result", l).transpose(2, 0, 1, 3)); // [head_index, batch, pos, d_model]
                rows.add(cache.get("mlp_out", l).expandDims(0)); // [1, batch, pos, d_model]
            }
            return flatRows(rows, graph.nForward(), m);
        }
    }

    /** ∂M/∂(each downstream node's input) in the graph's backward order: [n_backward, batch * pos * d_model], in {@code m}. */
    private static NDArray downstreamStack(ActivationCache grads, Graph graph, String last, NDManager m) {
        try (NDScope scope = new NDScope()) {
            List<NDArray> rows = new ArrayList<>();
            for (int l = 0; l < graph.nLayers(); l++) {
                for (String x : new String[] {"q_input", "k_input", "v_input"}) {
                    rows.add(grads.get(x, l).transpose(2, 0, 1, 3)); // [head_index, batch, pos, d_model]
                }
                rows.add(grads.get("mlp_in", l).expandDims(0)); // [1, batch, pos, d_model]
            }
            rows.add(grads.get(last).expandDims(0)); // [1, batch, pos, d_model]
            return flatRows(rows, graph.nBackward(), m);
        }
    }

    /**
     * {@code rows} ([k, batch, pos, d_model] each, k summing to {@code n}) stacked into
     * [n, batch * pos * d_model], owned by {@code m} and kept past the caller's scope.
     */
    private static NDArray flatRows(List<NDArray> rows, int n, NDManager m) {
        NDArray stack = NDArrays.concat(new NDList(rows), 0); // [n, batch, pos, d_model]
        NDArray flat = stack.reshape(n, -1); // [n, batch * pos * d_model]
        flat.attach(m);
        NDScope.unregister(flat);
        return flat;
    }
}
