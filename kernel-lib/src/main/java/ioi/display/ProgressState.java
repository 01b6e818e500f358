package ioi.display;

import java.util.function.LongSupplier;

/** Counting, timing and the words of a progress bar, shared by its text and notebook forms. */
final class ProgressState {
    static final long MIN_REDRAW_NANOS = 100_000_000L; // at most ten redraws a second

    final String label;
    private final LongSupplier clock;
    long total = 0, count = 0;
    private long startNanos = -1, lastDraw = Long.MIN_VALUE, endNanos = -1;

    ProgressState(String label, LongSupplier clock) {
        this.label = label == null ? "" : label;
        this.clock = clock;
    }

    void start(long total) {
        this.total = Math.max(0, total);
        this.count = 0;
        this.startNanos = clock.getAsLong();
        this.endNanos = -1;
        this.lastDraw = Long.MIN_VALUE;
    }

    void step(long n) {
        if (n < 0) throw new IllegalArgumentException("progress step must be >= 0, got " + n);
        if (startNanos < 0) start(0);
        count += n;
    }

    void done() {
        if (startNanos < 0) start(0);
        endNanos = clock.getAsLong();
    }

    boolean started() { return startNanos >= 0; }
    boolean finished() { return endNanos >= 0; }

    /** Whether a redraw is due now (always for the first and the last); records it. */
    boolean redrawDue(boolean force) {
        long now = clock.getAsLong();
        if (!force && lastDraw != Long.MIN_VALUE && now - lastDraw < MIN_REDRAW_NANOS) return false;
        lastDraw = now;
        return true;
    }

    double elapsedSeconds() {
        long end = endNanos >= 0 ? endNanos : clock.getAsLong();
        return startNanos < 0 ? 0 : (end - startNanos) / 1e9;
    }

    double rate() {
        double s = elapsedSeconds();
        return s > 0 ? count / s : Double.NaN;
    }

    /** Fraction done in [0, 1], or NaN when the total is unknown. */
    double fraction() {
        return total > 0 ? Math.min(1.0, (double) count / total) : Double.NaN;
    }

    double etaSeconds() {
        double r = rate();
        return total > 0 && r > 0 ? Math.max(0, total - count) / r : Double.NaN;
    }

    /** {@code 45/144 (31%) · 12.3 it/s · 0:03 elapsed · ETA 0:07}, or the final line after {@link #done()}. */
    String status() {
        StringBuilder s = new StringBuilder();
        s.append(count);
        if (total > 0) s.append('/').append(total).append(" (").append(Math.round(100 * fraction())).append("%)");
        double r = rate();
        s.append(" · ").append(Double.isNaN(r) ? "?" : rate(r)).append(" it/s");
        s.append(" · ").append(Numbers.duration(elapsedSeconds())).append(finished() ? " total" : " elapsed");
        if (!finished() && total > 0) s.append(" · ETA ").append(Numbers.duration(etaSeconds()));
        return s.toString();
    }

    private static String rate(double r) {
        return r >= 100 ? Long.toString(Math.round(r)) : r >= 10 ? Numbers.format(r, 1) : Numbers.format(r, 2);
    }
}
