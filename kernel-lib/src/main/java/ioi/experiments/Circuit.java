package ioi.experiments;

import ioi.lens.GPT2Config;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A circuit as the paper and ARENA write it: attention heads by class, and for each class the one
 * word position its heads are kept at when everything else is mean-ablated (paper Fig 2; ARENA's
 * {@code CIRCUIT} and {@code SEQ_POS_TO_KEEP}). Nodes are (head, position) pairs: a class's heads
 * are kept at {@code word_idx[position]} of each prompt and ablated everywhere else.
 *
 * <p>Position keys are {@link IoiBatch#wordIdx} keys: {@code "end"}, {@code "S2"}, {@code "S1+1"}
 * (and {@code "IO"}, {@code "S1"}). A head belongs to one class only. Maps keep their order.
 *
 * @param classes class name -> heads, in order
 * @param positions class name -> the position key its heads are kept at
 */
public record Circuit(Map<String, List<Head>> classes, Map<String, String> positions) {

    /** The position keys a class can be kept at. */
    public static final List<String> POSITION_KEYS = List.of("end", "S2", "S1+1", "IO", "S1");

    /**
     * The paper's circuit, 26 heads in 7 classes (Fig 2; ARENA {@code CIRCUIT}, in ARENA's order and
     * with its class names), name movers, backups, negatives and S-inhibition heads kept at END,
     * induction and duplicate-token heads at S2, previous-token heads at S1+1.
     */
    public static final Circuit PAPER = builder()
            .add("name mover", "end", "9.9", "10.0", "9.6")
            .add("backup name mover", "end", "10.10", "10.6", "10.2", "10.1", "11.2", "9.7", "9.0", "11.9")
            .add("negative name mover", "end", "10.7", "11.10")
            .add("s2 inhibition", "end", "7.3", "7.9", "8.6", "8.10")
            .add("induction", "S2", "5.5", "5.8", "5.9", "6.9")
            .add("duplicate token", "S2", "0.1", "0.10", "3.0")
            .add("previous token", "S1+1", "2.2", "4.11")
            .build();

    /**
     * The paper's naive circuit (§4.3; [ET] {@code ioi_circuit_extraction.py} {@code NAIVE}): the name movers without
     * backups or negatives, the S-inhibition heads, two induction, two duplicate-token and the
     * previous-token heads, 13 heads kept at the same positions as in {@link #PAPER}.
     */
    public static final Circuit NAIVE = builder()
            .add("name mover", "end", "9.6", "9.9", "10.0")
            .add("s2 inhibition", "end", "7.3", "7.9", "8.6", "8.10")
            .add("induction", "S2", "5.5", "5.9")
            .add("duplicate token", "S2", "3.0", "0.10")
            .add("previous token", "S1+1", "2.2", "4.11")
            .build();

    /**
     * The same 26 heads as the paper's code writes them (Easy-Transformer's
     * {@code ioi_circuit_extraction.CIRCUIT} with {@code RELEVANT_TOKENS}): the backup name movers
     * merged into "name mover" ("by importance"), "negative" for 10.7 and 11.10, and ET's order,
     * which is the order {@code completeness.py} samples nodes from and the classes it knocks out
     * for Fig 6. Kept positions as in {@link #PAPER} (ET's {@code "S+1"} is {@code "S1+1"}).
     */
    public static final Circuit PAPER_CODE = builder()
            .add("name mover", "end", "9.9", "10.0", "9.6", "10.10", "10.6", "10.2", "10.1", "11.2", "9.7", "9.0", "11.9")
            .add("negative", "end", "10.7", "11.10")
            .add("s2 inhibition", "end", "7.3", "7.9", "8.6", "8.10")
            .add("induction", "S2", "5.5", "5.8", "5.9", "6.9")
            .add("duplicate token", "S2", "0.1", "0.10", "3.0")
            .add("previous token", "S1+1", "2.2", "4.11")
            .build();

    public Circuit {
        if (classes == null || positions == null) {
            throw new IllegalArgumentException("a circuit needs classes and positions");
        }
        Map<String, List<Head>> c = new LinkedHashMap<>();
        Map<String, String> p = new LinkedHashMap<>();
        Map<Head, String> seen = new HashMap<>();
        for (Map.Entry<String, List<Head>> e : classes.entrySet()) {
            String cls = e.getKey();
            String pos = positions.get(cls);
            if (pos == null) {
                throw new IllegalArgumentException("class '" + cls + "' has no position to keep; positions are given for "
                        + positions.keySet());
            }
            if (!POSITION_KEYS.contains(pos)) {
                throw new IllegalArgumentException("class '" + cls + "': unknown position key '" + pos + "'; expected one of "
                        + POSITION_KEYS);
            }
            for (Head h : e.getValue()) {
                String other = seen.put(h, cls);
                if (other != null) {
                    throw new IllegalArgumentException("head " + h + " is in two classes: '" + other + "' and '" + cls + "'");
                }
            }
            c.put(cls, List.copyOf(e.getValue()));
            p.put(cls, pos);
        }
        for (String cls : positions.keySet()) {
            if (!c.containsKey(cls)) {
                throw new IllegalArgumentException("position given for '" + cls + "', which is not a class of the circuit "
                        + c.keySet());
            }
        }
        classes = Collections.unmodifiableMap(c);
        positions = Collections.unmodifiableMap(p);
    }

    /** Starts a circuit: {@code Circuit.builder().add("name mover", "end", "9.9", "10.0").build()}. */
    public static Builder builder() {
        return new Builder();
    }

    /** Collects classes in order. */
    public static final class Builder {
        private final Map<String, List<Head>> classes = new LinkedHashMap<>();
        private final Map<String, String> positions = new LinkedHashMap<>();

        /** A class, the position key its heads are kept at, and its heads ("9.9" or L9H9). */
        public Builder add(String cls, String position, String... heads) {
            List<Head> hs = new ArrayList<>();
            for (String h : heads) {
                hs.add(Head.parse(h));
            }
            return add(cls, position, hs);
        }

        public Builder add(String cls, String position, List<Head> heads) {
            if (classes.containsKey(cls)) {
                throw new IllegalArgumentException("class '" + cls + "' added twice");
            }
            classes.put(cls, List.copyOf(heads));
            positions.put(cls, position);
            return this;
        }

        public Circuit build() {
            return new Circuit(classes, positions);
        }
    }

    /** Every head, class by class in order. */
    public List<Head> heads() {
        List<Head> out = new ArrayList<>();
        classes.values().forEach(out::addAll);
        return out;
    }

    /** Number of heads. */
    public int size() {
        return classes.values().stream().mapToInt(List::size).sum();
    }

    /** The class names, in order. */
    public List<String> classNames() {
        return List.copyOf(classes.keySet());
    }

    public boolean contains(Head h) {
        return classes.values().stream().anyMatch(l -> l.contains(h));
    }

    /**
     * The class of a head of this circuit.
     *
     * @throws IllegalArgumentException if the head is not in the circuit
     */
    public String classOf(Head h) {
        for (Map.Entry<String, List<Head>> e : classes.entrySet()) {
            if (e.getValue().contains(h)) {
                return e.getKey();
            }
        }
        throw new IllegalArgumentException("head " + h + " is not in the circuit; its heads are " + heads());
    }

    /**
     * The heads of a class.
     *
     * @throws IllegalArgumentException naming the known classes if there is no such class
     */
    public List<Head> headsOf(String cls) {
        List<Head> hs = classes.get(cls);
        if (hs == null) {
            throw new IllegalArgumentException("unknown class '" + cls + "'; the circuit's classes are " + classNames());
        }
        return hs;
    }

    /** The position key a class's heads are kept at (unknown classes throw as in {@link #headsOf}). */
    public String positionOf(String cls) {
        headsOf(cls);
        return positions.get(cls);
    }

    /** The position key a head of this circuit is kept at. */
    public String positionOf(Head h) {
        return positions.get(classOf(h));
    }

    /**
     * This circuit without some heads (C \ K): the same classes, in order, each without the heads of
     * {@code k}. Heads of {@code k} not in the circuit are refused (a typo would silently change
     * nothing).
     */
    public Circuit without(Collection<Head> k) {
        Set<Head> remove = Set.copyOf(k);
        for (Head h : remove) {
            if (!contains(h)) {
                throw new IllegalArgumentException("cannot remove head " + h + ": it is not in the circuit " + heads());
            }
        }
        Map<String, List<Head>> c = new LinkedHashMap<>();
        for (Map.Entry<String, List<Head>> e : classes.entrySet()) {
            c.put(e.getKey(), e.getValue().stream().filter(h -> !remove.contains(h)).toList());
        }
        return new Circuit(c, positions);
    }

    /** Throws unless every head exists in a model of this shape. */
    public Circuit checkIn(GPT2Config cfg) {
        heads().forEach(h -> h.checkIn(cfg));
        return this;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Circuit(" + size() + " heads:");
        classes.forEach((c, hs) -> sb.append(' ').append(c).append('@').append(positions.get(c)).append(hs));
        return sb.append(')').toString();
    }
}
