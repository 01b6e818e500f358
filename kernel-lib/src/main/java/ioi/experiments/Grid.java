package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * An experiment's numbers as a plain Java array with a shape: a score per head
 * ({@code [n_layers, n_heads]}), a patching grid, a value per prompt ({@code [batch]}). Results a
 * learner keeps hold these instead of native arrays, so they need no closing and outlive the model,
 * the cache and the notebook cell that made them. Immutable; {@link #toNDArray} gives an array of a
 * manager of the caller's for array arithmetic.
 */
public final class Grid {

    private final float[] values;
    private final long[] shape;

    private Grid(float[] values, long[] shape) {
        long cells = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        if (cells != values.length) {
            throw new IllegalArgumentException(values.length + " values for shape " + Arrays.toString(shape) + " ("
                    + cells + " cells)");
        }
        this.values = values;
        this.shape = shape;
    }

    /** A grid of {@code values} (copied), row-major over {@code shape}. */
    public static Grid of(float[] values, long... shape) {
        return new Grid(values.clone(), shape.clone());
    }

    /** A copy of an array's values (as FLOAT32) and shape; the array stays the caller's. */
    public static Grid of(NDArray array) {
        return new Grid(array.toType(DataType.FLOAT32, false).toFloatArray(), array.getShape().getShape());
    }

    public Shape shape() {
        return new Shape(shape);
    }

    /** The number of values. */
    public int size() {
        return values.length;
    }

    /** The values, row-major (a copy). */
    public float[] toFloatArray() {
        return values.clone();
    }

    /** The values as doubles, row-major (for Tablesaw columns). */
    public double[] toDoubleArray() {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = values[i];
        }
        return d;
    }

    /** An array of {@code manager}'s, FLOAT32, of this shape. */
    public NDArray toNDArray(NDManager manager) {
        return manager.create(values, shape());
    }

    /** The value at one cell, e.g. {@code get(9, 9)} for head 9.9. */
    public float get(long... index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("get" + Arrays.toString(index) + ": the grid has " + shape.length
                    + " axes, shape " + shape());
        }
        long flat = 0;
        for (int a = 0; a < shape.length; a++) {
            if (index[a] < 0 || index[a] >= shape[a]) {
                throw new IndexOutOfBoundsException("get" + Arrays.toString(index) + ": index " + index[a] + " of axis "
                        + a + " is outside [0, " + shape[a] + ") of shape " + shape());
            }
            flat = flat * shape[a] + index[a];
        }
        return values[(int) flat];
    }

    /** The sub-grid at {@code i} of the first axis, e.g. one sign of {@code [2, n_layers, n_heads]}. */
    public Grid slice(long i) {
        if (shape.length < 2 || i < 0 || i >= shape[0]) {
            throw new IllegalArgumentException("slice(" + i + ") of shape " + shape() + ": expected 2 or more axes and"
                    + " an index in [0, " + (shape.length == 0 ? 0 : shape[0]) + ")");
        }
        int n = values.length / (int) shape[0];
        return new Grid(Arrays.copyOfRange(values, (int) i * n, (int) (i + 1) * n),
                Arrays.copyOfRange(shape, 1, shape.length));
    }

    /** The same grid with another shape of as many values (TL's {@code reshape}). */
    public Grid reshape(long... newShape) {
        return new Grid(values, newShape.clone());
    }

    /** Every value times {@code factor} (e.g. 100 for percentages). */
    public Grid times(double factor) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (values[i] * factor);
        }
        return new Grid(out, shape);
    }

    /** The mean of every value, in double precision. */
    public double mean() {
        double s = 0;
        for (float v : values) {
            s += v;
        }
        return s / values.length;
    }

    /** A 2-D grid as rows ({@code [layer][head]}), for charts. */
    public float[][] rows() {
        if (shape.length != 2) {
            throw new IllegalStateException("rows(): the grid is not 2-D: its shape is " + shape());
        }
        float[][] out = new float[(int) shape[0]][];
        for (int r = 0; r < out.length; r++) {
            out[r] = Arrays.copyOfRange(values, r * (int) shape[1], (r + 1) * (int) shape[1]);
        }
        return out;
    }

    /** A 3-D grid as panels of rows ({@code [sign][layer][head]}), for faceted charts. */
    public float[][][] panels() {
        if (shape.length != 3) {
            throw new IllegalStateException("panels(): the grid is not 3-D: its shape is " + shape());
        }
        float[][][] out = new float[(int) shape[0]][][];
        for (int p = 0; p < out.length; p++) {
            out[p] = slice(p).rows();
        }
        return out;
    }

    @Override
    public String toString() {
        return "Grid" + shape();
    }
}
