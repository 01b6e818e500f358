package ioi.lens;

import ai.djl.ndarray.NDArray;

/**
 * Options of one forward pass, TransformerLens's {@code forward} keyword arguments. Immutable;
 * the withers return a copy: {@code RunOptions.defaults().returnType(ReturnType.BOTH).stopAtLayer(4)}.
 *
 * @param returnType what {@link HookedTransformer#forward(NDArray, RunOptions)} returns
 * @param lossPerToken loss per position [batch, pos - 1] instead of the mean
 * @param startAtLayer first block to run (inclusive); the input is then a residual stream
 *     [batch, pos, d_model]; null runs from the embeddings
 * @param stopAtLayer block to stop before (exclusive, negatives count from the end); the residual
 *     stream entering it is returned instead of logits; null runs to the end
 * @param attentionMask [batch, pos], 1 for real tokens and 0 for pads; positions are then counted
 *     from the mask (left padding) and pads are never attended to; null means no padding
 * @param prependBos prepend {@code <|endoftext|>} when the input is text (TL's default: true)
 * @param paddingSide where pads go when a list of texts is tokenised (TL's default: right)
 */
public record RunOptions(
        ReturnType returnType,
        boolean lossPerToken,
        Integer startAtLayer,
        Integer stopAtLayer,
        NDArray attentionMask,
        boolean prependBos,
        GPT2Tokenizer.PaddingSide paddingSide) {

    /** TransformerLens's {@code return_type}. */
    public enum ReturnType { LOGITS, LOSS, BOTH, NONE }

    public RunOptions {
        if (returnType == null) {
            throw new IllegalArgumentException("returnType must not be null (use ReturnType.NONE)");
        }
        if (paddingSide == null) {
            throw new IllegalArgumentException("paddingSide must not be null");
        }
    }

    public static RunOptions defaults() {
        return new RunOptions(ReturnType.LOGITS, false, null, null, null, true,
                GPT2Tokenizer.PaddingSide.RIGHT);
    }

    public RunOptions returnType(ReturnType t) {
        return new RunOptions(t, lossPerToken, startAtLayer, stopAtLayer, attentionMask, prependBos, paddingSide);
    }

    public RunOptions lossPerToken(boolean on) {
        return new RunOptions(returnType, on, startAtLayer, stopAtLayer, attentionMask, prependBos, paddingSide);
    }

    public RunOptions startAtLayer(Integer layer) {
        return new RunOptions(returnType, lossPerToken, layer, stopAtLayer, attentionMask, prependBos, paddingSide);
    }

    public RunOptions stopAtLayer(Integer layer) {
        return new RunOptions(returnType, lossPerToken, startAtLayer, layer, attentionMask, prependBos, paddingSide);
    }

    public RunOptions attentionMask(NDArray mask) {
        return new RunOptions(returnType, lossPerToken, startAtLayer, stopAtLayer, mask, prependBos, paddingSide);
    }

    public RunOptions prependBos(boolean on) {
        return new RunOptions(returnType, lossPerToken, startAtLayer, stopAtLayer, attentionMask, on, paddingSide);
    }

    public RunOptions paddingSide(GPT2Tokenizer.PaddingSide side) {
        return new RunOptions(returnType, lossPerToken, startAtLayer, stopAtLayer, attentionMask, prependBos, side);
    }
}
