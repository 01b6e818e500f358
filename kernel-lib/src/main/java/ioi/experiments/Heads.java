package ioi.experiments;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Head indices as the paper writes them ({@code "9.9"} = layer 9, head 9), checked against a grid of
 * n_layers x n_heads. Package-private helper of the head-score experiments.
 */
final class Heads {

    private static final Pattern LABEL = Pattern.compile("(\\d+)\\.(\\d+)");

    private Heads() {}

    /** Throws unless {@code layer.head} exists in a grid of this shape. */
    static void check(long nLayers, long nHeads, int layer, int head) {
        if (layer < 0 || layer >= nLayers || head < 0 || head >= nHeads) {
            throw new IllegalArgumentException("head " + layer + "." + head + " does not exist: layer must be in [0, "
                    + nLayers + ") and head in [0, " + nHeads + ")");
        }
    }

    /** {@code ["9.9", "10.0"]} to {layer, head} pairs, checked. */
    static List<int[]> parse(List<String> labels, long nLayers, long nHeads) {
        if (labels == null || labels.isEmpty()) {
            throw new IllegalArgumentException("expected at least one head (e.g. \"9.9\")");
        }
        List<int[]> out = new ArrayList<>();
        for (String label : labels) {
            Matcher m = LABEL.matcher(label == null ? "" : label.strip());
            if (!m.matches()) {
                throw new IllegalArgumentException("head '" + label + "' is not of the form layer.head (e.g. \"9.9\")");
            }
            int layer = Integer.parseInt(m.group(1));
            int head = Integer.parseInt(m.group(2));
            check(nLayers, nHeads, layer, head);
            out.add(new int[] {layer, head});
        }
        return out;
    }

    static String label(int layer, int head) {
        return layer + "." + head;
    }
}
