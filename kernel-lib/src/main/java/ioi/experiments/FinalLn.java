package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ioi.lens.HookedTransformer;

/**
 * The model's final LayerNorm ({@code ln_final}) recomputed on any residual-stream vectors, with the
 * same operations in the same order as {@code ioi.lens.LayerNorm}: centre, divide by
 * {@code sqrt(mean(x^2) + eps)}, then the affine {@code w, b} unless {@code fold_ln} folded it into
 * {@code W_U} (TL's LNPre). Used where only a few positions need logits (batched patching) and by
 * the logit lens, which normalises each component by its own statistics (TL 2.18's
 * {@code accumulated_resid(apply_ln=True)}).
 */
final class FinalLn {

    private FinalLn() {}

    /** {@code ln_final(x)} for x [..., d_model]; the result is in x's manager. */
    static NDArray apply(HookedTransformer model, NDArray x) {
        NDArray centred = x.sub(x.mean(new int[] {-1}, true)); // [..., d_model]
        NDArray scale = centred.pow(2).mean(new int[] {-1}, true).add(model.cfg().eps()).sqrt(); // [..., 1]
        NDArray normalized = centred.div(scale); // [..., d_model]
        if (!model.weightNames().contains("ln_final.w")) {
            return normalized;
        }
        return normalized.mul(model.weight("ln_final.w")).add(model.weight("ln_final.b")); // [..., d_model]
    }
}
