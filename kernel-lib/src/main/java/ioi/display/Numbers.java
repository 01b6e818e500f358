package ioi.display;

import java.util.Locale;

/** Number formatting shared by tables, progress bars and chart summaries. */
public final class Numbers {
    private Numbers() {}

    /**
     * {@code v} with {@code digits} decimals ({@code 0.532}); magnitudes that would round to zero or
     * reach a million switch to scientific notation ({@code 1.20e-05}); {@code NaN}, {@code inf},
     * {@code -inf} for the non-finite values (masked attention scores).
     */
    public static String format(double v, int digits) {
        if (digits < 0) throw new IllegalArgumentException("digits must be >= 0, got " + digits);
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "inf" : "-inf";
        if (v == 0) v = 0.0; // no "-0.000"
        double a = Math.abs(v);
        if (a >= 1e6 || (a != 0 && a < 0.5 * Math.pow(10, -digits)))
            return String.format(Locale.ROOT, "%." + Math.max(1, Math.min(digits, 6) - 1) + "e", v);
        return String.format(Locale.ROOT, "%." + digits + "f", v);
    }

    /** Seconds as {@code m:ss} or {@code h:mm:ss}. */
    public static String duration(double seconds) {
        if (Double.isNaN(seconds) || Double.isInfinite(seconds) || seconds < 0) return "?";
        long s = Math.round(seconds);
        long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, sec)
                : String.format(Locale.ROOT, "%d:%02d", m, sec);
    }
}
