package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ioi.lens.Compare;
import ioi.lens.Hook;
import ioi.lens.HookedTransformer;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tech.tablesaw.api.Table;

/**
 * Path patching against TransformerLens 2.18 running the reference procedures literally, one frozen
 * forward per sender (tools/goldens/make_ioi_path_patching_goldens.py): ARENA's z-freezing to the
 * final residual stream and to receiver heads' q/k/v, the paper's (ET) q/k/v-freezing with the
 * sender's {@code hook_result} patched at END, position-restricted receivers, a set of senders
 * (Fig 4c) with the receivers' attention, and a knock-out run (Fig 15), on the committed 12x12
 * random GPT-2 and 16 IOI prompts. Tolerances: {@code 1e-4} absolute on ioi_metric_2 (O(0.1-1),
 * float32 forwards computed differently), {@code 5e-3} absolute on % changes (the same logit-diff
 * error scaled by 100 / |clean logit diff| = 116), {@code 1e-5} on attention probabilities.
 */
class PathPatchingTest {

    static final double ATOL = 1e-4;
    static final double ATOL_PERCENT = 5e-3;
    static final List<Head> S_INHIBITION = List.of(Head.of(8, 6), Head.of(8, 10), Head.of(7, 9), Head.of(7, 3));
    static final List<Head> NAME_MOVERS = List.of(Head.of(9, 9), Head.of(10, 0), Head.of(9, 6));

