package ioi.display;

import java.util.ArrayList;
import java.util.List;

/**
 * Colour scales shared by tables, charts and the attention view, as lower-case {@code #rrggbb}
 * (the form JupyterLab's sanitizer accepts in inline styles).
 *
 * <p>{@link #RDBU} is ColorBrewer's RdBu from low to high, the scale plotly express calls
 * {@code "RdBu"} and the IOI notebooks use with midpoint 0: negative red, positive blue. (plotly.js's
 * own named {@code "RdBu"} runs the other way, so charts carry the explicit list.)
 */
public final class Colors {
    private Colors() {}

    /** ColorBrewer RdBu (11 classes), low (negative, red) to high (positive, blue). */
    public static final List<String> RDBU = List.of(
            "#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7",
            "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061");

    /** ColorBrewer Blues (9 classes), low (white) to high (dark blue): attention weights in [0, 1]. */
    public static final List<String> BLUES = List.of(
            "#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b");

    /** Text colour for negative numbers in tables. */
    public static final String NEGATIVE = "#b2182b";
    /** Text colour for positive numbers in tables. */
    public static final String POSITIVE = "#2166ac";

    /** RdBu at {@code t} in [-1, 1] (clamped; NaN gives the neutral middle). */
    public static String diverging(double t) {
        if (Double.isNaN(t)) t = 0;
        return at(RDBU, (Math.max(-1, Math.min(1, t)) + 1) / 2);
    }

    /** Blues at {@code t} in [0, 1] (clamped; NaN gives white). */
    public static String sequential(double t) {
        if (Double.isNaN(t)) t = 0;
        return at(BLUES, Math.max(0, Math.min(1, t)));
    }

    /** Linear interpolation along equally spaced stops, {@code u} in [0, 1]. */
    static String at(List<String> stops, double u) {
        double x = u * (stops.size() - 1);
        int i = Math.min((int) Math.floor(x), stops.size() - 2);
        double f = x - i;
        int[] a = rgb(stops.get(i)), b = rgb(stops.get(i + 1));
        return hex((int) Math.round(a[0] + f * (b[0] - a[0])),
                (int) Math.round(a[1] + f * (b[1] - a[1])),
                (int) Math.round(a[2] + f * (b[2] - a[2])));
    }

    /** Black or white, whichever reads better on {@code background}. */
    public static String textOn(String background) {
        int[] c = rgb(background);
        double luminance = 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
        return luminance > 0.25 ? "#000000" : "#ffffff";
    }

    /** A scale as Plotly's {@code colorscale}: {@code [[0, "#.."], ..., [1, "#.."]]}. */
    public static List<List<Object>> plotlyScale(List<String> stops) {
        List<List<Object>> scale = new ArrayList<>();
        for (int i = 0; i < stops.size(); i++)
            scale.add(List.of((double) i / (stops.size() - 1), stops.get(i)));
        return scale;
    }

    private static double lin(int channel) {
        double c = channel / 255.0;
        return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    }

    static int[] rgb(String hex) {
        int v = Integer.parseInt(hex.substring(1), 16);
        return new int[] {(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff};
    }

    static String hex(int r, int g, int b) {
        return String.format("#%02x%02x%02x", r, g, b);
    }
}
