package ioi.notebook;

import ioi.display.BarChart;
import ioi.display.Charts;
import ioi.display.Figure;
import ioi.display.Imshow;
import ioi.display.ScatterChart;
import ioi.experiments.Adversarial;
import ioi.experiments.CircuitEvaluation;
import ioi.experiments.Head;
import ioi.experiments.Minimality;
import ioi.experiments.SignalPatching;
import ioi.experiments.ValidationScores;
import ioi.experiments.WritingDirection;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The paper's figures, drawn from the experiments' results. The experiments compute and hold
 * numbers; the figures are built here, so {@code ioi.experiments} never imports {@code ioi.display}
 * (the generic charts). One method per figure, named for what it draws:
 *
 * <pre>{@code
 * Plots.bars(Adversarial.run(model, ds))          // Fig 8
 * Plots.chart(CircuitEvaluation...completeness())  // Fig 6
 * Plots.chart(minimality)                          // Fig 7
 * Plots.heatmap(signals); Plots.perHeadHeatmaps(signals)   // Fig 9 and ARENA's per-head plot
 * Plots.imshow(validation, "induction")            // Fig 18
 * Plots.scatter(writingDirection, SAttention.S1)   // Fig 3c
 * }</pre>
 */
public final class Plots {

    private Plots() {}

    /** Fig 8: mean logit difference per condition, this run beside the paper's. */
    public static BarChart bars(Adversarial.Result result) {
        List<String> labels = result.conditions().stream().map(m -> m.condition().label).toList();
        double[] run = result.conditions().stream().mapToDouble(Adversarial.Measured::meanLogitDiff).toArray();
        double[] paper = result.conditions().stream()
                .mapToDouble(m -> Adversarial.PAPER_FIG8.get(m.condition().ordinal()).logitDiff()).toArray();
        return Charts.bar(labels).add("this run", run).add("paper", paper)
                .title("Fig 8: mean logit difference (IO \u2212 S)").labels("distribution", "logit difference");
    }

    /** Fig 7: one bar per head, the score as a percentage of F(M), hover: class and K. */
    public static BarChart chart(Minimality.Result result) {
        List<String> labels = result.heads().stream().map(Head::toString).toList();
        List<String> hover = new ArrayList<>();
        for (int i = 0; i < result.heads().size(); i++) {
            hover.add(result.classes().get(i) + ", K = " + Minimality.label(result.k().get(i)));
        }
        return Charts.bar(labels).add("minimality score", result.percentOfModel(), hover)
                .title("Minimality scores |F(C\\(K\u222a{v})) \u2212 F(C\\K)| as % of F(M)")
                .labels("head v", "% of F(M)");
    }

    /** Fig 6: x = F(C \ K), y = F(M \ K), coloured by kind, with the line y = x. */
    public static Figure chart(CircuitEvaluation.Completeness result, String title) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (double[] a : new double[][] {result.fCircuitWithout(), result.fModelWithout()}) {
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
        return Charts.scatter(result.fCircuitWithout(), result.fModelWithout())
                .color("K", result.sets().stream().map(CircuitEvaluation.KSet::kind).toList())
                .hover(result.sets().stream().map(CircuitEvaluation.KSet::toString).toList())
                .title(title)
                .labels("F(C \\ K)", "F(M \\ K)")
                .figure().with("shapes", List.of(line));
    }

    /** {@link #chart(CircuitEvaluation.Completeness, String)} with a generic title. */
    public static Figure chart(CircuitEvaluation.Completeness result) {
        return chart(result, "Completeness: (F(C\\K), F(M\\K)) with y = x");
    }

    /** Fig 9 as a heatmap (ARENA's plot): token signal down, position signal across. */
    public static Imshow heatmap(SignalPatching.Result result) {
        return Charts.imshow(result.logitDiff()).x(SignalPatching.Result.positionLabels())
                .y(SignalPatching.Result.tokenLabels())
                .labels("position signal", "token signal").colorLabel("logit diff")
                .title("Logit difference after patching " + result.heads() + " (" + result.variant().label + ")");
    }

    /** One heatmap per head patched alone (ARENA's per-head decomposition). */
    public static Imshow perHeadHeatmaps(SignalPatching.Result result) {
        List<Head> heads = result.heads();
        List<String> labels = heads.stream().map(h -> "head " + h).toList();
        return Charts.imshow(result.requirePerHead()).x(SignalPatching.Result.positionLabels()).y(SignalPatching.Result.tokenLabels())
                .facetLabels(labels).facetColWrap(Math.min(4, heads.size())).labels("position signal", "token signal")
                .colorLabel("logit diff").title("Each head patched alone (" + result.variant().label + ")");
    }

    /** Fig 18: a layer x head heatmap of one score ({@code prev}, {@code induction} or {@code duplicate}). */
    public static Imshow imshow(ValidationScores.Result result, String score) {
        return Charts.imshow(result.grid(score)).labels("head", "layer")
                .title(score + " score (repeated random tokens)");
    }

    /** Fig 3c: one point per prompt and name, coloured IO / S, with the S attention of {@code mode}. */
    public static ScatterChart scatter(WritingDirection.Result result, WritingDirection.SAttention mode) {
        int n = result.attnIo().length;
        List<String> groups = new ArrayList<>();
        List<String> hover = new ArrayList<>();
        for (int g = 0; g < 2; g++) {
            for (int i = 0; i < n; i++) {
                groups.add(g == 0 ? "IO" : "S");
                hover.add(result.prompts().get(i));
            }
        }
        return Charts.scatter(result.attention(mode), result.projection())
                .color("Name type", groups).hover(hover)
                .labels(mode == WritingDirection.SAttention.S1 ? "Attn prob on name (S: S1)"
                        : "Attn prob on name (S: S1 + S2)", "Dot w Name Embed")
                .title(String.format(Locale.ROOT, "Projection of the output of %d.%d along the name embedding vs "
                        + "attention probability on name (r = %.2f)", result.layer(), result.head(),
                        result.correlation(mode)));
    }

    /** {@link #scatter(WritingDirection.Result, WritingDirection.SAttention)} with the paper's S1 + S2. */
    public static ScatterChart scatter(WritingDirection.Result result) {
        return scatter(result, WritingDirection.SAttention.S1_PLUS_S2);
    }
}
