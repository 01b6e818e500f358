package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.Gson;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.util.Arrays;
import java.util.List;

/**
 * Test fixtures of package ioi.experiments: the committed 12x12 random GPT-2 ({@code ioi-gpt2},
 * loaded as the paper's notebooks load GPT-2: TL's defaults plus refactoring) and the goldens
 * {@code ioi-goldens/experiments.safetensors} of tools/goldens/make_ioi_goldens.py (TransformerLens
 * 2.18 on the same model and batch).
 */
final class IoiGoldens {

    private IoiGoldens() {}

    static HookedTransformer model() {
        return HookedTransformer.load(TestModels.ioiGpt2(), ProcessingOptions.withRefactoring(), null);
    }

    static SafetensorsFile open() {
        return Safetensors.open(TestModels.resource("ioi-goldens/experiments.safetensors"));
    }

    /** The golden's IOI batch, as the dataset class will hand it over: plain arrays. */
    static IoiBatch batch(SafetensorsFile g) {
        try (NDManager m = NDManager.newBaseManager()) {
            List<String> prompts = Arrays.asList(new Gson().fromJson(g.metadata().get("clean_prompts"), String[].class));
            return new IoiBatch(rows(g.load("tokens", m)), rows(g.load("abc_tokens", m)),
                    longs(g.load("word_idx/IO", m)), longs(g.load("word_idx/S1", m)), longs(g.load("word_idx/S2", m)),
                    longs(g.load("word_idx/end", m)), longs(g.load("io_token_ids", m)), longs(g.load("s_token_ids", m)),
                    prompts);
        }
    }

    static List<String> labels(SafetensorsFile g, String key) {
        return Arrays.asList(new Gson().fromJson(g.metadata().get(key), String[].class));
    }

    static float scalar(SafetensorsFile g, String key, NDManager m) {
        return g.load(key, m).toType(DataType.FLOAT32, false).toFloatArray()[0];
    }

    static long[] longs(NDArray a) {
        return a.toType(DataType.INT64, false).toLongArray();
    }

    static long[][] rows(NDArray a) {
        long[] flat = longs(a);
        int rows = (int) a.getShape().get(0);
        int cols = (int) a.getShape().get(1);
        long[][] out = new long[rows][];
        for (int r = 0; r < rows; r++) {
            out[r] = Arrays.copyOfRange(flat, r * cols, (r + 1) * cols);
        }
        return out;
    }
}
