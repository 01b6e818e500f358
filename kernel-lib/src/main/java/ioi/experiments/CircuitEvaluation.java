package ioi.experiments;

import ioi.display.Charts;
import ioi.display.Figure;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * The paper's evaluation of a circuit by mean ablation (§4, IOI.md §1.2-1.4), F being the mean
 * logit difference (IO - S at END) over the batch:
 * <ul>
 *   <li>F(M), the model; F(C), the circuit kept and everything else mean-ablated
 *       ({@link MeanAblation#keep}); <b>faithfulness</b> |F(M) - F(C)| (paper: 0.46, 13% of
 *       F(M) = 3.56);</li>
 *   <li><b>completeness</b> (Fig 6): for sets K ⊆ C, the points (F(C \ K), F(M \ K)), where M \ K
 *       is the model with only K mean-ablated at every position; K = ∅, each class, uniformly random
 *       subsets, and sets found by App M's greedy search (Algorithm 3, {@link #greedy});</li>
 *   <li><b>minimality</b> (Fig 7, App K): |F(C \ (K ∪ {v})) - F(C \ K)| per head v, as a percentage
 *       of F(M), with the paper's or ARENA's K ({@link Minimality}).</li>
 * </ul>
 * Every F is computed once and remembered (by K), and the F values one call needs run together in
 * as few forward passes as {@link MeanAblation#logitDiffs} packs them (one batch copy per set).
 *
 * <p>Borrows the {@link MeanAblation} (keep it open).
 */
public final class CircuitEvaluation {

    private final MeanAblation ablation;
    private final Circuit circuit;
    private final Progress progress;
    private final Map<Set<Head>, Double> circuitMemo = new HashMap<>(); // K -> F(C \ K)
    private final Map<Set<Head>, Double> modelMemo = new HashMap<>(); // K -> F(M \ K)

    private CircuitEvaluation(MeanAblation ablation, Circuit circuit, Progress progress) {
        this.ablation = ablation;
        this.circuit = circuit.checkIn(ablation.model().cfg());
        this.progress = progress == null ? Progress.NONE : progress;
    }

    /** Evaluates {@code circuit} with the means and prompts of {@code ablation}. */
    public static CircuitEvaluation of(MeanAblation ablation, Circuit circuit) {
        return new CircuitEvaluation(ablation, circuit, Progress.NONE);
    }

    /** The same evaluation reporting to {@code p} (masks evaluated; greedy: iterations). Shares nothing computed. */
    public CircuitEvaluation progress(Progress p) {
        return new CircuitEvaluation(ablation, circuit, p);
    }

    public Circuit circuit() {
        return circuit;
    }

    public MeanAblation ablation() {
        return ablation;
    }

    // ---------------------------------------------------------------- F values

    /** F(M): the model's mean logit difference. */
    public double fModel() {
        return fModelWithout(Set.of());
    }

    /** F(C): the circuit kept, everything else mean-ablated. */
    public double fCircuit() {
        return fCircuitWithout(Set.of());
    }

    /** F(C \ K). */
    public double fCircuitWithout(Collection<Head> k) {
        return fCircuitWithout(List.of(Set.copyOf(k)))[0];
    }

    /** F(M \ K): only K's heads mean-ablated, at every position. */
    public double fModelWithout(Collection<Head> k) {
        return fModelWithout(List.of(Set.copyOf(k)))[0];
    }

    /** F(C \ K) for many K, in one batched evaluation. */
    public double[] fCircuitWithout(List<? extends Collection<Head>> ks) {
        List<Set<Head>> sets = sets(ks);
        evaluate(sets, List.of(), progress);
        return sets.stream().mapToDouble(circuitMemo::get).toArray();
    }

    /** F(M \ K) for many K, in one batched evaluation. */
    public double[] fModelWithout(List<? extends Collection<Head>> ks) {
        List<Set<Head>> sets = sets(ks);
        evaluate(List.of(), sets, progress);
        return sets.stream().mapToDouble(modelMemo::get).toArray();
    }

    private List<Set<Head>> sets(List<? extends Collection<Head>> ks) {
        List<Set<Head>> out = new ArrayList<>();
        for (Collection<Head> k : ks) {
            Set<Head> s = Set.copyOf(k);
            for (Head h : s) {
                if (!circuit.contains(h)) {
                    throw new IllegalArgumentException("K contains head " + h + ", which is not in the circuit " + circuit.heads());
                }
            }
            out.add(s);
        }
        return out;
    }

    /** Computes every F(C \ K) and F(M \ K) not yet known, all in one {@link MeanAblation#logitDiffs} call. */
    private void evaluate(List<Set<Head>> circuitKs, List<Set<Head>> modelKs, Progress p) {
        List<MeanAblation.KeepMask> masks = new ArrayList<>();
        List<Map<Set<Head>, Double>> memos = new ArrayList<>(); // where each mask's F goes
        List<Set<Head>> keys = new ArrayList<>();
        for (Set<Head> k : new LinkedHashSet<>(circuitKs)) {
            if (!circuitMemo.containsKey(k)) {
                masks.add(ablation.keep(circuit.without(k)));
                memos.add(circuitMemo);
                keys.add(k);
            }
        }
        for (Set<Head> k : new LinkedHashSet<>(modelKs)) {
            if (!modelMemo.containsKey(k)) {
                masks.add(ablation.knockOut(k));
                memos.add(modelMemo);
                keys.add(k);
            }
        }
        if (masks.isEmpty()) {
            return;
        }
        double[][] perPrompt = ablation.logitDiffsPerPrompt(masks, p); // [masks][batch]
        for (int i = 0; i < masks.size(); i++) {
            memos.get(i).put(keys.get(i), Arrays.stream(perPrompt[i]).average().orElse(Double.NaN));
        }
    }

    // ---------------------------------------------------------------- faithfulness

    /**
     * F(M), F(C), |F(M) - F(C)| and that as a percentage of F(M) (paper §4: 0.46, 13% of 3.56).
     */
    public record Faithfulness(double fModel, double fCircuit, double absDiff, double percentOfModel, Table table) {}

    public Faithfulness faithfulness() {
        evaluate(List.of(Set.of()), List.of(Set.of()), progress);
        double m = fModel();
        double c = fCircuit();
        double diff = Math.abs(m - c);
        double pct = 100 * diff / Math.abs(m);
        Table t = Table.create("Faithfulness (" + circuit.size() + "-head circuit, mean ablation by template)",
                StringColumn.create("quantity", List.of("F(M)", "F(C)", "|F(M) - F(C)|", "|F(M) - F(C)| as % of F(M)")),
                DoubleColumn.create("value", new double[] {m, c, diff, pct}));
        return new Faithfulness(m, c, diff, pct, t);
    }

    // ---------------------------------------------------------------- completeness

    /**
     * A set K of circuit heads for the completeness plot.
     *
     * @param kind {@code "empty"}, {@code "class"}, {@code "random"} or {@code "greedy"}
     * @param name what the set is ("name mover", "random 3", ...)
     */
    public record KSet(String kind, String name, Set<Head> heads) {
        public KSet {
            heads = java.util.Collections.unmodifiableSet(new LinkedHashSet<>(heads));
        }

        @Override
        public String toString() {
            return name + " " + Minimality.label(heads);
        }
    }

    /**
     * Fig 6's sets but the greedy ones: K = ∅, each class of the circuit, and {@code nRandom}
     * uniformly random subsets of C (each head in with probability 1/2, from {@code seed}).
     */
    public List<KSet> standardSets(int nRandom, long seed) {
        if (nRandom < 0) {
            throw new IllegalArgumentException("nRandom must be >= 0 but is " + nRandom);
        }
        List<KSet> out = new ArrayList<>();
        out.add(new KSet("empty", "\u2205", Set.of()));
        for (String cls : circuit.classNames()) {
            out.add(new KSet("class", cls, new LinkedHashSet<>(circuit.headsOf(cls))));
        }
        Random rng = new Random(seed);
        for (int i = 0; i < nRandom; i++) {
            Set<Head> k = new LinkedHashSet<>();
            for (Head h : circuit.heads()) {
                if (rng.nextBoolean()) {
                    k.add(h);
                }
            }
            out.add(new KSet("random", "random " + (i + 1), k));
        }
        return out;
    }

    /**
     * Completeness points of Fig 6: (F(C \ K), F(M \ K)) for each K and the incompleteness score
     * |F(C \ K) - F(M \ K)|.
     */
    public record Completeness(List<KSet> sets, double[] fCircuitWithout, double[] fModelWithout, double[] incompleteness,
            double fModel, Table table) {

        /** Fig 6: x = F(C \ K), y = F(M \ K), coloured by kind, with the line y = x. */
        public Figure chart(String title) {
            double lo = Double.POSITIVE_INFINITY;
            double hi = Double.NEGATIVE_INFINITY;
            for (double[] a : new double[][] {fCircuitWithout, fModelWithout}) {
                for (double v : a) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
            double pad = 0.05 * Math.max(hi - lo, 1e-3);
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("type", "line");
            line.put("x0", lo - pad);
            line.put("y0", lo - pad);
            line.put("x1", hi + pad);
            line.put("y1", hi + pad);
            line.put("line", Map.of("dash", "dash", "color", "gray"));
            return Charts.scatter(fCircuitWithout, fModelWithout)
                    .color("K", sets.stream().map(KSet::kind).toList())
                    .hover(sets.stream().map(KSet::toString).toList())
                    .title(title)
                    .labels("F(C \\ K)", "F(M \\ K)")
                    .figure().with("shapes", List.of(line));
        }

        public Figure chart() {
            return chart("Completeness: (F(C\\K), F(M\\K)) with y = x");
        }

        /** The largest incompleteness score. */
        public double maxIncompleteness() {
            return Arrays.stream(incompleteness).max().orElse(Double.NaN);
        }
    }

    /** Fig 6 for the given sets (batched: all new F values in one evaluation). */
    public Completeness completeness(List<KSet> sets) {
        List<Set<Head>> ks = sets(sets.stream().map(KSet::heads).toList());
        evaluate(ks, ks, progress);
        double fm = fModel();
        int n = ks.size();
        double[] x = new double[n];
        double[] y = new double[n];
        double[] inc = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = circuitMemo.get(ks.get(i));
            y[i] = modelMemo.get(ks.get(i));
            inc[i] = Math.abs(x[i] - y[i]);
        }
        double[] pct = Arrays.stream(inc).map(v -> 100 * v / Math.abs(fm)).toArray();
        Table t = Table.create("Completeness (Fig 6)",
                StringColumn.create("kind", sets.stream().map(KSet::kind).toList()),
                StringColumn.create("K", sets.stream().map(KSet::name).toList()),
                StringColumn.create("heads", sets.stream().map(s -> Minimality.label(s.heads())).toList()),
                DoubleColumn.create("f_c_minus_k", x), DoubleColumn.create("f_m_minus_k", y),
                DoubleColumn.create("incompleteness", inc), DoubleColumn.create("percent_of_f_model", pct));
        return new Completeness(List.copyOf(sets), x, y, inc, fm, t);
    }

    /** {@link #standardSets} then {@link #completeness(List)}. */
    public Completeness completeness(int nRandom, long seed) {
        return completeness(standardSets(nRandom, seed));
    }

    // ---------------------------------------------------------------- greedy search (App M)

    /** What the greedy search maximises at each step. */
    public enum Objective {
        /**
         * The incompleteness score of the grown set, |F(C \ (K ∪ {v})) - F(M \ (K ∪ {v}))|: the
         * paper's Algorithm 3 as we read it (it searches for sets with a high incompleteness score).
         */
        INCOMPLETENESS,
        /** |F(C \ (K ∪ {v})) - F(C \ K)|, as IOI.md §1.3 transcribes Algorithm 3's argmax. */
        CIRCUIT_DROP
    }

    /** Chooses the candidate nodes V ⊆ C \ K of one greedy step. */
    @FunctionalInterface
    public interface CandidateSampler {
        /**
         * @param remaining C \ K in circuit order
         * @param k how many to choose (at most {@code remaining.size()})
         * @param rng this run's random numbers
         */
        List<Head> sample(List<Head> remaining, int k, Random rng);

        /** Algorithm 3: a uniformly random subset of k nodes. */
        CandidateSampler RANDOM = (remaining, k, rng) -> {
            List<Head> copy = new ArrayList<>(remaining);
            java.util.Collections.shuffle(copy, rng);
            return List.copyOf(copy.subList(0, k));
        };

        /** The first k of C \ K in circuit order (deterministic; for tests and comparisons). */
        CandidateSampler FIRST_K = (remaining, k, rng) -> List.copyOf(remaining.subList(0, k));
    }

    /**
     * Options of App M's greedy search.
     *
     * @param k candidates per step (paper: 10 for the full circuit, 5 for the naive one)
     * @param iterations N, nodes added per run
     * @param runs independent runs (paper: 10); run r draws from {@code new Random(seed + r)}
     * @param keep how many sets to return, the highest incompleteness first, intermediate sets
     *     included (paper App M: "the 5 sets with the maximal ... incompleteness score (including the
     *     intermediate K)"; the Fig 6 caption says 10)
     */
    public record GreedyOptions(int k, int iterations, int runs, int keep, long seed, Objective objective,
            CandidateSampler sampler) {
        public GreedyOptions {
            if (k < 1 || iterations < 1 || runs < 1 || keep < 0) {
                throw new IllegalArgumentException("greedy search needs k, iterations, runs >= 1 and keep >= 0 but got k="
                        + k + ", iterations=" + iterations + ", runs=" + runs + ", keep=" + keep);
            }
            objective = objective == null ? Objective.INCOMPLETENESS : objective;
            sampler = sampler == null ? CandidateSampler.RANDOM : sampler;
        }

        /**
         * The paper's settings for a circuit: k = 10 for a circuit of 20 heads or more (the full one),
         * else 5 (the naive one); 10 runs; 5 iterations (the paper does not give N; Fig 22's sets
         * have 4 to 7 heads); the 10 best sets; seed 0.
         */
        public static GreedyOptions paper(Circuit c) {
            return new GreedyOptions(c.size() >= 20 ? 10 : 5, 5, 10, 10, 0, Objective.INCOMPLETENESS, CandidateSampler.RANDOM);
        }

        public GreedyOptions seed(long s) {
            return new GreedyOptions(k, iterations, runs, keep, s, objective, sampler);
        }

        public GreedyOptions runs(int r) {
            return new GreedyOptions(k, iterations, r, keep, seed, objective, sampler);
        }

        public GreedyOptions iterations(int n) {
            return new GreedyOptions(k, n, runs, keep, seed, objective, sampler);
        }

        public GreedyOptions k(int kk) {
            return new GreedyOptions(kk, iterations, runs, keep, seed, objective, sampler);
        }

        public GreedyOptions keep(int n) {
            return new GreedyOptions(k, iterations, runs, n, seed, objective, sampler);
        }

        public GreedyOptions objective(Objective o) {
            return new GreedyOptions(k, iterations, runs, keep, seed, o, sampler);
        }

        public GreedyOptions sampler(CandidateSampler s) {
            return new GreedyOptions(k, iterations, runs, keep, seed, objective, s);
        }
    }

    /**
     * One step of one greedy run: the candidates with their F(C \ (K ∪ {v})), F(M \ (K ∪ {v})) and
     * objective, the chosen head and the grown K with its point (F(C \ K), F(M \ K)).
     */
    public record GreedyStep(int run, int step, List<Head> candidates, double[] candidateFCircuit,
            double[] candidateFModel, double[] candidateObjective, Head chosen, Set<Head> k, double fCircuitWithout,
            double fModelWithout) {

        public double incompleteness() {
            return Math.abs(fCircuitWithout - fModelWithout);
        }
    }

    /**
     * The greedy search's steps (every run) and the best {@code keep} distinct sets as
     * {@link KSet}s of kind "greedy" for {@link #completeness(List)}.
     */
    public record Greedy(List<GreedyStep> steps, List<KSet> sets, Table table) {}

    /**
     * App M, Algorithm 3: K ← ∅; N times: sample V ⊆ C \ K of k nodes, add the v of V maximising the
     * objective. All runs advance in lock step, so one step of every run is one batched evaluation
     * (2 k runs sets).
     */
    public Greedy greedy(GreedyOptions o) {
        List<Head> all = circuit.heads();
        List<Random> rngs = new ArrayList<>();
        List<List<Head>> ks = new ArrayList<>();
        for (int r = 0; r < o.runs(); r++) {
            rngs.add(new Random(o.seed() + r));
            ks.add(new ArrayList<>());
        }
        List<GreedyStep> steps = new ArrayList<>();
        progress.start(o.iterations());
        try {
            for (int i = 0; i < o.iterations(); i++) {
                List<List<Head>> cands = new ArrayList<>();
                List<Set<Head>> grown = new ArrayList<>();
                for (int r = 0; r < o.runs(); r++) {
                    List<Head> k = ks.get(r);
                    List<Head> remaining = all.stream().filter(h -> !k.contains(h)).toList();
                    List<Head> v = remaining.isEmpty() ? List.of()
                            : o.sampler().sample(remaining, Math.min(o.k(), remaining.size()), rngs.get(r));
                    for (Head h : v) {
                        if (k.contains(h) || !circuit.contains(h)) {
                            throw new IllegalStateException("the sampler chose " + h + ", which is not in C \\ K");
                        }
                        grown.add(plus(k, h));
                    }
                    cands.add(v);
                }
                evaluate(grown, grown, Progress.NONE);
                if (o.objective() == Objective.CIRCUIT_DROP) {
                    evaluate(ks.stream().map(Set::copyOf).toList(), List.of(), Progress.NONE);
                }
                for (int r = 0; r < o.runs(); r++) {
                    List<Head> v = cands.get(r);
                    if (v.isEmpty()) {
                        continue;
                    }
                    List<Head> k = ks.get(r);
                    double base = o.objective() == Objective.CIRCUIT_DROP ? circuitMemo.get(Set.copyOf(k)) : 0;
                    double[] fc = new double[v.size()];
                    double[] fm = new double[v.size()];
                    double[] obj = new double[v.size()];
                    int best = 0;
                    for (int j = 0; j < v.size(); j++) {
                        Set<Head> kv = plus(k, v.get(j));
                        fc[j] = circuitMemo.get(kv);
                        fm[j] = modelMemo.get(kv);
                        obj[j] = o.objective() == Objective.INCOMPLETENESS ? Math.abs(fc[j] - fm[j]) : Math.abs(fc[j] - base);
                        if (obj[j] > obj[best]) {
                            best = j;
                        }
                    }
                    k.add(v.get(best));
                    steps.add(new GreedyStep(r, i + 1, v, fc, fm, obj, v.get(best),
                            java.util.Collections.unmodifiableSet(new LinkedHashSet<>(k)), fc[best], fm[best]));
                }
                progress.step(1);
            }
        } finally {
            progress.done();
        }
        List<GreedyStep> ranked = new ArrayList<>(steps);
        ranked.sort(Comparator.comparingDouble(GreedyStep::incompleteness).reversed());
        List<KSet> best = new ArrayList<>();
        Set<Set<Head>> seen = new java.util.HashSet<>();
        for (GreedyStep s : ranked) {
            if (best.size() < o.keep() && seen.add(Set.copyOf(s.k()))) {
                best.add(new KSet("greedy", "greedy " + (best.size() + 1) + " (run " + s.run() + ", step " + s.step() + ")",
                        s.k()));
            }
        }
        Table t = Table.create("Greedy search for incomplete sets (App M, Algorithm 3)",
                IntColumn.create("run", steps.stream().mapToInt(GreedyStep::run).toArray()),
                IntColumn.create("step", steps.stream().mapToInt(GreedyStep::step).toArray()),
                StringColumn.create("added", steps.stream().map(s -> s.chosen().toString()).toList()),
                StringColumn.create("K", steps.stream().map(s -> Minimality.label(s.k())).toList()),
                DoubleColumn.create("f_c_minus_k", steps.stream().mapToDouble(GreedyStep::fCircuitWithout).toArray()),
                DoubleColumn.create("f_m_minus_k", steps.stream().mapToDouble(GreedyStep::fModelWithout).toArray()),
                DoubleColumn.create("incompleteness", steps.stream().mapToDouble(GreedyStep::incompleteness).toArray()));
        return new Greedy(List.copyOf(steps), List.copyOf(best), t);
    }

    private static Set<Head> plus(Collection<Head> k, Head v) {
        Set<Head> s = new LinkedHashSet<>(k);
        s.add(v);
        return Set.copyOf(s);
    }

    // ---------------------------------------------------------------- minimality

    /**
     * Minimality scores (Fig 7): for every head v of the circuit, {@code K = kSets.get(v)},
     * |F(C \ (K ∪ {v})) - F(C \ K)| and that as a percentage of F(M) (ARENA divides by the full
     * model's logit difference too). All F values in one batched evaluation.
     *
     * @param kSets K for each head ({@link Minimality#PAPER_K}, {@link Minimality#ARENA_K})
     * @throws IllegalArgumentException if a head has no K, K contains v, or K leaves the circuit
     */
    public Minimality.Result minimality(Map<Head, Set<Head>> kSets) {
        List<Head> heads = circuit.heads();
        List<Set<Head>> ks = new ArrayList<>();
        List<Set<Head>> kvs = new ArrayList<>();
        for (Head v : heads) {
            Set<Head> k = kSets.get(v);
            if (k == null) {
                throw new IllegalArgumentException("no K for head " + v + " of the circuit; K sets are given for "
                        + kSets.keySet());
            }
            if (k.contains(v)) {
                throw new IllegalArgumentException("the K of head " + v + " contains " + v + " itself: " + Minimality.label(k));
            }
            ks.add(k);
            kvs.add(plus(k, v));
        }
        List<Set<Head>> both = new ArrayList<>(sets(ks));
        both.addAll(sets(kvs));
        evaluate(both, List.of(Set.of()), progress);
        double fm = fModel();
        int n = heads.size();
        double[] with = new double[n];
        double[] without = new double[n];
        double[] score = new double[n];
        double[] pct = new double[n];
        List<String> classes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            with[i] = circuitMemo.get(Set.copyOf(kvs.get(i)));
            without[i] = circuitMemo.get(Set.copyOf(ks.get(i)));
            score[i] = Math.abs(with[i] - without[i]);
            pct[i] = 100 * score[i] / Math.abs(fm);
            classes.add(circuit.classOf(heads.get(i)));
        }
        return new Minimality.Result(heads, classes, List.copyOf(ks), with, without, score, pct, fm,
                Minimality.table(heads, classes, ks, with, without, score, pct));
    }
}
