package ioi.lens;

/**
 * Weight processing applied at load time, TransformerLens's {@code from_pretrained} flags.
 * Applied in TL's order: fold_ln, center_writing_weights, center_unembed, fold_value_biases,
 * refactor_factored_attn_matrices. None of them changes the loss or the probabilities; see
 * {@link WeightProcessing} for what each does to logits and activations.
 */
public record ProcessingOptions(
        boolean foldLn,
        boolean centerWritingWeights,
        boolean centerUnembed,
        boolean foldValueBiases,
        boolean refactorFactoredAttnMatrices) {

    /** TransformerLens's {@code from_pretrained} defaults: everything but the refactoring. */
    public static ProcessingOptions defaults() {
        return new ProcessingOptions(true, true, true, true, false);
    }

    /** {@code from_pretrained_no_processing}: the weights exactly as the checkpoint holds them. */
    public static ProcessingOptions none() {
        return new ProcessingOptions(false, false, false, false, false);
    }

    /** The defaults plus {@code refactor_factored_attn_matrices}, as the paper's notebooks load GPT-2. */
    public static ProcessingOptions withRefactoring() {
        return defaults().refactor(true);
    }

    public ProcessingOptions refactor(boolean on) {
        return new ProcessingOptions(foldLn, centerWritingWeights, centerUnembed, foldValueBiases, on);
    }

    public boolean any() {
        return foldLn || centerWritingWeights || centerUnembed || foldValueBiases
                || refactorFactoredAttnMatrices;
    }
}
