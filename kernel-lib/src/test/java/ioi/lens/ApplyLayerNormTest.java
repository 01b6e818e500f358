package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link HookedTransformer#applyLayerNorm}: on the residual a LayerNorm reads, it gives exactly what
 * the forward pass's {@code hook_normalized} cached (tolerance 0: the same arithmetic), with the
 * affine kept (no processing) and folded (TL's defaults); bad names and shapes are refused by name.
 */
class ApplyLayerNormTest {

    @Test
    void equalsTheForwardPassesOwnLayerNorms() {
        for (ProcessingOptions p : List.of(ProcessingOptions.defaults(), ProcessingOptions.none())) {
            try (HookedTransformer model = HookedTransformer.load(TestModels.tinyGpt2(), p, null);
                    NDManager m = NDManager.newBaseManager()) {
                NDArray tokens = m.create(new long[][] {{50256, 15496, 995, 11, 314}, {50256, 40, 588, 257, 3290}}); // [batch, pos]
                try (ActivationCache c = model.runWithCache(tokens)) {
                    int last = model.cfg().nLayers() - 1;
                    String[][] pairs = {{"blocks.0.ln1", "blocks.0.hook_resid_pre"}, {"blocks.0.ln2", "blocks.0.hook_resid_mid"},
                            {"blocks." + last + ".ln2", "blocks." + last + ".hook_resid_mid"},
                            {"ln_final", "blocks." + last + ".hook_resid_post"}};
                    for (String[] pr : pairs) {
                        float[] want = c.get(pr[0] + ".hook_normalized").toFloatArray();
                        float[] got = model.applyLayerNorm(pr[0], c.get(pr[1])).toFloatArray();
                        double worst = 0;
                        for (int i = 0; i < want.length; i++) {
                            worst = Math.max(worst, Math.abs(want[i] - got[i]));
                        }
                        assertEquals(0, worst, 0, pr[0] + " (" + (p.foldLn() ? "folded" : "affine") + "): worst difference " + worst);
                    }
                }
                var name = assertThrows(IllegalArgumentException.class, () -> model.applyLayerNorm("blocks.99.ln1", tokens));
                assertTrue(name.getMessage().contains("'blocks.99.ln1'"), name.getMessage());
                var shape = assertThrows(IllegalArgumentException.class,
                        () -> model.applyLayerNorm("ln_final", m.zeros(new ai.djl.ndarray.types.Shape(2, 3))));
                assertTrue(shape.getMessage().contains("(2, 3)") && shape.getMessage().contains("d_model"), shape.getMessage());
            }
        }
    }
}
