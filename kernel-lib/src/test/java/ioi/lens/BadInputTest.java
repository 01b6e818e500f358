package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Inputs and checkpoints a user can get wrong: each must fail fast with a message that names the
 * value, the file or tensor, and what was expected. Also the two HF key layouts (with and without
 * the {@code transformer.} prefix) and an untied {@code lm_head.weight}.
 *
 * <p>Tolerances: the two key layouts hold bit-identical fp32 values (fp16 upcast is exact), so
 * logits must be equal exactly; logits through an untied head recomputed by hand
 * {@code 1e-4 + 1e-5 |x|}.
 */
class BadInputTest {

    static HookedTransformer model;
    NDManager m;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        model = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @BeforeEach
    void setUp() {
        m = NDManager.newBaseManager();
    }

    @AfterEach
    void tearDown() {
        m.close();
    }

    static void assertContains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "expected '" + p + "' in: " + message);
        }
    }

    // ------------------------------------------------------------------ use after close

    @Test
    void aClosedCacheOrModelSaysSoAndWhatToDo() {
        NDArray tokens = m.create(new long[][] {{1, 2, 3}}); // [batch, pos]
        ActivationCache cache = model.runWithCache(tokens);
        cache.get("pattern", 0);
        cache.close();
        assertTrue(cache.isClosed());
        for (Runnable use : List.<Runnable>of(() -> cache.get("pattern", 0), cache::logits, cache::asMap,
                () -> cache.stackHeadResults(null, false, false))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, use::run);
            assertContains(e.getMessage(), "ActivationCache is closed", "runWithCache");
        }
        HookedTransformer other = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
        other.close();
        assertTrue(other.isClosed());
        for (Runnable use : List.<Runnable>of(() -> other.forward(tokens), () -> other.runWithCache(tokens),
                other::resultManager, () -> other.runWithGradients(tokens, n -> true, l -> l.sum()))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, use::run);
            assertContains(e.getMessage(), "HookedTransformer is closed", "load the model again");
        }
    }

    // ------------------------------------------------------------------ forward inputs

    @Test
    void sequenceLongerThanContext() {
        NDArray tokens = m.zeros(new Shape(1, 65), DataType.INT64);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.forward(tokens));
        assertEquals("sequence length 65 exceeds n_ctx 64", e.getMessage());
        model.forward(m.zeros(new Shape(1, 64), DataType.INT64)); // exactly n_ctx is fine
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(m.zeros(new Shape(1, 0), DataType.INT64)));
        assertContains(e.getMessage(), "empty");
    }

    @Test
    void tokenIdsOutOfRange() {
        long[][] ids = {{50256, 1, 2, 50257, 4}};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.forward(m.create(ids)));
        assertContains(e.getMessage(), "50257", "[0, 3]", "[0, 50257)");

        long[][] negative = {{50256, 1, 2, 3, 4}, {50256, 5, -1, 7, 8}};
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(m.create(negative)));
        assertContains(e.getMessage(), "-1", "[1, 2]", "[0, 50257)");

        int[][] int32 = {{50256, 99999}};
        e = assertThrows(IllegalArgumentException.class, () -> model.forward(m.create(int32)));
        assertContains(e.getMessage(), "99999", "[0, 1]", "[0, 50257)");
    }

    @Test
    void wrongTokenTypesShapesAndMasks() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(m.zeros(new Shape(1, 5), DataType.FLOAT32)));
        assertContains(e.getMessage().toLowerCase(java.util.Locale.ROOT), "integer", "[batch, pos]", "float32", "startatlayer");

        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(m.zeros(new Shape(1, 2, 3), DataType.INT64)));
        assertContains(e.getMessage(), "[batch, pos]", "(1, 2, 3)");

        // a 1-D [pos] input is accepted as one prompt
        NDArray oneD = m.create(new long[] {50256, 15496, 995});
        assertEquals(new Shape(1, 3, 50257), model.forward(oneD).getShape());

        NDArray tokens = m.create(new long[][] {{50256, 15496, 995, 0, 11}});
        NDArray mask = m.ones(new Shape(1, 4), DataType.INT64);
        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(tokens, RunOptions.defaults().attentionMask(mask)));
        assertContains(e.getMessage(), "attentionMask", "[batch, pos] = [1, 5]", "(1, 4)");
        NDArray mask2 = m.ones(new Shape(2, 5), DataType.INT64);
        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(tokens, RunOptions.defaults().attentionMask(mask2)));
        assertContains(e.getMessage(), "attentionMask", "(2, 5)");

        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(m.zeros(new Shape(1, 5, 16)), RunOptions.defaults().startAtLayer(0)));
        assertContains(e.getMessage(), "d_model", "32", "(1, 5, 16)");
    }

    // ------------------------------------------------------------------ broken checkpoints

    Path copyTiny() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("ckpt"));
        for (String f : HookedTransformer.CHECKPOINT_FILES) {
            Files.copy(TestModels.tinyGpt2().resolve(f), dir.resolve(f));
        }
        return dir;
    }

    /** Rewrites the tiny model's tensors (upcast to fp32, so values are unchanged) into {@code out} after an edit. */
    void rewriteWeights(Path out, Consumer<LinkedHashMap<String, NDArray>> edit) {
        try (NDManager w = NDManager.newBaseManager();
                SafetensorsFile f = Safetensors.open(TestModels.tinyGpt2().resolve("model.safetensors"))) {
            LinkedHashMap<String, NDArray> tensors = new LinkedHashMap<>();
            for (String name : f.names()) {
                tensors.put(name, f.load(name, w));
            }
            edit.accept(tensors);
            Safetensors.write(out, tensors, f.metadata());
        }
    }

    CheckpointException loadFails(Path dir) {
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> HookedTransformer.load(dir, ProcessingOptions.defaults(), null).close());
        System.out.println("load(" + dir.getFileName() + "): " + e.getMessage());
        return e;
    }

    @Test
    void missingWeightsFile() throws IOException {
        Path dir = copyTiny();
        Files.delete(dir.resolve("model.safetensors"));
        assertContains(loadFails(dir).getMessage(), dir.resolve("model.safetensors").toString(), "expected a safetensors file");
    }

    @Test
    void configNotJson() throws IOException {
        Path dir = copyTiny();
        Files.writeString(dir.resolve("config.json"), "this is { not json");
        assertContains(loadFails(dir).getMessage(), "config.json", "JSON");
    }

    @Test
    void configOfAnotherArchitecture() throws IOException {
        Path dir = copyTiny();
        String cfg = Files.readString(dir.resolve("config.json")).replace("\"model_type\": \"gpt2\"", "\"model_type\": \"llama\"");
        assertTrue(cfg.contains("llama"));
        Files.writeString(dir.resolve("config.json"), cfg);
        assertContains(loadFails(dir).getMessage(), "config.json", "llama", "gpt2");
    }

    @Test
    void configWidthNotDivisibleByHeads() throws IOException {
        Path dir = copyTiny();
        String cfg = Files.readString(dir.resolve("config.json")).replace("\"n_embd\": 32", "\"n_embd\": 33");
        assertTrue(cfg.contains("\"n_embd\": 33"));
        Files.writeString(dir.resolve("config.json"), cfg);
        assertContains(loadFails(dir).getMessage(), "config.json", "n_embd 33", "n_head 4");
    }

    @Test
    void tensorMissing() throws IOException {
        Path dir = copyTiny();
        rewriteWeights(dir.resolve("model.safetensors"), t -> t.remove("transformer.h.1.mlp.c_fc.bias").close());
        assertContains(loadFails(dir).getMessage(), "model.safetensors", "missing tensor 'transformer.h.1.mlp.c_fc.bias'",
                "(128)");
    }

    @Test
    void tensorMisShaped() throws IOException {
        Path dir = copyTiny();
        rewriteWeights(dir.resolve("model.safetensors"), t -> {
            String k = "transformer.h.0.mlp.c_fc.weight";
            t.put(k, t.get(k).transpose().duplicate());
        });
        assertContains(loadFails(dir).getMessage(), "model.safetensors", "transformer.h.0.mlp.c_fc.weight",
                "(128, 32)", "(32, 128)");
    }

    @Test
    void weightsFileTruncated() throws IOException {
        Path dir = copyTiny();
        Path f = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(all, all.length - 1000));
        assertContains(loadFails(dir).getMessage(), f.toString(), "truncated");
    }

    @Test
    void tokenizerMissingOrBroken() throws IOException {
        Path dir = copyTiny();
        Files.delete(dir.resolve("tokenizer.json"));
        assertContains(loadFails(dir).getMessage(), dir.resolve("tokenizer.json").toString(), "expected");

        Files.write(dir.resolve("tokenizer.json"), "{\"not\": \"a tokenizer\"".getBytes(StandardCharsets.UTF_8));
        assertContains(loadFails(dir).getMessage(), "tokenizer.json");
    }

    // ------------------------------------------------------------------ key layouts and the head

    @Test
    void keysWithAndWithoutTransformerPrefixGiveEqualLogits() throws IOException {
        Path dir = copyTiny();
        try (SafetensorsFile original = Safetensors.open(dir.resolve("model.safetensors"))) {
            assertTrue(original.contains("transformer.wte.weight"), "the fixture is expected to carry the prefix");
        }
        rewriteWeights(dir.resolve("model.safetensors"), t -> {
            Map<String, NDArray> copy = new LinkedHashMap<>(t);
            t.clear();
            copy.forEach((k, v) -> t.put(k.startsWith("transformer.") ? k.substring("transformer.".length()) : k, v));
        });
        try (SafetensorsFile rewritten = Safetensors.open(dir.resolve("model.safetensors"))) {
            assertTrue(rewritten.names().stream().noneMatch(n -> n.startsWith("transformer.")), rewritten.names().toString());
        }
        NDArray tokens = m.create(model.tokenizer().encode("When Mary and John went to the store", true));
        Compare cmp = new Compare("HF keys with vs without 'transformer.'");
        for (ProcessingOptions p : new ProcessingOptions[] {ProcessingOptions.none(), ProcessingOptions.defaults()}) {
            try (HookedTransformer prefixed = HookedTransformer.load(TestModels.tinyGpt2(), p, null);
                    HookedTransformer bare = HookedTransformer.load(dir, p, null)) {
                cmp.close("logits, " + p, bare.forward(tokens), prefixed.forward(tokens), 0, 0);
            }
        }
        cmp.check();
    }

    @Test
    void untiedLmHeadIsUsedForTheUnembedding() throws IOException {
        Path dir = copyTiny();
        rewriteWeights(dir.resolve("model.safetensors"), t -> t.put("lm_head.weight",
                t.get("transformer.wte.weight").getManager().randomNormal(new Shape(50257, 32))));
        NDArray tokens = m.create(model.tokenizer().encode("When Mary and John went to the store", true));
        Compare cmp = new Compare("untied lm_head.weight");
        try (HookedTransformer tied = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.none(), null);
                HookedTransformer untied = HookedTransformer.load(dir, ProcessingOptions.none(), null);
                SafetensorsFile f = Safetensors.open(dir.resolve("model.safetensors"))) {
            NDArray head = f.load("lm_head.weight", m); // [d_vocab, d_model]
            cmp.close("W_U == lm_head.weight^T", untied.W_U(), head.transpose(), 0, 0);
            cmp.close("W_E still wte", untied.W_E(), tied.W_E(), 0, 0);
            double differs = untied.W_U().sub(tied.W_U()).abs().max().getFloat();
            assertTrue(differs > 0.1, "W_U of the untied model equals the tied one");
            try (ActivationCache c = untied.runWithCache(tokens, n -> n.equals("ln_final.hook_normalized"))) {
                NDArray byHand = c.get("normalized").matMul(head.transpose()); // [batch, pos, d_vocab], b_U = 0
                cmp.close("logits == ln_final(x) @ lm_head^T", c.logits(), byHand, 1e-4, 1e-5);
            }
        }
        cmp.check();

        rewriteWeights(dir.resolve("model.safetensors"), t -> t.put("lm_head.weight",
                t.get("transformer.wte.weight").getManager().zeros(new Shape(50257, 16))));
        assertContains(loadFails(dir).getMessage(), "lm_head.weight", "(50257, 16)", "(50257, 32)");
    }
}
