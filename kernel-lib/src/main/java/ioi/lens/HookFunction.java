package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * A forward hook, TransformerLens's {@code fn(activation, hook) -> Tensor | None}: it sees the
 * activation at a hook point and returns a replacement of the same shape, or {@code null} to keep
 * it (in-place edits such as {@code activation.set(...)} still take effect).
 *
 * <p>The activation lives only for the forward pass, and so does every array a hook creates, in
 * whatever manager (the pass's {@link NDScope} frees all arrays made on its thread): keep a copy
 * with {@link #keep(NDArray, NDManager)}, or use {@link HookedTransformer#runWithCache}.
 */
@FunctionalInterface
public interface HookFunction {
    NDArray apply(NDArray activation, HookPoint hook);

    /**
     * A copy of {@code activation} owned by {@code manager} that outlives the forward pass (TL's
     * {@code activation.detach().clone()}), for hooks that store activations.
     */
    static NDArray keep(NDArray activation, NDManager manager) {
        NDArray copy = activation.duplicate();
        NDScope.unregister(copy); // not freed with the pass's scope
        copy.attach(manager);
        return copy;
    }
}
