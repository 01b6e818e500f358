package ioi.lens;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The few numbers that define a GPT-2 model, with TransformerLens's field names in camelCase.
 *
 * <p>Only GPT-2's architecture is supported: learned absolute positions, pre-LayerNorm blocks,
 * {@code gelu_new}, attention scaled by {@code sqrt(d_head)}. The record validates itself, so a
 * config that exists is one the model can run.
 *
 * @param nLayers number of transformer blocks
 * @param dModel width of the residual stream
 * @param nHeads attention heads per block
 * @param dHead width of one head ({@code dModel / nHeads} for GPT-2)
 * @param dMlp hidden width of the MLP
 * @param dVocab vocabulary size (rows of {@code W_E}, columns of {@code W_U})
 * @param nCtx maximum sequence length (rows of {@code W_pos})
 * @param eps LayerNorm epsilon
 */
public record GPT2Config(
        int nLayers, int dModel, int nHeads, int dHead, int dMlp, int dVocab, int nCtx, double eps) {

    public GPT2Config {
        requirePositive("nLayers", nLayers);
        requirePositive("dModel", dModel);
        requirePositive("nHeads", nHeads);
        requirePositive("dHead", dHead);
        requirePositive("dMlp", dMlp);
        requirePositive("dVocab", dVocab);
        requirePositive("nCtx", nCtx);
        if (nHeads * dHead != dModel) {
            throw new IllegalArgumentException(
                    "nHeads * dHead must equal dModel for GPT-2, but " + nHeads + " * " + dHead
                            + " = " + (nHeads * dHead) + " and dModel = " + dModel);
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException("eps must be > 0 but is " + eps);
        }
    }

    /** GPT-2 small: 12 layers, 768 wide, 12 heads of 64, MLP 3072, 50257 tokens, 1024 positions. */
    public static GPT2Config gpt2Small() {
        return new GPT2Config(12, 768, 12, 64, 3072, 50257, 1024, 1e-5);
    }

    /** Attention scores are divided by this: {@code sqrt(d_head)}. */
    public double attnScale() {
        return Math.sqrt(dHead);
    }

    /**
     * Reads a Hugging Face GPT-2 {@code config.json} ({@code n_layer, n_embd, n_head, n_inner,
     * vocab_size, n_positions, layer_norm_epsilon, activation_function}).
     */
    public static GPT2Config fromHfConfig(Path configJson) {
        JsonObject json;
        try {
            json = JsonParser.parseString(Files.readString(configJson)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(
                    configJson + ": expected a Hugging Face config.json (a JSON object) but could not read it: "
                            + e.getMessage(), e);
        }
        String modelType = json.has("model_type") ? json.get("model_type").getAsString() : "gpt2";
        if (!"gpt2".equals(modelType)) {
            throw new CheckpointException(
                    configJson + ": model_type is '" + modelType + "' but only 'gpt2' is supported");
        }
        String act = json.has("activation_function")
                ? json.get("activation_function").getAsString() : "gelu_new";
        if (!"gelu_new".equals(act)) {
            throw new CheckpointException(configJson + ": activation_function is '" + act
                    + "' but only GPT-2's 'gelu_new' is supported");
        }
        try {
            int nLayers = requiredInt(json, "n_layer", configJson);
            int dModel = requiredInt(json, "n_embd", configJson);
            int nHeads = requiredInt(json, "n_head", configJson);
            int dMlp = json.has("n_inner") && !json.get("n_inner").isJsonNull()
                    ? json.get("n_inner").getAsInt() : 4 * dModel;
            int dVocab = requiredInt(json, "vocab_size", configJson);
            int nCtx = requiredInt(json, "n_positions", configJson);
            double eps = json.has("layer_norm_epsilon")
                    ? json.get("layer_norm_epsilon").getAsDouble() : 1e-5;
            if (nHeads <= 0 || dModel % nHeads != 0) {
                throw new CheckpointException(configJson + ": n_embd " + dModel
                        + " must be a positive multiple of n_head " + nHeads);
            }
            return new GPT2Config(nLayers, dModel, nHeads, dModel / nHeads, dMlp, dVocab, nCtx, eps);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(configJson + ": " + e.getMessage(), e);
        }
    }

    private static int requiredInt(JsonObject json, String key, Path file) {
        if (!json.has(key) || json.get(key).isJsonNull()) {
            throw new CheckpointException(file + ": missing required field '" + key + "'");
        }
        return json.get(key).getAsInt();
    }

    private static void requirePositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be > 0 but is " + value);
        }
    }
}
