package ioi.lens;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * TransformerLens's weight processing ({@code load_and_process_state_dict}), on a state dict in
 * TL's names, in TL's order and with TL's mathematics. None of it changes the loss or the
 * probabilities:
 *
 * <ul>
 *   <li>{@code fold_ln}: LayerNorm's {@code w, b} go into the weights that read its output (bias
 *       first, then weight, then the readers are centred over {@code d_model}); the LNs become
 *       LNPre (centre and scale only). Logits, {@code hook_q/k/v/pre} unchanged.
 *   <li>{@code center_writing_weights}: every matrix writing to the residual stream loses its mean
 *       over {@code d_model}. Residual activations become mean-zero: they equal the unprocessed
 *       ones minus their per-position mean.
 *   <li>{@code center_unembed}: {@code W_U} and {@code b_U} lose their mean over the vocabulary:
 *       each logit row shifts by a constant, softmax unchanged.
 *   <li>{@code fold_value_biases}: {@code b_V} moves into {@code b_O}; per-head {@code v, z,
 *       result} lose the bias, {@code attn_out} is unchanged.
 *   <li>{@code refactor_factored_attn_matrices}: see {@link AttentionRefactoring}.
 * </ul>
 *
 * <p>Every step replaces arrays in the map; replaced arrays are closed here. Call it inside an
 * {@code NDScope} so intermediates are freed.
 */
final class WeightProcessing {

    private WeightProcessing() {}

    static void process(Map<String, NDArray> sd, GPT2Config cfg, ProcessingOptions options) {
        if (options.foldLn()) {
            foldLayerNorm(sd, cfg);
        }
        if (options.centerWritingWeights()) {
            // Exact for LN and LNPre alike: every reader of the residual subtracts the mean first.
            centerWritingWeights(sd, cfg);
        }
        if (options.centerUnembed()) {
            centerUnembed(sd);
        }
        if (options.foldValueBiases()) {
            foldValueBiases(sd, cfg);
        }
        if (options.refactorFactoredAttnMatrices()) {
            AttentionRefactoring.refactor(sd, cfg);
        }
    }

    private static final int[] D_MODEL_OF_READER = {-2}; // W[..., d_model, out]: d_model is second last

    static void foldLayerNorm(Map<String, NDArray> sd, GPT2Config cfg) {
        for (int l = 0; l < cfg.nLayers(); l++) {
            String p = "blocks." + l + ".";
            NDArray w1 = sd.remove(p + "ln1.w"); // [d_model]
            NDArray b1 = sd.remove(p + "ln1.b"); // [d_model]
            for (String x : new String[] {"Q", "K", "V"}) {
                NDArray wx = sd.get(p + "attn.W_" + x); // [head_index, d_model, d_head]
                // b' = b + sum_d W[h, d, :] * ln.b[d], computed with the original W
                NDArray bias = sd.get(p + "attn.b_" + x) // [head_index, d_head]
                        .add(wx.mul(b1.reshape(1, -1, 1)).sum(D_MODEL_OF_READER)); // [head_index, d_head]
                replace(sd, p + "attn.b_" + x, bias);
                NDArray folded = wx.mul(w1.reshape(1, -1, 1)); // [head_index, d_model, d_head]
                replace(sd, p + "attn.W_" + x, centerOverDModel(folded));
            }
            w1.close();
            b1.close();
            NDArray w2 = sd.remove(p + "ln2.w"); // [d_model]
            NDArray b2 = sd.remove(p + "ln2.b"); // [d_model]
            NDArray wIn = sd.get(p + "mlp.W_in"); // [d_model, d_mlp]
            replace(sd, p + "mlp.b_in", sd.get(p + "mlp.b_in")
                    .add(wIn.mul(b2.reshape(-1, 1)).sum(D_MODEL_OF_READER))); // [d_mlp]
            replace(sd, p + "mlp.W_in", centerOverDModel(wIn.mul(w2.reshape(-1, 1)))); // [d_model, d_mlp]
            w2.close();
            b2.close();
        }
        NDArray wf = sd.remove("ln_final.w"); // [d_model]
        NDArray bf = sd.remove("ln_final.b"); // [d_model]
        NDArray wU = sd.get("unembed.W_U"); // [d_model, d_vocab]
        replace(sd, "unembed.b_U", sd.get("unembed.b_U")
                .add(wU.mul(bf.reshape(-1, 1)).sum(D_MODEL_OF_READER))); // [d_vocab]
        replace(sd, "unembed.W_U", centerOverDModel(wU.mul(wf.reshape(-1, 1)))); // [d_model, d_vocab]
        wf.close();
        bf.close();
    }

    /** Readers of an LN output: subtract the mean over the d_model axis (second last). */
    private static NDArray centerOverDModel(NDArray w) {
        return w.sub(w.mean(D_MODEL_OF_READER, true));
    }

    /** Writers to the residual stream: subtract the mean over the last axis (d_model). */
    private static NDArray centerLastAxis(NDArray w) {
        return w.sub(w.mean(new int[] {-1}, true));
    }

    static void centerWritingWeights(Map<String, NDArray> sd, GPT2Config cfg) {
        replace(sd, "embed.W_E", centerLastAxis(sd.get("embed.W_E"))); // [d_vocab, d_model]
        replace(sd, "pos_embed.W_pos", centerLastAxis(sd.get("pos_embed.W_pos"))); // [n_ctx, d_model]
        for (int l = 0; l < cfg.nLayers(); l++) {
            String p = "blocks." + l + ".";
            replace(sd, p + "attn.W_O", centerLastAxis(sd.get(p + "attn.W_O"))); // [head_index, d_head, d_model]
            replace(sd, p + "attn.b_O", centerLastAxis(sd.get(p + "attn.b_O"))); // [d_model]
            replace(sd, p + "mlp.W_out", centerLastAxis(sd.get(p + "mlp.W_out"))); // [d_mlp, d_model]
            replace(sd, p + "mlp.b_out", centerLastAxis(sd.get(p + "mlp.b_out"))); // [d_model]
        }
    }

    static void centerUnembed(Map<String, NDArray> sd) {
        replace(sd, "unembed.W_U", centerLastAxis(sd.get("unembed.W_U"))); // [d_model, d_vocab]
        replace(sd, "unembed.b_U", centerLastAxis(sd.get("unembed.b_U"))); // [d_vocab]
    }

    static void foldValueBiases(Map<String, NDArray> sd, GPT2Config cfg) {
        for (int l = 0; l < cfg.nLayers(); l++) {
            String p = "blocks." + l + ".";
            NDArray bV = sd.get(p + "attn.b_V"); // [head_index, d_head]
            NDArray wO = sd.get(p + "attn.W_O"); // [head_index, d_head, d_model]
            NDArray folded = sd.get(p + "attn.b_O") // [d_model]
                    .add(bV.expandDims(-1).mul(wO).sum(new int[] {0, 1})); // [d_model]
            replace(sd, p + "attn.b_O", folded);
            replace(sd, p + "attn.b_V", bV.zerosLike()); // [head_index, d_head]
        }
    }

    /** Puts {@code value} under {@code key}, closing what was there. */
    static void replace(Map<String, NDArray> sd, String key, NDArray value) {
        NDArray old = sd.put(key, value);
        value.setName(key);
        if (old != null && old != value) {
            old.close();
        }
    }
}
