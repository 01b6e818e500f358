package ioi.lens;

import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Collects numeric comparisons and fails once with every mismatch, printing the worst absolute
 * difference of each comparison: {@code |actual - expected| <= atol + rtol * |expected|}.
 */
public final class Compare {

    private final String title;
    private final List<String> failures = new ArrayList<>();
    private final StringBuilder report = new StringBuilder();

    public Compare(String title) {
        this.title = title;
    }

    /** Compares element-wise; returns the worst absolute difference. */
    public double close(String name, NDArray actual, NDArray expected, double atol, double rtol) {
        if (!actual.getShape().equals(expected.getShape())) {
            failures.add(name + ": shape " + actual.getShape() + " but expected " + expected.getShape());
            return Double.NaN;
        }
        float[] a = actual.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
        float[] e = expected.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
        return close(name, a, e, atol, rtol);
    }

    public double close(String name, float[] a, float[] e, double atol, double rtol) {
        double worst = 0;
        double worstExcess = 0;
        int worstAt = -1;
        for (int i = 0; i < a.length; i++) {
            boolean bothInf = Float.isInfinite(a[i]) && a[i] == e[i];
            double d = bothInf ? 0 : Math.abs((double) a[i] - e[i]);
            if (Double.isNaN(d)) {
                d = Double.POSITIVE_INFINITY;
            }
            double excess = d - (atol + rtol * Math.abs(e[i]));
            if (d > worst) {
                worst = d;
            }
            if (excess > worstExcess) {
                worstExcess = excess;
                worstAt = i;
            }
        }
        report.append(String.format(Locale.ROOT, "  %-45s max|diff| %.3e%n", name, worst));
        if (worstExcess > 0) {
            failures.add(String.format(Locale.ROOT, "%s: max|diff| %.3e > atol %.1e + rtol %.1e*|expected| "
                    + "(at flat index %d: actual %s, expected %s)", name, worst, atol, rtol, worstAt,
                    a[worstAt], e[worstAt]));
        }
        return worst;
    }

    public void fail(String message) {
        failures.add(message);
    }

    /** Prints the per-comparison report and throws if anything mismatched. */
    public void check() {
        System.out.println(title + "\n" + report);
        if (!failures.isEmpty()) {
            throw new AssertionError(title + ": " + failures.size() + " mismatches:\n  " + String.join("\n  ", failures));
        }
    }
}
