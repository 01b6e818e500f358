package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link HookedTransformer#runWithGradients}: gradients at hook points agree with finite
 * differences, the ordinary forward pass is untouched (no grad mode left on, same logits), bad
 * input is refused, and repeated runs leave no arrays behind.
 */
class GradientRunTest {
    private static HookedTransformer model;
    private static NDManager m;
    private static NDArray tokens;

    @BeforeAll
    static void load() {
        model = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
        m = NDManager.newBaseManager();
        tokens = m.create(new long[][] {{50256, 15496, 995, 11, 314, 716}, {50256, 40, 588, 257, 3290, 13}}); // [batch, pos]
    }

    @AfterAll
    static void close() {
        m.close();
        model.close();
    }

    /** Mean over prompts of logit[last, 100] - logit[last, 200]: a logit difference, as IOI's. */
    private static NDArray metric(NDArray logits) { // logits: [batch, pos, d_vocab]
        NDArray last = logits.get(":, -1, :"); // [batch, d_vocab]
        return last.get(":, 100").sub(last.get(":, 200")).mean(); // []
    }

    private static double metricWith(String hook, NDArray delta) {
        try (HookScope s = model.hooks(Hook.of(hook, (x, h) -> x.add(delta)));
                NDManager tmp = m.newSubManager()) {
            NDArray logits = model.forward(tokens);
            tmp.attachAll(logits);
            return metric(logits).toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble();
        }
    }

    @Test
    void gradientsAgreeWithCentralFiniteDifferencesAtEveryKindOfHook() {
        List<String> hooks = List.of("blocks.0.hook_resid_pre", "blocks.1.attn.hook_z", "blocks.0.attn.hook_q",
                "blocks.1.attn.hook_v", "blocks.0.mlp.hook_post", "ln_final.hook_normalized",
                // flag-gated copies of the residual stream: gradients must flow on through them
                "blocks.1.hook_q_input", "blocks.0.hook_v_input", "blocks.1.hook_mlp_in", "blocks.0.hook_mlp_in");
        try (GradientRun run = model.runWithGradients(tokens, hooks::contains, GradientRunTest::metric)) {
            assertEquals(metricWith(hooks.get(0), m.zeros(new Shape(1))), run.metric(), 1e-5,
                    "the run's metric is the metric of the unmodified pass (tolerance 1e-5)");
            double worst = 0;
            String worstAt = "";
            for (String hook : hooks) {
                NDArray grad = run.gradient(hook); // activation's shape
                assertEquals(run.activations().get(hook).getShape(), grad.getShape(), hook);
                // A fixed direction: half along the gradient, half seeded-random, so that the metric's change is
                // well above float32 rounding of the metric (about 1e-7 here) and a wrong gradient still shows.
                float[] noise = new float[(int) grad.size()];
                java.util.Random rng = new java.util.Random(hook.hashCode());
                for (int i = 0; i < noise.length; i++) {
                    noise[i] = (float) rng.nextGaussian();
                }
                NDArray r = m.create(noise, grad.getShape()); // activation's shape
                NDArray dir = grad.div(grad.norm()).add(r.div(r.norm())); // activation's shape
                // Scaled so that the first-order change is 1e-3 of a logit: small enough to be linear.
                double along = grad.mul(dir).sum().toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble();
                assertTrue(along > 0 && Double.isFinite(along), hook + ": gradient is zero or not finite (" + along + ")");
                dir = dir.mul(1e-3 / along);
                double fd = (metricWith(hook, dir) - metricWith(hook, dir.neg())) / 2;
                double lin = grad.mul(dir).sum().toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble();
                double rel = Math.abs(fd - lin) / Math.max(1e-6, Math.abs(fd));
                if (!(rel <= worst)) { // a NaN counts as worst
                    worst = rel;
                    worstAt = hook + " (finite difference " + fd + ", gradient " + lin + ")";
                }
            }
            assertTrue(worst < 2e-2, "gradient · direction vs central difference: worst relative difference "
                    + worst + " at " + worstAt + " (tolerance 2e-2)");
        }
    }

