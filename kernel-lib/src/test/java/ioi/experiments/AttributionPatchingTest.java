package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ioi.lens.ActivationCache;
import ioi.lens.Hook;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Attribution patching against an independent TransformerLens computation (backward hooks,
 * tools/goldens/make_ioi_attribution_goldens.py) on the committed 12x12 random GPT-2 and the
 * goldens' IOI batch; and, where the linear estimate must be exact (the logits are linear in
 * ln_final.hook_normalized), against exact patching done with plain hooks.
 */
class AttributionPatchingTest {
    /** float32 forward and backward, summed over up to 16 x 22 x 64 products; values are O(0.1). */
    static final double ATOL = 2e-4;

    static HookedTransformer model;
    static SafetensorsFile experiments;
    static SafetensorsFile golden;
    static IoiBatch batch;
    static NDManager m;
    static Metrics.Performance performance;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        experiments = IoiGoldens.open();
        golden = Safetensors.open(TestModels.resource("ioi-goldens/attribution.safetensors"));
        batch = IoiGoldens.batch(experiments);
        m = NDManager.newBaseManager();
        performance = Metrics.performance(model, batch);
    }

    @AfterAll
    static void close() {
        m.close();
        golden.close();
        experiments.close();
        model.close();
    }

    private static void assertGrid(String key, PatchingResult r) {
        float[] want = golden.load(key, m).toFloatArray();
        float[] got = r.toFloatArray();
        assertEquals(want.length, got.length, key + ": cells");
        assertEquals(golden.load(key, m).getShape(), r.shape(), key + ": shape");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            double d = Math.abs(want[i] - got[i]);
            if (d > worst) {
                worst = d;
                at = i;
            }
        }
        assertTrue(worst <= ATOL, key + ": worst |Java - TL| = " + worst + " at flat cell " + at
                + " (TL " + (at < 0 ? 0 : want[at]) + ", Java " + (at < 0 ? 0 : got[at]) + "; tolerance " + ATOL + ")");
    }

    @Test
    void denoisingGridsEqualTransformerLensBackwardHooks() {
        try (AttributionPatching ap = AttributionPatching.ioi(model, batch, performance.normalisedMetric())) {
            assertEquals(golden.load("denoising/baseline", m).getFloat(0), ap.baseline(), 1e-5,
                    "the ABC run's normalised metric (tolerance 1e-5)");
            List<Object[]> grids = List.of(
                    new Object[] {"denoising/resid_pre", (Function<AttributionPatching, PatchingResult>) AttributionPatching::residPre},
                    new Object[] {"denoising/head_out_all_pos", (Function<AttributionPatching, PatchingResult>) AttributionPatching::headOutAllPos},
                    new Object[] {"denoising/head_out_by_pos", (Function<AttributionPatching, PatchingResult>) AttributionPatching::headOutByPos},
                    new Object[] {"denoising/head_q_all_pos", (Function<AttributionPatching, PatchingResult>) AttributionPatching::headQAllPos},
                    new Object[] {"denoising/head_k_all_pos", (Function<AttributionPatching, PatchingResult>) AttributionPatching::headKAllPos},
                    new Object[] {"denoising/head_v_all_pos", (Function<AttributionPatching, PatchingResult>) AttributionPatching::headVAllPos});
            for (Object[] g : grids) {
                @SuppressWarnings("unchecked")
                Function<AttributionPatching, PatchingResult> fn = (Function<AttributionPatching, PatchingResult>) g[1];
                PatchingResult r = fn.apply(ap);
                assertGrid((String) g[0], r);
            }
        }
    }

    @Test
    void noisingHeadOutIsTheEstimatedChangeOfTheLogitDifference() {
        try (AttributionPatching ap = AttributionPatching.ioiNoising(model, batch, Metrics.logitDiffMetric(batch))) {
            PatchingResult r = ap.headOutAllPos();
            assertEquals(golden.load("noising/baseline", m).getFloat(0), ap.baseline(), 1e-4,
                    "the clean run's mean logit difference (tolerance 1e-4)");
            float[] delta = r.toFloatArray();
            for (int i = 0; i < delta.length; i++) {
                delta[i] -= (float) ap.baseline();
            }
            assertGrid("noising/head_out_delta", new PatchingResult("delta", delta, r.shape().getShape(), r.axes(), 0));
        }
    }

    @Test
    void theEstimateIsExactWhereTheMetricIsLinearInThePatchedActivation() {
        // logits = ln_final.hook_normalized · W_U + b_U, and the logit difference is linear in the logits:
        // patching hook_normalized at one position changes the metric by exactly the first-order term.
        PatchingMetric metric = Metrics.logitDiffMetric(batch);
        String hook = "ln_final.hook_normalized";
        try (AttributionPatching ap = AttributionPatching.ioi(model, batch, metric);
                NDManager tmp = m.newSubManager();
                ActivationCache clean = model.runWithCache(batch.tokens(tmp), n -> n.equals(hook))) {
            PatchingResult estimate = ap.byPosition(hook);
            NDArray abc = batch.abcTokens(tmp); // [batch, pos]
            NDArray source = clean.get(hook); // [batch, pos, d_model]
            long pos = abc.getShape().get(1);
            double worst = 0;
            int changed = 0;
            for (long p = 0; p < pos; p++) {
                final long at = p;
                double exact;
                try (HookScope s = model.hooks(Hook.of(hook, (x, h) -> {
                    NDArray y = x.duplicate(); // [batch, pos, d_model]
                    y.set(new NDIndex(":, {}", at), source.get(new NDIndex(":, {}", at)));
                    return y;
                }))) {
                    NDArray logits = model.forward(abc); // [batch, pos, d_vocab]
                    tmp.attachAll(logits);
                    exact = Metrics.score(metric, logits);
                }
                changed += Math.abs(exact - ap.baseline()) > 1e-3 ? 1 : 0;
                worst = Math.max(worst, Math.abs(exact - estimate.get(p)));
            }
            assertTrue(changed > 0, "some position's patch changes the metric (else the check is empty)");
            assertTrue(worst < 1e-3, "linear case: worst |estimate - exact| over positions = " + worst
                    + " (tolerance 1e-3 on logit differences of O(1))");
        }
    }

    @Test
    void compareReportsCorrelationAndTheWorstCells() {
        PatchingResult exact = new PatchingResult("exact", new float[] {0, 1, 2, 3}, new long[] {2, 2}, List.of("layer", "head"), 0);
        PatchingResult est = new PatchingResult("est", new float[] {0, 1, 2, 5}, new long[] {2, 2}, List.of("layer", "head"), 0);
        PatchingResult other = new PatchingResult("other", new float[] {0, 1, 2}, new long[] {3}, List.of("pos"), 0);
        AttributionPatching.Comparison c = AttributionPatching.compare(exact, est, 2);
        assertEquals(2.0, c.maxAbsError(), 1e-6);
        assertEquals(List.of(1L, 1L), List.of(c.worst().get(0).index()[0], c.worst().get(0).index()[1]), "cell (1, 1) first");
        assertTrue(c.pearson() > 0.9 && c.pearson() < 1, "correlation " + c.pearson());
        var e = assertThrows(IllegalArgumentException.class, () -> AttributionPatching.compare(exact, other, 1));
        assertTrue(e.getMessage().contains("compare the same grid"), e.getMessage());
    }

    @Test
    void anUnrecordedHookIsRefusedByName() {
        try (AttributionPatching ap = AttributionPatching.ioi(model, batch, performance.normalisedMetric())) {
            var e = assertThrows(IllegalArgumentException.class, () -> ap.byPosition("blocks.3.hook_mlp_out"));
            assertTrue(e.getMessage().contains("blocks.3.hook_mlp_out"), e.getMessage());
        }
    }
}
