package ioi.lens.hub;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Where the Hugging Face Hub is and where its files are cached. Normally built from the same
 * environment variables Python's {@code huggingface_hub} reads ({@link #fromEnvironment()}), so a
 * cache is shared both ways; tests construct it directly.
 *
 * @param endpoint base URL of the Hub without trailing slash ({@code HF_ENDPOINT}, default
 *     {@value #DEFAULT_ENDPOINT})
 * @param cacheDir the hub cache holding {@code models--org--name} folders ({@code HF_HUB_CACHE},
 *     else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub})
 * @param offline never use the network, only the cache ({@code HF_HUB_OFFLINE=1/true/yes/on})
 * @param token access token sent as {@code Authorization: Bearer}, or {@code null} ({@code HF_TOKEN})
 * @param proxies the proxies of {@code HTTPS_PROXY}, {@code NO_PROXY} and their kin ({@link EnvProxySelector});
 *     {@link EnvProxySelector#NONE} leaves it to the JVM's default selector
 * @param stallTimeout a download that receives no byte for this long is aborted and resumed with
 *     {@code Range} ({@code IOI_DOWNLOAD_STALL_SECONDS}, else {@code HF_HUB_DOWNLOAD_TIMEOUT}, default
 *     {@value #DEFAULT_STALL_SECONDS} s); also the longest wait for the headers of an answer
 */
public record HubConfig(String endpoint, Path cacheDir, boolean offline, String token, EnvProxySelector proxies,
        Duration stallTimeout) {
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";
    public static final long DEFAULT_STALL_SECONDS = 30;

    public HubConfig {
        Objects.requireNonNull(cacheDir, "cacheDir");
        endpoint = endpoint == null || endpoint.isBlank() ? DEFAULT_ENDPOINT : endpoint.strip();
        while (endpoint.endsWith("/")) {
            endpoint = endpoint.substring(0, endpoint.length() - 1);
        }
        token = token == null || token.isBlank() ? null : token.strip();
        proxies = proxies == null ? EnvProxySelector.NONE : proxies;
        stallTimeout = stallTimeout == null ? Duration.ofSeconds(DEFAULT_STALL_SECONDS) : stallTimeout;
        if (stallTimeout.isNegative() || stallTimeout.isZero()) {
            throw new IllegalArgumentException("stallTimeout must be positive, got " + stallTimeout);
        }
    }

    /** No proxy from the environment, the default stall timeout: what tests construct. */
    public HubConfig(String endpoint, Path cacheDir, boolean offline, String token) {
        this(endpoint, cacheDir, offline, token, EnvProxySelector.NONE, null);
    }

    /**
     * Reads {@code HF_ENDPOINT}, {@code HF_HUB_CACHE}, {@code HF_HOME}, {@code HF_HUB_OFFLINE}, {@code HF_TOKEN},
     * the proxy variables ({@link EnvProxySelector}) and {@code IOI_DOWNLOAD_STALL_SECONDS}.
     */
    public static HubConfig fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /**
     * Same as {@link #fromEnvironment()} but from the given variables. The cache directory follows
     * {@code huggingface_hub}: {@code HF_HUB_CACHE}, {@code HUGGINGFACE_HUB_CACHE} (legacy),
     * {@code $HF_HOME/hub}, {@code $XDG_CACHE_HOME/huggingface/hub}, {@code ~/.cache/huggingface/hub}, where
     * {@code ~} is {@code HOME} (as Python's {@code expanduser}), else Java's {@code user.home}.
     */
    public static HubConfig fromEnvironment(Map<String, String> env) {
        String home = home(env);
        String cache = firstSet(env, "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE");
        if (cache == null) {
            String hfHome = env.get("HF_HOME");
            if (hfHome == null || hfHome.isBlank()) {
                String xdg = env.get("XDG_CACHE_HOME");
                hfHome = (xdg == null || xdg.isBlank() ? home + "/.cache" : xdg) + "/huggingface";
            }
            cache = hfHome + "/hub";
        }
        if (cache.equals("~") || cache.startsWith("~/")) {
            cache = home + cache.substring(1);
        }
        String offline = env.getOrDefault("HF_HUB_OFFLINE", "").strip().toLowerCase(Locale.ROOT);
        boolean isOffline = offline.equals("1") || offline.equals("true") || offline.equals("yes") || offline.equals("on");
        return new HubConfig(env.get("HF_ENDPOINT"), Path.of(cache), isOffline, env.get("HF_TOKEN"),
                EnvProxySelector.fromEnvironment(env), stallTimeout(env));
    }

    /**
     * {@code IOI_DOWNLOAD_STALL_SECONDS}, else {@code HF_HUB_DOWNLOAD_TIMEOUT} (huggingface_hub's read
     * timeout), else the default; seconds, fractions allowed.
     *
     * @throws IllegalArgumentException for a value that is not a positive number, naming it
     */
    static Duration stallTimeout(Map<String, String> env) {
        for (String name : new String[] {"IOI_DOWNLOAD_STALL_SECONDS", "HF_HUB_DOWNLOAD_TIMEOUT"}) {
            String v = env.get(name);
            if (v == null || v.isBlank()) {
                continue;
            }
            double seconds;
            try {
                seconds = Double.parseDouble(v.strip());
            } catch (NumberFormatException e) {
                seconds = Double.NaN;
            }
            if (!(seconds > 0) || seconds > 86_400) {
                throw new IllegalArgumentException(name + "='" + v + "' is not a number of seconds: expected a positive"
                        + " number up to 86400 (default " + DEFAULT_STALL_SECONDS + "), e.g. " + name + "=60");
            }
            return Duration.ofMillis(Math.max(1, Math.round(seconds * 1000)));
        }
        return Duration.ofSeconds(DEFAULT_STALL_SECONDS);
    }

    /** Same configuration with another cache directory. */
    public HubConfig withCacheDir(Path dir) {
        return new HubConfig(endpoint, dir, offline, token, proxies, stallTimeout);
    }

    /** Same configuration with offline mode switched on or off. */
    public HubConfig withOffline(boolean off) {
        return new HubConfig(endpoint, cacheDir, off, token, proxies, stallTimeout);
    }

    /** Same configuration with other proxies. */
    public HubConfig withProxies(EnvProxySelector selector) {
        return new HubConfig(endpoint, cacheDir, offline, token, selector, stallTimeout);
    }

    /** Same configuration with another stall timeout. */
    public HubConfig withStallTimeout(Duration timeout) {
        return new HubConfig(endpoint, cacheDir, offline, token, proxies, timeout);
    }

    /** Never prints the token or a proxy password. */
    @Override
    public String toString() {
        return "HubConfig[endpoint=" + endpoint + ", cacheDir=" + cacheDir + ", offline=" + offline
                + ", token=" + (token == null ? "none" : "***") + ", proxies=" + proxies + ", stallTimeout="
                + stallTimeout + "]";
    }

    /**
     * The home directory as Python sees it: {@code os.path.expanduser("~")} reads {@code HOME} first,
     * while Java's {@code user.home} comes from the password database. They differ under {@code sudo -E},
     * in containers run with another uid, and for {@code HOME=/tmp/x python ...}; reading {@code HOME}
     * keeps this cache the one {@code huggingface_hub} uses.
     */
    static String home(Map<String, String> env) {
        String home = env.get("HOME");
        return home == null || home.isBlank() ? System.getProperty("user.home") : home.strip();
    }

    private static String firstSet(Map<String, String> env, String... names) {
        for (String name : names) {
            String v = env.get(name);
            if (v != null && !v.isBlank()) {
                return v.strip();
            }
        }
        return null;
    }
}
