package ioi.notebook;

import ioi.experiments.CircuitEvaluation;
import ioi.experiments.Head;
import ioi.experiments.Minimality;
import ioi.experiments.TopHeadAblation;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * The paper's and ARENA's reference numbers for the circuit evaluation (notebook 06), from
 * the paper and ARENA's exercise (see docs/circuit-evaluation.md), and the "reference vs this run" tables.
 * Numbers marked DERIVED are computed from the sources' own numbers, not stated by them.
 */
public final class CircuitReference {

    private CircuitReference() {}

    /** §4: "|F(M) - F(C)| = 0.46, or only 13% of F(M) = 3.56". */
    public static final double PAPER_F_MODEL = 3.56;
    public static final double PAPER_FAITHFULNESS = 0.46;
    public static final double PAPER_FAITHFULNESS_PERCENT = 13;
    /** F(C) = 3.56 - 0.46 (DERIVED from §4's sentence). */
    public static final double PAPER_F_CIRCUIT = 3.10;
    /** §4.3: the naive circuit "has a faithfulness score of 0.1". */
    public static final double PAPER_NAIVE_FAITHFULNESS = 0.1;
    /** §4.1: greedy sets reach incompleteness scores "up to 3.09 (87% of the original logit difference)". */
    public static final double PAPER_GREEDY_MAX_INCOMPLETENESS = 3.09;
    /** §4.2: every node has a minimality score of "at least 1% of the original logit difference". */
    public static final double PAPER_MIN_MINIMALITY_PERCENT = 1;

    /** ARENA 3.0 (N=25, seed 1, [A3] instructions page): ablating 9.9 at END by its ABC template mean. */
    public static final double ARENA_ORIGINAL_LOGIT_DIFF = 2.8052;
    public static final double ARENA_DLA_9_9 = 1.7086;
    public static final double ARENA_NAIVE_PREDICTION = 1.0966;
    public static final double ARENA_ABLATED_LOGIT_DIFF = 2.6290;
    public static final double ARENA_LN_SCALE_RATIO = 1.04;

    /**
     * Fig 20 (App K): per head v, {F(C \ (K ∪ {v})), F(C \ K)} as the paper tabulates them;
     * the score |difference| / 3.56 is the paper's Fig 7 bar (DERIVED).
     */
    public static final Map<Head, double[]> PAPER_FIG20 = fig20();

    private static Map<Head, double[]> fig20() {
        Object[][] rows = {
            {"9.9", 2.26, 2.62}, {"10.0", 1.91, 2.26}, {"9.6", 2.11, 1.91}, {"10.7", 4.07, 3.13}, {"11.10", 4.07, 3.27},
            {"8.10", 0.24, 1.01}, {"7.9", 0.24, 0.92}, {"8.6", 0.24, 0.86}, {"7.3", 0.24, 0.43}, {"5.5", 0.97, 2.12},
            {"5.9", 3.33, 4.07}, {"6.9", 0.97, 1.46}, {"5.8", 3.83, 4.07}, {"0.1", 0.6, 1.9}, {"0.10", 0.6, 1.66},
            {"3.0", 0.6, 1.05}, {"4.11", 1.31, 2.28}, {"2.2", 1.31, 1.75}, {"11.2", 0.95, 1.37}, {"10.6", 1.65, 1.88},
            {"10.10", 1.88, 2.11}, {"10.2", 1.49, 1.65}, {"9.7", 0.81, 0.95}, {"10.1", 1.37, 1.49}, {"11.9", 0.41, 0.45},
            {"9.0", 0.41, 0.45}};
        Map<Head, double[]> out = new LinkedHashMap<>();
        for (Object[] r : rows) {
            out.put(Head.parse((String) r[0]), new double[] {(double) r[1], (double) r[2]});
        }
        return java.util.Collections.unmodifiableMap(out);
    }

    /** The paper's minimality score of a head as a percentage of 3.56 (DERIVED from Fig 20), or NaN. */
    public static double paperMinimalityPercent(Head v) {
        double[] r = PAPER_FIG20.get(v);
        return r == null ? Double.NaN : 100 * Math.abs(r[0] - r[1]) / PAPER_F_MODEL;
    }

