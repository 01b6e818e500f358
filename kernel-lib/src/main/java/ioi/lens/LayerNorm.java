package ioi.lens;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * LayerNorm as TransformerLens 2.x computes it: centre, divide by {@code sqrt(var + eps)}, then the
 * affine {@code w, b} unless they were folded into the readers (LNPre).
 * {@code hook_scale} [batch, pos, 1] fires on the scale; {@code hook_normalized} [batch, pos,
 * d_model] fires on the output, after the affine (TL's {@code hook_normalized(x * w + b)}; the
 * goldens confirm it). With per-head inputs (split q/k/v) a {@code head_index} axis comes before
 * the last one.
 */
final class LayerNorm {

    final HookPoint hookScale;
    final HookPoint hookNormalized;
    private final NDArray w; // [d_model], null when folded
    private final NDArray b; // [d_model], null when folded
    private final double eps;

    LayerNorm(String prefix, int layer, NDArray w, NDArray b, double eps) {
        this.hookScale = new HookPoint(prefix + ".hook_scale", layer, List.of("batch", "pos", "1"), null);
        this.hookNormalized = new HookPoint(
                prefix + ".hook_normalized", layer, List.of("batch", "pos", "d_model"), null);
        this.w = w;
        this.b = b;
        this.eps = eps;
    }

    boolean folded() {
        return w == null;
    }

    NDArray forward(NDArray x) { // [..., d_model]
        NDArray centred = centre(x); // [..., d_model]
        NDArray scale = hookScale.run(scale(centred, eps)); // [..., 1]
        NDArray normalized = centred.div(scale); // [..., d_model]
        return hookNormalized.run(affine(normalized, w, b)); // [..., d_model]
    }

    /** {@link #forward} without its hook points. */
    NDArray normalize(NDArray x) { // [..., d_model]
        return apply(x, w, b, eps); // [..., d_model]
    }

    /**
     * The same arithmetic without hooks, on any vectors with their own statistics:
     * {@link HookedTransformer#applyLayerNorm}. {@code w} and {@code b} null when folded.
     */
    static NDArray apply(NDArray x, NDArray w, NDArray b, double eps) { // [..., d_model]
        NDArray centred = centre(x); // [..., d_model]
        NDArray normalized = centred.div(scale(centred, eps)); // [..., d_model]
        return affine(normalized, w, b); // [..., d_model]
    }

    private static NDArray centre(NDArray x) { // [..., d_model]
        return x.sub(x.mean(new int[] {-1}, true)); // [..., d_model]
    }

    /** {@code sqrt(mean(centred^2) + eps)}. */
    private static NDArray scale(NDArray centred, double eps) { // [..., d_model]
        return Scalar.add(Scalar.pow(centred, 2).mean(new int[] {-1}, true), eps).sqrt(); // [..., 1]
    }

    private static NDArray affine(NDArray normalized, NDArray w, NDArray b) { // [..., d_model]
        return w == null ? normalized : normalized.mul(w).add(b); // [..., d_model]
    }
}