    /**
     * The same gradients when the garbage collector runs between the forward and the backward pass
     * (tolerance 0: the same ops on the same values). Constants of the forward pass (LayerNorm's
     * square and eps, GELU's coefficients, attention's scale) used to be freed by that collection,
     * and the gradients came out NaN ({@link Scalar}).
     */
    @Test
    void gradientsSurviveAGarbageCollectionBeforeTheBackwardPass() {
        List<String> hooks = List.of("blocks.0.hook_resid_pre", "blocks.0.attn.hook_q", "blocks.1.mlp.hook_pre",
                "blocks.1.hook_v_input", "ln_final.hook_scale");
        Function<NDArray, NDArray> collecting = logits -> {
            NDArray value = metric(logits); // []
            Collect.garbage();
            return value;
        };
        try (GradientRun plain = model.runWithGradients(tokens, hooks::contains, GradientRunTest::metric);
                GradientRun collected = model.runWithGradients(tokens, hooks::contains, collecting)) {
            for (String hook : hooks) {
                float[] a = plain.gradient(hook).toFloatArray();
                float[] b = collected.gradient(hook).toFloatArray();
                double worst = 0;
                for (int i = 0; i < a.length; i++) {
                    worst = Math.max(worst, Double.isFinite(b[i]) ? Math.abs(a[i] - b[i]) : Double.POSITIVE_INFINITY);
                }
                assertEquals(0, worst, 0, hook + ": worst difference after a collection " + worst);
            }
        }
    }

    @Test
    void theOrdinaryForwardPassIsUntouched() {
        float[] before = model.forward(tokens).toFloatArray();
        try (GradientRun run = model.runWithGradients(tokens, n -> n.endsWith("hook_resid_pre"), GradientRunTest::metric)) {
            assertEquals(model.cfg().nLayers(), run.gradients().keys().size());
        }
        assertFalse(JniUtils.isGradMode(), "grad mode is off again after runWithGradients");
        NDArray after = model.forward(tokens); // [batch, pos, d_vocab]
        assertFalse(JniUtils.requiresGrad((ai.djl.pytorch.engine.PtNDArray) after), "a later forward records no graph");
        float[] a = after.toFloatArray();
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - before[i]));
        }
        assertEquals(0, worst, 0, "logits before and after a gradient run are identical; worst difference " + worst);
    }

    @Test
    void badInputIsRefusedAndLeavesNothingOpen() {
        int open = model.openCacheCount();
        var none = assertThrows(IllegalArgumentException.class,
                () -> model.runWithGradients(tokens, n -> n.equals("blocks.0.hook_nope"), GradientRunTest::metric));
        assertTrue(none.getMessage().contains("accepts no hook point"), none.getMessage());
        Function<NDArray, NDArray> perPrompt = logits -> logits.get(":, -1, 100"); // [batch]: not one number
        var notScalar = assertThrows(IllegalArgumentException.class,
                () -> model.runWithGradients(tokens, n -> n.endsWith("hook_resid_pre"), perPrompt));
        assertTrue(notScalar.getMessage().contains("one number") && notScalar.getMessage().contains("(2)"),
                notScalar.getMessage());
        assertEquals(open, model.openCacheCount(), "no cache left open by a failed run");
        assertFalse(JniUtils.isGradMode());
    }

    @Test
    void repeatedRunsLeaveNoArraysBehind() throws IOException {
        for (int i = 0; i < 5; i++) { // warm-up
            model.runWithGradients(tokens, n -> n.contains("hook_z"), GradientRunTest::metric).close();
        }
        int before = model.liveArrayCount();
        int userBefore = m.getManagedArrays().size();
        for (int i = 0; i < 50; i++) {
            try (GradientRun run = model.runWithGradients(tokens, n -> n.contains("hook_z"), GradientRunTest::metric)) {
                run.gradient("blocks.0.attn.hook_z");
            }
        }
        assertEquals(before, model.liveArrayCount(), "live arrays in the model's managers after 50 gradient runs");
        assertEquals(userBefore, m.getManagedArrays().size(), "nothing attached to the caller's manager");
    }
}
