package ioi.lens;

/**
 * One forward and one backward pass: the value of a scalar metric of the logits, the activations
 * at the chosen hook points, and the metric's gradient with respect to each of them (TL: a cache
 * filled by forward hooks and one filled by backward hooks, as ARENA's and Neel Nanda's
 * attribution-patching code builds with {@code get_cache_fwd_and_bwd}). Made by
 * {@link HookedTransformer#runWithGradients}; owns both caches: close it to free them.
 *
 * <p>Gradients are recorded only inside that call (a DJL {@code GradientCollector} is open while
 * the forward and backward passes run); every other forward pass stays without autograd. The
 * weights never require gradients, so none are computed for them.
 *
 * @param metric the metric's value on the unmodified forward pass
 * @param activations each hook point's activation, as {@link HookedTransformer#runWithCache} would cache it
 * @param gradients ∂metric/∂activation under the same names and shapes (zero where the metric does
 *     not depend on an activation)
 */
public record GradientRun(double metric, ActivationCache activations, ActivationCache gradients)
        implements AutoCloseable {

    /** The gradient at one hook point, e.g. {@code gradient("blocks.9.attn.hook_z")}. */
    public ai.djl.ndarray.NDArray gradient(String name) {
        return gradients.get(name);
    }

    @Override
    public void close() {
        activations.close();
        gradients.close();
    }
}
