package ioi.display;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * plotly.js for the {@code text/html} fallback of charts, offline: the npm package
 * {@code plotly.js-dist-min} 2.35.3, which the build downloads, checks against the registry's
 * integrity and puts in the jar as {@code ioi/display/plotly.min.js} (see kernel-lib/pom.xml).
 *
 * <p>It is 4.5 MB, so it goes into a page once, not into every chart. {@link #embed(Embed)} chooses:
 * <ul>
 *   <li>{@link Embed#ONCE} (default): the first chart this JVM renders, or {@link #init()} when a
 *       notebook shows it first, carries the library; later charts wait for {@code window.Plotly}.</li>
 *   <li>{@link Embed#EVERY}: every chart carries it (self-contained outputs, large notebooks).</li>
 *   <li>{@link Embed#NEVER}: no chart carries it; the page must have plotly.js already.</li>
 * </ul>
 * The library sits inside {@code if (!window.Plotly) {...}}, so a page that already has it (another
 * chart, JupyterLab re-rendering an output) does not load it twice, and inside a function whose
 * {@code define}, {@code module}, {@code exports} are undefined, so its UMD header sets
 * {@code window.Plotly} even where require.js is loaded (the classic Notebook).
 *
 * <p>After a kernel restart the first chart carries the library again. A notebook reopened later
 * holds the library in whichever output got it; a notebook that should render its fallbacks in any
 * order can start with {@code display(PlotlyJs.init())}.
 */
public final class PlotlyJs {
    private PlotlyJs() {}

    /** The plotly.js version in the jar. */
    public static final String VERSION = "2.35.3";
    static final String RESOURCE = "/ioi/display/plotly.min.js";

    public enum Embed { ONCE, EVERY, NEVER }

    private static volatile Embed embed = Embed.ONCE;
    private static final AtomicBoolean embedded = new AtomicBoolean(false);
    private static volatile String source;

    /** Sets how chart fallbacks carry plotly.js, and forgets whether it was already embedded. */
    public static void embed(Embed mode) {
        embed = java.util.Objects.requireNonNull(mode);
        embedded.set(false);
    }

    public static Embed embed() {
        return embed;
    }

    /** Whether the jar has plotly.js (a build that skipped the download has not). */
    public static boolean available() {
        return PlotlyJs.class.getResource(RESOURCE) != null;
    }

    /** The minified library. */
    public static String source() {
        String s = source;
        if (s == null) {
            try (InputStream in = PlotlyJs.class.getResourceAsStream(RESOURCE)) {
                if (in == null)
                    throw new IllegalStateException("plotly.js is missing from the classpath (" + RESOURCE
                            + "): kernel-lib's build downloads it from the npm registry; rebuild with network access");
                s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            // The HTML parser ends a script at "</script", whatever the JavaScript around it means.
            s = s.replace("</script", "<\\/script");
            source = s;
        }
        return s;
    }

    /** A {@code <script>} element that defines {@code window.Plotly} unless the page has it. */
    public static String script() {
        return "<script type=\"text/javascript\">/* plotly.js " + VERSION + " (MIT), loaded once per page */\n"
                + "if (!window.Plotly) { (function (define, module, exports) {\n" + source()
                + "\n}).call(window); }\n</script>";
    }

    /**
     * A display that loads plotly.js into the page, for a notebook's first cell:
     * {@code display(PlotlyJs.init())}. Charts rendered after it in this JVM do not carry the library
     * (in {@link Embed#ONCE} mode).
     */
    public static Displayable init() {
        embedded.set(true);
        return () -> {
            Map<String, Object> bundle = new LinkedHashMap<>();
            bundle.put(Displayable.TEXT_HTML, script()
                    + "<div style=\"color:#888888;font-size:11px\">plotly.js " + VERSION + " loaded for offline charts</div>");
            bundle.put(Displayable.TEXT_PLAIN, "plotly.js " + VERSION + " (offline chart fallback)");
            return bundle;
        };
    }

    /** Whether the next chart fallback should carry the library; records that it does. */
    static boolean takeEmbed() {
        return switch (embed) {
            case EVERY -> true;
            case NEVER -> false;
            case ONCE -> available() && embedded.compareAndSet(false, true);
        };
    }
}
