package ioi.lens.hub;

import ioi.lens.CheckpointException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the directory that holds a model's checkpoint files. In order: an existing local directory;
 * else the Hugging Face cache in exactly the layout of Python's {@code huggingface_hub}
 * ({@code models--org--name/refs/main}, {@code snapshots/{sha}/{file}} symlinked to
 * {@code blobs/{etag}}), so caches are shared both ways; else a download from the Hub into that
 * cache. Aliases {@code gpt2} and {@code gpt2-small} mean {@value #GPT2_REPO}.
 *
 * <p>Downloads within one JVM are serialized, and across JVMs guarded by a file lock in
 * {@code .locks/} (which Python's lock does not see).
 */
public final class ModelResolver {
    private static final Logger LOG = LoggerFactory.getLogger(ModelResolver.class);

    public static final String GPT2_REPO = "openai-community/gpt2";
    /** The files a Hugging Face GPT-2 checkpoint directory holds. */
    public static final List<String> GPT2_FILES = List.of("config.json", "model.safetensors", "tokenizer.json");

    private static final Map<String, String> ALIASES = Map.of("gpt2", GPT2_REPO, "gpt2-small", GPT2_REPO);
    /** Cache folders of repos from before they moved under an organization. */
    private static final Map<String, String> LEGACY_FOLDERS = Map.of(GPT2_REPO, "models--gpt2");
    private static final Pattern REPO_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*");
    private static final Pattern COMMIT = Pattern.compile("[0-9A-Za-z]+");
    private static final Object DOWNLOAD_LOCK = new Object();

    private ModelResolver() {}

    /** {@link #resolve(String, List, DownloadProgress, HubConfig)} with the default progress reporter and environment. */
    public static Path resolve(String nameOrPath, List<String> files) {
        return resolve(nameOrPath, files, DownloadProgress.defaultReporter());
    }

    /** {@link #resolve(String, List, DownloadProgress, HubConfig)} configured by the environment ({@link HubConfig#fromEnvironment()}). */
    public static Path resolve(String nameOrPath, List<String> files, DownloadProgress progress) {
        return resolve(nameOrPath, files, progress, HubConfig.fromEnvironment());
    }

    /**
     * Returns a local directory containing all {@code files}.
     *
     * @param nameOrPath a local directory, an alias ({@code gpt2}, {@code gpt2-small}) or a repo id {@code org/name}
     * @param files file names relative to the checkpoint directory, e.g. {@link #GPT2_FILES}
     * @throws CheckpointException if a file is missing locally and cannot be downloaded, or a download fails
     */
    public static Path resolve(String nameOrPath, List<String> files, DownloadProgress progress, HubConfig config) {
        Objects.requireNonNull(nameOrPath, "nameOrPath");
        Objects.requireNonNull(progress, "progress");
        Objects.requireNonNull(config, "config");
        checkFileNames(files);
        Path local = localDirectory(nameOrPath);
        if (local != null) {
            List<String> missing = missing(local, files);
            if (!missing.isEmpty()) {
                throw new CheckpointException("Directory " + local + " has no " + String.join(", ", missing)
                        + " (expected " + String.join(", ", files) + "; found " + listing(local) + "). A Hugging Face"
                        + " GPT-2 directory must hold config.json, model.safetensors and tokenizer.json, e.g. as written by"
                        + " save_pretrained() or by `" + hfDownload(GPT2_REPO, GPT2_FILES) + " --local-dir " + local + "`.");
            }
            return local;
        }
        String repo = repoId(nameOrPath);
        Path cache = config.cacheDir().toAbsolutePath().normalize();
        List<Path> folders = cacheFolders(cache, repo);
        for (Path folder : folders) {
            Path snapshot = mainSnapshot(folder);
            if (snapshot != null && missing(snapshot, files).isEmpty()) {
                LOG.debug("Using cached {} at {}", repo, snapshot);
                return snapshot;
            }
        }
        Path folder = folders.get(0);
        Path current = mainSnapshot(folder);
        List<String> missing = current == null ? files : missing(current, files);
        if (config.offline()) {
            throw notCached(nameOrPath, repo, files, missing, cache, folders, true, "offline mode is on (HF_HUB_OFFLINE)", null);
        }
        HubDownloader hub;
        try {
            hub = new HubDownloader(config);
        } catch (CheckpointException e) {
            throw notCached(nameOrPath, repo, files, missing, cache, folders, false, e.getMessage(), e);
        }
        List<HubDownloader.Metadata> metas = new ArrayList<>();
        try {
            for (String file : files) {
                metas.add(hub.head(repo, file));
            }
        } catch (IOException e) {
            String described = HubDownloader.describe(e);
            String refused = described.contains("authentication attempts")
                    ? "; the proxy refused the user and password written in the proxy variable" : "";
            throw notCached(nameOrPath, repo, files, missing, cache, folders, false,
                    "the Hub at " + config.endpoint() + " could not be reached " + hub.route() + " (" + described
                    + refused + "; a proxy is read from HTTPS_PROXY and NO_PROXY)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException("Interrupted while asking " + config.endpoint() + " about " + repo, e);
        }
        try {
            return download(repo, files, metas, cache, folder, hub, progress);
        } catch (IOException e) {
            throw new CheckpointException("Could not write " + repo + " into the Hugging Face cache " + cache + ": " + e
                    + ". Check that the directory is writable and has space, or set HF_HUB_CACHE to another directory.", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException("Interrupted while downloading " + repo + "; run again to resume", e);
        }
    }

    /**
     * Maps an alias or repo id to a repo id: {@code gpt2}, {@code gpt2-small} to {@value #GPT2_REPO};
     * {@code org/name} as is.
     *
     * @throws CheckpointException for anything else
     */
    public static String repoId(String name) {
        String alias = ALIASES.get(name.strip().toLowerCase(Locale.ROOT));
        if (alias != null) {
            return alias;
        }
        if (REPO_ID.matcher(name).matches() && !name.contains("--") && !name.contains("..")) {
            return name;
        }
        String known = ALIASES.keySet().stream().sorted().collect(Collectors.joining(", "));
        if (name.contains("/") || name.contains("\\") || name.startsWith(".") || name.startsWith("~")) {
            throw new CheckpointException("'" + name + "' is neither an existing directory nor a Hugging Face repo id of the"
                    + " form org/name. Pass the path of a directory holding config.json, model.safetensors and"
                    + " tokenizer.json, a repo id such as " + GPT2_REPO + ", or one of the aliases " + known + ".");
        }
        throw new CheckpointException("Unknown model name '" + name + "'. Known aliases: " + known + " (both mean "
                + GPT2_REPO + "). Otherwise pass a local directory holding config.json, model.safetensors and"
                + " tokenizer.json, or a Hugging Face repo id of the form org/name.");
    }

    /** HEADs told us the commit and etags; link what is cached, download the rest, then point refs/main at it. */
    private static Path download(String repo, List<String> files, List<HubDownloader.Metadata> metas, Path cache,
            Path folder, HubDownloader hub, DownloadProgress progress) throws IOException, InterruptedException {
        String commit = metas.get(0).commit();
        for (int i = 1; i < metas.size(); i++) {
            if (!metas.get(i).commit().equals(commit)) {
                throw new CheckpointException("The Hub reported commit " + commit + " for " + files.get(0) + " but "
                        + metas.get(i).commit() + " for " + files.get(i) + ": " + repo + " changed meanwhile; run again.");
            }
        }
        if (!COMMIT.matcher(commit).matches()) {
            throw new CheckpointException("The Hub reported an invalid commit '" + commit + "' for " + repo);
        }
        Path snapshot = folder.resolve("snapshots").resolve(commit);
        Path blobs = folder.resolve("blobs");
        for (int i = 0; i < files.size(); i++) {
            String file = files.get(i);
            HubDownloader.Metadata meta = metas.get(i);
            Path pointer = snapshot.resolve(file);
            if (Files.isRegularFile(pointer)) {
                continue;
            }
            Path blob = blobs.resolve(meta.etag());
            if (!Files.isRegularFile(blob)) {
                synchronized (DOWNLOAD_LOCK) {
                    Path lockFile = cache.resolve(".locks").resolve(folder.getFileName()).resolve(meta.etag() + ".lock");
                    Files.createDirectories(lockFile.getParent());
                    try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                            FileLock ignored = channel.lock()) {
                        if (!Files.isRegularFile(blob)) {
                            LOG.debug("Downloading {} to {}", meta.url(), blob);
                            blob = hub.download(meta, file, blobs, progress);
                        }
                    }
                }
            }
            link(pointer, blob);
        }
        Path ref = folder.resolve("refs").resolve("main");
        Files.createDirectories(ref.getParent());
        Path tmp = Files.createTempFile(ref.getParent(), "main", ".tmp");
        Files.writeString(tmp, commit);
        Files.move(tmp, ref, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return snapshot;
    }

    /** A relative symlink {@code snapshots/{sha}/{file} -> ../../blobs/{etag}}, or a copy where symlinks fail. */
    private static void link(Path pointer, Path blob) throws IOException {
        Files.createDirectories(pointer.getParent());
        Files.deleteIfExists(pointer);
        try {
            Files.createSymbolicLink(pointer, pointer.getParent().relativize(blob));
        } catch (IOException | UnsupportedOperationException e) {
            LOG.debug("Symlink {} failed ({}); copying the blob instead", pointer, e.toString());
            Files.copy(blob, pointer, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * What to do when files are neither cached nor downloadable: run online once; fill the cache with
     * Python's current CLI ({@code hf download}, from {@code pip install huggingface_hub}; the older
     * {@code huggingface-cli} is gone from recent releases); or point the notebooks ({@code IOI_MODEL})
     * or {@code ./ioi} ({@code --model DIR}) at a directory holding the files.
     */
    private static CheckpointException notCached(String name, String repo, List<String> files, List<String> missing,
            Path cache, List<Path> folders, boolean offline, String reason, Exception cause) {
        String looked = folders.stream().map(f -> f.getFileName().toString()).collect(Collectors.joining(" and "));
        String message = "Missing " + String.join(", ", missing) + " of " + repo + " in the Hugging Face cache " + cache
                + " (looked in " + looked + " via refs/main), and " + reason + ". To provide them: (1) run once with"
                + " network access" + (offline ? " and HF_HUB_OFFLINE unset" : "") + " to download them into that"
                + " cache (behind a proxy set HTTPS_PROXY=http://host:port); (2) on a machine with network, fill the cache"
                + " with Python's huggingface_hub: `" + hfDownload(repo, files) + "` (then copy ~/.cache/huggingface/hub"
                + " here, or set HF_HUB_CACHE to that cache); or (3) copy a directory holding " + String.join(", ", files)
                + " (e.g. from `" + hfDownload(repo, files) + " --local-dir DIR`) to this machine and load it instead of '"
                + name + "': IOI_MODEL=DIR for the notebooks, --model DIR for ./ioi, fromPretrained(\"DIR\") in code.";
        return new CheckpointException(message, cause);
    }

    /** The command of huggingface_hub's current CLI that downloads {@code files} of {@code repo}. */
    static String hfDownload(String repo, List<String> files) {
        return "hf download " + repo + " " + String.join(" ", files);
    }

    private static List<Path> cacheFolders(Path cache, String repo) {
        List<Path> folders = new ArrayList<>();
        folders.add(cache.resolve("models--" + repo.replace("/", "--")));
        String legacy = LEGACY_FOLDERS.get(repo);
        if (legacy != null) {
            folders.add(cache.resolve(legacy));
        }
        return folders;
    }

    /** {@code snapshots/{contents of refs/main}}, or null if there is no usable ref. */
    private static Path mainSnapshot(Path folder) {
        Path ref = folder.resolve("refs").resolve("main");
        try {
            String sha = Files.isRegularFile(ref) ? Files.readString(ref).strip() : "";
            return COMMIT.matcher(sha).matches() ? folder.resolve("snapshots").resolve(sha) : null;
        } catch (IOException e) {
            LOG.warn("Cannot read {}: {}", ref, e.toString());
            return null;
        }
    }

    private static List<String> missing(Path dir, List<String> files) {
        return files.stream().filter(f -> !Files.isRegularFile(dir.resolve(f))).toList();
    }

    /** The path as a directory, or null if it is not one (a model name then). */
    private static Path localDirectory(String nameOrPath) {
        String p = nameOrPath.startsWith("~/") ? System.getProperty("user.home") + nameOrPath.substring(1) : nameOrPath;
        Path path;
        try {
            path = Path.of(p);
        } catch (InvalidPathException e) {
            return null;
        }
        if (Files.isDirectory(path)) {
            return path.toAbsolutePath().normalize();
        }
        if (Files.exists(path)) {
            throw new CheckpointException(path.toAbsolutePath() + " is a file, but a checkpoint directory was expected:"
                    + " pass the directory that holds config.json, model.safetensors and tokenizer.json.");
        }
        return null;
    }

    private static String listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(f -> f.getFileName().toString()).sorted().toList();
            if (names.isEmpty()) {
                return "an empty directory";
            }
            return names.size() <= 20 ? String.join(", ", names) : String.join(", ", names.subList(0, 20)) + ", ...";
        } catch (IOException e) {
            return "an unreadable directory (" + e + ")";
        }
    }

    private static void checkFileNames(List<String> files) {
        if (files == null || files.isEmpty()) {
            throw new IllegalArgumentException("files must name at least one file, e.g. ModelResolver.GPT2_FILES");
        }
        for (String f : files) {
            if (f == null || f.isBlank() || f.startsWith("/") || f.contains("\\") || List.of(f.split("/")).contains("..")) {
                throw new IllegalArgumentException("file names must be relative paths inside the checkpoint, got '" + f + "'");
            }
        }
    }
}
