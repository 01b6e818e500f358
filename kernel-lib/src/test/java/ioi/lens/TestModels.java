package ioi.lens;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

/**
 * Test fixtures: the committed tiny random GPT-2 (3 layers, d_model 32, 4 heads, GPT-2's real
 * vocabulary; written by tools/goldens/make_goldens.py) assembled into a checkpoint directory with
 * GPT-2's tokenizer bundled in the library ({@link GPT2Tokenizer#bundledFile()}), and the TransformerLens
 * goldens.
 */
public final class TestModels {

    private static Path tinyDir;
    private static Path ioiDir;

    private TestModels() {}

    public static Path resource(String relative) {
        Path p = Paths.get("src", "test", "resources").resolve(relative);
        if (!Files.exists(p)) {
            throw new IllegalStateException("test resource missing: " + p.toAbsolutePath());
        }
        return p;
    }

    /** A checkpoint directory: config.json, model.safetensors, tokenizer.json. */
    public static synchronized Path tinyGpt2() {
        if (tinyDir == null) {
            try {
                Path dir = Files.createTempDirectory("tiny-gpt2");
                Files.copy(resource("tiny-gpt2/config.json"), dir.resolve("config.json"));
                Files.copy(resource("tiny-gpt2/model.safetensors"), dir.resolve("model.safetensors"));
                Files.copy(GPT2Tokenizer.bundledFile(), dir.resolve("tokenizer.json"),
                        StandardCopyOption.REPLACE_EXISTING);
                dir.toFile().deleteOnExit();
                tinyDir = dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tinyDir;
    }

    /**
     * The committed 12-layer, 12-head random GPT-2 of the IOI experiments (d_model 24, written by
     * tools/goldens/make_ioi_goldens.py) assembled into a checkpoint directory with GPT-2's tokenizer.
     */
    public static synchronized Path ioiGpt2() {
        if (ioiDir == null) {
            ioiDir = assemble("ioi-gpt2");
        }
        return ioiDir;
    }

    private static Path assemble(String resourceDir) {
        try {
            Path dir = Files.createTempDirectory(resourceDir);
            dir.toFile().deleteOnExit(); // registered first, deleted last (after its files)
            Files.copy(resource(resourceDir + "/config.json"), dir.resolve("config.json"));
            Files.copy(resource(resourceDir + "/model.safetensors"), dir.resolve("model.safetensors"));
            Files.copy(GPT2Tokenizer.bundledFile(), dir.resolve("tokenizer.json"),
                    StandardCopyOption.REPLACE_EXISTING);
            for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json"}) {
                dir.resolve(f).toFile().deleteOnExit();
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Path golden(String name) {
        return resource("goldens/" + name + ".safetensors");
    }
}
