package ioi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CacheCommandTest {

    @Test
    void writesLogitsAndEveryDefaultHookUnderItsTransformerLensName(@TempDir Path tmp) {
        Path out = tmp.resolve("cache.safetensors");
        int code = Main.run("cache", "--model", TestModels.tinyGpt2().toString(), "--no-processing",
                "--tokens", "[[50256, 15496, 995, 0], [50256, 40, 588, 257]]", "--out", out.toString());
        assertEquals(0, code);
        try (SafetensorsFile f = Safetensors.open(out);
                NDManager m = NDManager.newBaseManager();
                HookedTransformer model = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.none(), null)) {
            List<String> expected = new ArrayList<>(List.of("tokens", "logits"));
            expected.addAll(model.defaultHookNames());
            assertEquals(expected, new ArrayList<>(f.names()), "tokens, logits, then the hooks in execution order");
            assertEquals(4 + 3 * 17, model.defaultHookNames().size());
            NDArray tokens = f.load("tokens", m);
            NDArray logits = model.forward(tokens);
            assertEquals(0f, logits.sub(f.load("logits", m)).abs().max().getFloat(), 1e-6,
                    "the file's logits are the model's logits (tolerance 1e-6)");
        }
    }

    @Test
    void badTokensSayWhatIsExpected(@TempDir Path tmp) {
        PrintStream err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run("cache", "--model", TestModels.tinyGpt2().toString(), "--tokens", "[[1, 2], [3]]",
                    "--out", tmp.resolve("x.safetensors").toString());
            assertEquals(1, code);
        } finally {
            System.setErr(err);
        }
        assertTrue(buf.toString(StandardCharsets.UTF_8).contains("equal length"), buf.toString(StandardCharsets.UTF_8));
        assertTrue(Files.notExists(tmp.resolve("x.safetensors")));
    }
}
