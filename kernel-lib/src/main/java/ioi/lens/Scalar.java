package ioi.lens;

import ai.djl.ndarray.NDArray;

/**
 * Arithmetic with a constant ({@code x * 0.5}, {@code x ^ 2}, {@code (ld - offset) / divisor}) that is
 * safe to differentiate through. Use it instead of DJL's {@code NDArray.mul(Number)} and friends in
 * anything a backward pass can reach: the forward pass, hooks, and metrics given to
 * {@link HookedTransformer#runWithGradients}.
 *
 * <p>Why by hand: DJL's PyTorch engine turns the number into a 0-d tensor over a Java direct
 * {@code ByteBuffer} ({@code torch::from_blob}, memory libtorch does not own) and closes it as soon as
 * the op returns. Autograd keeps that tensor for the backward pass of {@code mul}, {@code div} and
 * {@code pow}; once the garbage collector frees the buffer, the backward pass reads freed memory and
 * gradients come out NaN or wrong, depending on when the collector ran ({@code ScalarTest} shows
 * it). Here the constant is copied into a tensor libtorch owns, so what autograd keeps stays valid.
 * The values are the same as DJL's: the same 0-d tensor of the same type, only owned elsewhere.
 */
public final class Scalar {
    private Scalar() {}

    /** {@code n} as a 0-d array owned by libtorch, in {@code like}'s manager (DJL's type for a Java number). */
    public static NDArray of(NDArray like, Number n) {
        try (NDArray blob = like.getManager().create(n)) { // [], over a Java buffer
            return blob.duplicate(); // [], a libtorch copy: still valid after the buffer is collected
        }
    }

    /** {@code x + n}. */
    public static NDArray add(NDArray x, Number n) {
        try (NDArray s = of(x, n)) {
            return x.add(s);
        }
    }

    /** {@code x - n}. */
    public static NDArray sub(NDArray x, Number n) {
        try (NDArray s = of(x, n)) {
            return x.sub(s);
        }
    }

    /** {@code x * n}. */
    public static NDArray mul(NDArray x, Number n) {
        try (NDArray s = of(x, n)) {
            return x.mul(s);
        }
    }

    /** {@code x / n}. */
    public static NDArray div(NDArray x, Number n) {
        try (NDArray s = of(x, n)) {
            return x.div(s);
        }
    }

    /** {@code x ^ n}. */
    public static NDArray pow(NDArray x, Number n) {
        try (NDArray s = of(x, n)) {
            return x.pow(s);
        }
    }
}
