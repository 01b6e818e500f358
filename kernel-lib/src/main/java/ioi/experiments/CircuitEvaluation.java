package ioi.experiments;

import ioi.data.PyRandom;
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
 * The paper's evaluation of a circuit by mean ablation (§2.1, §4-4.2; docs/circuit-evaluation.md), F being the mean
 * logit difference (IO - S at END) over the batch:
 * <ul>
 *   <li>F(M), the model; F(C), the circuit kept and everything else mean-ablated
 *       ({@link MeanAblation#keep}); <b>faithfulness</b> |F(M) - F(C)| (paper: 0.46, 13% of
 *       F(M) = 3.56);</li>
 *   <li><b>completeness</b> (Fig 6): for sets K ⊆ C, the points (F(C \ K), F(M \ K)), as the
 *       paper's code ({@code completeness.py}) computes them: C \ K keeps the circuit without K
 *       (K's heads then ablated at every position, like every head outside the circuit), M \ K is
 *       the model with only K's <em>nodes</em> mean-ablated, each head at its class's position
 *       ({@link MeanAblation#knockOutNodes}); K = ∅, each class, uniformly random subsets, and the
 *       sets of App M's greedy search ({@link #greedy});</li>
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

    /** F(M \ K): only K's nodes mean-ablated, each head at its circuit position ({@link MeanAblation#knockOutNodes}). */
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
                masks.add(ablation.knockOutNodes(circuit, k));
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

    /** Which greedy search: the paper's code (Fig 6's points) or the algorithm box of App M's text. */
    public enum GreedyVariant {
        /**
         * Easy-Transformer's {@code completeness.py}, {@code new_greedy_search}, which produced
         * Fig 6: each run starts from K = ∅ and {@code old_diff} = |F(C) - F(M)|; each iteration
         * samples V ⊆ C \ K ({@code random.sample}), takes the v of V with the largest
         * incompleteness |F(C \ (K ∪ {v})) - F(M \ (K ∪ {v}))| (the first on ties, as
         * {@code np.argmax}) and adds it <em>only if</em> that beats {@code old_diff}; each run gives
         * one point, its last accepted set ({@code all_sets[-1]}, which ET shares across runs: a run
         * that accepts nothing repeats the previous run's set).
         */
        PAPER_CODE,
        /**
         * App M's Algorithm 3 as the paper's text reads: v_MAX = argmax over V of
         * |F(C \ (K ∪ {v})) - F(C \ K)|, always added; the {@code keep} sets with the highest
         * incompleteness, intermediate sets included ("kept the 5 sets with the maximal ...
         * incompleteness score (including the intermediate K)").
         */
        ALGORITHM_BOX
    }

    /** Chooses the candidate nodes V ⊆ C \ K of one greedy step. */
    @FunctionalInterface
    public interface CandidateSampler {
        /**
         * @param remaining C \ K, in the circuit's order with chosen heads removed (ET's {@code C_minus_G})
         * @param k how many to choose (at most {@code remaining.size()})
         * @param rng this run's random numbers (CPython's Mersenne Twister)
         */
        List<Head> sample(List<Head> remaining, int k, PyRandom rng);

        /** {@code random.sample(C_minus_G, k)}, bit for bit as CPython draws it. */
        CandidateSampler RANDOM = (remaining, k, rng) -> List.copyOf(rng.sample(remaining, k));

        /** The first k of C \ K in circuit order (deterministic; for tests and comparisons). */
        CandidateSampler FIRST_K = (remaining, k, rng) -> List.copyOf(remaining.subList(0, k));
    }

    /**
     * Options of App M's greedy search.
     *
     * @param samples candidates per step (ET: {@code no_samples}, 10 for the 26-head circuit, else 5)
     * @param iterations steps per run (ET: {@code no_iters} = 10)
     * @param runs independent runs (ET: {@code no_runs} = 10); run r draws from
     *     {@code PyRandom(seed + r)}, i.e. Python's {@code random.seed(seed + r)} (ET's own runs are
     *     unseeded)
     * @param keep {@link GreedyVariant#ALGORITHM_BOX} only: how many sets to return
     */
    public record GreedyOptions(GreedyVariant variant, int samples, int iterations, int runs, long seed, int keep,
            CandidateSampler sampler) {
        public GreedyOptions {
            if (samples < 1 || iterations < 1 || runs < 1 || keep < 0) {
                throw new IllegalArgumentException("greedy search needs samples, iterations, runs >= 1 and keep >= 0 but got "
                        + "samples=" + samples + ", iterations=" + iterations + ", runs=" + runs + ", keep=" + keep);
            }
            variant = variant == null ? GreedyVariant.PAPER_CODE : variant;
            sampler = sampler == null ? CandidateSampler.RANDOM : sampler;
        }

        /**
         * The paper's code: {@code new_greedy_search(no_runs=10, no_iters=10, no_samples=10 if
         * circuit_size == 26 else 5)}, seed 0.
         */
        public static GreedyOptions paper(Circuit c) {
            return new GreedyOptions(GreedyVariant.PAPER_CODE, c.size() == 26 ? 10 : 5, 10, 10, 0, 0, CandidateSampler.RANDOM);
        }

        /**
         * The algorithm box of App M: k = 10 for the full circuit, 5 for the naive one ("respectively
         * k = 5 and k = 10"), 10 runs, N = 10 steps (the text gives no N), the 5 best sets.
         */
        public static GreedyOptions algorithmBox(Circuit c) {
            return new GreedyOptions(GreedyVariant.ALGORITHM_BOX, c.size() >= 20 ? 10 : 5, 10, 10, 0, 5,
                    CandidateSampler.RANDOM);
        }

        public GreedyOptions samples(int n) {
            return new GreedyOptions(variant, n, iterations, runs, seed, keep, sampler);
        }

        public GreedyOptions iterations(int n) {
            return new GreedyOptions(variant, samples, n, runs, seed, keep, sampler);
        }

        public GreedyOptions runs(int r) {
            return new GreedyOptions(variant, samples, iterations, r, seed, keep, sampler);
        }

        public GreedyOptions seed(long s) {
            return new GreedyOptions(variant, samples, iterations, runs, s, keep, sampler);
        }

        public GreedyOptions keep(int n) {
            return new GreedyOptions(variant, samples, iterations, runs, seed, n, sampler);
        }

        public GreedyOptions sampler(CandidateSampler s) {
            return new GreedyOptions(variant, samples, iterations, runs, seed, keep, s);
        }
    }

    /**
     * One step of one greedy run: the candidates with their F(C \ (K ∪ {v})), F(M \ (K ∪ {v})) and
     * objective, the best candidate, whether it was added, and K after the step with its point
     * (F(C \ K), F(M \ K)).
     */
    public record GreedyStep(int run, int step, List<Head> candidates, double[] candidateFCircuit,
            double[] candidateFModel, double[] candidateObjective, Head best, boolean accepted, Set<Head> k,
            double fCircuitWithout, double fModelWithout) {

        public double incompleteness() {
            return Math.abs(fCircuitWithout - fModelWithout);
        }
    }

    /**
     * The greedy search's steps (every run) and its sets as {@link KSet}s of kind "greedy" for
     * {@link #completeness(List)}: one per run ({@link GreedyVariant#PAPER_CODE}) or the best
     * {@code keep} ({@link GreedyVariant#ALGORITHM_BOX}).
     */
    public record Greedy(GreedyVariant variant, List<GreedyStep> steps, List<KSet> sets, Table table) {}

    /**
     * App M's greedy search ({@link GreedyVariant}). The runs advance in lock step, so one step of
     * every run is one batched evaluation (2 * samples * runs sets, fewer when K sets repeat).
     */
    public Greedy greedy(GreedyOptions o) {
        boolean code = o.variant() == GreedyVariant.PAPER_CODE;
        List<Head> all = circuit.heads();
        evaluate(List.of(Set.of()), List.of(Set.of()), Progress.NONE);
        double baseline = Math.abs(fCircuit() - fModel());
        List<PyRandom> rngs = new ArrayList<>();
        List<List<Head>> ks = new ArrayList<>();
        double[] current = new double[o.runs()]; // ET's old_diff
        double[][] point = new double[o.runs()][]; // (F(C \ K), F(M \ K)) of each run's K
        boolean[] acceptedAny = new boolean[o.runs()];
        for (int r = 0; r < o.runs(); r++) {
            rngs.add(new PyRandom(o.seed() + r));
            ks.add(new ArrayList<>());
            current[r] = baseline;
            point[r] = new double[] {fCircuit(), fModel()};
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
                            : o.sampler().sample(remaining, Math.min(o.samples(), remaining.size()), rngs.get(r));
                    for (Head h : v) {
                        if (k.contains(h) || !circuit.contains(h)) {
                            throw new IllegalStateException("the sampler chose " + h + ", which is not in C \\ K");
                        }
                        grown.add(plus(k, h));
                    }
                    cands.add(v);
                }
                evaluate(grown, grown, Progress.NONE);
                if (!code) {
                    evaluate(ks.stream().map(Set::copyOf).toList(), List.of(), Progress.NONE);
                }
                for (int r = 0; r < o.runs(); r++) {
                    List<Head> v = cands.get(r);
                    if (v.isEmpty()) {
                        continue;
                    }
                    List<Head> k = ks.get(r);
                    double base = code ? 0 : circuitMemo.get(Set.copyOf(k));
                    double[] fc = new double[v.size()];
                    double[] fm = new double[v.size()];
                    double[] obj = new double[v.size()];
                    int best = 0;
                    for (int j = 0; j < v.size(); j++) {
                        Set<Head> kv = plus(k, v.get(j));
                        fc[j] = circuitMemo.get(kv);
                        fm[j] = modelMemo.get(kv);
                        obj[j] = code ? Math.abs(fc[j] - fm[j]) : Math.abs(fc[j] - base);
                        if (obj[j] > obj[best]) {
                            best = j;
                        }
                    }
                    boolean accept = !code || obj[best] > current[r];
                    if (accept) {
                        k.add(v.get(best));
                        current[r] = obj[best];
                        point[r] = new double[] {fc[best], fm[best]};
                        acceptedAny[r] = true;
                    }
                    steps.add(new GreedyStep(r, i + 1, v, fc, fm, obj, v.get(best), accept,
                            java.util.Collections.unmodifiableSet(new LinkedHashSet<>(k)), point[r][0], point[r][1]));
                }
                progress.step(1);
            }
        } finally {
            progress.done();
        }
        List<KSet> sets = new ArrayList<>();
        if (code) {
            // ET appends each accepted set to one all_sets list shared by the runs and reports
            // all_sets[-1] per run, so a run that accepts nothing repeats the last accepted set
            // (ET raises on a first run that accepts nothing; here that point is K = ∅).
            Set<Head> last = Set.of();
            String from = "no set accepted";
            for (int r = 0; r < o.runs(); r++) {
                if (acceptedAny[r]) {
                    last = java.util.Collections.unmodifiableSet(new LinkedHashSet<>(ks.get(r)));
                    from = "run " + r;
                }
                sets.add(new KSet("greedy", "greedy run " + r + (acceptedAny[r] ? "" : " (" + from + ")"), last));
            }
        } else {
            List<GreedyStep> ranked = new ArrayList<>(steps);
            ranked.sort(Comparator.comparingDouble(GreedyStep::incompleteness).reversed());
            Set<Set<Head>> seen = new java.util.HashSet<>();
            for (GreedyStep s : ranked) {
                if (sets.size() < o.keep() && seen.add(Set.copyOf(s.k()))) {
                    sets.add(new KSet("greedy", "greedy " + (sets.size() + 1) + " (run " + s.run() + ", step " + s.step() + ")",
                            s.k()));
                }
            }
        }
        String title = code ? "Greedy search for incomplete sets (the paper's code, completeness.py)"
                : "Greedy search for incomplete sets (App M's algorithm box)";
        Table t = Table.create(title,
                IntColumn.create("run", steps.stream().mapToInt(GreedyStep::run).toArray()),
                IntColumn.create("step", steps.stream().mapToInt(GreedyStep::step).toArray()),
                StringColumn.create("best candidate", steps.stream().map(s -> s.best().toString()).toList()),
                StringColumn.create("added", steps.stream().map(s -> s.accepted() ? "yes" : "no").toList()),
                StringColumn.create("K", steps.stream().map(s -> Minimality.label(s.k())).toList()),
                DoubleColumn.create("f_c_minus_k", steps.stream().mapToDouble(GreedyStep::fCircuitWithout).toArray()),
                DoubleColumn.create("f_m_minus_k", steps.stream().mapToDouble(GreedyStep::fModelWithout).toArray()),
                DoubleColumn.create("incompleteness", steps.stream().mapToDouble(GreedyStep::incompleteness).toArray()));
        return new Greedy(o.variant(), List.copyOf(steps), List.copyOf(sets), t);
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
