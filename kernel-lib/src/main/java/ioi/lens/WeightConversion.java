package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ioi.lens.io.SafetensorsFile;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hugging Face GPT-2 weights to TransformerLens's parameters, as TL's {@code convert_gpt2_weights}.
 * HF's {@code Conv1D} stores weights {@code [in, out]}, so {@code y = x @ W + b} needs no transpose;
 * {@code c_attn} is split into Q, K, V and each is rearranged {@code d_model (head_index d_head) ->
 * head_index d_model d_head}. {@code W_U} is an untied copy of {@code W_E} transposed and
 * {@code b_U} is zeros, as TL's {@code fill_missing_keys}.
 */
final class WeightConversion {

    private WeightConversion() {}

    /**
     * Loads a tensor into memory libtorch owns. F32 tensors arrive as views of the memory-mapped
     * file; the reshapes and transposes below make further views, which must not outlive the
     * mapping, so they are copied once here.
     */
    private static NDArray owned(SafetensorsFile file, String key, NDManager manager) {
        NDArray mapped = file.load(key, manager);
        NDArray copy = mapped.duplicate();
        mapped.close();
        return copy;
    }

    /** Reads every tensor TL needs from the checkpoint, checking presence and shape first. */
    static LinkedHashMap<String, NDArray> fromHuggingFace(
            SafetensorsFile file, GPT2Config cfg, NDManager manager) {
        String prefix = file.contains("transformer.wte.weight") ? "transformer." : "";
        int d = cfg.dModel();
        int h = cfg.nHeads();
        int e = cfg.dHead();
        Map<String, long[]> expected = new LinkedHashMap<>();
        expected.put("wte.weight", new long[] {cfg.dVocab(), d});
        expected.put("wpe.weight", new long[] {cfg.nCtx(), d});
        for (int l = 0; l < cfg.nLayers(); l++) {
            String p = "h." + l + ".";
            expected.put(p + "ln_1.weight", new long[] {d});
            expected.put(p + "ln_1.bias", new long[] {d});
            expected.put(p + "attn.c_attn.weight", new long[] {d, 3L * d});
            expected.put(p + "attn.c_attn.bias", new long[] {3L * d});
            expected.put(p + "attn.c_proj.weight", new long[] {d, d});
            expected.put(p + "attn.c_proj.bias", new long[] {d});
            expected.put(p + "ln_2.weight", new long[] {d});
            expected.put(p + "ln_2.bias", new long[] {d});
            expected.put(p + "mlp.c_fc.weight", new long[] {d, cfg.dMlp()});
            expected.put(p + "mlp.c_fc.bias", new long[] {cfg.dMlp()});
            expected.put(p + "mlp.c_proj.weight", new long[] {cfg.dMlp(), d});
            expected.put(p + "mlp.c_proj.bias", new long[] {d});
        }
        expected.put("ln_f.weight", new long[] {d});
        expected.put("ln_f.bias", new long[] {d});

        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, long[]> entry : expected.entrySet()) {
            String key = prefix + entry.getKey();
            if (!file.contains(key)) {
                problems.add("missing tensor '" + key + "' (expected shape "
                        + new Shape(entry.getValue()) + ")");
                continue;
            }
            Shape found = new Shape(file.info(key).shape());
            Shape want = new Shape(entry.getValue());
            if (!found.equals(want)) {
                problems.add("tensor '" + key + "' has shape " + found + " but the config ("
                        + cfg + ") needs " + want);
            }
        }
        String lmHead = "lm_head.weight";
        boolean untiedHead = file.contains(lmHead);
        if (untiedHead) {
            Shape found = new Shape(file.info(lmHead).shape());
            if (!found.equals(new Shape(cfg.dVocab(), d))) {
                problems.add("tensor 'lm_head.weight' has shape " + found + " but needs "
                        + new Shape(cfg.dVocab(), d));
            }
        }
        if (!problems.isEmpty()) {
            throw new CheckpointException(file.path() + " does not hold a GPT-2 matching its config: "
                    + String.join("; ", problems.subList(0, Math.min(problems.size(), 8)))
                    + (problems.size() > 8 ? "; and " + (problems.size() - 8) + " more" : ""));
        }

        LinkedHashMap<String, NDArray> sd = new LinkedHashMap<>();
        NDArray wte = owned(file, prefix + "wte.weight", manager); // [d_vocab, d_model]
        sd.put("embed.W_E", wte);
        sd.put("pos_embed.W_pos", owned(file, prefix + "wpe.weight", manager)); // [n_ctx, d_model]
        for (int l = 0; l < cfg.nLayers(); l++) {
            String hf = prefix + "h." + l + ".";
            String tl = "blocks." + l + ".";
            sd.put(tl + "ln1.w", owned(file, hf + "ln_1.weight", manager)); // [d_model]
            sd.put(tl + "ln1.b", owned(file, hf + "ln_1.bias", manager)); // [d_model]
            try (NDArray cAttn = owned(file, hf + "attn.c_attn.weight", manager); // [d_model, 3*d_model]
                    NDArray cAttnBias = owned(file, hf + "attn.c_attn.bias", manager)) { // [3*d_model]
                String[] qkv = {"Q", "K", "V"};
                for (int i = 0; i < 3; i++) {
                    NDArray w = cAttn.get(":, " + (i * d) + ":" + ((i + 1) * d)) // [d_model, head_index*d_head]
                            .reshape(d, h, e) // [d_model, head_index, d_head]
                            .transpose(1, 0, 2) // [head_index, d_model, d_head]
                            .duplicate();
                    sd.put(tl + "attn.W_" + qkv[i], w);
                    NDArray b = cAttnBias.get((i * d) + ":" + ((i + 1) * d)).reshape(h, e); // [head_index, d_head]
                    sd.put(tl + "attn.b_" + qkv[i], b.duplicate());
                }
            }
            sd.put(tl + "attn.W_O", owned(file, hf + "attn.c_proj.weight", manager)
                    .reshape(h, e, d)); // [head_index, d_head, d_model]
            sd.put(tl + "attn.b_O", owned(file, hf + "attn.c_proj.bias", manager)); // [d_model]
            sd.put(tl + "ln2.w", owned(file, hf + "ln_2.weight", manager)); // [d_model]
            sd.put(tl + "ln2.b", owned(file, hf + "ln_2.bias", manager)); // [d_model]
            sd.put(tl + "mlp.W_in", owned(file, hf + "mlp.c_fc.weight", manager)); // [d_model, d_mlp]
            sd.put(tl + "mlp.b_in", owned(file, hf + "mlp.c_fc.bias", manager)); // [d_mlp]
            sd.put(tl + "mlp.W_out", owned(file, hf + "mlp.c_proj.weight", manager)); // [d_mlp, d_model]
            sd.put(tl + "mlp.b_out", owned(file, hf + "mlp.c_proj.bias", manager)); // [d_model]
        }
        sd.put("ln_final.w", owned(file, prefix + "ln_f.weight", manager)); // [d_model]
        sd.put("ln_final.b", owned(file, prefix + "ln_f.bias", manager)); // [d_model]
        NDArray head = untiedHead ? owned(file, lmHead, manager) : wte; // [d_vocab, d_model]
        sd.put("unembed.W_U", head.transpose().duplicate()); // [d_model, d_vocab]
        if (untiedHead) {
            head.close();
        }
        sd.put("unembed.b_U", manager.zeros(new Shape(cfg.dVocab()))); // [d_vocab]
        for (Map.Entry<String, NDArray> entry : sd.entrySet()) {
            entry.getValue().setName(entry.getKey());
        }
        return sd;
    }
}
