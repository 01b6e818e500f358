package ioi.lens;

import ai.djl.ndarray.NDArray;

/**
 * What a forward pass returns, by {@link RunOptions.ReturnType}: {@code logits} [batch, pos,
 * d_vocab] (or, with {@code stopAtLayer}, the residual stream [batch, pos, d_model]) and
 * {@code loss} (a scalar, or [batch, pos - 1] per token). Absent parts are null. Closing it frees
 * both arrays.
 */
public record Output(NDArray logits, NDArray loss) implements AutoCloseable {
    @Override
    public void close() {
        if (logits != null) {
            logits.close();
        }
        if (loss != null) {
            loss.close();
        }
    }
}
