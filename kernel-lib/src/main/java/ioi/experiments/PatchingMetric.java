package ioi.experiments;

import ai.djl.ndarray.NDArray;

/**
 * What a patched forward pass is scored by: a function of the logits at one position per prompt,
 * TransformerLens's {@code patching_metric(logits) -> scalar}, declared narrowly so that a batched
 * patching run computes only what the metric reads: the final LayerNorm and the unembedding at
 * {@link #positions()}, for the vocabulary columns {@link #tokens()} (two per prompt for a logit
 * difference instead of 50257). Sequences are also cut after the last position read, which is
 * exact in a causal model.
 *
 * <p>Implementations: {@link Metrics#normalisedMetric}, {@link Metrics#metric2},
 * {@link Metrics#logitDiffMetric}.
 */
public interface PatchingMetric {

    /** The position whose logits are read, one per prompt [batch] (IOI: {@code word_idx["end"]}). */
    long[] positions();

    /**
     * The vocabulary columns read, {@code [batch][t]} (the same {@code t} for every prompt; IOI:
     * {@code {io, s}}), or null for all {@code d_vocab} of them.
     */
    long[][] tokens();

    /**
     * The metric of each copy of the batch.
     *
     * @param logits [copies, batch, t] (or [copies, batch, d_vocab] when {@link #tokens()} is
     *     null): the logits of prompt {@code b} of copy {@code c} at {@code positions()[b]} for
     *     the columns {@code tokens()[b]}
     * @return [copies]
     */
    NDArray score(NDArray logits);
}