    /** Per head: class, the paper's score (% of F(M), DERIVED from Fig 20) and this run's. */
    public static Table minimalityVsPaper(Minimality.Result r) {
        List<Double> paper = new ArrayList<>();
        r.heads().forEach(h -> paper.add(paperMinimalityPercent(h)));
        return Table.create("Minimality: paper (Fig 20) vs this run, % of F(M)",
                StringColumn.create("head", r.heads().stream().map(Head::toString).toList()),
                StringColumn.create("class", r.classes()),
                DoubleColumn.create("paper_percent", paper.stream().mapToDouble(Double::doubleValue).toArray()),
                DoubleColumn.create("this_run_percent", r.percentOfModel()));
    }

    /**
     * "Paper / ARENA reference vs this run": quantity, paper, ARENA, this run (a blank where the
     * source gives no number).
     */
    public static Table referenceVsRun(CircuitEvaluation.Faithfulness full, CircuitEvaluation.Faithfulness naive,
            CircuitEvaluation.Completeness completeness, Minimality.Result minimality, TopHeadAblation top) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"F(M) (mean logit diff)", Paper.number(PAPER_F_MODEL, 2), Paper.number(ARENA_ORIGINAL_LOGIT_DIFF, 4),
                Paper.number(full.fModel(), 4)});
        rows.add(new String[] {"F(C), full circuit", Paper.number(PAPER_F_CIRCUIT, 2) + " (derived)", "",
                Paper.number(full.fCircuit(), 4)});
        rows.add(new String[] {"faithfulness |F(M) - F(C)|", Paper.number(PAPER_FAITHFULNESS, 2), "",
                Paper.number(full.absDiff(), 4)});
        rows.add(new String[] {"faithfulness, % of F(M)", Paper.number(PAPER_FAITHFULNESS_PERCENT, 0) + "%", "",
                Paper.number(full.percentOfModel(), 1) + "%"});
        rows.add(new String[] {"naive circuit |F(M) - F(C)|", Paper.number(PAPER_NAIVE_FAITHFULNESS, 1), "",
                Paper.number(naive.absDiff(), 4)});
        rows.add(new String[] {"max incompleteness |F(C\\K) - F(M\\K)|", "up to " + Paper.number(PAPER_GREEDY_MAX_INCOMPLETENESS, 2)
                + " (greedy)", "", Paper.number(completeness.maxIncompleteness(), 4)});
        double minPct = java.util.Arrays.stream(minimality.percentOfModel()).min().orElse(Double.NaN);
        rows.add(new String[] {"smallest minimality score, % of F(M)", "\u2265 " + Paper.number(PAPER_MIN_MINIMALITY_PERCENT, 0) + "%",
                "", Paper.number(minPct, 2) + "%"});
        rows.add(new String[] {"ablated head (largest DLA)", "", "9.9", top.head().toString()});
        rows.add(new String[] {"DLA of that head", "", Paper.number(ARENA_DLA_9_9, 4), Paper.number(top.dla(), 4)});
        rows.add(new String[] {"naive prediction (original - DLA)", "", Paper.number(ARENA_NAIVE_PREDICTION, 4),
                Paper.number(top.naivePrediction(), 4)});
        rows.add(new String[] {"logit diff after ablating it at END", "", Paper.number(ARENA_ABLATED_LOGIT_DIFF, 4),
                Paper.number(top.ablatedLogitDiff(), 4)});
        rows.add(new String[] {"ln_final scale ratio at END", "", Paper.number(ARENA_LN_SCALE_RATIO, 2),
                Paper.number(top.lnScaleRatio(), 4)});
        return Table.create("Paper / ARENA reference vs this run",
                StringColumn.create("quantity", rows.stream().map(r -> r[0]).toList()),
                StringColumn.create("paper", rows.stream().map(r -> r[1]).toList()),
                StringColumn.create("ARENA", rows.stream().map(r -> r[2]).toList()),
                StringColumn.create("this run", rows.stream().map(r -> r[3]).toList()));
    }
}
