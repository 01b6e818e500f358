package ioi.display;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Something that shows itself in a notebook as one Jupyter MIME bundle: MIME type to data, e.g.
 * {@code text/html} to a string, {@code application/vnd.plotly.v1+json} to a {@code Map}. Every
 * bundle has {@code text/plain}. Values are strings or plain JSON ({@code Map}, {@code List}, boxed
 * finite numbers, {@code null}).
 *
 * <p>{@link JupyterExtension} registers a JJava renderer for this interface, so a chart, a styled
 * table or an attention view as a cell's last expression (or passed to {@code display(...)})
 * renders; nothing here needs a kernel.
 */
public interface Displayable {
    String TEXT_PLAIN = "text/plain";
    String TEXT_HTML = "text/html";
    String PLOTLY_JSON = "application/vnd.plotly.v1+json";

    /** The MIME bundle, in order of preference. */
    Map<String, Object> mimeBundle();

    /** The entries of the bundle whose MIME type is {@code wanted} (a renderer asked for some types only). */
    default Map<String, Object> mimeBundle(Predicate<String> wanted) {
        Map<String, Object> out = new LinkedHashMap<>();
        mimeBundle().forEach((mime, data) -> {
            if (wanted.test(mime)) out.put(mime, data);
        });
        return out;
    }
}
