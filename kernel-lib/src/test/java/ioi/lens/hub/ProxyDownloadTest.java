package ioi.lens.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.lens.CheckpointException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Downloads through a {@link LoopbackProxy} chosen by the proxy variables: HTTPS tunnelled with
 * {@code CONNECT} (as to the real Hub) and plain HTTP forwarded, credentials from the URL sent to the
 * proxy and never to the Hub, NO_PROXY going direct, and a 407 that says what to set.
 */
class ProxyDownloadTest {
    private static final String REPO = ModelResolver.GPT2_REPO;
    private static final List<String> FILES = ModelResolver.GPT2_FILES;
    private static final byte[] CONFIG = "{\"n_layer\": 2}".getBytes(StandardCharsets.UTF_8);
    private static final byte[] TOKENIZER = "{\"model\": {\"type\": \"BPE\"}}".getBytes(StandardCharsets.UTF_8);
    private static final byte[] WEIGHTS = new byte[300_000];
    private static final String USER = "alice";
    private static final String PASSWORD = "s3cret:p@ss";
    private static final String BASIC = "Basic " + Base64.getEncoder()
            .encodeToString((USER + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    /** PASSWORD URL-encoded, as it must be written in HTTPS_PROXY. */
    private static final String ENCODED = USER + ":s3cret%3Ap%40ss";

    static {
        new Random(7).nextBytes(WEIGHTS);
    }

    @TempDir
    Path tmp;

    private static FakeHub serve(FakeHub hub) {
        return hub.addRegular(REPO, "config.json", CONFIG).addLfs(REPO, "model.safetensors", WEIGHTS)
                .addRegular(REPO, "tokenizer.json", TOKENIZER);
    }

    private HubConfig config(FakeHub hub, Map<String, String> env) {
        return new HubConfig(hub.endpoint(), tmp.resolve("cache"), false, null).withProxies(EnvProxySelector.fromEnvironment(env));
    }

    private static void assertFiles(Path dir) throws Exception {
        assertArrayEquals(CONFIG, Files.readAllBytes(dir.resolve("config.json")));
        assertArrayEquals(WEIGHTS, Files.readAllBytes(dir.resolve("model.safetensors")));
        assertArrayEquals(TOKENIZER, Files.readAllBytes(dir.resolve("tokenizer.json")));
    }

    @Test
    void httpsIsTunnelledThroughTheProxyWithItsCredentials() throws Exception {
        SSLContext tls = TestTls.create(tmp);
        SSLContext before = SSLContext.getDefault();
        SSLContext.setDefault(tls); // the downloader's HttpClient trusts the test certificate
        try (FakeHub hub = serve(FakeHub.startTls(tls)); LoopbackProxy proxy = new LoopbackProxy(BASIC)) {
            Path dir = ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE,
                    config(hub, Map.of("HTTPS_PROXY", "http://" + ENCODED + "@" + proxy.address())));
            assertFiles(dir);
            List<LoopbackProxy.Seen> seen = proxy.seen();
            assertTrue(!seen.isEmpty(), "nothing went through the proxy");
            for (LoopbackProxy.Seen s : seen) {
                assertEquals("CONNECT", s.method(), "HTTPS must be tunnelled: " + seen);
                assertEquals("127.0.0.1:" + hub.port(), s.target());
            }
            // Basic is challenge-response: the first CONNECT gets the 407, every later one carries the credentials
            assertTrue(seen.stream().skip(1).allMatch(s -> BASIC.equals(s.proxyAuthorization())) && seen.size() > 1,
                    "credentials of HTTPS_PROXY on the CONNECTs after the challenge: " + seen);
            assertTrue(hub.requests().size() >= 5, "3 HEADs and 2 content GETs at least: " + hub.requests());
            for (FakeHub.Request r : hub.requests()) {
                assertNull(r.proxyAuthorization(), "proxy credentials must not reach the Hub: " + r);
            }
            System.out.println("HTTPS via CONNECT: " + seen.size() + " tunnel(s), " + hub.requests().size() + " requests to the hub");
        } finally {
            SSLContext.setDefault(before);
        }
    }

    @Test
    void plainHttpIsForwardedWithCredentialsAndNoProxyGoesDirect() throws Exception {
        try (FakeHub hub = serve(FakeHub.start()); LoopbackProxy proxy = new LoopbackProxy(BASIC)) {
            assertFiles(ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE,
                    config(hub, Map.of("http_proxy", "http://" + ENCODED + "@" + proxy.address()))));
            List<LoopbackProxy.Seen> seen = proxy.seen();
            List<LoopbackProxy.Seen> passed = seen.stream().filter(s -> BASIC.equals(s.proxyAuthorization())).toList();
            assertEquals(hub.requests().size(), passed.size(), "every request to the hub through the proxy, with the"
                    + " credentials of http_proxy: " + seen);
            assertTrue(seen.size() - passed.size() <= 1, "only the first request may go without credentials (the 407"
                    + " challenge): " + seen);
            assertTrue(seen.stream().allMatch(s -> s.target().startsWith(hub.endpoint() + "/")), seen.toString());
            assertTrue(seen.stream().anyMatch(s -> s.target().startsWith(hub.endpoint() + "/cdn/")),
                    "the redirect to the CDN goes through the proxy too: " + seen);
        }
        try (FakeHub hub = serve(FakeHub.start()); LoopbackProxy proxy = new LoopbackProxy(BASIC)) {
            assertFiles(ModelResolver.resolve("gpt2", FILES, DownloadProgress.NONE, config(hub,
                    Map.of("http_proxy", "http://" + proxy.address(), "NO_PROXY", "example.org,127.0.0.0/8"))));
            assertEquals(List.of(), proxy.seen(), "NO_PROXY names the Hub's address: nothing may go through the proxy");
        }
    }

