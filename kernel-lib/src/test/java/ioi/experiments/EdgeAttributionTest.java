package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ioi.lens.ActivationCache;
import ioi.lens.Hook;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * EAP and EAP-IG against an independent TransformerLens computation (backward hooks on the split
 * q/k/v inputs, tools/goldens/make_ioi_eap_goldens.py) on the committed 12x12 random GPT-2 and the
 * goldens' IOI batch; the graph against EAP-IG's counts; chunking; and each score's meaning: the
 * derivative of the metric when only that edge's input moves toward the ABC value, by central
 * differences through plain hooks.
 */
class EdgeAttributionTest {
    /** float32 forward and backward, scores summed over 16 x 22 x 24 products; the largest are O(0.1). */
    static final double ATOL = 2e-5;
    static final double RTOL = 2e-3;

    static HookedTransformer model;
    static SafetensorsFile experiments;
    static SafetensorsFile golden;
    static IoiBatch batch;
    static NDManager m;
    /** EAP on the whole batch in one chunk, which several tests read. */
    static EdgeAttribution.Scores eap;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        experiments = IoiGoldens.open();
        golden = Safetensors.open(TestModels.resource("ioi-goldens/eap.safetensors"));
        batch = IoiGoldens.batch(experiments);
        m = NDManager.newBaseManager();
        eap = EdgeAttribution.ioi(model, batch, batch.size(), null);
    }

    @AfterAll
    static void close() {
        m.close();
        golden.close();
        experiments.close();
        model.close();
    }

    private static void assertScores(String key, EdgeAttribution.Scores s) {
        float[] want = golden.load(key, m).toFloatArray();
        float[] got = s.scores();
        assertEquals(want.length, got.length, key + ": [n_forward x n_backward]");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            double excess = Math.abs(want[i] - got[i]) - (ATOL + RTOL * Math.abs(want[i]));
            if (at < 0 || excess > worst) {
                worst = excess;
                at = i;
            }
        }
        int nb = s.graph().nBackward();
        assertTrue(worst <= 0, key + ": worst edge " + s.graph().forwardName(at / nb) + "->" + s.graph().backwardName(at % nb)
                + ": TL " + want[at] + ", Java " + got[at] + " (tolerance " + ATOL + " + " + RTOL + " x |TL|)");
    }

    @Test
    void theGraphIsEapIgs() {
        EdgeAttribution.Graph gpt2 = new EdgeAttribution.Graph(12, 12);
        assertEquals(157, gpt2.nForward());
        assertEquals(445, gpt2.nBackward());
        assertEquals(32491, gpt2.edgeCount(), "EAP-IG's edge count for GPT-2 small");
        assertEquals("a9.h9", gpt2.forwardName(gpt2.forwardIndex("a9.h9")));
        assertEquals("a9.h9<q>", gpt2.backwardName(gpt2.backwardIndex("a9.h9<q>")));
        assertTrue(gpt2.isEdge(gpt2.forwardIndex("a9.h9"), gpt2.backwardIndex("m9")), "an MLP reads its own layer's heads");
        assertTrue(!gpt2.isEdge(gpt2.forwardIndex("a9.h9"), gpt2.backwardIndex("a9.h6<k>")), "a head does not read its own layer");
        assertTrue(!gpt2.isEdge(gpt2.forwardIndex("m9"), gpt2.backwardIndex("a9.h6<v>")));
        assertTrue(gpt2.isEdge(gpt2.forwardIndex("m11"), gpt2.backwardIndex("logits")));
        boolean[] want = toBool(golden.load("edge_mask", m).toFloatArray());
        int mismatches = 0;
        for (int f = 0; f < gpt2.nForward(); f++) {
            for (int b = 0; b < gpt2.nBackward(); b++) {
                mismatches += gpt2.isEdge(f, b) == want[f * gpt2.nBackward() + b] ? 0 : 1;
            }
        }
        assertEquals(0, mismatches, "edges that differ from the golden script's mask");
        var e = assertThrows(IllegalArgumentException.class, () -> gpt2.forwardIndex("a12.h0"));
        assertTrue(e.getMessage().contains("'a12.h0'") && e.getMessage().contains("a{layer}.h{head}"), e.getMessage());
    }

    private static boolean[] toBool(float[] v) {
        boolean[] out = new boolean[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] != 0;
        }
        return out;
    }

    @Test
    void eapEqualsTransformerLensBackwardHooks() {
        EdgeAttribution.Scores s = eap;
        assertEquals(golden.load("eap/metric", m).getFloat(0), s.metric(), 1e-4, "the clean mean logit difference");
        assertEquals("EAP", s.method());
        assertScores("eap/scores", s);
    }

    @Test
    void eapIgEqualsTransformerLensBackwardHooks() {
        EdgeAttribution.Scores s = EdgeAttribution.ioiIg(model, batch, 5, batch.size(), null);
        assertEquals(golden.load("eap/metric", m).getFloat(0), s.metric(), 1e-4, "the clean mean logit difference");
        assertEquals(5, s.steps());
        assertScores("eap_ig/scores", s);
    }

    @Test
    void chunksOfPromptsGiveTheSameScores() {
        EdgeAttribution.Scores whole = eap;
        EdgeAttribution.Scores chunked = EdgeAttribution.ioi(model, batch, 5, null); // 5 + 5 + 5 + 1 prompts
        double worst = 0;
        for (int i = 0; i < whole.scores().length; i++) {
            worst = Math.max(worst, Math.abs(whole.scores()[i] - chunked.scores()[i]));
        }
        assertTrue(worst <= ATOL, "worst |whole - chunked| " + worst + " > " + ATOL);
        assertEquals(whole.metric(), chunked.metric(), 1e-5);
    }

    /**
     * score(u -> v) = d/dε of M when v's own input (one head's q/k/v input, or an MLP's input)
     * is moved by ε (a_u(ABC) − a_u(clean)) and nothing else is: central differences through hooks
     * on the split inputs, for the top edges into heads and MLPs.
     */
    @Test
    void eachScoreIsTheDerivativeAlongItsEdge() {
        EdgeAttribution.Scores s = eap;
        List<EdgeAttribution.Edge> top = s.top(200).stream().filter(e -> !e.child().equals("logits")).limit(4).toList();
        assertEquals(4, top.size());
        PatchingMetric ld = Metrics.logitDiffMetric(batch);
        double eps = 1e-2;
        try (NDManager tmp = m.newSubManager();
                ActivationCache clean = model.runWithCache(batch.tokens(tmp), n -> n.matches(".*(hook_embed|hook_result|hook_mlp_out)"));
                ActivationCache abc = model.runWithCache(batch.abcTokens(tmp), n -> n.matches(".*(hook_embed|hook_result|hook_mlp_out)"))) {
            NDArray tokens = batch.tokens(tmp); // [batch, pos]
            for (EdgeAttribution.Edge e : top) {
                NDArray delta = output(abc, e.parent()).sub(output(clean, e.parent())); // [batch, pos, d_model]
                double fd = (metricWith(tokens, ld, e.child(), delta.mul(eps)) - metricWith(tokens, ld, e.child(), delta.mul(-eps)))
                        / (2 * eps);
                double rel = Math.abs(fd - e.score()) / Math.abs(fd);
                assertTrue(rel < 2e-2, e.name() + ": score " + e.score() + " vs central difference " + fd
                        + " (relative difference " + rel + ", tolerance 2e-2)");
            }
        }
    }

    /** u's output [batch, pos, d_model]. */
    private static NDArray output(ActivationCache cache, String node) {
        Head h = EdgeAttribution.Graph.headOf(node);
        if (h != null) {
            return cache.get("result", h.layer()).get(new NDIndex(":, :, {}", h.head()));
        }
        return node.equals("input") ? cache.get("embed") : cache.get("mlp_out", Integer.parseInt(node.substring(1)));
    }

    /** M with {@code add} added to the child's own input only. */
    private static double metricWith(NDArray tokens, PatchingMetric ld, String child, NDArray add) {
        Head h = EdgeAttribution.Graph.headOf(child);
        Hook hook;
        if (h != null) {
            String x = child.substring(child.indexOf('<') + 1, child.indexOf('>'));
            hook = Hook.of("blocks." + h.layer() + ".hook_" + x + "_input", (act, p) -> { // [batch, pos, head_index, d_model]
                NDArray y = act.duplicate();
                NDIndex at = new NDIndex(":, :, {}", h.head());
                y.set(at, act.get(at).add(add));
                return y;
            });
        } else {
            hook = Hook.of("blocks." + child.substring(1) + ".hook_mlp_in", (act, p) -> act.add(add)); // [batch, pos, d_model]
        }
        try (HookScope s = model.hooks(hook); NDManager tmp = m.newSubManager()) {
            NDArray logits = model.forward(tokens); // [batch, pos, d_vocab]
            tmp.attachAll(logits);
            return Metrics.scoreArray(ld, logits).toType(DataType.FLOAT64, false).getDouble();
        }
    }

    @Test
    void badInputIsRefused() {
        var steps = assertThrows(IllegalArgumentException.class, () -> EdgeAttribution.ioiIg(model, batch, 0, 4, null));
        assertTrue(steps.getMessage().contains("0"), steps.getMessage());
        var chunk = assertThrows(IllegalArgumentException.class, () -> EdgeAttribution.ioi(model, batch, 0, null));
        assertTrue(chunk.getMessage().contains("chunk"), chunk.getMessage());
        EdgeAttribution.Scores s = eap;
        var noEdge = assertThrows(IllegalArgumentException.class, () -> s.score("a9.h9", "a9.h6<q>"));
        assertTrue(noEdge.getMessage().contains("no edge a9.h9->a9.h6<q>"), noEdge.getMessage());
    }

    @Test
    void repeatedRunsLeaveNoArraysBehind() {
        IoiBatch two = batch.first(2);
        EdgeAttribution.ioi(model, two, 1, null); // warm-up
        int before = model.liveArrayCount();
        for (int i = 0; i < 3; i++) {
            EdgeAttribution.ioi(model, two, 1, null);
        }
        EdgeAttribution.ioiIg(model, two, 2, 2, null);
        assertEquals(before, model.liveArrayCount(), "live arrays in the model's managers after 3 EAP runs and 1 EAP-IG run");
    }
}
