package ioi.display;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * A progress bar as one notebook output that is replaced in place ({@code update_display_data}): an
 * HTML {@code <progress>} element with inline styles, the count, the rate and the ETA, plus the same
 * line as {@code text/plain}. Element and styles are ones JupyterLab's sanitizer keeps, so a saved
 * notebook shows the final state even untrusted.
 */
public final class NotebookProgressBar implements ProgressBar {
    private final DisplaySink sink;
    private final ProgressState state;
    private String displayId;

    public NotebookProgressBar(DisplaySink sink, String label) {
        this(sink, label, System::nanoTime);
    }

    NotebookProgressBar(DisplaySink sink, String label, LongSupplier clock) {
        this.sink = sink;
        this.state = new ProgressState(label, clock);
    }

    @Override
    public synchronized void start(long total) {
        state.start(total);
        state.redrawDue(true);
        if (displayId == null) displayId = sink.display(bundle());
        else sink.update(displayId, bundle()); // restarted: reuse the output
    }

    @Override
    public synchronized void step(long n) {
        if (!state.started()) start(0);
        state.step(n);
        if (state.redrawDue(state.total > 0 && state.count >= state.total)) sink.update(displayId, bundle());
    }

    @Override
    public synchronized void done() {
        if (!state.started()) start(0);
        state.done();
        state.redrawDue(true);
        sink.update(displayId, bundle());
    }

    Map<String, Object> bundle() {
        Map<String, Object> b = new LinkedHashMap<>();
        b.put(Displayable.TEXT_HTML, html());
        b.put(Displayable.TEXT_PLAIN, (state.label.isEmpty() ? "" : state.label + " ") + state.status());
        return b;
    }

    String html() {
        StringBuilder s = new StringBuilder();
        s.append("<div style=\"font-family:sans-serif;font-size:12px;line-height:20px;white-space:nowrap\">");
        if (!state.label.isEmpty())
            s.append("<span style=\"display:inline-block;min-width:80px;margin-right:8px;font-weight:bold\">")
                    .append(Html.escape(state.label)).append("</span>");
        s.append("<progress");
        if (state.total > 0) s.append(" value=\"").append(Math.min(state.count, state.total)).append("\" max=\"").append(state.total).append('"');
        else if (state.finished()) s.append(" value=\"1\" max=\"1\"");
        s.append(" style=\"width:240px;height:14px;vertical-align:middle;margin-right:8px\"></progress>");
        String color = state.finished() ? "#2e7d32" : "#444444";
        s.append("<span style=\"color:").append(color).append(";vertical-align:middle\">").append(Html.escape(state.status())).append("</span>");
        s.append("</div>");
        return s.toString();
    }
}
