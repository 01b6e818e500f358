package ioi.experiments;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Minimality (paper §4.2, Fig 7, App K / Fig 20): for each head v of the circuit a set
 * {@code K ⊆ C \ {v}} and the score {@code |F(C \ (K ∪ {v})) - F(C \ K)|}, as a percentage of
 * F(M). This class holds the two published choices of K and the result record;
 * {@link CircuitEvaluation#minimality} computes it.
 */
public final class Minimality {

    private Minimality() {}

    private static final List<String> NMS = List.of("9.9", "10.0", "9.6");

    /**
     * ARENA's {@code K_FOR_EACH_COMPONENT} ([A3] {@code solutions.py}): name movers in the order 9.9,
     * 10.0, 9.6; each negative head with the other; each S-inhibition and duplicate-token head with
     * the others of its class; 5.5 and 6.9 with the other induction heads, 5.8 and 5.9 with the
     * negative heads; the backups chained 11.2 -> 10.6 -> 10.10 -> 10.2 -> 9.7 -> 10.1 after the name
     * movers; 11.9 and 9.0 with the name movers and each other (no negative heads).
     */
    public static final Map<Head, Set<Head>> ARENA_K = kSets(Map.ofEntries(
            Map.entry("9.9", List.of()), Map.entry("10.0", List.of("9.9")), Map.entry("9.6", List.of("9.9", "10.0")),
            Map.entry("10.7", List.of("11.10")), Map.entry("11.10", List.of("10.7")),
            Map.entry("8.10", List.of("7.9", "8.6", "7.3")), Map.entry("7.9", List.of("8.10", "8.6", "7.3")),
            Map.entry("8.6", List.of("7.9", "8.10", "7.3")), Map.entry("7.3", List.of("7.9", "8.10", "8.6")),
            Map.entry("5.5", List.of("5.9", "6.9", "5.8")), Map.entry("6.9", List.of("5.9", "5.5", "5.8")),
            Map.entry("5.9", List.of("11.10", "10.7")), Map.entry("5.8", List.of("11.10", "10.7")),
            Map.entry("0.1", List.of("0.10", "3.0")), Map.entry("0.10", List.of("0.1", "3.0")),
            Map.entry("3.0", List.of("0.1", "0.10")),
            Map.entry("4.11", List.of("2.2")), Map.entry("2.2", List.of("4.11")),
            Map.entry("11.2", NMS), Map.entry("10.6", plus(NMS, "11.2")), Map.entry("10.10", plus(NMS, "11.2", "10.6")),
            Map.entry("10.2", plus(NMS, "11.2", "10.6", "10.10")), Map.entry("9.7", plus(NMS, "11.2", "10.6", "10.10", "10.2")),
            Map.entry("10.1", plus(NMS, "11.2", "10.6", "10.10", "10.2", "9.7")),
            Map.entry("11.9", plus(NMS, "9.0")), Map.entry("9.0", plus(NMS, "11.9"))));

    /**
     * The paper's Fig 20 table (App K), {@code K = (K ∪ {v}) \ {v}} of its "K ∪ {v}" column.
     * As ARENA for the name movers, negatives, S-inhibition, duplicate-token and previous-token heads;
     * the induction heads as tabulated (5.5 and 6.9 with the other induction heads, 5.9 and 5.8 with
     * the negative heads). "All previous NMs and backup NMs" is read as the chain the table's numbers
     * form, name movers -> 10.10 -> 10.6 -> 10.2 -> 10.1 -> 11.2 -> 9.7 (each row's F(C \ K) is the
     * previous row's F(C \ (K ∪ {v}))); "All name movers and negative heads" for 11.9 and 9.0 as
     * every name mover, backup name mover and negative head but v (both rows have the same
     * F(C \ (K ∪ {v})) = 0.41). These two readings are ours (docs/circuit-evaluation.md).
     */
    public static final Map<Head, Set<Head>> PAPER_K;

    static {
        Map<String, List<String>> k = new LinkedHashMap<>();
        for (Map.Entry<Head, Set<Head>> e : ARENA_K.entrySet()) {
            k.put(e.getKey().toString(), e.getValue().stream().map(Head::toString).toList());
        }
        List<String> chain = List.of("10.10", "10.6", "10.2", "10.1", "11.2", "9.7");
        for (int i = 0; i < chain.size(); i++) {
            List<String> ki = new ArrayList<>(NMS);
            ki.addAll(chain.subList(0, i));
            k.put(chain.get(i), ki);
        }
        List<String> movers = Circuit.PAPER.headsOf("name mover").stream().map(Head::toString).collect(Collectors.toList());
        Circuit.PAPER.headsOf("backup name mover").forEach(h -> movers.add(h.toString()));
        Circuit.PAPER.headsOf("negative name mover").forEach(h -> movers.add(h.toString()));
        for (String v : List.of("11.9", "9.0")) {
            k.put(v, movers.stream().filter(h -> !h.equals(v)).toList());
        }
        PAPER_K = kSets(k);
    }

    /** Minimality scores of every head, in circuit order; F values are mean logit differences. */
    public record Result(List<Head> heads, List<String> classes, List<Set<Head>> k, double[] fWithoutKAndV,
            double[] fWithoutK, double[] score, double[] percentOfModel, double fModel, Table table) {

        /** The score of one head. */
        public double score(Head v) {
            int i = heads.indexOf(v);
            if (i < 0) {
                throw new IllegalArgumentException("head " + v + " has no minimality score; heads: " + heads);
            }
            return score[i];
        }

    }

    static Table table(List<Head> heads, List<String> classes, List<Set<Head>> k, double[] with, double[] without,
            double[] score, double[] percent) {
        return Table.create("Minimality scores (Fig 7)",
                StringColumn.create("head", heads.stream().map(Head::toString).toList()),
                StringColumn.create("class", classes),
                StringColumn.create("K", k.stream().map(Minimality::label).toList()),
                DoubleColumn.create("f_c_minus_k_and_v", with), DoubleColumn.create("f_c_minus_k", without),
                DoubleColumn.create("score", score), DoubleColumn.create("percent_of_f_model", percent));
    }

    /** {@code {9.9, 10.0}} in the given order, or {@code {}}. */
    public static String label(Set<Head> k) {
        return k.stream().map(Head::toString).collect(Collectors.joining(", ", "{", "}"));
    }

    private static List<String> plus(List<String> a, String... more) {
        List<String> out = new ArrayList<>(a);
        out.addAll(List.of(more));
        return out;
    }

    /** Ordered, immutable: v in circuit order, each K in its written order. */
    private static Map<Head, Set<Head>> kSets(Map<String, List<String>> byName) {
        Map<Head, Set<Head>> out = new LinkedHashMap<>();
        for (Head v : Circuit.PAPER.heads()) {
            List<String> k = byName.get(v.toString());
            if (k == null) {
                throw new IllegalStateException("no K for " + v);
            }
            java.util.LinkedHashSet<Head> set = new java.util.LinkedHashSet<>();
            k.forEach(h -> set.add(Head.parse(h)));
            out.put(v, Collections.unmodifiableSet(set));
        }
        return Collections.unmodifiableMap(out);
    }
}
