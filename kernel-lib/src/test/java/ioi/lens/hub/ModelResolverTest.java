package ioi.lens.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.lens.CheckpointException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Resolution of checkpoint directories: local paths, the Python cache layout and downloads from a {@link FakeHub}. */
class ModelResolverTest {
    private static final String REPO = ModelResolver.GPT2_REPO;
    private static final List<String> FILES = ModelResolver.GPT2_FILES;
    private static final byte[] CONFIG = "{\"n_layer\": 2}".getBytes(StandardCharsets.UTF_8);
    private static final byte[] TOKENIZER = "{\"model\": {\"type\": \"BPE\"}}".getBytes(StandardCharsets.UTF_8);
    private static final byte[] WEIGHTS = new byte[200_000];

    static {
        new Random(42).nextBytes(WEIGHTS);
    }

    @TempDir
    Path cache;

    private FakeHub hub;

    @BeforeEach
    void startHub() throws IOException {
        hub = FakeHub.start();
    }

    @AfterEach
    void stopHub() {
        hub.close();
    }

    private FakeHub serveGpt2() {
        return hub.addRegular(REPO, "config.json", CONFIG).addLfs(REPO, "model.safetensors", WEIGHTS)
                .addRegular(REPO, "tokenizer.json", TOKENIZER);
    }

    private HubConfig online() {
        return new HubConfig(hub.endpoint(), cache, false, null);
    }

    private Path folder() {
        return cache.resolve("models--openai-community--gpt2");
    }

    private static void assertGpt2Files(Path dir) throws IOException {
        assertArrayEquals(CONFIG, Files.readAllBytes(dir.resolve("config.json")));
        assertArrayEquals(WEIGHTS, Files.readAllBytes(dir.resolve("model.safetensors")));
        assertArrayEquals(TOKENIZER, Files.readAllBytes(dir.resolve("tokenizer.json")));
    }

    private static List<String> names(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void freshDownloadWritesHuggingFaceLayoutAndSecondCallStaysOffline() throws IOException {
        serveGpt2();
        HubConfig config = new HubConfig(hub.endpoint(), cache, false, "hf_test_token");
        Path dir = ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, config);

        String commit = hub.commit(REPO);
        assertEquals(commit, Files.readString(folder().resolve("refs/main")));
        assertEquals(folder().resolve("snapshots").resolve(commit), dir);
        String sha256 = FakeHub.sha256(WEIGHTS);
        assertTrue(Files.isSymbolicLink(dir.resolve("model.safetensors")));
        assertEquals(Path.of("../../blobs/" + sha256), Files.readSymbolicLink(dir.resolve("model.safetensors")));
        assertEquals(Path.of("../../blobs/" + FakeHub.gitBlobSha1(CONFIG)), Files.readSymbolicLink(dir.resolve("config.json")));
        assertEquals(List.of(FakeHub.gitBlobSha1(CONFIG), FakeHub.gitBlobSha1(TOKENIZER), sha256).stream().sorted().toList(),
                names(folder().resolve("blobs")));
        assertGpt2Files(dir);
        assertTrue(hub.requests().stream().filter(r -> r.method().equals("HEAD"))
                .allMatch(r -> "Bearer hf_test_token".equals(r.authorization())));

        int requests = hub.requests().size();
        assertEquals(dir, ModelResolver.resolve("gpt2-small", FILES, DownloadProgress.NONE, config));
        assertEquals(requests, hub.requests().size(), "a complete cache must not touch the network");
    }

