package ioi.lens;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * A stack of residual-stream components [components, batch, pos, d_model] (or with the position
 * axis sliced away) and one label per component ({@code "3_pre"}, {@code "0_attn_out"},
 * {@code "L9H6"}), as TL's {@code return_labels=True}. The array belongs to the cache that made it.
 */
public record LabeledStack(NDArray stack, List<String> labels) {}
