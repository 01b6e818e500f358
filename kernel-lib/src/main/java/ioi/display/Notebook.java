package ioi.display;

import java.util.Optional;

/**
 * The notebook this JVM is running in, if any: {@link JupyterExtension} installs the kernel's
 * {@link DisplaySink} here when JJava loads the library. Library code (progress bars, experiments that
 * show intermediate results) uses it without depending on the kernel's API.
 */
public final class Notebook {
    private Notebook() {}

    private static volatile DisplaySink sink;

    /** The kernel's display sink, empty outside a notebook. */
    public static Optional<DisplaySink> sink() {
        return Optional.ofNullable(sink);
    }

    /** Installs (or with {@code null} removes) the sink; the extension and tests call this. */
    public static void use(DisplaySink displaySink) {
        sink = displaySink;
    }

    /** Shows {@code d} as a new output; returns its display id, or empty outside a notebook. */
    public static Optional<String> display(Displayable d) {
        DisplaySink s = sink;
        return s == null ? Optional.empty() : Optional.of(s.display(d.mimeBundle()));
    }

    /** Replaces the output {@code displayId} with {@code d} (nothing outside a notebook). */
    public static void update(String displayId, Displayable d) {
        DisplaySink s = sink;
        if (s != null) s.update(displayId, d.mimeBundle());
    }
}
