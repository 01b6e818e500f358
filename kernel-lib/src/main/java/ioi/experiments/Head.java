package ioi.experiments;

import ioi.lens.GPT2Config;

/**
 * An attention head, {@code layer.head} as the paper writes it ("9.9" is the name mover in layer 9,
 * head 9). Ordered by layer, then head.
 */
public record Head(int layer, int head) implements Comparable<Head> {

    public Head {
        if (layer < 0 || head < 0) {
            throw new IllegalArgumentException("a head needs a layer and a head index >= 0 but got " + layer + "." + head);
        }
    }

    public static Head of(int layer, int head) {
        return new Head(layer, head);
    }

    /** Parses {@code "9.9"} (also {@code "L9H9"}, the labels of {@link LogitAttribution#byHead}). */
    public static Head parse(String s) {
        String t = s == null ? "" : s.trim();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)\\.(\\d+)|L(\\d+)H(\\d+)").matcher(t);
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + s + "' is not a head: expected layer.head such as 9.9 (or L9H9)");
        }
        return m.group(1) != null ? new Head(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)))
                : new Head(Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4)));
    }

    /**
     * Throws unless the model has this head.
     *
     * @throws IllegalArgumentException naming the head and the model's layers and heads
     */
    public Head checkIn(GPT2Config cfg) {
        if (layer >= cfg.nLayers() || head >= cfg.nHeads()) {
            throw new IllegalArgumentException("head " + this + " is out of range: the model has layers [0, "
                    + cfg.nLayers() + ") and heads [0, " + cfg.nHeads() + ")");
        }
        return this;
    }

    @Override
    public int compareTo(Head o) {
        return layer != o.layer ? Integer.compare(layer, o.layer) : Integer.compare(head, o.head);
    }

    @Override
    public String toString() {
        return layer + "." + head;
    }
}
