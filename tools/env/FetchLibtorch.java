import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.util.Utils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Run by tools/env/fetch-cuda-libtorch.sh (java -cp ... FetchLibtorch.java, without the bundled CPU
 * libtorch on the classpath): starting DJL's PyTorch engine makes DJL download libtorch of the flavor
 * PYTORCH_FLAVOR names into its cache. Creating an array proves that it loads; without a GPU driver (a
 * Docker build) loading may fail after the download, which is fine. Prints the libtorch directory last.
 */
public class FetchLibtorch {
    public static void main(String[] args) throws Exception {
        String flavor = System.getenv().getOrDefault("PYTORCH_FLAVOR", "cu128");
        Throwable failure = null;
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.create(new float[] {1, 2, 3});
            System.err.println("fetch: " + Engine.getInstance().getEngineName() + " "
                    + Engine.getInstance().getVersion() + " works: sum " + x.sum().getFloat()
                    + ", GPUs " + Engine.getInstance().getGpuCount());
        } catch (Throwable t) {
            failure = t;
            System.err.println("fetch: libtorch did not load here (" + t + "); the download is what counts");
        }
        Path cache = Utils.getEngineCacheDir("pytorch");
        Path dir = null;
        if (Files.isDirectory(cache)) {
            try (Stream<Path> dirs = Files.list(cache)) {
                dir = dirs.filter(d -> d.getFileName().toString().contains("-" + flavor + "-"))
                        .filter(d -> Files.isRegularFile(d.resolve("libtorch.so")))
                        .findFirst().orElse(null);
            }
        }
        if (dir == null) {
            System.err.println("fetch: no " + flavor + " libtorch in " + cache
                    + (failure == null ? "" : " (" + failure + (failure.getCause() == null ? "" : ": " + failure.getCause()) + ")"));
            System.exit(1);
        }
        System.out.println(dir.toAbsolutePath());
    }
}
