package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.display.Displayable;
import ioi.experiments.IoiBatch;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The exercise notebooks' checks, as ARENA's {@code tests} module: each one calls the learner's
 * function on small inputs (or the loaded model and data), compares it with the library's own
 * implementation within a stated tolerance, and answers in one line ({@link Result#line()}):
 * {@code check NAME: passed}, {@code check NAME: not implemented yet} (the stub's
 * {@code throw Check.todo();} is still there) or {@code check NAME: FAILED - what differs}: a shape,
 * or the worst element with expected and got, and, when the answer is exactly a known mistake
 * (S2 instead of S1, a sign, an off-by-one position), which one. A check never throws because of
 * the learner's code: an exception in it is reported as a failure with its message.
 * {@link #hint(String)} shows an exercise's hints. {@code ./ioi exercises --check} counts these lines.
 *
 * <p>Tolerances: {@link #ATOL} + {@link #RTOL} x |expected| per element (float32 arithmetic in a
 * different order, as PyTorch's {@code assert_close} defaults for float32).
 */
public final class Check {

    /** Absolute tolerance per element. */
    public static final double ATOL = 1e-4;
    /** Relative tolerance per element. */
    public static final double RTOL = 1e-3;

    private Check() {}

    // ---------------------------------------------------------------- the stub and the result

    /** What an exercise's stub throws: {@code throw Check.todo();}. */
    public static final class NotImplemented extends RuntimeException {
        NotImplemented() {
            super("not implemented yet: replace `throw Check.todo();` with your code");
        }
    }

    /** The stub body of every exercise: {@code throw Check.todo();}. */
    public static NotImplemented todo() {
        return new NotImplemented();
    }

    public enum Status {
        PASSED, NOT_IMPLEMENTED, FAILED
    }

    /** One check's verdict; shows itself as one line (coloured in HTML). */
    public record Result(String exercise, Status status, String detail) implements Displayable {
        public boolean passed() {
            return status == Status.PASSED;
        }

        /** {@code check NAME: passed|not implemented yet|FAILED[ - detail]}: what the exercise runner counts. */
        public String line() {
            String verdict = switch (status) {
                case PASSED -> "passed";
                case NOT_IMPLEMENTED -> "not implemented yet";
                case FAILED -> "FAILED";
            };
            return "check " + exercise + ": " + verdict + (detail == null || detail.isEmpty() ? "" : " - " + detail);
        }

        @Override
        public Map<String, Object> mimeBundle() {
            String colour = switch (status) {
                case PASSED -> "#1a7f37";
                case NOT_IMPLEMENTED -> "#9a6700";
                case FAILED -> "#cf222e";
            };
            String mark = switch (status) {
                case PASSED -> "&#10004;";
                case NOT_IMPLEMENTED -> "&#8230;";
                case FAILED -> "&#10008;";
            };
            Map<String, Object> bundle = new LinkedHashMap<>();
            bundle.put(TEXT_PLAIN, line());
            bundle.put(TEXT_HTML, "<div style=\"font-family:monospace;color:" + colour + "\">" + mark + " "
                    + ioi.display.Html.escape(line()) + "</div>");
            return bundle;
        }

        @Override
        public String toString() {
            return line();
        }
    }

    /** A learner's exception, kept apart from the check's own. */
    static final class LearnerError extends RuntimeException {
        LearnerError(String message) {
            super(message);
        }
    }

    /** Calls the learner's code: {@link NotImplemented} passes through, anything else becomes a failure line. */
    static <T> T call(String what, Supplier<T> learner) {
        try {
            T out = learner.get();
            if (out == null) {
                throw new LearnerError(what + " returned null");
            }
            return out;
        } catch (NotImplemented e) {
            throw e;
        } catch (RuntimeException e) {
            throw new LearnerError(what + " threw " + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    /** Runs a check body: null from it is a pass, a string a failure. */
    static Result run(String exercise, Supplier<String> body) {
        try {
            String failure = body.get();
            return failure == null ? new Result(exercise, Status.PASSED, "")
                    : new Result(exercise, Status.FAILED, failure + hintSuffix(exercise));
        } catch (NotImplemented e) {
            return new Result(exercise, Status.NOT_IMPLEMENTED,
                    "replace `throw Check.todo();` with your code; Check.hint(\"" + exercise + "\") for a hint");
        } catch (LearnerError e) {
            return new Result(exercise, Status.FAILED, e.getMessage() + hintSuffix(exercise));
        }
    }

    private static String hintSuffix(String exercise) {
        return HINTS.containsKey(exercise) ? " (Check.hint(\"" + exercise + "\") for a hint)" : "";
    }

    // ---------------------------------------------------------------- comparison

    /** A plausible wrong answer: if the learner's equals it, the failure says so. */
    record Mistake(String description, Supplier<NDArray> answer) {}

    /**
     * Null if {@code got} equals {@code expected} (shape, and every element within ATOL + RTOL x
     * |expected|), else what differs: the shape, or the worst element and how many differ, and the
     * first {@code mistakes} entry that {@code got} matches.
     */
    static String compare(String what, NDArray expected, NDArray got, List<Mistake> mistakes) {
        String diff = difference(what, expected, got);
        if (diff == null) {
            return null;
        }
        for (Mistake mistake : mistakes) {
            NDArray wrong = mistake.answer().get();
            if (difference(what, wrong, got) == null) {
                return diff + "; that is what you get if you " + mistake.description();
            }
        }
        return diff;
    }

    static String difference(String what, NDArray expected, NDArray got) {
        Shape es = expected.getShape();
        Shape gs = got.getShape();
        if (!es.equals(gs)) {
            return what + " has shape " + gs + " but should have " + es;
        }
        float[] e = expected.toType(DataType.FLOAT32, false).toFloatArray();
        float[] g = got.toType(DataType.FLOAT32, false).toFloatArray();
        int worst = -1;
        double worstExcess = 0;
        int differing = 0;
        for (int i = 0; i < e.length; i++) {
            double tol = ATOL + RTOL * Math.abs(e[i]);
            double d = Math.abs((double) e[i] - g[i]);
            boolean bad = !(d <= tol) || Float.isNaN(g[i]) != Float.isNaN(e[i]);
            if (Float.isNaN(g[i]) && Float.isNaN(e[i])) {
                bad = false;
            }
            if (bad) {
                differing++;
                double excess = Double.isNaN(d) ? Double.POSITIVE_INFINITY : d - tol;
                if (worst < 0 || excess > worstExcess) {
                    worst = i;
                    worstExcess = excess;
                }
            }
        }
        if (worst < 0) {
            return null;
        }
        boolean bool = expected.getDataType() == DataType.BOOLEAN;
        return String.format(Locale.ROOT, "%s differs at %s: expected %s, got %s (%d of %d elements differ by more than %s)",
                what, index(es, worst), value(e[worst], bool), value(g[worst], bool), differing, e.length,
                bool ? "nothing" : String.format(Locale.ROOT, "%.0e + %.0e x |expected|", ATOL, RTOL));
    }

    private static String value(float v, boolean bool) {
        return bool ? String.valueOf(v != 0) : String.format(Locale.ROOT, "%.6g", v);
    }

    private static String index(Shape shape, int flat) {
        long[] idx = new long[shape.dimension()];
        long rest = flat;
        for (int d = idx.length - 1; d >= 0; d--) {
            idx[d] = rest % shape.get(d);
            rest /= shape.get(d);
        }
        StringBuilder sb = new StringBuilder("[");
        for (int d = 0; d < idx.length; d++) {
            sb.append(d == 0 ? "" : ", ").append(idx[d]);
        }
        return sb.append(']').toString();
    }

    // ---------------------------------------------------------------- hints

    /** Every exercise's hints, from the section classes' {@code HINTS}. */
    private static final Map<String, List<String>> HINTS = new HashMap<>();

    static {
        for (Map<String, List<String>> section : List.of(TaskChecks.HINTS, NameMoverChecks.HINTS,
                SInhibitionChecks.HINTS, InductionChecks.HINTS, CircuitChecks.HINTS)) {
            HINTS.putAll(section);
        }
    }

    /** The hints of one exercise, as numbered lines. */
    public static String hint(String exercise) {
        List<String> hints = HINTS.get(exercise);
        if (hints == null) {
            throw new IllegalArgumentException("no exercise named '" + exercise + "'; exercises with hints: "
                    + HINTS.keySet().stream().sorted().toList());
        }
        StringBuilder sb = new StringBuilder("Hints for " + exercise + ":");
        for (int i = 0; i < hints.size(); i++) {
            sb.append("\n  ").append(i + 1).append(". ").append(hints.get(i));
        }
        return sb.toString();
    }

    /**
     * How many prompts the checks of the by-hand loops (one forward pass per grid cell, as ARENA's
     * solutions run) give the learner's code: 8, as ARENA's activation-patching section has. The
     * library's grid is computed on the same prompts.
     */
    public static final int LOOP_PROMPTS = 8;

    /** The first {@link #LOOP_PROMPTS} prompts of {@code batch}, cut after their last {@code end}. */
    static IoiBatch loopBatch(IoiBatch batch) {
        return batch.first(Math.min(LOOP_PROMPTS, batch.size()));
    }

    /** Rows 0..n-1 as an index array, for {@code a[arange(N), idx]}: {@code a.get(new NDIndex("{}, {}", rows, idx))}. */
    public static NDArray rows(NDManager manager, int n) {
        return manager.arange(0, n, 1, DataType.INT64);
    }
}

