package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.Compare;
import ioi.lens.HookedTransformer;
import ioi.lens.io.SafetensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Direct logit attribution and the logit lens at each prompt's END against TransformerLens 2.18
 * ({@code cache.logit_attrs(..., pos_slice=end[b], batch_slice=[b])} per prompt,
 * {@code accumulated_resid(apply_ln=True)}), and the ActivationCache methods for one position per
 * prompt. Tolerance {@code 1e-5 + 1e-4 |x|} (attributions are sums of O(1) terms).
 */
class LogitAttributionTest {

    static final double ATOL = 1e-5;
    static final double RTOL = 1e-4;

    static HookedTransformer model;
    static SafetensorsFile g;
    static IoiBatch batch;
    static NDManager m;
    static ActivationCache cache;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        g = IoiGoldens.open();
        batch = IoiGoldens.batch(g);
        m = NDManager.newBaseManager();
        cache = model.runWithCache(batch.tokens(m));
    }

    @AfterAll
    static void close() {
        cache.close();
        m.close();
        g.close();
        model.close();
    }

    @Test
    void attributionsMatchTransformerLens() {
        Compare cmp = new Compare("Direct logit attribution and logit lens vs TransformerLens");
        LogitAttribution.Attribution layers = LogitAttribution.byComponent(model, cache, batch);
        LogitAttribution.Attribution heads = LogitAttribution.byHead(model, cache, batch);
        LogitAttribution.Attribution lens = LogitAttribution.logitLens(model, cache, batch, LogitAttribution.LensNorm.RECOMPUTED);
        LogitAttribution.Attribution lensCached = LogitAttribution.logitLens(model, cache, batch, LogitAttribution.LensNorm.CACHED_SCALE);
        assertEquals(IoiGoldens.labels(g, "dla/layer_labels"), layers.labels());
        assertEquals(IoiGoldens.labels(g, "dla/head_labels"), heads.labels());
        assertEquals(IoiGoldens.labels(g, "logit_lens_labels"), lens.labels());
        cmp.close("dla/layer_per_prompt", layers.perPrompt().toNDArray(m), g.load("dla/layer_per_prompt", m), ATOL, RTOL);
        cmp.close("dla/layer", layers.mean().toNDArray(m), g.load("dla/layer", m), ATOL, RTOL);
        cmp.close("dla/head_per_prompt", heads.perPrompt().toNDArray(m), g.load("dla/head_per_prompt", m), ATOL, RTOL);
        cmp.close("dla/head", heads.mean().toNDArray(m), g.load("dla/head", m), ATOL, RTOL);
        cmp.close("logit_lens_per_prompt", lens.perPrompt().toNDArray(m), g.load("logit_lens_per_prompt", m), ATOL, RTOL);
        cmp.close("logit_lens", lens.mean().toNDArray(m), g.load("logit_lens", m), ATOL, RTOL);
        cmp.close("logit_lens_cached_scale_per_prompt", lensCached.perPrompt().toNDArray(m),
                g.load("logit_lens_cached_scale_per_prompt", m), ATOL, RTOL);
        cmp.close("logit_lens_cached_scale", lensCached.mean().toNDArray(m), g.load("logit_lens_cached_scale", m), ATOL, RTOL);

        assertEquals(new Shape(12, 12), heads.mean().shape());
        assertEquals(144, heads.table().rowCount());
        assertEquals(heads.mean().get(9, 9), heads.get("L9H9"), 0);
        assertEquals(heads.mean().get(9, 9),
                heads.table().where(heads.table().intColumn("layer").isEqualTo(9)
                        .and(heads.table().intColumn("head").isEqualTo(9))).doubleColumn("logit_diff").get(0), 1e-6);
        assertEquals(layers.labels().size(), layers.table().rowCount());

        // The components add up to the logit difference minus b_U[IO] - b_U[S] (exact in real arithmetic).
        Metrics.Performance p = Metrics.performance(model, batch);
        NDArray bU = model.b_U();
        float[] sum = layers.perPrompt().toNDArray(m).sum(new int[] {0}).toFloatArray();
        float[] lensFinal = lens.perPrompt().slice(lens.labels().size() - 1).toFloatArray();
        float[] ld = p.logitDiff().toFloatArray();
        for (int b = 0; b < batch.size(); b++) {
            double bias = bU.getFloat(batch.ioTokenIds()[b]) - bU.getFloat(batch.sTokenIds()[b]);
            assertEquals(ld[b], sum[b] + bias, 1e-4, "DLA sums to the logit diff, prompt " + b);
            assertEquals(ld[b], lensFinal[b] + bias, 1e-4, "the lens's final_post is the logit diff, prompt " + b);
        }
        cmp.check();
    }

    @Test
    void perPromptCacheMethodsAgreeWithTheSinglePositionOnes() {
        Compare cmp = new Compare("ActivationCache at one position per prompt");
        var stack = cache.decomposeResid(null, false); // [components, batch, pos, d_model]
        long pos = 7;
        long[] same = new long[batch.size()];
        java.util.Arrays.fill(same, pos);
        NDArray at = cache.atPositions(stack.stack(), same); // [components, batch, d_model]
        cmp.close("atPositions = [:, :, 7]", at, stack.stack().get(":, :, 7"), 0, 0);
        cmp.close("applyLnToStackAtPositions = applyLnToStack(pos 7)",
                cache.applyLnToStackAtPositions(at, null, false, same), cache.applyLnToStack(at, null, false, 7), 0, 0);
        cmp.close("... layer 5 ln2", cache.applyLnToStackAtPositions(at, 5, true, same),
                cache.applyLnToStack(at, 5, true, 7), 0, 0);
        cmp.close("logitAttrsAtPositions = logitAttrs(pos 7)",
                cache.logitAttrsAtPositions(at, batch.ioTokenIds(), batch.sTokenIds(), same),
                cache.logitAttrs(at, batch.ioTokenIds(), batch.sTokenIds(), 7), 0, 0);
        // different positions: row b equals the single-position result of that row
        NDArray atEnd = cache.atPositions(stack.stack(), batch.end());
        NDArray attrs = cache.logitAttrsAtPositions(atEnd, batch.ioTokenIds(), null, batch.end()); // [components, batch]
        for (int b : new int[] {0, 6, 15}) {
            int p = (int) batch.end()[b];
            long[] all = new long[batch.size()];
            java.util.Arrays.fill(all, batch.ioTokenIds()[b]);
            NDArray one = cache.logitAttrs(stack.stack().get(":, :, " + p), all, null, p); // [components, batch]
            cmp.close("row " + b + " at its END " + p, attrs.get(":, " + b), one.get(":, " + b), 1e-6, 0);
        }
        var e = assertThrows(IllegalArgumentException.class,
                () -> cache.applyLnToStackAtPositions(at, null, false, new long[] {1, 2}));
        assertTrue(e.getMessage().contains("expected one position per prompt (16) but got 2"), e.getMessage());
        long[] bad = same.clone();
        bad[3] = 99;
        e = assertThrows(IllegalArgumentException.class, () -> cache.atPositions(stack.stack(), bad));
        assertTrue(e.getMessage().contains("position 99 of prompt 3 is out of range [0, 22)"), e.getMessage());
        cmp.check();
    }
}
