package ioi.experiments;

import ioi.lens.GPT2Config;

/**
 * An attention head, written {@code layer.head} as in the paper ("9.9" is layer 9, head 9).
 *
 * @param layer 0-based layer
 * @param head 0-based head index within the layer
 */
public record Head(int layer, int head) implements Comparable<Head> {

    public Head {
        if (layer < 0 || head < 0) {
            throw new IllegalArgumentException("head " + layer + "." + head + ": layer and head must be >= 0");
        }
    }

    /** Shorthand: {@code Head.of(9, 9)}. */
    public static Head of(int layer, int head) {
        return new Head(layer, head);
    }

    /** Parses the paper's notation {@code "9.9"}. */
    public static Head parse(String s) {
        String[] parts = s.trim().split("\\.");
        if (parts.length != 2) {
            throw new IllegalArgumentException("'" + s + "' is not a head: expected layer.head, e.g. 9.9");
        }
        try {
            return new Head(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + s + "' is not a head: expected layer.head, e.g. 9.9", e);
        }
    }

    /** Throws unless the head exists in a model of this shape. */
    public Head checkIn(GPT2Config cfg) {
        if (layer >= cfg.nLayers() || head >= cfg.nHeads()) {
            throw new IllegalArgumentException("head " + this + " does not exist: layers are 0.." + (cfg.nLayers() - 1)
                    + ", heads 0.." + (cfg.nHeads() - 1));
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
