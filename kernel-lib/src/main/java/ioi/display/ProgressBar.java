package ioi.display;

/**
 * Progress of a long loop (a sweep over heads, a dataset), updated in place.
 *
 * <p>It is the experiments' progress callback, {@link ioi.experiments.Progress}, so a bar can be
 * passed wherever an experiment takes one ({@code ActivationPatching.Options.progress(bar)}):
 * {@code start(total)} once, {@code step(n)} after each {@code n} more items are done (an increment,
 * like tqdm's {@code update(n)}), {@code done()} at the end. A total of 0 or less means unknown: the
 * bar then shows the count and the rate without a percentage or an ETA.
 *
 * <pre>{@code
 * ProgressBar bar = ProgressBar.create("path patching");   // a notebook bar in JJava, else stderr
 * bar.start(144);
 * for (...) { ...; bar.step(1); }
 * bar.done();
 * }</pre>
 *
 * <p>Implementations: {@link TextProgressBar} (a line on stderr rewritten with a carriage return)
 * and {@link NotebookProgressBar} (an HTML {@code <progress>} output updated through the kernel's
 * {@code update_display_data}). Both are throttled (at most ten redraws a second) and thread-safe.
 */
public interface ProgressBar extends ioi.experiments.Progress {
    @Override
    void start(long total);

    /** {@code n} more items done. */
    @Override
    void step(long n);

    default void step() {
        step(1);
    }

    @Override
    void done();

    /** A notebook bar when a JJava kernel has loaded {@link JupyterExtension}, else a text bar on stderr. */
    static ProgressBar create(String label) {
        return Notebook.sink().<ProgressBar>map(s -> new NotebookProgressBar(s, label)).orElseGet(() -> text(label));
    }

    static ProgressBar text(String label) {
        return new TextProgressBar(System.err, label);
    }

    /** Does nothing (for tests and quiet runs). */
    static ProgressBar none() {
        return new ProgressBar() {
            @Override public void start(long total) {}
            @Override public void step(long n) {}
            @Override public void done() {}
        };
    }
}
