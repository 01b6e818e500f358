package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The parts of a block the batched experiments compute on their own ({@link
 * HookedTransformer#projectHeads}, {@link HookedTransformer#attnOutFromZ}, {@link
 * HookedTransformer#blockAt}) against what the forward pass cached for the same residual stream:
 * q, k, v; attn_out from z; resid_post at one position per prompt, with and without a prefix of
 * cached keys and values. Tolerance 1e-5 (the same ops; the projection reads a slice of the fused
 * QKV weight and the last block's attention runs one query row, so the matmuls may block
 * differently); each failure prints the worst difference. Bad input is refused by name.
 */
class PartsOfABlockTest {

    private static final double ATOL = 1e-5;

    @Test
    void partsEqualTheForwardPass() {
        for (ProcessingOptions p : List.of(ProcessingOptions.defaults(), ProcessingOptions.none())) {
            try (HookedTransformer model = HookedTransformer.load(TestModels.tinyGpt2(), p, null);
                    NDManager m = NDManager.newBaseManager()) {
                NDArray tokens = m.create(new long[][] {{50256, 15496, 995, 11, 314, 40}, {50256, 40, 588, 257, 3290, 11}}); // [batch, pos]
                String what = p.foldLn() ? "folded" : "affine";
                try (ActivationCache c = model.runWithCache(tokens)) {
                    for (int l = 0; l < model.cfg().nLayers(); l++) {
                        NDArray resid = c.get("resid_pre", l); // [batch, pos, d_model]
                        for (String act : List.of("q", "k", "v")) {
                            close(c.get(act, l), model.projectHeads(l, act, resid), "projectHeads " + act + " layer " + l + " " + what);
                        }
                        close(c.get("attn_out", l), model.attnOutFromZ(l, c.get("z", l)), "attnOutFromZ layer " + l + " " + what);
                        long[] at = {5, 3}; // one query per prompt
                        NDArray post = c.get("resid_post", l);
                        NDArray want = post.get(new NDIndex("0, 5")).stack(post.get(new NDIndex("1, 3"))); // [batch, d_model]
                        close(want, model.blockAt(l, resid, at, null, null), "blockAt layer " + l + " " + what);
                        long from = 2; // positions [0, 2) from the cache's keys and values
                        NDArray k = c.get("k", l).get(":, :" + from);
                        NDArray v = c.get("v", l).get(":, :" + from);
                        close(want, model.blockAt(l, resid.get(":, " + from + ":"), new long[] {5 - from, 3 - from}, k, v),
                                "blockAt with a prefix, layer " + l + " " + what);
                    }
                    NDArray resid = c.get("resid_pre", 0);
                    var pos = assertThrows(IllegalArgumentException.class, () -> model.blockAt(0, resid, new long[] {6, 0}, null, null));
                    assertTrue(pos.getMessage().contains("query position 6") && pos.getMessage().contains("[0, 6)"), pos.getMessage());
                    var count = assertThrows(IllegalArgumentException.class, () -> model.blockAt(0, resid, new long[] {1}, null, null));
                    assertTrue(count.getMessage().contains("1 query positions for 2 sequences"), count.getMessage());
                    var half = assertThrows(IllegalArgumentException.class,
                            () -> model.blockAt(0, resid, new long[] {1, 1}, c.get("k", 0), null));
                    assertTrue(half.getMessage().contains("both"), half.getMessage());
                    var act = assertThrows(IllegalArgumentException.class, () -> model.projectHeads(0, "z", resid));
                    assertTrue(act.getMessage().contains("'z'"), act.getMessage());
                    var z = assertThrows(IllegalArgumentException.class, () -> model.attnOutFromZ(0, m.zeros(new Shape(2, 3))));
                    assertTrue(z.getMessage().contains("head_index, d_head"), z.getMessage());
                }
            }
        }
    }

    private static void close(NDArray want, NDArray got, String what) {
        float[] w = want.toFloatArray();
        float[] g = got.toFloatArray();
        assertTrue(w.length == g.length, what + ": " + want.getShape() + " vs " + got.getShape());
        double worst = 0;
        for (int i = 0; i < w.length; i++) {
            worst = Math.max(worst, Math.abs(w[i] - g[i]));
        }
        assertTrue(worst <= ATOL, what + ": worst difference " + worst + " > " + ATOL);
    }
}
