package ioi.lens.hub;

import java.io.IOException;
import java.net.Authenticator;
import java.net.InetAddress;
import java.net.PasswordAuthentication;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The proxies that the environment names, read as curl and Python's {@code requests} (so also
 * {@code huggingface_hub}) read them, so a downloader started from the same shell goes the same way:
 *
 * <ul>
 *   <li>{@code https://} URLs: {@code https_proxy}, {@code HTTPS_PROXY}, then {@code all_proxy},
 *       {@code ALL_PROXY}; {@code http://} URLs: {@code http_proxy}, {@code HTTP_PROXY}, then the
 *       {@code all_proxy} pair. The lowercase name wins when both are set; an empty value counts as
 *       unset.
 *   <li>A proxy is {@code [http://][user:password@]host[:port]}; the port defaults to 80 (as in
 *       {@code requests}; curl's default is 1080, so give the port). {@code user:password} (URL-encoded)
 *       answers that proxy's Basic challenge ({@link #authenticator()}, also on the {@code CONNECT}
 *       that tunnels HTTPS), and no one else's; Digest, NTLM and Kerberos proxies are not supported.
 *       {@code https://} (TLS to the proxy) and {@code socks*://} proxies cannot be used with Java's
 *       {@code HttpClient}: {@link #problem(URI)} says so and the download fails naming the variable.
 *   <li>{@code no_proxy} / {@code NO_PROXY}: entries separated by commas or spaces; {@code *} means no
 *       proxy for any host; {@code example.com} and {@code .example.com} both match {@code example.com}
 *       and every {@code *.example.com} (not {@code badexample.com}); {@code host:port} matches that
 *       port only; an IP address matches that address, {@code 10.0.0.0/8} or {@code fd00::/8} a range
 *       (compared with the URL's literal address, nothing is resolved). Case and a trailing dot are
 *       ignored.
 * </ul>
 *
 * When no variable applies to a URL, the JVM's default selector decides (the {@code https.proxyHost}
 * system properties, normally no proxy), as it did before this class existed.
 *
 * <p>Hand-written because the JDK reads proxies only from system properties or the desktop's
 * settings, never from these variables, and the library that does (proxy-vole) brings PAC-script
 * machinery for a few dozen lines of rules.
 */
public final class EnvProxySelector extends ProxySelector {

    /**
     * One proxy from the environment.
     *
     * @param variable the environment variable it came from, e.g. {@code HTTPS_PROXY}
     * @param user user name or null; {@code password} is null when {@code user} is
     */
    public record ProxyUrl(String variable, String host, int port, String user, String password) {
        /** The {@code Proxy-Authorization} value, or empty without credentials. */
        public Optional<String> authorization() {
            if (user == null) {
                return Optional.empty();
            }
            String pair = user + ":" + (password == null ? "" : password);
            return Optional.of("Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8)));
        }

        /** {@code host:port}, with {@code user:***@} when there are credentials; never the password. */
        @Override
        public String toString() {
            return (user == null ? "" : user + ":***@") + host + ":" + port;
        }
    }

    /** No proxy from the environment: the JVM's default selector decides. */
    public static final EnvProxySelector NONE = new EnvProxySelector(null, null, List.of(), null, null);

    /** The JDK's switch for Basic authentication to proxies on HTTPS tunnels (default: disabled). */
    static final String TUNNELING_DISABLED_SCHEMES = "jdk.http.auth.tunneling.disabledSchemes";
    private static final Pattern CIDR = Pattern.compile("(.+)/(\\d{1,3})");
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final Pattern HOST_PORT = Pattern.compile("(.*[^:]):(\\d{1,5})");

    private final ProxyUrl https;
    private final ProxyUrl http;
    private final List<String> noProxy;
    private final String httpsProblem;
    private final String httpProblem;

    private EnvProxySelector(ProxyUrl https, ProxyUrl http, List<String> noProxy, String httpsProblem,
            String httpProblem) {
        this.https = https;
        this.http = http;
        this.noProxy = List.copyOf(noProxy);
        this.httpsProblem = httpsProblem;
        this.httpProblem = httpProblem;
    }

    /**
     * Answers the proxy's 407 challenge with the credentials of its URL, and of no other host: Java's
     * HttpClient sends credentials on the {@code CONNECT} of an HTTPS tunnel only through an
     * Authenticator (a {@code Proxy-Authorization} header on the request stays inside the tunnel).
     */
    public Authenticator authenticator() {
        return new Authenticator() {
            @Override
            protected PasswordAuthentication getPasswordAuthentication() {
                if (getRequestorType() != RequestorType.PROXY) {
                    return null;
                }
                for (ProxyUrl p : new ProxyUrl[] {https, http}) {
                    if (p != null && p.user() != null && p.host().equalsIgnoreCase(getRequestingHost())
                            && p.port() == getRequestingPort()) {
                        return new PasswordAuthentication(p.user(), (p.password() == null ? "" : p.password()).toCharArray());
                    }
                }
                return null;
            }
        };
    }

    /** Whether a proxy of the environment carries a user name. */
    public boolean hasCredentials() {
        return https != null && https.user() != null || http != null && http.user() != null;
    }

    /** Reads the process environment. */
    public static EnvProxySelector fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /**
     * Reads the proxy variables from {@code env}. Never throws: an unusable value is kept as
     * {@link #problem(URI)}, so a bad {@code ALL_PROXY} meant for another tool does not stop loading a
     * cached model; only a download fails on it.
     */
    public static EnvProxySelector fromEnvironment(Map<String, String> env) {
        List<String> httpsProblems = new ArrayList<>();
        List<String> httpProblems = new ArrayList<>();
        ProxyUrl https = parse(env, httpsProblems, "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY");
        ProxyUrl http = parse(env, httpProblems, "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY");
        String no = first(env, "no_proxy", "NO_PROXY");
        List<String> entries = new ArrayList<>();
        if (no != null) {
            for (String e : no.split("[,\\s]+")) {
                String entry = e.strip().toLowerCase(Locale.ROOT);
                if (!entry.isEmpty()) {
                    entries.add(entry);
                }
            }
        }
        EnvProxySelector selector = new EnvProxySelector(https, http, entries,
                httpsProblems.isEmpty() ? null : httpsProblems.get(0), httpProblems.isEmpty() ? null : httpProblems.get(0));
        if (selector.hasCredentials()) {
            // The JDK refuses Basic authentication on HTTPS tunnels unless this property is empty, and
            // reads it once, when the first HttpClient is made, so set it now (unless the user has set
            // it). It protects against answering an unknown proxy's challenge; our Authenticator
            // answers only the proxy whose URL the user gave, with the credentials written in it.
            System.getProperties().putIfAbsent(TUNNELING_DISABLED_SCHEMES, "");
        }
        return selector;
    }

    /**
     * Why the proxy variable for {@code uri}'s scheme cannot be used (naming it and its value, password
     * hidden), or null; null too when NO_PROXY exempts the host.
     */
    public String problem(URI uri) {
        if (bypassed(uri)) {
            return null;
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        return scheme.equals("https") ? httpsProblem : scheme.equals("http") ? httpProblem : null;
    }

    /** How a request to {@code uri} goes, for messages: {@code through the proxy host:port (HTTPS_PROXY)} or {@code directly}. */
    public String route(URI uri) {
        return proxyFor(uri).map(p -> "through the proxy " + p + " (" + p.variable() + ")")
                .orElse(bypassed(uri) ? "directly (NO_PROXY)" : "directly");
    }

    /** The environment's proxy for {@code uri}, or empty when it names none or NO_PROXY exempts the host. */
    public Optional<ProxyUrl> proxyFor(URI uri) {
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        ProxyUrl p = scheme.equals("https") ? https : scheme.equals("http") ? http : null;
        if (p == null || uri.getHost() == null || bypassed(uri)) {
            return Optional.empty();
        }
        return Optional.of(p);
    }

    /** Whether NO_PROXY exempts the host (and port) of {@code uri}. */
    public boolean bypassed(URI uri) {
        if (noProxy.isEmpty() || uri.getHost() == null) {
            return false;
        }
        String host = stripHost(uri.getHost());
        int port = uri.getPort() >= 0 ? uri.getPort() : "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
        for (String entry : noProxy) {
            if (matches(entry, host, port)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public List<Proxy> select(URI uri) {
        if (uri == null) {
            throw new IllegalArgumentException("uri must not be null");
        }
        Optional<ProxyUrl> p = proxyFor(uri);
        if (p.isPresent()) {
            return List.of(new Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved(p.get().host(), p.get().port())));
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (bypassed(uri) && (scheme.equals("https") ? https : http) != null) {
            return List.of(Proxy.NO_PROXY); // NO_PROXY beats the JVM's proxy properties too, as it would in Python
        }
        ProxySelector jvm = ProxySelector.getDefault();
        return jvm == null || jvm == this ? List.of(Proxy.NO_PROXY) : jvm.select(uri);
    }

    @Override
    public void connectFailed(URI uri, SocketAddress sa, IOException ioe) {
        // nothing to learn: there is at most one proxy per URL
    }

    /** Never shows a password. */
    @Override
    public String toString() {
        return "EnvProxySelector[https=" + https + ", http=" + http + ", noProxy=" + noProxy
                + (httpsProblem == null ? "" : ", httpsProblem=" + httpsProblem)
                + (httpProblem == null ? "" : ", httpProblem=" + httpProblem) + "]";
    }

    private static boolean matches(String entry, String host, int port) {
        if (entry.equals("*")) {
            return true;
        }
        String e = entry;
        int wantPort = -1;
        var hp = HOST_PORT.matcher(e);
        if (!e.contains("/") && hp.matches() && (!hp.group(1).contains(":") || hp.group(1).startsWith("["))) {
            e = hp.group(1); // host:port or [v6]:port; a bare IPv6 address has colons but no brackets
            wantPort = Integer.parseInt(hp.group(2));
        }
        if (wantPort >= 0 && wantPort != port) {
            return false;
        }
        e = stripHost(e);
        while (e.startsWith(".")) {
            e = e.substring(1);
        }
        if (e.isEmpty()) {
            return false;
        }
        var cidr = CIDR.matcher(e);
        if (cidr.matches()) {
            return inRange(host, cidr.group(1), Integer.parseInt(cidr.group(2)));
        }
        byte[] a = literal(e);
        byte[] b = literal(host);
        if (a != null || b != null) {
            return a != null && b != null && Arrays.equals(a, b); // addresses match addresses only
        }
        return host.equals(e) || host.endsWith("." + e);
    }

    private static boolean inRange(String host, String network, int bits) {
        byte[] h = literal(host);
        byte[] n = literal(network);
        if (h == null || n == null || h.length != n.length || bits > h.length * 8) {
            return false;
        }
        for (int i = 0; i < bits; i++) {
            int mask = 0x80 >>> (i % 8);
            if ((h[i / 8] & mask) != (n[i / 8] & mask)) {
                return false;
            }
        }
        return true;
    }

    /** The bytes of an IP literal, or null if {@code s} is not one (no name is ever resolved). */
    private static byte[] literal(String s) {
        String text;
        if (IPV4.matcher(s).matches()) {
            for (String octet : s.split("\\.")) {
                if (Integer.parseInt(octet) > 255) {
                    return null; // else getByName would look the string up as a name
                }
            }
            text = s;
        } else if (s.contains(":")) {
            text = "[" + s + "]"; // in brackets getByName parses IPv6 or throws, never looks up
        } else {
            return null;
        }
        try {
            return InetAddress.getByName(text).getAddress();
        } catch (UnknownHostException | SecurityException e) {
            return null;
        }
    }

    /** Lowercase, without IPv6 brackets or a trailing dot. */
    private static String stripHost(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        while (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);
        }
        return h;
    }

    private static ProxyUrl parse(Map<String, String> env, List<String> problems, String... names) {
        for (String name : names) {
            String value = env.get(name);
            if (value == null || value.isBlank()) {
                continue;
            }
            String v = value.strip();
            String shown = hidePassword(v);
            String url = v.contains("://") ? v : "http://" + v;
            URI uri;
            try {
                uri = new URI(url);
            } catch (URISyntaxException e) {
                problems.add(name + "='" + shown + "' is not a URL (" + e.getReason()
                        + "); expected http://[user:password@]host:port, with special characters of the password URL-encoded");
                return null;
            }
            String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
            if (scheme.startsWith("socks")) {
                problems.add(name + "='" + shown + "' is a SOCKS proxy, which Java's HttpClient cannot use: set HTTPS_PROXY to"
                        + " an HTTP proxy (http://host:port), or unset " + name + " and list the Hub's host in NO_PROXY");
                return null;
            }
            if (!scheme.equals("http")) {
                problems.add(name + "='" + shown + "' uses " + scheme + "://, but Java's HttpClient speaks only plain HTTP to a"
                        + " proxy (HTTPS still goes through it encrypted, via CONNECT): write http://" + (uri.getRawAuthority() == null
                        ? "host:port" : hidePassword(uri.getRawAuthority())));
                return null;
            }
            if (uri.getHost() == null || uri.getHost().isEmpty()) {
                problems.add(name + "='" + shown + "' names no proxy host; expected http://[user:password@]host:port");
                return null;
            }
            String user = null;
            String password = null;
            String info = uri.getRawUserInfo();
            if (info != null && !info.isEmpty()) {
                int colon = info.indexOf(':');
                user = percentDecode(colon < 0 ? info : info.substring(0, colon));
                password = colon < 0 ? null : percentDecode(info.substring(colon + 1));
            }
            return new ProxyUrl(name, uri.getHost(), uri.getPort() >= 0 ? uri.getPort() : 80, user, password);
        }
        return null;
    }

    /** %XX decoding as curl and Python's unquote do it; unlike form decoding, '+' stays '+'. */
    private static String percentDecode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    /** {@code http://user:***@host}: what an error message may show of a proxy URL. */
    static String hidePassword(String url) {
        return url.replaceFirst("^([^/]*//)?([^:@/]*):[^@/]*@", "$1$2:***@");
    }

    private static String first(Map<String, String> env, String... names) {
        for (String name : names) {
            String v = env.get(name);
            if (v != null && !v.isBlank()) {
                return v;
            }
        }
        return null;
    }
}
