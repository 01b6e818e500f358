package ioi.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.JsonParseException;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.io.Safetensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./ioi cache}: one forward pass with every default hook point cached, written as a
 * safetensors file (keys: TL hook names, {@code logits}, {@code tokens}) that any tool can read.
 */
@Command(name = "cache", mixinStandardHelpOptions = true,
        description = "Run the model once and write logits and every cached activation (TransformerLens names) "
                + "to a safetensors file.")
final class CacheCommand implements Callable<Integer> {

    @Option(names = "--model", defaultValue = "gpt2",
            description = "gpt2, gpt2-small, an org/name Hugging Face repo, or a local checkpoint directory (default: ${DEFAULT-VALUE})")
    String model;

    @Option(names = "--no-processing", description = "load the weights as they are (TL's from_pretrained_no_processing)")
    boolean noProcessing;

    @Option(names = "--tokens", required = true,
            description = "token ids as JSON, [[...], [...]] (rows of equal length) or [...]")
    String tokens;

    @Option(names = "--out", required = true, description = "output .safetensors file")
    Path out;

    @Override
    public Integer call() {
        long[][] ids = parseTokens(tokens);
        ProcessingOptions processing = noProcessing ? ProcessingOptions.none() : ProcessingOptions.defaults();
        try (HookedTransformer m = HookedTransformer.fromPretrained(model, processing);
                NDManager manager = NDManager.newBaseManager(m.device());
                ActivationCache cache = m.runWithCache(manager.create(ids))) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            tensors.put("tokens", manager.create(ids));
            tensors.put("logits", cache.logits());
            tensors.putAll(cache.asMap());
            Map<String, String> metadata = new LinkedHashMap<>();
            metadata.put("model", model);
            metadata.put("processing", processing.toString());
            metadata.put("hook_order", String.join(",", cache.keys()));
            Safetensors.write(out, tensors, metadata);
            System.out.println("wrote " + tensors.size() + " tensors (" + cache.size() + " activations, logits, tokens) to " + out);
        }
        return 0;
    }

    static long[][] parseTokens(String json) {
        try {
            String trimmed = json.trim();
            if (!trimmed.startsWith("[[")) {
                return new long[][] {new Gson().fromJson(trimmed, long[].class)};
            }
            long[][] ids = new Gson().fromJson(trimmed, long[][].class);
            for (long[] row : ids) {
                if (row.length != ids[0].length) {
                    throw new IllegalArgumentException("--tokens rows must have equal length but have "
                            + ids[0].length + " and " + row.length + " (pad them yourself)");
                }
            }
            return ids;
        } catch (JsonParseException | NullPointerException e) {
            throw new IllegalArgumentException("--tokens must be JSON like [[50256, 15496, 995]] but got '" + json + "'");
        }
    }
}
