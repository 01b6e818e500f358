package ioi.display;

import java.io.PrintStream;
import java.util.function.LongSupplier;

/**
 * A progress bar as one line of text, rewritten in place with a carriage return:
 * {@code heads [#########...............] 45/144 (31%) · 12.3 it/s · 0:03 elapsed · ETA 0:07}.
 * Terminals and Jupyter's stream outputs both honour the {@code \r}; the finished line ends with a
 * newline.
 */
public final class TextProgressBar implements ProgressBar {
    private static final int WIDTH = 24;
    private final PrintStream out;
    private final ProgressState state;
    private int lastLength = 0;

    public TextProgressBar(PrintStream out, String label) {
        this(out, label, System::nanoTime);
    }

    TextProgressBar(PrintStream out, String label, LongSupplier clock) {
        this.out = out;
        this.state = new ProgressState(label, clock);
    }

    @Override
    public synchronized void start(long total) {
        state.start(total);
        draw(true);
    }

    @Override
    public synchronized void step(long n) {
        state.step(n);
        draw(state.total > 0 && state.count >= state.total);
    }

    @Override
    public synchronized void done() {
        state.done();
        draw(true);
        out.print('\n');
        out.flush();
    }

    private void draw(boolean force) {
        if (!state.redrawDue(force)) return;
        String line = line();
        int pad = Math.max(0, lastLength - line.length());
        out.print("\r" + line + " ".repeat(pad));
        out.flush();
        lastLength = line.length();
    }

    String line() {
        StringBuilder s = new StringBuilder();
        if (!state.label.isEmpty()) s.append(state.label).append(' ');
        double f = state.fraction();
        if (!Double.isNaN(f)) {
            int filled = (int) Math.floor(f * WIDTH);
            s.append('[').append("#".repeat(filled)).append(".".repeat(WIDTH - filled)).append("] ");
        }
        return s.append(state.status()).toString();
    }
}
