package ioi.lens.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The proxy variables read as curl and Python's requests read them. */
class EnvProxySelectorTest {
    private static final URI HUB = URI.create("https://huggingface.co/openai-community/gpt2/resolve/main/config.json");

    private static EnvProxySelector env(String... kv) {
        Map<String, String> m = new java.util.HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return EnvProxySelector.fromEnvironment(m);
    }

    @Test
    void schemeVariablesLowercaseFirstThenAllProxy() {
        EnvProxySelector s = env("HTTPS_PROXY", "http://upper:3128", "https_proxy", "lower:8080", "ALL_PROXY", "http://all:1",
                "HTTP_PROXY", "http://plain:81");
        assertEquals("lower", s.proxyFor(HUB).orElseThrow().host());
        assertEquals(8080, s.proxyFor(HUB).orElseThrow().port());
        assertEquals("https_proxy", s.proxyFor(HUB).orElseThrow().variable());
        assertEquals("plain", s.proxyFor(URI.create("http://example.org/")).orElseThrow().host());
        EnvProxySelector all = env("ALL_PROXY", "http://all:3128");
        assertEquals("ALL_PROXY", all.proxyFor(HUB).orElseThrow().variable());
        assertEquals("ALL_PROXY", all.proxyFor(URI.create("http://example.org/")).orElseThrow().variable());
        assertEquals(80, env("HTTPS_PROXY", "http://p").proxyFor(HUB).orElseThrow().port(), "default port as in requests");
        assertTrue(env("HTTPS_PROXY", "  ").proxyFor(HUB).isEmpty(), "blank means unset");
        assertTrue(env("HTTP_PROXY", "http://plain:81").proxyFor(HUB).isEmpty(), "HTTP_PROXY is not used for https URLs");
        assertTrue(EnvProxySelector.NONE.proxyFor(HUB).isEmpty());
    }

    @Test
    void selectReturnsAnHttpProxyOrDefersToTheJvm() {
        List<Proxy> p = env("HTTPS_PROXY", "http://proxy.corp:3128").select(HUB);
        assertEquals(Proxy.Type.HTTP, p.get(0).type());
        InetSocketAddress a = (InetSocketAddress) p.get(0).address();
        assertEquals("proxy.corp", a.getHostString());
        assertEquals(3128, a.getPort());
        assertEquals(List.of(Proxy.NO_PROXY), env("HTTPS_PROXY", "http://proxy.corp:3128", "NO_PROXY", "huggingface.co").select(HUB));
        // nothing in the environment: the JVM's default selector (no proxy properties are set in tests)
        assertEquals(List.of(Proxy.NO_PROXY), EnvProxySelector.NONE.select(HUB));
    }

    @Test
    void credentialsAreDecodedAndNeverPrinted() {
        EnvProxySelector s = env("HTTPS_PROXY", "http://alice:p%40ss+w%3Ard@proxy:3128");
        EnvProxySelector.ProxyUrl p = s.proxyFor(HUB).orElseThrow();
        assertEquals("alice", p.user());
        assertEquals("p@ss+w:rd", p.password(), "percent-decoded; '+' stays '+' as in curl and requests");
        assertEquals("Basic " + java.util.Base64.getEncoder().encodeToString("alice:p@ss+w:rd".getBytes()),
                p.authorization().orElseThrow());
        assertFalse(s.toString().contains("p%40ss") || s.toString().contains("p@ss"), s.toString());
        assertTrue(s.route(HUB).contains("alice:***@proxy:3128") && s.route(HUB).contains("HTTPS_PROXY"), s.route(HUB));
        assertTrue(env("HTTPS_PROXY", "http://proxy:1").proxyFor(HUB).orElseThrow().authorization().isEmpty());
    }

