package ioi.experiments;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which entries of an activation a {@link Patch} replaces, by TransformerLens dimension name:
 * {@code Region.at("pos", 5)} (TL's {@code act[:, 5]}), {@code Region.at("head_index", 9)}
 * ({@code z[:, :, 9]}, or {@code pattern[:, 9]}: the axis is found by name), {@code Region.at("pos",
 * 5).and("head_index", 9)}, or one position per prompt, {@code Region.perPrompt("pos", end)}
 * ({@code act[arange(batch), end]}), the way the paper patches "at END". Unnamed dimensions are
 * taken whole; every prompt of the batch is patched unless {@link #perPrompt} says otherwise.
 *
 * <p>Names: {@code batch, pos, head_index, d_head, d_model, d_mlp, query_pos, key_pos}, with TL's
 * aliases {@code head = head_index}, {@code dest_pos = query_pos}, {@code src_pos = key_pos}.
 */
public final class Region {

    private static final Map<String, String> ALIASES = Map.of(
            "head", "head_index", "dest_pos", "query_pos", "src_pos", "key_pos");

    private final Map<String, long[]> at; // dimension -> selected indices
    private final String perPromptDim; // null, or the dimension indexed per batch row
    private final long[] perPrompt; // [batch]

    private Region(Map<String, long[]> at, String perPromptDim, long[] perPrompt) {
        this.at = at;
        this.perPromptDim = perPromptDim;
        this.perPrompt = perPrompt;
    }

    /** The whole activation. */
    public static Region all() {
        return new Region(Map.of(), null, null);
    }

    /** Indices {@code indices} of dimension {@code dim}, everything else whole. */
    public static Region at(String dim, long... indices) {
        return all().and(dim, indices);
    }

    /** Row {@code b} of the batch at index {@code positions[b]} of {@code dim} (e.g. each prompt's END). */
    public static Region perPrompt(String dim, long[] positions) {
        return all().andPerPrompt(dim, positions);
    }

    /** This region further restricted to {@code indices} of {@code dim}. */
    public Region and(String dim, long... indices) {
        String d = canonical(dim);
        if (at.containsKey(d) || d.equals(perPromptDim)) {
            throw new IllegalArgumentException("dimension " + d + " is restricted twice");
        }
        if (d.equals("batch")) {
            throw new IllegalArgumentException("select prompts with perPrompt, not at(\"batch\")");
        }
        if (indices.length == 0) {
            throw new IllegalArgumentException("at(\"" + dim + "\") needs at least one index");
        }
        for (long i : indices) {
            if (i < 0) {
                throw new IllegalArgumentException(dim + " index " + i + " must be >= 0");
            }
        }
        Map<String, long[]> m = new LinkedHashMap<>(at);
        m.put(d, indices.clone());
        return new Region(m, perPromptDim, perPrompt);
    }

    /** This region further restricted to one index of {@code dim} per batch row. */
    public Region andPerPrompt(String dim, long[] positions) {
        String d = canonical(dim);
        if (perPromptDim != null || at.containsKey(d) || d.equals("batch")) {
            throw new IllegalArgumentException("perPrompt(" + dim + ") conflicts with " + this);
        }
        for (long p : positions) {
            if (p < 0) {
                throw new IllegalArgumentException(dim + " index " + p + " must be >= 0");
            }
        }
        return new Region(at, d, positions.clone());
    }

    private static String canonical(String dim) {
        return ALIASES.getOrDefault(dim, dim);
    }

    /**
     * A boolean mask of one copy of the activation in a reduced shape: the size of each restricted
     * axis, 1 for the others (so it broadcasts).
     *
     * @param hook the hook name (for messages)
     * @param dims the hook's dimension names, batch first
     * @param full the activation's shape on the full sequence (indices are checked against it)
     * @param from first position run
     * @param to last position run + 1: along position axes ({@code pos, query_pos, key_pos}) the
     *     mask covers [from, to) only, and indices outside it select nothing
     */
    Mask mask(String hook, List<String> dims, long[] full, long from, long to) {
        long[] cut = full.clone();
        for (int a = 0; a < cut.length; a++) {
            if (isPos(dims.get(a))) {
                cut[a] = to - from;
            }
        }
        int n = dims.size();
        int perAxis = -1;
        long[] shape = new long[n];
        Arrays.fill(shape, 1);
        boolean[][] selected = new boolean[n][];
        for (Map.Entry<String, long[]> e : at.entrySet()) {
            int a = axis(hook, dims, e.getKey());
            shape[a] = cut[a];
            selected[a] = new boolean[(int) cut[a]];
            for (long i : e.getValue()) {
                if (i >= full[a]) {
                    throw new IllegalArgumentException(hook + ": " + e.getKey() + " index " + i
                            + " is out of range [0, " + full[a] + ")");
                }
                long rel = isPos(e.getKey()) ? i - from : i;
                if (rel >= 0 && rel < cut[a]) {
                    selected[a][(int) rel] = true;
                }
            }
        }
        if (perPromptDim != null) {
            perAxis = axis(hook, dims, perPromptDim);
            if (perPrompt.length != full[0]) {
                throw new IllegalArgumentException(hook + ": perPrompt(" + perPromptDim + ") has " + perPrompt.length
                        + " positions but the batch has " + full[0] + " prompts");
            }
            for (long p : perPrompt) {
                if (p >= full[perAxis]) {
                    throw new IllegalArgumentException(hook + ": " + perPromptDim + " index " + p
                            + " is out of range [0, " + full[perAxis] + ")");
                }
            }
            shape[0] = cut[0];
            shape[perAxis] = cut[perAxis];
        }
        long perOffset = perPromptDim != null && isPos(perPromptDim) ? from : 0;
        int size = 1;
        for (long s : shape) {
            size = Math.multiplyExact(size, (int) s);
        }
        boolean[] values = new boolean[size];
        int[] idx = new int[n];
        for (int flat = 0; flat < size; flat++) {
            boolean on = true;
            for (int a = 0; a < n && on; a++) {
                if (selected[a] != null && !selected[a][idx[a]]) {
                    on = false;
                }
            }
            if (on && perAxis >= 0 && perPrompt[idx[0]] - perOffset != idx[perAxis]) {
                on = false;
            }
            values[flat] = on;
            for (int a = n - 1; a >= 0; a--) { // row-major increment
                if (++idx[a] < shape[a]) {
                    break;
                }
                idx[a] = 0;
            }
        }
        return new Mask(shape, values);
    }

    /** Whether a dimension is a sequence position ({@code pos, query_pos, key_pos}). */
    static boolean isPos(String dim) {
        return dim.equals("pos") || dim.equals("query_pos") || dim.equals("key_pos");
    }

    private static int axis(String hook, List<String> dims, String dim) {
        int a = dims.indexOf(dim);
        if (a < 0) {
            throw new IllegalArgumentException(hook + " has dimensions " + dims + ": no '" + dim + "' to select on");
        }
        return a;
    }

    /** A reduced-shape boolean mask of one copy (see {@link Region#mask}). */
    record Mask(long[] shape, boolean[] values) {
        boolean any() {
            for (boolean v : values) {
                if (v) {
                    return true;
                }
            }
            return false;
        }

        /** The value at a full-rank index of a shape this mask broadcasts to. */
        boolean at(int[] index) {
            int flat = 0;
            for (int a = 0; a < shape.length; a++) {
                flat = flat * (int) shape[a] + (shape[a] == 1 ? 0 : index[a]);
            }
            return values[flat];
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Region(");
        if (at.isEmpty() && perPromptDim == null) {
            sb.append("all");
        }
        String sep = "";
        for (Map.Entry<String, long[]> e : at.entrySet()) {
            sb.append(sep).append(e.getKey()).append('=').append(Arrays.toString(e.getValue()));
            sep = ", ";
        }
        if (perPromptDim != null) {
            sb.append(sep).append(perPromptDim).append(" per prompt=").append(Arrays.toString(perPrompt));
        }
        return sb.append(')').toString();
    }
}
