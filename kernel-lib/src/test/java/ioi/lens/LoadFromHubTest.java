package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ioi.lens.hub.DownloadProgress;
import ioi.lens.hub.FakeHub;
import ioi.lens.hub.HubConfig;
import ioi.lens.hub.ModelResolver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * "gpt2" end to end against a {@link FakeHub} on loopback that serves the tiny checkpoint as
 * {@code openai-community/gpt2}: resolve, download into a Hugging Face cache, load, run. The
 * downloaded model must give exactly the logits of the same checkpoint loaded from its directory
 * (tolerance 0: the same bytes go through the same code).
 */
class LoadFromHubTest {

    static final String REPO = "openai-community/gpt2";

    @TempDir
    Path cache;

    FakeHub hub;
    NDManager m;
    NDArray tokens;

    @BeforeEach
    void setUp() throws IOException {
        hub = FakeHub.start().addDirectory(REPO, TestModels.tinyGpt2());
        m = NDManager.newBaseManager();
        tokens = m.create(new long[][] {{50256, 2215, 5335, 290, 1757, 1816, 284, 262, 3650}});
    }

    @AfterEach
    void tearDown() {
        hub.close();
        m.close();
    }

    HubConfig online() {
        return new HubConfig(hub.endpoint(), cache, false, null);
    }

    /** Logits of the tiny checkpoint loaded straight from its directory. */
    NDArray directLogits() {
        try (HookedTransformer direct = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null)) {
            return direct.forward(tokens);
        }
    }

    @Test
    void gpt2FromTheHubEqualsTheDirectory() {
        Path dir = ModelResolver.resolve("gpt2", HookedTransformer.CHECKPOINT_FILES, DownloadProgress.NONE, online());
        assertTrue(dir.startsWith(cache.resolve("models--openai-community--gpt2").resolve("snapshots")), dir.toString());
        NDArray expected = directLogits();
        Compare cmp = new Compare("gpt2 via the (fake) Hub vs the directory");
        try (HookedTransformer model = HookedTransformer.load(dir, ProcessingOptions.defaults(), null)) {
            cmp.close("logits, resolve + load", model.forward(tokens), expected, 0, 0);
        }
        int requests = hub.requests().size();
        try (HookedTransformer model = HookedTransformer.fromPretrained("gpt2", ProcessingOptions.defaults(), null, online())) {
            cmp.close("logits, fromPretrained(hub)", model.forward(tokens), expected, 0, 0);
            assertEquals(dir, model.directory());
        }
        assertEquals(requests, hub.requests().size(), "a complete cache must not touch the network");
        cmp.check();
    }

    @Test
    void cutConnectionDuringWeightsStillGivesAWorkingModel() {
        hub.cutNextGets(1, 1_000_000); // model.safetensors is 3.3 MB
        // weights first, so the first content GET (the one that is cut) is model.safetensors
        Path dir = ModelResolver.resolve("gpt2", List.of("model.safetensors", "config.json", "tokenizer.json"),
                DownloadProgress.NONE, online());
        List<FakeHub.Request> cdn = hub.gets("/cdn/");
        assertEquals(2, cdn.size(), "one cut GET, one resumed: " + cdn);
        assertNull(cdn.get(0).range());
        assertTrue(cdn.get(1).range() != null && cdn.get(1).range().startsWith("bytes="), "resumed with Range: " + cdn);
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));

        NDArray expected = directLogits();
        Compare cmp = new Compare("gpt2 after a cut download vs the directory");
        try (HookedTransformer model = HookedTransformer.fromPretrained("gpt2", ProcessingOptions.defaults(), null, online())) {
            cmp.close("logits", model.forward(tokens), expected, 0, 0);
        }
        cmp.check();
    }

    @Test
    void offlineWithEmptyCacheFailsWithCheckpointException() {
        CheckpointException e = assertThrows(CheckpointException.class, () -> HookedTransformer.fromPretrained(
                "gpt2", ProcessingOptions.defaults(), null, online().withOffline(true)).close());
        for (String part : List.of("model.safetensors", "config.json", "tokenizer.json", "HF_HUB_OFFLINE",
                cache.toAbsolutePath().normalize().toString(), REPO)) {
            assertTrue(e.getMessage().contains(part), "expected '" + part + "' in: " + e.getMessage());
        }
        assertEquals(List.of(), hub.requests(), "offline must not touch the network");
    }
}
