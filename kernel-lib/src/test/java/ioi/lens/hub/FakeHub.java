package ioi.lens.hub;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;

/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1 for tests. Serves
 * {@code /{org}/{name}/resolve/main/{file}} with the headers {@code huggingface_hub} reads:
 * {@code X-Repo-Commit}, a quoted {@code ETag} (git blob SHA-1) and {@code Content-Length} for
 * regular files; for LFS files a 302 to {@code /cdn/{sha256}} on this server carrying
 * {@code X-Linked-Etag} (quoted SHA-256) and {@code X-Linked-Size}, like the real Hub's redirect to its
 * CDN. Content supports {@code Range: bytes=N-}. Every request is recorded, and faults can be injected:
 * cut the next GETs after some bytes, stall them (stop sending, connection kept open), ignore Range
 * headers, or claim a wrong SHA-256. Optionally served over TLS ({@link #startTls}).
 */
public final class FakeHub implements AutoCloseable {
    /** One request as the server saw it; {@code range}, {@code authorization} and {@code proxyAuthorization} are null if absent. */
    public record Request(String method, String path, String range, String authorization, String proxyAuthorization) {}

    private record Entry(byte[] content, String etag, boolean lfs, String cdnKey) {}

    private static final String RESOLVE = "/resolve/main/";
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

    private final HttpServer server;
    private final ExecutorService executor;
    private final Map<String, Entry> files = new ConcurrentHashMap<>();
    private final Map<String, byte[]> cdn = new ConcurrentHashMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger cutsLeft = new AtomicInteger();
    private volatile long cutAfter;
    private final AtomicInteger stallsLeft = new AtomicInteger();
    private volatile long stallAfter;
    private volatile long stallMillis;
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile boolean ignoreRange;

    private FakeHub(SSLContext tls) throws IOException {
        InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        if (tls == null) {
            server = HttpServer.create(loopback, 0);
        } else {
            HttpsServer https = HttpsServer.create(loopback, 0);
            https.setHttpsConfigurator(new HttpsConfigurator(tls));
            server = https;
        }
        executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "fake-hub");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    /** Starts a server on a free loopback port. */
    public static FakeHub start() throws IOException {
        return new FakeHub(null);
    }

    /** Starts a server speaking HTTPS with the key of {@code tls} ({@link TestTls}). */
    public static FakeHub startTls(SSLContext tls) throws IOException {
        return new FakeHub(tls);
    }

    /** {@code http://127.0.0.1:{port}} (or {@code https://}), to use as {@link HubConfig#endpoint()}. */
    public String endpoint() {
        return (server instanceof HttpsServer ? "https://" : "http://")
                + server.getAddress().getAddress().getHostAddress() + ":" + server.getAddress().getPort();
    }

    /** The port the server listens on. */
    public int port() {
        return server.getAddress().getPort();
    }

    /** The commit every file of {@code repo} reports: a fixed 40-hex string derived from the repo id. */
    public String commit(String repo) {
        return gitBlobSha1(("commit of " + repo).getBytes(StandardCharsets.UTF_8));
    }

    /** Serves a regular (non-LFS) file: 200 with {@code ETag} = git blob SHA-1. */
    public FakeHub addRegular(String repo, String file, byte[] content) {
        files.put(repo + "/" + file, new Entry(content, gitBlobSha1(content), false, null));
        return this;
    }

    /** Serves an LFS file whose {@code X-Linked-Etag} is its true SHA-256. */
    public FakeHub addLfs(String repo, String file, byte[] content) {
        return addLfs(repo, file, content, sha256(content));
    }

    /** Serves an LFS file announcing {@code claimedSha256} (which may be wrong, to test verification). */
    public FakeHub addLfs(String repo, String file, byte[] content, String claimedSha256) {
        String key = sha256(content);
        cdn.put(key, content);
        files.put(repo + "/" + file, new Entry(content, claimedSha256, true, key));
        return this;
    }

    /**
     * Serves every regular file under {@code dir} (relative paths with '/'); weights
     * ({@code .safetensors .bin .pt .pth .h5 .msgpack .onnx .ckpt}) as LFS, the rest as regular files.
     */
    public FakeHub addDirectory(String repo, Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                String name = dir.relativize(p).toString().replace('\\', '/');
                byte[] content = Files.readAllBytes(p);
                if (name.matches(".*\\.(safetensors|bin|pt|pth|h5|msgpack|onnx|ckpt)")) {
                    addLfs(repo, name, content);
                } else {
                    addRegular(repo, name, content);
                }
            }
        }
        return this;
    }

    /** The next {@code times} GETs that carry content close the connection after {@code afterBytes} bytes. */
    public void cutNextGets(int times, long afterBytes) {
        cutAfter = afterBytes;
        cutsLeft.set(times);
    }

    /**
     * The next {@code times} GETs that carry content send {@code afterBytes} bytes, then nothing for
     * {@code millis} with the connection open (the stalled read of a flaky network), then drop it.
     */
    public void stallNextGets(int times, long afterBytes, long millis) {
        stallAfter = afterBytes;
        stallMillis = millis;
        stallsLeft.set(times);
    }

    /** When true, Range headers are ignored and content is sent whole with 200. */
    public void ignoreRange(boolean ignore) {
        ignoreRange = ignore;
    }

    /** All requests so far, in arrival order. */
    public List<Request> requests() {
        return List.copyOf(requests);
    }

    /** GET requests whose path starts with {@code prefix}. */
    public List<Request> gets(String prefix) {
        return requests.stream().filter(r -> r.method().equals("GET") && r.path().startsWith(prefix)).toList();
    }

    @Override
    public void close() {
        closed.countDown(); // ends stalls in progress
        server.stop(0);
        executor.shutdownNow();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            Headers in = ex.getRequestHeaders();
            requests.add(new Request(ex.getRequestMethod(), path, in.getFirst("Range"), in.getFirst("Authorization"),
                    in.getFirst("Proxy-Authorization")));
            if (path.startsWith("/cdn/")) {
                byte[] content = cdn.get(path.substring("/cdn/".length()));
                if (content == null) {
                    ex.sendResponseHeaders(404, -1);
                } else {
                    serve(ex, content);
                }
                return;
            }
            int at = path.indexOf(RESOLVE);
            String repo = at < 0 ? "" : path.substring(1, at);
            Entry e = at < 0 ? null : files.get(repo + "/" + path.substring(at + RESOLVE.length()));
            Headers out = ex.getResponseHeaders();
            if (e == null) {
                out.set("X-Error-Code", "EntryNotFound");
                out.set("X-Error-Message", "Entry not found");
                ex.sendResponseHeaders(404, -1);
                return;
            }
            out.set("X-Repo-Commit", commit(repo));
            if (e.lfs()) {
                String pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + e.etag() + "\nsize "
                        + e.content().length + "\n";
                out.set("ETag", "\"" + gitBlobSha1(pointer.getBytes(StandardCharsets.UTF_8)) + "\"");
                out.set("X-Linked-Etag", "\"" + e.etag() + "\"");
                out.set("X-Linked-Size", String.valueOf(e.content().length));
                out.set("Location", endpoint() + "/cdn/" + e.cdnKey());
                ex.sendResponseHeaders(302, -1);
            } else {
                out.set("ETag", "\"" + e.etag() + "\"");
                serve(ex, e.content());
            }
        } catch (IOException expected) {
            // a deliberately cut connection, or the client went away
        }
    }

    private void serve(HttpExchange ex, byte[] content) throws IOException {
        Headers out = ex.getResponseHeaders();
        out.set("Accept-Ranges", "bytes");
        int from = 0;
        int status = 200;
        String range = ex.getRequestHeaders().getFirst("Range");
        Matcher m = range == null || ignoreRange ? null : RANGE.matcher(range);
        if (m != null && m.matches()) {
            from = (int) Math.min(Long.parseLong(m.group(1)), Integer.MAX_VALUE);
            if (from >= content.length) {
                out.set("Content-Range", "bytes */" + content.length);
                ex.sendResponseHeaders(416, -1);
                return;
            }
            status = 206;
            out.set("Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
        }
        int length = content.length - from;
        if (ex.getRequestMethod().equals("HEAD")) {
            out.set("Content-Length", String.valueOf(length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, length == 0 ? -1 : length);
        OutputStream body = ex.getResponseBody();
        if (stallsLeft.getAndUpdate(c -> Math.max(0, c - 1)) > 0) {
            body.write(content, from, (int) Math.min(stallAfter, length));
            body.flush();
            try {
                closed.await(stallMillis, TimeUnit.MILLISECONDS); // silent, connection open
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("stalled on purpose"); // then drop the connection
        }
        if (cutsLeft.getAndUpdate(c -> Math.max(0, c - 1)) > 0) {
            body.write(content, from, (int) Math.min(cutAfter, length));
            body.flush();
            try {
                Thread.sleep(300); // let the client consume what was sent before the connection drops
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("cut on purpose"); // closing the exchange short of Content-Length drops the connection
        }
        body.write(content, from, length);
    }

    /** Lowercase hex SHA-256. */
    public static String sha256(byte[] data) {
        return hex("SHA-256", data);
    }

    /** The git blob id: SHA-1 of {@code "blob {size}\0"} followed by the content (the Hub's ETag of regular files). */
    public static String gitBlobSha1(byte[] data) {
        byte[] header = ("blob " + data.length + "\0").getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[header.length + data.length];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(data, 0, all, header.length, data.length);
        return hex("SHA-1", all);
    }

    private static String hex(String algorithm, byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