    @Test
    void proxyRefusingTheCredentialsSaysWhatToSet() throws Exception {
        try (FakeHub hub = serve(FakeHub.start()); LoopbackProxy proxy = new LoopbackProxy(BASIC)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ModelResolver.resolve("gpt2", FILES,
                    DownloadProgress.NONE, config(hub, Map.of("http_proxy", "http://" + proxy.address()))));
            for (String expected : List.of("407", "HTTPS_PROXY=http://USER:PASSWORD@host:port")) {
                assertTrue(e.getMessage().contains(expected), "missing '" + expected + "' in: " + e.getMessage());
            }
            assertEquals(List.of(), hub.requests(), "the proxy let nothing through");
        }
    }

    @Test
    void wrongCredentialsFailWithTheProxysAnswer() throws Exception {
        try (FakeHub hub = serve(FakeHub.start()); LoopbackProxy proxy = new LoopbackProxy(BASIC)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ModelResolver.resolve("gpt2", FILES,
                    DownloadProgress.NONE, config(hub, Map.of("http_proxy", "http://alice:wrong@" + proxy.address()))));
            assertTrue(e.getMessage().contains("through the proxy alice:***@" + proxy.address() + " (http_proxy)")
                    && e.getMessage().contains("the proxy refused the user and password"), e.getMessage());
            assertTrue(!e.getMessage().contains("wrong"), "the password must not be shown: " + e.getMessage());
            System.out.println("wrong proxy credentials: " + e.getMessage().replaceAll("\\. To provide them.*", ""));
            assertEquals(List.of(), hub.requests(), "the proxy let nothing through");
        }
    }

    @Test
    void socksProxyFailsTheDownloadNamingTheVariable() throws Exception {
        try (FakeHub hub = serve(FakeHub.start())) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ModelResolver.resolve("gpt2", FILES,
                    DownloadProgress.NONE, config(hub, Map.of("ALL_PROXY", "socks5://127.0.0.1:1080"))));
            for (String expected : List.of("ALL_PROXY='socks5://127.0.0.1:1080'", "SOCKS", "hf download", "IOI_MODEL")) {
                assertTrue(e.getMessage().contains(expected), "missing '" + expected + "' in: " + e.getMessage());
            }
            assertEquals(List.of(), hub.requests());
        }
    }

    @Test
    void unreachableProxyIsNamedInTheError() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        try (FakeHub hub = serve(FakeHub.start())) {
            String proxy = "http://127.0.0.1:" + port;
            CheckpointException e = assertThrows(CheckpointException.class, () -> ModelResolver.resolve("gpt2", FILES,
                    DownloadProgress.NONE, config(hub, Map.of("http_proxy", proxy))));
            assertTrue(e.getMessage().contains("through the proxy 127.0.0.1:" + port + " (http_proxy)"), e.getMessage());
        }
    }
}
