package ioi.display;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every chart builder of {@link Charts} has: title, axis labels, size. A builder is itself
 * {@link Displayable} (it builds its {@link Figure} when shown), so
 * {@code Charts.line(values).title("loss")} can end a cell without a {@code build()}.
 */
public abstract class Chart<B extends Chart<B>> implements Displayable {
    protected String title;
    protected String xLabel;
    protected String yLabel;
    protected Integer width;
    protected Integer height;

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    public B title(String title) {
        this.title = title;
        return self();
    }

    /** Axis titles (shown in hover text too). */
    public B labels(String x, String y) {
        this.xLabel = x;
        this.yLabel = y;
        return self();
    }

    /** Size in pixels; without a width the chart fills the output area. */
    public B size(int width, int height) {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("size must be positive, got " + width + "x" + height);
        this.width = width;
        this.height = height;
        return self();
    }

    public B height(int height) {
        if (height <= 0) throw new IllegalArgumentException("height must be positive, got " + height);
        this.height = height;
        return self();
    }

    /** The Plotly figure as built now. */
    public abstract Figure figure();

    @Override
    public Map<String, Object> mimeBundle() {
        return figure().mimeBundle();
    }

    @Override
    public Map<String, Object> mimeBundle(java.util.function.Predicate<String> wanted) {
        return figure().mimeBundle(wanted);
    }

    @Override
    public String toString() {
        return figure().toString();
    }

    /** Title, size and margins; subclasses add axes and the rest. */
    protected Map<String, Object> baseLayout(int defaultHeight) {
        Map<String, Object> layout = new LinkedHashMap<>();
        if (title != null) layout.put("title", text(title));
        if (width != null) layout.put("width", width);
        layout.put("height", height != null ? height : defaultHeight);
        Map<String, Object> margin = new LinkedHashMap<>();
        margin.put("t", title != null ? 60 : 30);
        margin.put("r", 20);
        layout.put("margin", margin);
        return layout;
    }

    /** {@code {text: ...}}: the title form plotly.js 2 and 3 both read. */
    protected static Map<String, Object> text(String text) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("text", Html.plotlyText(text));
        return m;
    }

    protected static Map<String, Object> axis(String title) {
        Map<String, Object> a = new LinkedHashMap<>();
        if (title != null) a.put("title", text(title));
        return a;
    }

    protected String xName() {
        return xLabel != null ? xLabel : "x";
    }

    protected String yName() {
        return yLabel != null ? yLabel : "y";
    }
}
