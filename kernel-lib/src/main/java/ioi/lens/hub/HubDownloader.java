package ioi.lens.hub;

import ioi.lens.CheckpointException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP side of the Hugging Face Hub, as {@code huggingface_hub} does it: a HEAD request that does
 * not follow absolute redirects reads the file's commit, etag and size; a GET that follows redirects
 * (to the CDN for LFS files, without the token when the host changes) streams into
 * {@code blobs/{etag}.incomplete}, resuming with a {@code Range} header and retrying cut
 * connections and reads that stall ({@link HubConfig#stallTimeout()}); LFS files are then checked
 * against their SHA-256 and moved into place atomically. Requests go through the proxies of
 * {@link HubConfig#proxies()}.
 */
final class HubDownloader {
    private static final Logger LOG = LoggerFactory.getLogger(HubDownloader.class);
    private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");
    private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
    /** Failed attempts in a row, without a byte received in between, before a download gives up. */
    private static final int ATTEMPTS = 5;
    private static final long RETRY_DELAY_MS = 300;
    private static final int MAX_REDIRECTS = 10;

    /**
     * What a HEAD request said about one file.
     *
     * @param etag blob name: the SHA-256 for LFS files, the git blob SHA-1 otherwise
     * @param size bytes, or -1 if unknown
     * @param lfs whether {@code X-Linked-Etag} was present
     */
    record Metadata(URI url, String commit, String etag, long size, boolean lfs) {}

    private final HubConfig config;
    private final URI endpoint;
    private final HttpClient client;

    /** @throws CheckpointException when the proxy variable for the endpoint's scheme cannot be used */
    HubDownloader(HubConfig config) {
        this.config = config;
        this.endpoint = URI.create(config.endpoint() + "/");
        String problem = config.proxies().problem(endpoint);
        if (problem != null) {
            throw new CheckpointException("Cannot download from " + config.endpoint() + ": " + problem + ".");
        }
        HttpClient.Builder builder = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(10))
                .proxy(config.proxies());
        if (config.proxies().hasCredentials()) {
            // without credentials there is no Authenticator, so a 407 reaches httpError() and says what to set
            builder.authenticator(config.proxies().authenticator());
        }
        this.client = builder.build();
    }

    /** How requests to the endpoint go, for messages: through which proxy, or directly. */
    String route() {
        return config.proxies().route(endpoint);
    }

    /** {@code {endpoint}/{repo}/resolve/main/{file}} with each path segment URL-encoded. */
    URI fileUrl(String repo, String file) {
        StringBuilder path = new StringBuilder(config.endpoint()).append('/').append(repo).append("/resolve/main");
        for (String segment : file.split("/")) {
            path.append('/').append(URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return URI.create(path.toString());
    }

    /**
     * Reads commit, etag and size of {@code file}. Follows only relative redirects (a renamed repo);
     * a 3xx to another host carrying the headers is the normal answer for LFS files.
     *
     * @throws IOException when the Hub cannot be reached
     * @throws CheckpointException for HTTP errors or missing metadata headers
     */
    Metadata head(String repo, String file) throws IOException, InterruptedException {
        URI url = fileUrl(repo, file);
        URI uri = url;
        HttpResponse<Void> rsp;
        for (int hop = 0; ; hop++) {
            rsp = client.send(request(uri).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.discarding());
            Optional<String> location = rsp.headers().firstValue("Location");
            if (rsp.statusCode() / 100 != 3 || location.isEmpty() || hop == MAX_REDIRECTS
                    || URI.create(location.get()).getHost() != null) {
                break;
            }
            uri = uri.resolve(location.get());
        }
        int status = rsp.statusCode();
        if (status >= 400) {
            throw httpError(url, status, rsp.headers());
        }
        HttpHeaders h = rsp.headers();
        String commit = h.firstValue("X-Repo-Commit").orElse(null);
        String linked = h.firstValue("X-Linked-Etag").orElse(null);
        String etag = normalizeEtag(linked != null ? linked : h.firstValue("ETag").orElse(null));
        long size = h.firstValueAsLong("X-Linked-Size").orElse(h.firstValueAsLong("Content-Length").orElse(-1));
        if (commit == null || etag == null || !SAFE_NAME.matcher(commit).matches() || !SAFE_NAME.matcher(etag).matches()) {
            throw new CheckpointException("HEAD " + url + " answered HTTP " + status + " without usable X-Repo-Commit and"
                    + " ETag headers (found commit=" + commit + ", etag=" + etag + "); expected a Hugging Face Hub."
                    + " Check HF_ENDPOINT (now " + config.endpoint() + ") and any proxy in between.");
        }
        return new Metadata(url, commit, etag, size, linked != null);
    }

    /**
     * Downloads the file described by {@code meta} into {@code blobs/{etag}} (resuming a
     * {@code .incomplete} left by an earlier run), verifying LFS files against their SHA-256.
     *
     * @return the finished blob
     */
    Path download(Metadata meta, String file, Path blobs, DownloadProgress progress)
            throws IOException, InterruptedException {
        Files.createDirectories(blobs);
        Path blob = blobs.resolve(meta.etag());
        Path part = blobs.resolve(meta.etag() + ".incomplete");
        long before = Files.exists(part) ? Files.size(part) : 0;
        for (int attempt = 1; ; attempt++) {
            try {
                transfer(meta, file, part, progress);
                break;
            } catch (IOException e) {
                long kept = Files.exists(part) ? Files.size(part) : 0;
                if (kept > before) {
                    attempt = 1; // this attempt got bytes: only failures in a row without progress count
                }
                before = kept;
                if (attempt == ATTEMPTS) {
                    throw new CheckpointException("Download of " + file + " from " + meta.url() + " failed " + ATTEMPTS
                            + " times in a row without progress, last with " + describe(e) + ". " + kept + " bytes are kept in "
                            + part + "; run again to resume from there (requests go " + route() + ").", e);
                }
                LOG.warn("Download of {} interrupted at {} bytes ({}); resuming, attempt {}/{}", file, kept, describe(e),
                        attempt + 1, ATTEMPTS);
                progress.retry(file, kept, describe(e));
                Thread.sleep(RETRY_DELAY_MS * attempt);
            }
        }
        verify(meta, file, part);
        try {
            Files.move(part, blob, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(part, blob, StandardCopyOption.REPLACE_EXISTING);
        }
        progress.done(file);
        return blob;
    }

    /** One GET attempt appending to {@code part}; throws IOException for anything worth retrying. */
    private void transfer(Metadata meta, String file, Path part, DownloadProgress progress)
            throws IOException, InterruptedException {
        long have = Files.exists(part) ? Files.size(part) : 0;
        if (meta.size() >= 0 && have > meta.size()) {
            Files.delete(part);
            have = 0;
        }
        if (meta.size() >= 0 && have == meta.size()) {
            return; // finished by an earlier run; verify() decides if it is good
        }
        HttpResponse<Flow.Publisher<List<ByteBuffer>>> rsp = get(meta.url(), have);
        try (StallGuard in = new StallGuard(rsp.body(), config.stallTimeout())) {
            int status = rsp.statusCode();
            boolean resumed = have > 0 && status == 206
                    && rsp.headers().firstValue("Content-Range").orElse("").startsWith("bytes " + have + "-");
            if (status == 200) {
                have = 0; // the server ignored the Range header: start over
            } else if (!resumed) {
                if (status == 206 || status == 416) {
                    Files.deleteIfExists(part);
                    throw new IOException("server answered HTTP " + status + " to Range bytes=" + have + "-; starting over");
                }
                if (status >= 500 || status == 408 || status == 429) {
                    throw new IOException("HTTP " + status + " from " + rsp.uri());
                }
                throw httpError(meta.url(), status, rsp.headers());
            }
            progress.start(file, meta.size(), have);
            try (FileChannel out = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    have > 0 ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                long got = have;
                for (List<ByteBuffer> chunk; (chunk = in.next(got)) != null; ) {
                    for (ByteBuffer b : chunk) {
                        int n = b.remaining();
                        while (b.hasRemaining()) {
                            out.write(b);
                        }
                        got += n;
                        progress.advance(n);
                    }
                }
            }
        }
        long got = Files.size(part);
        if (meta.size() >= 0 && got < meta.size()) {
            throw new IOException("connection ended after " + got + " of " + meta.size() + " bytes");
        }
    }

    /**
     * GET following redirects by hand, so the token is only sent to the Hub's own host. The body is a
     * publisher, read by {@link StallGuard}, so a read can time out (an {@code InputStream} body
     * blocks forever when the connection stalls).
     */
    private HttpResponse<Flow.Publisher<List<ByteBuffer>>> get(URI url, long from) throws IOException, InterruptedException {
        URI uri = url;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpRequest.Builder b = request(uri).GET();
            if (from > 0) {
                b.header("Range", "bytes=" + from + "-");
            }
            HttpResponse<Flow.Publisher<List<ByteBuffer>>> rsp = client.send(b.build(), HttpResponse.BodyHandlers.ofPublisher());
            Optional<String> location = rsp.headers().firstValue("Location");
            if (rsp.statusCode() / 100 != 3 || location.isEmpty()) {
                return rsp;
            }
            new StallGuard(rsp.body(), config.stallTimeout()).close();
            uri = uri.resolve(location.get());
        }
        throw new IOException("more than " + MAX_REDIRECTS + " redirects from " + url);
    }

    /**
     * A request with our headers: the token for the Hub's own host only (proxy credentials go through
     * the client's Authenticator, the only way Java's HttpClient puts them on a {@code CONNECT}). The
     * timeout bounds the wait for the answer's headers; the body's reads are bounded by {@link StallGuard}.
     */
    private HttpRequest.Builder request(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri)
                .timeout(config.stallTimeout())
                .header("User-Agent", "ioi-lens/0.1; java/" + Runtime.version().feature())
                .header("Accept-Encoding", "identity");
        if (config.token() != null && Objects.equals(uri.getHost(), endpoint.getHost()) && uri.getPort() == endpoint.getPort()) {
            b.header("Authorization", "Bearer " + config.token());
        }
        return b;
    }

    /**
     * Reads a response body chunk by chunk, failing with {@link StallException} when no chunk arrives
     * within {@code stall}; closing (or a stall) cancels the subscription, which makes HttpClient drop
     * the connection. One chunk is requested at a time, so the body never piles up in memory.
     */
    static final class StallGuard implements Flow.Subscriber<List<ByteBuffer>>, AutoCloseable {
        private static final Object END = new Object();
        private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        private final CompletableFuture<Flow.Subscription> subscription = new CompletableFuture<>();
        private final Duration stall;
        private boolean finished;

        StallGuard(Flow.Publisher<List<ByteBuffer>> body, Duration stall) {
            this.stall = stall;
            body.subscribe(this);
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            if (!subscription.complete(s)) {
                s.cancel();
                return;
            }
            s.request(1);
        }

        @Override
        public void onNext(List<ByteBuffer> item) {
            queue.add(item);
        }

        @Override
        public void onError(Throwable t) {
            queue.add(t);
        }

        @Override
        public void onComplete() {
            queue.add(END);
        }

        /**
         * The next chunk, or null at the end of the body.
         *
         * @param position bytes of the file received so far, for the message
         * @throws StallException when nothing arrived for the stall timeout
         */
        List<ByteBuffer> next(long position) throws IOException, InterruptedException {
            if (finished) {
                return null;
            }
            Object o = queue.poll(stall.toMillis(), TimeUnit.MILLISECONDS);
            if (o == null) {
                close();
                throw new StallException("no data for " + seconds(stall) + " s at byte " + position
                        + " (IOI_DOWNLOAD_STALL_SECONDS=" + seconds(stall) + ")");
            }
            if (o == END) {
                finished = true;
                return null;
            }
            if (o instanceof Throwable t) {
                finished = true;
                throw t instanceof IOException io ? io : new IOException(t);
            }
            subscription.join().request(1);
            @SuppressWarnings("unchecked")
            List<ByteBuffer> chunk = (List<ByteBuffer>) o;
            return chunk;
        }

        /** Cancels the body unless it was read to the end (then the connection can be reused). */
        @Override
        public void close() {
            if (!finished) {
                finished = true;
                if (!subscription.complete(null)) {
                    Flow.Subscription s = subscription.getNow(null);
                    if (s != null) {
                        s.cancel();
                    }
                }
            }
        }

        private static String seconds(Duration d) {
            long ms = d.toMillis();
            return ms % 1000 == 0 ? String.valueOf(ms / 1000) : String.valueOf(ms / 1000.0);
        }
    }

    /** A response body that stopped sending: retried with {@code Range} like a cut connection. */
    static final class StallException extends IOException {
        StallException(String message) {
            super(message);
        }
    }

    private static void verify(Metadata meta, String file, Path part) throws IOException {
        long size = Files.size(part);
        if (meta.size() >= 0 && size != meta.size()) {
            Files.deleteIfExists(part);
            throw new CheckpointException("Downloaded " + file + " from " + meta.url() + " has " + size
                    + " bytes, expected " + meta.size() + "; the partial file was deleted, run again.");
        }
        if (meta.lfs() && SHA256.matcher(meta.etag()).matches()) {
            String actual = sha256(part);
            if (!actual.equalsIgnoreCase(meta.etag())) {
                Files.deleteIfExists(part);
                throw new CheckpointException("Downloaded " + file + " from " + meta.url() + " is corrupt: expected sha256 "
                        + meta.etag().toLowerCase(Locale.ROOT) + " (X-Linked-Etag), found sha256 " + actual + " over " + size
                        + " bytes. The download was deleted; run again, and if this repeats check HF_ENDPOINT or your proxy.");
            }
        }
    }

    /** Lowercase hex SHA-256 of a file. */
    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Strips a {@code W/} prefix and quotes, as {@code huggingface_hub} does. */
    static String normalizeEtag(String etag) {
        if (etag == null) {
            return null;
        }
        String e = etag.strip();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        e = e.replace("\"", "");
        return e.isEmpty() ? null : e;
    }

    /** The exception with its causes, e.g. {@code ConnectException caused by UnresolvedAddressException}. */
    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        String previous = null;
        for (Throwable t = e; t != null && sb.length() < 500; t = t.getCause() == t ? null : t.getCause()) {
            String name = t.getClass().getSimpleName();
            if (name.equals(previous) && t.getMessage() == null) {
                continue;
            }
            sb.append(previous == null ? "" : " caused by ").append(name);
            if (t.getMessage() != null) {
                sb.append(": ").append(t.getMessage());
            }
            previous = name;
        }
        return sb.toString();
    }

    private static CheckpointException httpError(URI url, int status, HttpHeaders headers) {
        String what = switch (status) {
            case 401 -> "authentication required: set HF_TOKEN to a token that can read this repo";
            case 403 -> "access denied: for a gated or private repo accept its terms on the Hub and set HF_TOKEN";
            case 407 -> "the proxy requires authentication: put the user and password into the proxy variable,"
                    + " HTTPS_PROXY=http://USER:PASSWORD@host:port (URL-encoded; Basic only). If they are there already,"
                    + " the proxy refused them, or this JVM made an HttpClient before reading HTTPS_PROXY and so refuses"
                    + " Basic on HTTPS tunnels: start Java with -Djdk.http.auth.tunneling.disabledSchemes=";
            case 404 -> "not found: check the repo id (org/name) and the file name";
            default -> "unexpected answer";
        };
        String detail = headers.firstValue("X-Error-Message").map(m -> " (server says: " + m + ")").orElse("");
        return new CheckpointException("HTTP " + status + " for " + url + ": " + what + detail + ".");
    }
}
