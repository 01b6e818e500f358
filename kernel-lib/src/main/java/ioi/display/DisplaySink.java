package ioi.display;

import java.util.Map;

/**
 * Where displays go and how they are replaced: in a notebook, Jupyter's {@code display_data} and
 * {@code update_display_data} messages ({@link JupyterExtension} provides that one); in tests, a list.
 */
public interface DisplaySink {
    /** Shows a MIME bundle as a new output and returns its display id. */
    String display(Map<String, Object> bundle);

    /** Replaces the output with this display id. */
    void update(String displayId, Map<String, Object> bundle);
}
