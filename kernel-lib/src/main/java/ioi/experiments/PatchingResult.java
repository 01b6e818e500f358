package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.Table;
import tech.tablesaw.columns.Column;

/**
 * A patching grid: the metric of every cell, shaped like TransformerLens's result
 * ({@code [n_layers, pos]}, {@code [n_layers, n_heads]}, {@code [n_layers, pos, n_heads]}), with
 * the axis names. It holds plain Java arrays, no native memory: nothing to close, and it outlives
 * the model and the patching run that made it (a notebook can keep it after their cells are re-run
 * or closed). {@link #toNDArray} makes an array of it in a manager of the caller's.
 */
public final class PatchingResult {

    private final String title;
    private final Grid grid;
    private final List<String> axes;
    private final double baseline;

    /**
     * @param title what was patched, for plots
     * @param values the metric per cell, row-major over {@code shape} (copied)
     * @param shape the grid's shape, one entry per axis
     * @param axes axis names, e.g. {@code [layer, pos, head]}
     * @param baseline the metric of the corrupted run with nothing patched
     */
    public PatchingResult(String title, float[] values, long[] shape, List<String> axes, double baseline) {
        if (axes.size() != shape.length) {
            throw new IllegalArgumentException("PatchingResult '" + title + "': axes " + axes + " for shape "
                    + Arrays.toString(shape));
        }
        try {
            this.grid = Grid.of(values, shape);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("PatchingResult '" + title + "': " + e.getMessage(), e);
        }
        this.title = title;
        this.axes = List.copyOf(axes);
        this.baseline = baseline;
    }

    /** A copy of an array's values and shape (the array stays the caller's). */
    public static PatchingResult of(String title, NDArray values, List<String> axes, double baseline) {
        return new PatchingResult(title, values.toFloatArray(), values.getShape().getShape(), axes, baseline);
    }

    public String title() {
        return title;
    }

    public List<String> axes() {
        return axes;
    }

    public double baseline() {
        return baseline;
    }

    /** The values with their shape. */
    public Grid grid() {
        return grid;
    }

    /** The grid's shape. */
    public Shape shape() {
        return grid.shape();
    }

    /** The values, row-major (a copy). */
    public float[] toFloatArray() {
        return grid.toFloatArray();
    }

    /** The grid as an array of {@code manager}'s, FLOAT32, shape {@link #shape()}. */
    public NDArray toNDArray(NDManager manager) {
        return grid.toNDArray(manager);
    }

    /** A 2-D grid as rows ({@code [layer][head]}, {@code [layer][pos]}), for charts. */
    public float[][] rows() {
        return grid.rows();
    }

    /** The value at one cell, e.g. {@code get(9, 9)} for head 9.9. */
    public float get(long... index) {
        return grid.get(index);
    }

    /** Long format, one row per cell: an int column per axis and {@code metric}. */
    public Table table() {
        long[] shape = grid.shape().getShape();
        int n = grid.size();
        int[][] coords = new int[shape.length][n];
        for (int flat = 0; flat < n; flat++) {
            int rest = flat;
            for (int a = shape.length - 1; a >= 0; a--) {
                coords[a][flat] = (int) (rest % shape[a]);
                rest /= shape[a];
            }
        }
        Column<?>[] cols = new Column<?>[shape.length + 1];
        for (int a = 0; a < shape.length; a++) {
            cols[a] = IntColumn.create(axes.get(a), coords[a]);
        }
        cols[shape.length] = DoubleColumn.create("metric", grid.toDoubleArray());
        return Table.create(title, cols);
    }

    @Override
    public String toString() {
        return "PatchingResult(" + title + ", " + axes + " " + shape() + ")";
    }
}
