package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.Table;
import tech.tablesaw.columns.Column;

/**
 * A patching grid: the metric of every cell, shaped like TransformerLens's result
 * ({@code [n_layers, pos]}, {@code [n_layers, n_heads]}, {@code [n_layers, pos, n_heads]}), with
 * the axis names. Owns its array: close it (or the model).
 *
 * @param title what was patched, for plots
 * @param values the metric per cell, FLOAT32, shape {@code axes}
 * @param axes axis names, e.g. {@code [layer, pos, head]}
 * @param baseline the metric of the corrupted run with nothing patched
 */
public record PatchingResult(String title, NDArray values, List<String> axes, double baseline, NDManager manager)
        implements AutoCloseable {

    /** The grid's shape. */
    public Shape shape() {
        return values.getShape();
    }

    /** The values, row-major. */
    public float[] toFloatArray() {
        return values.toFloatArray();
    }

    /** The value at one cell, e.g. {@code get(9, 9)} for head 9.9. */
    public float get(long... index) {
        return values.getFloat(index);
    }

    /** Long format, one row per cell: an int column per axis and {@code metric}. */
    public Table table() {
        float[] v = toFloatArray();
        long[] shape = values.getShape().getShape();
        int[][] coords = new int[shape.length][v.length];
        for (int flat = 0; flat < v.length; flat++) {
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
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        cols[shape.length] = DoubleColumn.create("metric", d);
        return Table.create(title, cols);
    }

    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return "PatchingResult(" + title + ", " + axes + " " + values.getShape() + ")";
    }
}
