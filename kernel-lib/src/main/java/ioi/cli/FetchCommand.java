package ioi.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.GsonBuilder;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.hub.HubConfig;
import ioi.lens.hub.ModelResolver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./ioi fetch} (the Java half): puts a model's checkpoint into the Hugging Face cache if it is
 * not there yet, checks it, and proves it runs: the engine's native library loads (DJL unpacks the
 * jar's libtorch into its cache, the same step the first notebook cell would take) and one forward
 * pass gives finite logits. With {@code --check} nothing is downloaded: that is the check a prepared
 * offline laptop passes. Prints one JSON object on stdout (what {@code ./ioi kit} reads); progress
 * and errors go to stderr.
 */
@Command(name = "fetch", mixinStandardHelpOptions = true,
        description = "Download a model into the Hugging Face cache (if needed), verify its files, load it and run "
                + "one forward pass; print what was found as JSON.")
final class FetchCommand implements Callable<Integer> {

    @Option(names = "--model", defaultValue = "gpt2",
            description = "gpt2, gpt2-small, an org/name Hugging Face repo, or a local checkpoint directory (default: ${DEFAULT-VALUE})")
    String model;

    @Option(names = "--check", description = "never download: fail if the model is not complete in the cache (HF_HUB_OFFLINE=1)")
    boolean check;

    @Override
    public Integer call() throws IOException {
        HubConfig hub = HubConfig.fromEnvironment();
        if (check) {
            hub = hub.withOffline(true);
        }
        Path dir = ModelResolver.resolve(model, HookedTransformer.CHECKPOINT_FILES,
                ioi.lens.hub.DownloadProgress.defaultReporter(), hub);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("model", model);
        out.put("dir", dir.toAbsolutePath().toString());
        Path cacheRoot = hub.cacheDir().toAbsolutePath().normalize();
        boolean inCache = dir.toAbsolutePath().normalize().startsWith(cacheRoot);
        // A cached snapshot is {cache}/models--org--name/snapshots/{commit}/.
        out.put("hub_cache", inCache ? cacheRoot.toString() : null);
        out.put("repo_folder", inCache ? dir.getParent().getParent().getFileName().toString() : null);
        out.put("commit", inCache ? dir.getFileName().toString() : null);
        List<Map<String, Object>> files = new ArrayList<>();
        for (String name : HookedTransformer.CHECKPOINT_FILES) {
            Path file = dir.resolve(name);
            Map<String, Object> f = new LinkedHashMap<>();
            f.put("name", name);
            f.put("bytes", Files.size(file));
            f.put("sha256", sha256(file));
            // In the cache each snapshot file links to blobs/{etag}: for LFS files the etag is the SHA-256.
            Path real = file.toRealPath();
            f.put("blob", inCache && !real.equals(file.toAbsolutePath()) ? real.getFileName().toString() : null);
            if (inCache && real.getFileName().toString().length() == 64
                    && !real.getFileName().toString().equalsIgnoreCase((String) f.get("sha256"))) {
                throw new IllegalStateException(file + " has SHA-256 " + f.get("sha256") + " but its blob is named "
                        + real.getFileName() + " (the Hub's SHA-256): the cached file is damaged. Delete "
                        + real + " and run ./ioi fetch --model " + model + " again.");
            }
            files.add(f);
        }
        out.put("files", files);
        out.put("forward", forwardOnce(dir));
        System.out.println(new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(out));
        return 0;
    }

    /** Loads the model on the CPU and runs it on a two-token prompt: native library, weights and tokenizer all work. */
    private static Map<String, Object> forwardOnce(Path dir) {
        Map<String, Object> r = new LinkedHashMap<>();
        Engine engine = Engine.getEngine("PyTorch");
        r.put("engine", engine.getEngineName() + " " + engine.getVersion());
        try (HookedTransformer m = HookedTransformer.load(dir, ProcessingOptions.defaults(), Device.cpu());
                NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            long[] ids = m.tokenizer().encode("Hello world", true);
            NDArray logits = m.forward(manager.create(new long[][] {ids})); // [batch, pos, d_vocab]
            boolean finite = logits.isInfinite().logicalOr(logits.isNaN()).none().getBoolean();
            if (!finite) {
                throw new IllegalStateException("the model in " + dir + " gave non-finite logits on 'Hello world':"
                        + " its weights are damaged; delete it and fetch again");
            }
            r.put("tokens", ids.length);
            r.put("logits_shape", logits.getShape().getShape());
            r.put("logits_finite", true);
        }
        return r;
    }

    static String sha256(Path file) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
                in.transferTo(OutputStream.nullOutputStream());
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (IOException e) {
            throw new UncheckedIOException("could not read " + file, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }
}