    static HookedTransformer model;
    static SafetensorsFile g;
    static IoiBatch batch;
    static NDManager m;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        g = Safetensors.open(TestModels.resource("ioi-goldens/path_patching.safetensors"));
        try (SafetensorsFile e = IoiGoldens.open()) {
            batch = IoiGoldens.batch(e);
        }
        m = NDManager.newBaseManager();
        assertArrayEquals(batch.tokens(), IoiGoldens.rows(g.load("tokens", m)), "the goldens' batch");
        assertArrayEquals(batch.end(), IoiGoldens.longs(g.load("word_idx/end", m)));
    }

    @AfterAll
    static void close() {
        m.close();
        g.close();
        model.close();
    }

    @Test
    void arenaGridsMatchTransformerLens() {
        Compare cmp = new Compare("Path patching (ARENA) vs TransformerLens");
        try (PathPatching pp = PathPatching.arena(model, batch)) {
            cmp.close("clean logit diff", new float[] {(float) pp.cleanLogitDiff()},
                    g.load("clean_logit_diff", m).toFloatArray(), 1e-4, 0);
            cmp.close("ABC logit diff", new float[] {(float) pp.abcLogitDiff()},
                    g.load("abc_logit_diff", m).toFloatArray(), 1e-4, 0);
            check(cmp, "arena/final_resid", pp.toFinalResid(), ATOL);
            check(cmp, "arena/s_inhibition_v", pp.toHeads("v", S_INHIBITION), ATOL);
            check(cmp, "arena/s_inhibition_k", pp.toHeads("k", S_INHIBITION), ATOL);
            check(cmp, "arena/name_mover_q", pp.toHeads("q", NAME_MOVERS), ATOL);
            float[] set = pp.run(List.of(S_INHIBITION), PathPatching.Receivers.heads("q", NAME_MOVERS));
            cmp.close("arena/s_inhibition_set_to_nm_q", set, g.load("arena/s_inhibition_set_to_nm_q", m).toFloatArray(),
                    ATOL, 0);
        }
        cmp.check();
    }

    @Test
    void paperGridsMatchTransformerLens() {
        Compare cmp = new Compare("Path patching (paper, ET) vs TransformerLens");
        try (PathPatching end = PathPatching.paper(model, batch, "end");
                PathPatching s2 = PathPatching.paper(model, batch, "S2")) {
            check(cmp, "paper/final_resid_end", end.toFinalResid(), ATOL_PERCENT);
            check(cmp, "paper/name_mover_q_end", end.toHeads("q", NAME_MOVERS), ATOL_PERCENT);
            check(cmp, "paper/s_inhibition_v_s2", s2.toHeads("v", S_INHIBITION), ATOL_PERCENT);
        }
        cmp.check();
    }

    /** Fig 4c: the name movers' attention from END before and after patching the S-inhibition heads into their queries. */
    @Test
    void attentionAfterPatchingMatchesTransformerLens() {
        Compare cmp = new Compare("Name mover attention after path patching");
        try (PathPatching pp = PathPatching.arena(model, batch)) {
            Table t = pp.attentionAfter(S_INHIBITION, PathPatching.Receivers.heads("q", NAME_MOVERS), NAME_MOVERS);
            assertEquals(NAME_MOVERS.size() * 3, t.rowCount());
            for (int r = 0; r < t.rowCount(); r++) {
                String key = "attention/" + t.stringColumn("head").get(r) + "/" + t.stringColumn("to").get(r);
                for (String when : List.of("before", "after")) {
                    float[] perPrompt = g.load(key + "/" + when, m).toFloatArray();
                    double mean = 0;
                    for (float v : perPrompt) {
                        mean += v / perPrompt.length;
                    }
                    cmp.close(key + "/" + when, new float[] {(float) t.doubleColumn(when).getDouble(r)},
                            new float[] {(float) mean}, 1e-5, 0);
                }
            }
            System.out.println(t.print());
        }
        cmp.check();
    }

    /** Fig 15's set-up: every pass with the name movers knocked out (here: replaced by the ABC run's batch mean). */
    @Test
    void knockOutRunsInEveryPass() {
        Compare cmp = new Compare("Path patching with the name movers knocked out");
        // The mean comes from this model's own ABC run: z is in the basis of the refactored W_V / W_O,
        // which an SVD fixes only up to signs, so TransformerLens's z values are not this model's.
        NDArray mean9;
        NDArray mean10;
        try (ioi.lens.ActivationCache abc = model.runWithCache(batch.abcTokens(m))) {
            mean9 = abc.get("z", 9).mean(new int[] {0}).duplicate(); // [pos, head_index, d_head]
            mean10 = abc.get("z", 10).mean(new int[] {0}).duplicate();
            mean9.attach(m);
            mean10.attach(m);
        }
        List<Hook> knockOut = List.of(
                Hook.of("blocks.9.attn.hook_z", (z, hook) -> replaceHeads(z, mean9, 9, 6)),
                Hook.of("blocks.10.attn.hook_z", (z, hook) -> replaceHeads(z, mean10, 0)));
        try (PathPatching pp = PathPatching.create(model, batch, PathPatching.Options.arena().baseHooks(knockOut))) {
            cmp.close("knock-out clean logit diff", new float[] {(float) pp.cleanLogitDiff()},
                    g.load("knockout/clean_logit_diff", m).toFloatArray(), 1e-4, 0);
            cmp.close("knock-out ABC logit diff", new float[] {(float) pp.abcLogitDiff()},
                    g.load("knockout/abc_logit_diff", m).toFloatArray(), 1e-4, 0);
            check(cmp, "knockout/arena/final_resid", pp.toFinalResid(), ATOL);
        }
        cmp.check();
    }

    /**
     * A mean-ablation knock-out as base hooks ({@link MeanAblation#hookList}): the clean run under it
     * equals MeanAblation's own logit difference, and patched runs of many copies per forward equal
     * one copy per forward (the hooks take copies of the batch and cut sequences).
     */
    @Test
    void meanAblationKnockOutWorksAsBaseHooks() {
        int[] oneGroup = new int[batch.size()];
        try (MeanAblation ablation = MeanAblation.byTemplate(model, batch, oneGroup)) {
            MeanAblation.KeepMask knockOut = ablation.knockOut(NAME_MOVERS);
            List<Hook> hooks = ablation.hookList(knockOut);
            try (PathPatching many = PathPatching.create(model, batch, PathPatching.Options.arena().baseHooks(hooks));
                    PathPatching one = PathPatching.create(model, batch,
                            PathPatching.Options.arena().baseHooks(hooks).maxTokensPerForward(1))) {
                assertEquals(ablation.logitDiff(knockOut), many.cleanLogitDiff(), 1e-5, "clean logit diff, knocked out");
                List<List<Head>> cells = List.of(List.of(Head.of(7, 3)), List.of(Head.of(8, 6)), List.of(Head.of(2, 2)));
                float[] a = many.run(cells, PathPatching.Receivers.heads("q", NAME_MOVERS));
                float[] b = one.run(cells, PathPatching.Receivers.heads("q", NAME_MOVERS));
                for (int i = 0; i < a.length; i++) {
                    assertEquals(b[i], a[i], 1e-5, "sender " + cells.get(i) + ": three copies per forward vs one");
                }
            }
        }
    }

    /** z [batch, pos, head_index, d_head] with {@code heads} taken from mean [full_pos, head_index, d_head]. */
    static NDArray replaceHeads(NDArray z, NDArray mean, int... heads) {
        Shape s = z.getShape();
        boolean[] sel = new boolean[(int) s.get(2)];
        for (int h : heads) {
            sel[h] = true;
        }
        NDManager zm = z.getManager();
        NDArray mask = zm.create(sel, new Shape(1, 1, s.get(2), 1)).broadcast(s); // [batch, pos, head_index, d_head]
        NDArray source = mean.get(":" + s.get(1)).toDevice(z.getDevice(), false).expandDims(0).broadcast(s);
        return NDArrays.where(mask, source, z);
    }

    /** z [batch, pos, head_index, d_head] with {@code heads} taken from source (same shape). */
    static NDArray takeHeads(NDArray z, NDArray source, int... heads) {
        Shape s = z.getShape();
        boolean[] sel = new boolean[(int) s.get(2)];
        for (int h : heads) {
            sel[h] = true;
        }
        NDArray mask = z.getManager().create(sel, new Shape(1, 1, s.get(2), 1)).broadcast(s);
        return NDArrays.where(mask, source, z);
    }

    static void check(Compare cmp, String key, PatchingResult r, double atol) {
        NDArray expected = g.load(key, m);
        assertEquals(expected.getShape(), r.shape(), key);
        cmp.close(key + " " + expected.getShape(), r.toNDArray(m), expected, atol, 0);
    }

    /**
     * The carried residual-stream difference equals the literal frozen forward pass in Java too:
     * every hook_z set to the clean cache's, the sender's to the ABC cache's, the metric of the logits.
     */
    @Test
    void carryingTheDifferenceEqualsTheFrozenForward() {
        try (PathPatching pp = PathPatching.arena(model, batch);
                NDManager lm = NDManager.newBaseManager();
                ioi.lens.ActivationCache clean = model.runWithCache(batch.tokens(lm));
                ioi.lens.ActivationCache abc = model.runWithCache(batch.abcTokens(lm))) {
            PatchingMetric metric = Metrics.metric2(batch, pp.cleanLogitDiff(), pp.abcLogitDiff());
            List<Head> senders = List.of(Head.of(0, 3), Head.of(5, 5), Head.of(9, 9), Head.of(11, 10));
            List<List<Head>> cells = new ArrayList<>();
            senders.forEach(h -> cells.add(List.of(h)));
            float[] fast = pp.run(cells, PathPatching.Receivers.finalResid());
            for (int i = 0; i < senders.size(); i++) {
                Head s = senders.get(i);
                List<Hook> hooks = new ArrayList<>();
                for (int l = 0; l < 12; l++) {
                    String name = "blocks." + l + ".attn.hook_z";
                    int layer = l;
                    hooks.add(Hook.of(name, (z, hook) -> {
                        NDArray frozen = clean.get(name);
                        if (layer != s.layer()) {
                            return frozen.duplicate();
                        }
                        return takeHeads(frozen, abc.get(name), s.head());
                    }));
                }
                try (var scope = model.hooks(hooks)) {
                    NDArray logits = model.forward(batch.tokens(lm)); // [batch, pos, d_vocab]
                    double literal = Metrics.score(metric, logits);
                    assertEquals(literal, fast[i], ATOL, "sender " + s + ": carried difference vs frozen forward");
                }
            }
        }
    }

    @Test
    void chunkingAndProgressDoNotChangeResults() {
        AtomicLong stepped = new AtomicLong();
        Progress progress = new Progress() {
            @Override
            public void step(long n) {
                stepped.addAndGet(n);
            }
        };
        try (PathPatching whole = PathPatching.arena(model, batch);
                PathPatching small = PathPatching.create(model, batch,
                        PathPatching.Options.arena().maxTokensPerForward(1).progress(progress))) {
            PatchingResult a = whole.toHeads("v", S_INHIBITION);
            PatchingResult b = small.toHeads("v", S_INHIBITION);
            float[] x = a.toFloatArray();
            float[] y = b.toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-5, "sender " + i + ": all senders per forward vs one");
            }
        }
        assertEquals(8 * 12, stepped.get());
    }

    @Test
    void repeatedRunsReleaseTheirMemory() {
        try (PathPatching pp = PathPatching.arena(model, batch)) {
            pp.toFinalResid();
            pp.toHeads("q", NAME_MOVERS);
            int arrays = model.liveArrayCount();
            for (int i = 0; i < 3; i++) {
                pp.toFinalResid();
                pp.toHeads("q", NAME_MOVERS);
                pp.attentionAfter(S_INHIBITION, PathPatching.Receivers.heads("q", NAME_MOVERS), NAME_MOVERS);
            }
            assertEquals(arrays, model.liveArrayCount(), "live arrays after repeated path patching");
        }
    }

    @Test
    void badInputIsNamed() {
        try (PathPatching pp = PathPatching.arena(model, batch)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pp.toHeads("q", List.of(Head.of(12, 0))));
            assertTrue(e.getMessage().contains("12.0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> pp.toHeads("x", NAME_MOVERS));
            assertTrue(e.getMessage().contains("'x'"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> pp.toHeads("q", List.of()));
            assertTrue(e.getMessage().contains("at least one head"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> pp.attentionAfter(S_INHIBITION, PathPatching.Receivers.finalResid(), NAME_MOVERS));
            assertTrue(e.getMessage().contains("receiver heads"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PathPatching.Options.arena().baseHooks(List.of(Hook.of("blocks.3.hook_resid_post", (x, h) -> x))));
        assertTrue(e.getMessage().contains("blocks.3.hook_resid_post"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PathPatching.paper(model, batch, "S3"));
        assertTrue(e.getMessage().contains("S3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Head.parse("9-9"));
        assertTrue(e.getMessage().contains("9-9"), e.getMessage());
        List<List<Head>> none = new ArrayList<>();
        try (PathPatching pp = PathPatching.arena(model, batch)) {
            assertEquals(0, pp.run(none, PathPatching.Receivers.finalResid()).length);
        }
    }
}
