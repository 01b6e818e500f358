package ioi.display;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Plotly figure as plain JSON values: {@code data} (the traces), {@code layout} and {@code config}.
 * {@link Charts} builds them; this class shows them.
 *
 * <p>One figure is one MIME bundle:
 * <ul>
 *   <li>{@code application/vnd.plotly.v1+json}: {@code {data, layout, config}} as a {@code Map}.
 *       JupyterLab draws it with the Plotly extension ({@code pip install plotly} in the server's
 *       environment), offline and also when the notebook is not trusted.</li>
 *   <li>{@code text/html}: a {@code div} and a script that draws the same figure with plotly.js from
 *       this jar ({@link PlotlyJs}): for the classic Notebook, nbconvert's HTML, JupyterLab without
 *       the extension. Scripts run only in trusted output; untrusted, the {@code div} says so.</li>
 *   <li>{@code text/plain}: a one-line summary.</li>
 * </ul>
 * Values are finite numbers or {@code null} (see {@link Json}); titles use {@code title.text}, which
 * plotly.js 2 and 3 both read.
 */
public final class Figure implements Displayable {
    private final List<Map<String, Object>> data;
    private final Map<String, Object> layout;
    private final Map<String, Object> config;

    public Figure(List<Map<String, Object>> data, Map<String, Object> layout) {
        this(data, layout, defaultConfig());
    }

    public Figure(List<Map<String, Object>> data, Map<String, Object> layout, Map<String, Object> config) {
        this.data = List.copyOf(Objects.requireNonNull(data));
        this.layout = Objects.requireNonNull(layout);
        this.config = Objects.requireNonNull(config);
    }

    static Map<String, Object> defaultConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        // No "responsive": true. It sizes the plot to 100% of its div, which has no CSS height in a
        // notebook output, so in JupyterLab the first resize (window, sidebar) collapsed every chart
        // to ~30 px (seen by tools/browser/check_notebooks.mjs). JupyterLab's Plotly renderer
        // already refits the width when its output area resizes; the height stays layout.height.
        c.put("displaylogo", false);
        return c;
    }

    public List<Map<String, Object>> data() {
        return data;
    }

    public Map<String, Object> layout() {
        return layout;
    }

    public Map<String, Object> config() {
        return config;
    }

    /**
     * A copy with one layout value set by a dotted path, creating the maps on the way:
     * {@code fig.with("yaxis.title.text", "logit diff")}, {@code fig.with("height", 600)}.
     */
    @SuppressWarnings("unchecked")
    public Figure with(String path, Object value) {
        Map<String, Object> copy = (Map<String, Object>) deepCopy(layout);
        String[] keys = path.split("\\.");
        Map<String, Object> m = copy;
        for (int i = 0; i < keys.length - 1; i++) {
            Object next = m.get(keys[i]);
            if (!(next instanceof Map)) {
                next = new LinkedHashMap<String, Object>();
                m.put(keys[i], next);
            }
            m = (Map<String, Object>) next;
        }
        boolean nonFinite = (value instanceof Double d && !Double.isFinite(d)) || (value instanceof Float f && !Float.isFinite(f));
        m.put(keys[keys.length - 1], nonFinite ? null : value);
        return new Figure(data, copy, config);
    }

    public Figure title(String title) {
        return with("title.text", Html.plotlyText(title));
    }

    public Figure size(int width, int height) {
        return with("width", width).with("height", height);
    }

    /** {@code {data, layout, config}}: the payload of {@code application/vnd.plotly.v1+json}. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("data", data);
        m.put("layout", layout);
        m.put("config", config);
        return m;
    }

    public String toJson() {
        return Json.toJson(toMap());
    }

    @Override
    public Map<String, Object> mimeBundle() {
        return mimeBundle(mime -> true);
    }

    /** Builds only the wanted entries: an output without {@code text/html} does not use up {@link PlotlyJs.Embed#ONCE}. */
    @Override
    public Map<String, Object> mimeBundle(java.util.function.Predicate<String> wanted) {
        Map<String, Object> bundle = new LinkedHashMap<>();
        if (wanted.test(PLOTLY_JSON)) bundle.put(PLOTLY_JSON, toMap());
        if (wanted.test(TEXT_HTML)) bundle.put(TEXT_HTML, html(PlotlyJs.takeEmbed()));
        if (wanted.test(TEXT_PLAIN)) bundle.put(TEXT_PLAIN, toString());
        return bundle;
    }

    /** The offline {@code text/html} fallback; {@code withLibrary} puts plotly.js (guarded) in front of it. */
    public String html(boolean withLibrary) {
        String id = Html.newId("ioi-plotly");
        StringBuilder s = new StringBuilder();
        s.append("<div style=\"width:100%\">");
        s.append("<div id=\"").append(id).append("\" style=\"width:100%\">");
        s.append("<div style=\"color:#888888;font-size:12px;padding:4px\">")
                .append(Html.escape(toString()))
                .append(": drawn by JupyterLab's Plotly extension, or here by plotly.js once the notebook is trusted")
                .append("</div></div>");
        if (withLibrary) s.append(PlotlyJs.script());
        s.append("<script type=\"text/javascript\">\n(function () {\n")
                .append("  var fig = ").append(toJson()).append(";\n")
                .append("  var el = document.getElementById(\"").append(id).append("\");\n")
                .append("  var tries = 0;\n")
                .append("  function draw() { el.innerHTML = \"\"; window.Plotly.newPlot(el, fig.data, fig.layout, fig.config); }\n")
                .append("  (function wait() {\n")
                .append("    if (!el) return;\n")
                .append("    if (window.Plotly) draw();\n")
                .append("    else if (++tries < 200) setTimeout(wait, 100);\n")
                .append("    else el.firstChild.textContent = \"plotly.js is not loaded on this page: run display(ioi.display.PlotlyJs.init()) in a cell above\";\n")
                .append("  })();\n")
                .append("})();\n</script></div>");
        return s.toString();
    }

    /** One line: the title, the kinds of traces and their count. */
    @Override
    public String toString() {
        Map<String, Integer> kinds = new LinkedHashMap<>();
        for (Map<String, Object> t : data) kinds.merge(String.valueOf(t.getOrDefault("type", "scatter")), 1, Integer::sum);
        List<String> parts = new ArrayList<>();
        kinds.forEach((k, n) -> parts.add(n + " " + k));
        String title = titleText();
        return "Plotly figure" + (title == null ? "" : " \"" + title + "\"") + " (" + String.join(", ", parts) + ")";
    }

    @SuppressWarnings("unchecked")
    private String titleText() {
        Object t = layout.get("title");
        if (t instanceof Map<?, ?> m && m.get("text") != null)
            return String.valueOf(m.get("text")).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
        return null;
    }

    @SuppressWarnings("unchecked")
    static Object deepCopy(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> c = new LinkedHashMap<>();
            m.forEach((k, x) -> c.put((String) k, deepCopy(x)));
            return c;
        }
        if (v instanceof List<?> l) {
            List<Object> c = new ArrayList<>(l.size());
            for (Object x : l) c.add(deepCopy(x));
            return c;
        }
        return v;
    }
}
