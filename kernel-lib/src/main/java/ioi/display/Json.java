package ioi.display;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * JSON values for Plotly figures and view data, as plain {@code Map}/{@code List}/boxed numbers, so
 * the kernel's own (relocated) Gson can serialise a MIME bundle without knowing our types.
 *
 * <p>Gson refuses NaN and infinities (and Jupyter's JSON has none), so every number from user data
 * passes through {@link #num}: non-finite values become {@code null}, which Plotly draws as a gap
 * (a masked attention score shows as an empty cell).
 */
public final class Json {
    private Json() {}

    // HTML-safe by default: '<', '>', '&', '=', '\'' are written as \\u escapes, so the JSON can sit
    // inside a <script> element without closing it.
    private static final Gson GSON = new GsonBuilder().disableJdkUnsafe().create();

    /** Serialises a value built from maps, lists, strings, booleans and finite numbers. */
    public static String toJson(Object value) {
        return GSON.toJson(value);
    }

    /** A finite number, or {@code null} for NaN and ±infinity. */
    public static Object num(double v) {
        return Double.isFinite(v) ? (Object) v : null;
    }

    /** A finite float, or {@code null} for NaN and ±infinity. */
    public static Object num(float v) {
        return Float.isFinite(v) ? (Object) v : null;
    }

    public static List<Object> list(double[] values) {
        List<Object> out = new ArrayList<>(values.length);
        for (double v : values) out.add(num(v));
        return out;
    }

    public static List<Object> list(float[] values) {
        List<Object> out = new ArrayList<>(values.length);
        for (float v : values) out.add(num(v));
        return out;
    }

    public static List<Object> matrix(float[][] rows) {
        List<Object> out = new ArrayList<>(rows.length);
        for (float[] row : rows) out.add(list(row));
        return out;
    }

    static double[] toDoubles(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) out[i] = values[i];
        return out;
    }

    /** Finite minimum and maximum of {@code values} ({@code [NaN, NaN]} when none is finite). */
    static double[] finiteRange(float[][][] values) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (float[][] m : values)
            for (float[] row : m)
                for (float v : row)
                    if (Float.isFinite(v)) {
                        lo = Math.min(lo, v);
                        hi = Math.max(hi, v);
                    }
        return lo > hi ? new double[] {Double.NaN, Double.NaN} : new double[] {lo, hi};
    }

    static String shape(int... dims) {
        return Arrays.toString(dims);
    }
}
