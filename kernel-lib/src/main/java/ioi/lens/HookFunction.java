package ioi.lens;

import ai.djl.ndarray.NDArray;

/**
 * A forward hook, TransformerLens's {@code fn(activation, hook) -> Tensor | None}: it sees the
 * activation at a hook point and returns a replacement of the same shape, or {@code null} to keep
 * it (in-place edits such as {@code activation.set(...)} still take effect).
 *
 * <p>The activation lives only for the forward pass: keep it with {@code duplicate()} into a
 * manager of your own, or use {@link HookedTransformer#runWithCache}.
 */
@FunctionalInterface
public interface HookFunction {
    NDArray apply(NDArray activation, HookPoint hook);
}