    @Test
    void partlyCachedSnapshotDownloadsOnlyWhatIsMissing() throws IOException {
        serveGpt2();
        Path dir = ModelResolver.resolve(REPO, FILES, DownloadProgress.NONE, online());
        Files.delete(dir.resolve("config.json")); // link gone, blob still there: relink without GET
        Files.delete(dir.resolve("tokenizer.json"));
        Files.delete(folder().resolve("blobs").resolve(FakeHub.gitBlobSha1(TOKENIZER)));
        int before = hub.requests().size();

        assertEquals(dir, ModelResolver.resolve(REPO, FILES, DownloadProgress.NONE, online()));
        List<FakeHub.Request> later = hub.requests().subList(before, hub.requests().size());
        assertEquals(List.of("/" + REPO + "/resolve/main/tokenizer.json"),
                later.stream().filter(r -> r.method().equals("GET")).map(FakeHub.Request::path).toList());
        assertGpt2Files(dir);
    }

    @Test
    void cacheFilledByPythonUnderLegacyFolderIsUsedWithoutRequests() throws IOException {
        serveGpt2();
        String commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e";
        Path legacy = cache.resolve("models--gpt2");
        Files.createDirectories(legacy.resolve("refs"));
        Files.writeString(legacy.resolve("refs/main"), commit);
        Path snapshot = legacy.resolve("snapshots").resolve(commit);
        Files.createDirectories(snapshot);
        Files.createDirectories(legacy.resolve("blobs"));
        for (var f : List.of(new Object[] {"config.json", CONFIG, FakeHub.gitBlobSha1(CONFIG)},
                new Object[] {"model.safetensors", WEIGHTS, FakeHub.sha256(WEIGHTS)},
                new Object[] {"tokenizer.json", TOKENIZER, FakeHub.gitBlobSha1(TOKENIZER)})) {
            Files.write(legacy.resolve("blobs").resolve((String) f[2]), (byte[]) f[1]);
            Files.createSymbolicLink(snapshot.resolve((String) f[0]), Path.of("../../blobs/" + f[2]));
        }

        assertEquals(snapshot, ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, online()));
        assertEquals(snapshot, ModelResolver.resolve(REPO, FILES, DownloadProgress.NONE, online().withOffline(true)));
        assertEquals(List.of(), hub.requests());
    }

    @Test
    void cutConnectionIsResumedWithRange() throws IOException {
        serveGpt2().cutNextGets(1, WEIGHTS.length / 2);
        List<long[]> starts = new ArrayList<>();
        DownloadProgress recorder = new DownloadProgress() {
            @Override
            public void start(String file, long totalBytes, long alreadyHave) {
                if (file.equals("model.safetensors")) {
                    starts.add(new long[] {totalBytes, alreadyHave});
                }
            }

            @Override
            public void advance(long bytes) {}

            @Override
            public void done(String file) {}
        };

        // weights first, so that the first content GET is the one that gets cut
        Path dir = ModelResolver.resolve(REPO, List.of("model.safetensors", "config.json", "tokenizer.json"), recorder, online());

        assertGpt2Files(dir);
        List<FakeHub.Request> cdnGets = hub.gets("/cdn/");
        assertEquals(2, cdnGets.size(), "one cut GET and one resumed GET: " + cdnGets);
        assertNull(cdnGets.get(0).range());
        assertEquals(2, starts.size());
        long written = starts.get(1)[1];
        assertTrue(written > 0 && written <= WEIGHTS.length / 2, "resumed at " + written);
        assertEquals("bytes=" + written + "-", cdnGets.get(1).range());
        assertEquals(WEIGHTS.length, starts.get(1)[0]);
        assertEquals(List.of(), names(folder().resolve("blobs")).stream().filter(n -> n.endsWith(".incomplete")).toList());
    }

    /**
     * The server sends a third of the weights, then nothing with the connection open (for 20 s, far
     * longer than the 0.5 s stall timeout): the read is abandoned, retried with Range from where it
     * stopped, the retry is reported and logged, and the file is byte-identical.
     */
    @Test
    void stalledReadIsAbandonedAndResumedWithRange() throws IOException {
        long stallAt = WEIGHTS.length / 3;
        serveGpt2().stallNextGets(1, stallAt, 20_000);
        List<String> retries = new ArrayList<>();
        DownloadProgress recorder = new DownloadProgress() {
            @Override
            public void start(String file, long totalBytes, long alreadyHave) {}

            @Override
            public void advance(long bytes) {}

            @Override
            public void done(String file) {}

            @Override
            public void retry(String file, long keptBytes, String reason) {
                retries.add(file + " at " + keptBytes + ": " + reason);
            }
        };
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(log, true, StandardCharsets.UTF_8));
        long t0 = System.nanoTime();
        Path dir;
        try {
            dir = ModelResolver.resolve(REPO, List.of("model.safetensors", "config.json", "tokenizer.json"), recorder,
                    online().withStallTimeout(java.time.Duration.ofMillis(500)));
        } finally {
            System.setErr(err);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("stalled download finished in %.1f s; retries %s%n", seconds, retries);
        assertGpt2Files(dir);
        assertTrue(seconds < 10, "the stall must be cut after 0.5 s, not waited out (20 s); took " + seconds + " s");
        List<FakeHub.Request> cdnGets = hub.gets("/cdn/");
        assertEquals(2, cdnGets.size(), "one stalled GET and one resumed GET: " + cdnGets);
        assertNull(cdnGets.get(0).range());
        assertEquals("bytes=" + stallAt + "-", cdnGets.get(1).range(), "resumed exactly where the bytes stopped");
        assertEquals(1, retries.size(), retries.toString());
        assertTrue(retries.get(0).startsWith("model.safetensors at " + stallAt + ": StallException: no data for 0.5 s"),
                retries.toString());
        String logged = log.toString(StandardCharsets.UTF_8);
        assertTrue(logged.contains("WARN") && logged.contains("Download of model.safetensors interrupted at " + stallAt
                + " bytes (StallException: no data for 0.5 s"), "the retry must be logged; stderr was: " + logged);
    }

    @Test
    void badStallSecondsNameTheVariable() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HubConfig.fromEnvironment(java.util.Map.of("IOI_DOWNLOAD_STALL_SECONDS", "soon")));
        assertTrue(e.getMessage().contains("IOI_DOWNLOAD_STALL_SECONDS='soon'"), e.getMessage());
        assertEquals(java.time.Duration.ofSeconds(45),
                HubConfig.fromEnvironment(java.util.Map.of("IOI_DOWNLOAD_STALL_SECONDS", "45")).stallTimeout());
        assertEquals(java.time.Duration.ofMillis(2500),
                HubConfig.fromEnvironment(java.util.Map.of("HF_HUB_DOWNLOAD_TIMEOUT", "2.5")).stallTimeout());
        assertEquals(java.time.Duration.ofSeconds(HubConfig.DEFAULT_STALL_SECONDS), HubConfig.fromEnvironment(java.util.Map.of()).stallTimeout());
    }

    @Test
    void incompleteBlobFromEarlierRunIsResumed() throws IOException {
        serveGpt2();
        Path blobs = Files.createDirectories(folder().resolve("blobs"));
        Files.write(blobs.resolve(FakeHub.sha256(WEIGHTS) + ".incomplete"), Arrays.copyOf(WEIGHTS, 1000));

        Path dir = ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, online());
        assertGpt2Files(dir);
        assertEquals(List.of("bytes=1000-"), hub.gets("/cdn/").stream().map(FakeHub.Request::range).toList());
        assertFalse(Files.exists(blobs.resolve(FakeHub.sha256(WEIGHTS) + ".incomplete")));
    }

    @Test
    void serverIgnoringRangeRestartsFromZero() throws IOException {
        serveGpt2().ignoreRange(true);
        Path blobs = Files.createDirectories(folder().resolve("blobs"));
        Files.write(blobs.resolve(FakeHub.sha256(WEIGHTS) + ".incomplete"), Arrays.copyOf(WEIGHTS, 1000));

        assertGpt2Files(ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, online()));
    }

    @Test
    void checksumMismatchFailsAndLeavesNothingBehind() throws IOException {
        String claimed = FakeHub.sha256("something else".getBytes(StandardCharsets.UTF_8));
        serveGpt2().addLfs(REPO, "model.safetensors", WEIGHTS, claimed);

        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, online()));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("sha256 " + claimed), e.getMessage());
        assertTrue(e.getMessage().contains("sha256 " + FakeHub.sha256(WEIGHTS)), e.getMessage());
        assertEquals(List.of(), names(folder().resolve("blobs")).stream().filter(n -> n.startsWith(claimed)).toList());
        assertFalse(Files.exists(folder().resolve("snapshots").resolve(hub.commit(REPO)).resolve("model.safetensors"),
                LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void offlineWithEmptyCacheNamesMissingFilesAndTheFlag() {
        serveGpt2();
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, online().withOffline(true)));
        for (String expected : List.of("config.json", "model.safetensors", "tokenizer.json", "HF_HUB_OFFLINE",
                cache.toString(), "hf download openai-community/gpt2 config.json model.safetensors tokenizer.json",
                "IOI_MODEL=DIR", "--model DIR")) {
            assertTrue(e.getMessage().contains(expected), "missing '" + expected + "' in: " + e.getMessage());
        }
        assertFalse(e.getMessage().contains("huggingface-cli"), "huggingface_hub has no huggingface-cli any more: " + e.getMessage());
        assertEquals(List.of(), hub.requests());
    }

    @Test
    void unreachableHubNamesMissingFilesAndHowToProvideThem() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        HubConfig config = new HubConfig("http://127.0.0.1:" + port, cache, false, null);
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, config));
        for (String expected : List.of("model.safetensors", "could not be reached", cache.toString(),
                "HF_HUB_CACHE", "hf download openai-community/gpt2 config.json model.safetensors tokenizer.json",
                "IOI_MODEL=DIR", "--model DIR", "directly", "HTTPS_PROXY")) {
            assertTrue(e.getMessage().contains(expected), "missing '" + expected + "' in: " + e.getMessage());
        }
    }

    @Test
    void httpNotFoundNamesUrlAndStatus() {
        hub.addRegular(REPO, "config.json", CONFIG);
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, online()));
        assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
        assertTrue(e.getMessage().contains(hub.endpoint() + "/" + REPO + "/resolve/main/model.safetensors"), e.getMessage());
    }

    @Test
    void localDirectoryIsUsedDirectly(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("config.json"), CONFIG);
        Files.write(dir.resolve("model.safetensors"), WEIGHTS);
        Files.write(dir.resolve("tokenizer.json"), TOKENIZER);
        assertEquals(dir.toAbsolutePath().normalize(),
                ModelResolver.resolve(dir.toString(), FILES, DownloadProgress.NONE, online()));
        assertEquals(List.of(), hub.requests());
    }

    @Test
    void localDirectoryMissingAFileIsReported(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("config.json"), CONFIG);
        Files.write(dir.resolve("tokenizer.json"), TOKENIZER);
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ModelResolver.resolve(dir.toString(), FILES, DownloadProgress.NONE, online()));
        for (String expected : List.of(dir.toString(), "has no model.safetensors", "config.json, model.safetensors and tokenizer.json")) {
            assertTrue(e.getMessage().contains(expected), "missing '" + expected + "' in: " + e.getMessage());
        }
    }

    @Test
    void unknownAliasListsTheKnownOnes() {
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ModelResolver.resolve("gpt3", FILES, DownloadProgress.NONE, online()));
        for (String expected : List.of("gpt3", "gpt2, gpt2-small", "org/name", "local directory")) {
            assertTrue(e.getMessage().contains(expected), "missing '" + expected + "' in: " + e.getMessage());
        }
        assertEquals("openai-community/gpt2", ModelResolver.repoId("GPT2"));
        assertEquals("someone/tiny-gpt2", ModelResolver.repoId("someone/tiny-gpt2"));
        assertThrows(CheckpointException.class, () -> ModelResolver.repoId("./no/such/dir"));
    }
}