    /** NO_PROXY entries against hosts, as curl and requests match them. */
    @Test
    void noProxyRules() {
        record Row(String noProxy, String url, boolean bypassed) {}
        List<Row> rows = List.of(
                new Row("*", "https://huggingface.co/x", true),
                new Row("huggingface.co", "https://huggingface.co/x", true),
                new Row("huggingface.co", "https://cdn-lfs.huggingface.co/x", true),
                new Row(".huggingface.co", "https://huggingface.co/x", true),
                new Row(".huggingface.co", "https://cas-bridge.xethub.huggingface.co/x", true),
                new Row("huggingface.co", "https://nothuggingface.co/x", false),
                new Row("face.co", "https://huggingface.co/x", false),
                new Row("HuggingFace.CO.", "https://huggingface.co/x", true),
                new Row("example.org, huggingface.co", "https://huggingface.co/x", true),
                new Row("example.org huggingface.co", "https://huggingface.co/x", true),
                new Row("example.org,,", "https://huggingface.co/x", false),
                new Row("huggingface.co:443", "https://huggingface.co/x", true),
                new Row("huggingface.co:8443", "https://huggingface.co/x", false),
                new Row("huggingface.co:8443", "https://huggingface.co:8443/x", true),
                new Row("127.0.0.1", "http://127.0.0.1:5000/x", true),
                new Row("127.0.0.1", "http://127.0.0.2:5000/x", false),
                new Row("127.0.0.0/8", "http://127.3.4.5/x", true),
                new Row("10.0.0.0/8", "http://11.0.0.1/x", false),
                new Row("192.168.1.0/24", "http://192.168.1.77/x", true),
                new Row("192.168.1.0/24", "http://192.168.2.1/x", false),
                new Row("::1", "http://[::1]:8080/x", true),
                new Row("[::1]:8080", "http://[::1]:8080/x", true),
                new Row("[::1]:8080", "http://[::1]:9090/x", false),
                new Row("fd00::/8", "http://[fd12:3456::1]/x", true),
                new Row("fd00::/8", "http://[fe80::1]/x", false),
                new Row("localhost", "http://127.0.0.1/x", false)); // nothing is resolved
        List<String> wrong = new ArrayList<>();
        for (Row r : rows) {
            EnvProxySelector s = env("https_proxy", "http://proxy:3128", "http_proxy", "http://proxy:3128", "no_proxy", r.noProxy());
            URI uri = URI.create(r.url());
            if (s.bypassed(uri) != r.bypassed() || s.proxyFor(uri).isPresent() == r.bypassed()) {
                wrong.add("NO_PROXY='" + r.noProxy() + "' for " + r.url() + ": expected " + (r.bypassed() ? "direct" : "proxy"));
            }
        }
        assertEquals(List.of(), wrong);
        assertTrue(env("https_proxy", "http://p:1", "NO_PROXY", "huggingface.co").bypassed(HUB), "NO_PROXY in capitals");
    }

    @Test
    void unusableProxiesAreReportedOnlyForTheirScheme() {
        EnvProxySelector socks = env("ALL_PROXY", "socks5://user:secret@127.0.0.1:1080");
        String problem = socks.problem(HUB);
        assertTrue(problem.contains("ALL_PROXY") && problem.contains("SOCKS"), problem);
        assertFalse(problem.contains("secret"), "the password is hidden: " + problem);
        EnvProxySelector tls = env("HTTPS_PROXY", "https://proxy:443");
        assertTrue(tls.problem(HUB).contains("HTTPS_PROXY") && tls.problem(HUB).contains("http://proxy:443"), tls.problem(HUB));
        assertNull(tls.problem(URI.create("http://example.org/")), "an https proxy variable does not concern http URLs");
        assertNull(env("HTTPS_PROXY", "https://proxy:443", "NO_PROXY", "huggingface.co").problem(HUB));
        assertTrue(env("HTTPS_PROXY", "http://:3128").problem(HUB).contains("no proxy host"));
        assertTrue(env("HTTPS_PROXY", "http://pro xy:1").problem(HUB).contains("not a URL"));
        // the bad value does not stop reading the rest of the configuration
        assertEquals(socks.toString(), HubConfig.fromEnvironment(Map.of("ALL_PROXY", "socks5://user:secret@127.0.0.1:1080"))
                .proxies().toString());
    }
}
