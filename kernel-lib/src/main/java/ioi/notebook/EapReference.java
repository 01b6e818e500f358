package ioi.notebook;

import ioi.experiments.EdgeRecovery;
import ioi.experiments.HeadRecovery;
import java.util.Locale;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Published circuit-recovery figures for IOI on GPT-2 small next to this run's (notebook 08), each
 * with where it was read and the set-up it comes from, since no two sources share one: ACDC's
 * area under the ROC curve (its repository's table, [ACDC] in docs/sources.md), EAP-IG's
 * faithfulness at a number of edges (its authors' result files, [EAP]). The EAP paper's own ROC
 * areas are not here: the project could not read them from a source it can cite.
 */
public final class EapReference {
    private EapReference() {}

    /** ACDC repo, {@code experiments/results/auc_tables.tex} @ 6894cd80, IOI, "Random Ablation" (ABC-style corruption). */
    public static final double ACDC_EDGE_AUC_KL = 0.868;
    public static final double ACDC_EDGE_AUC_LOGIT_DIFF = 0.589;
    public static final double SP_EDGE_AUC_LOGIT_DIFF = 0.837;
    public static final double ACDC_NODE_AUC_LOGIT_DIFF = 0.777;
    public static final double SP_NODE_AUC_LOGIT_DIFF = 0.814;

    /**
     * hannamw/eap-ig-faithfulness @ d42fea6a, {@code results/pareto/gpt2/csv/ioi.csv} and
     * {@code results/real/gpt2/csv/ioi.csv}: normalised faithfulness (score − corrupted) / (clean −
     * corrupted) of the circuit asked for with 400 edges (362, 377, 372 edges after pruning).
     */
    public static final double HANNA_FAITHFULNESS_400_EAP = 0.678;
    public static final double HANNA_FAITHFULNESS_400_EAP_IG = 0.460;
    public static final double HANNA_FAITHFULNESS_400_ACTIVATION_PATCHING = 0.841;

    private static final String ACDC = "ACDC repo auc_tables.tex @ 6894cd80 (IOI, corrupted prompts, trained GPT-2)";
    private static final String HANNA = "hannamw/eap-ig-faithfulness @ d42fea6a (1000 prompts, S2 replaced by a new name)";

    /**
     * The table: published figure, its source and set-up, and this run's value where this run
     * computes the same quantity (areas against ACDC's ground truth edges and the paper's heads).
     */
    public static Table table(EdgeRecovery.Roc eapEdges, EdgeRecovery.Roc eapIgEdges, HeadRecovery.Roc eapHeads,
            HeadRecovery.Roc eapIgHeads) {
        Table t = Table.create("Published circuit recovery on IOI (GPT-2 small) vs this run", StringColumn.create("quantity"),
                StringColumn.create("published"), StringColumn.create("source and set-up"), StringColumn.create("this run"));
        row(t, "edge ROC area, ACDC, KL metric", n(ACDC_EDGE_AUC_KL), ACDC, "");
        row(t, "edge ROC area, ACDC, logit difference", n(ACDC_EDGE_AUC_LOGIT_DIFF), ACDC, "");
        row(t, "edge ROC area, subnetwork probing, logit difference", n(SP_EDGE_AUC_LOGIT_DIFF), ACDC, "");
        row(t, "edge ROC area, EAP, logit difference", "", "EAP paper: not read here",
                n(eapEdges.auc()) + " (ACDC's ground-truth edges, ABC prompts)");
        row(t, "edge ROC area, EAP-IG, logit difference", "", "", n(eapIgEdges.auc()) + " (the same)");
        row(t, "node ROC area, ACDC, logit difference", n(ACDC_NODE_AUC_LOGIT_DIFF), ACDC + "; nodes include MLPs", "");
        row(t, "node ROC area, subnetwork probing, logit difference", n(SP_NODE_AUC_LOGIT_DIFF), ACDC, "");
        row(t, "head ROC area, EAP / EAP-IG", "", "", n(eapHeads.auc()) + " / " + n(eapIgHeads.auc())
                + " (the paper's 26 heads)");
        row(t, "faithfulness at 400 edges, EAP / EAP-IG / activation patching",
                n(HANNA_FAITHFULNESS_400_EAP) + " / " + n(HANNA_FAITHFULNESS_400_EAP_IG) + " / "
                        + n(HANNA_FAITHFULNESS_400_ACTIVATION_PATCHING),
                HANNA + "; edges kept, the rest patched from corrupted", "");
        return t;
    }

    private static void row(Table t, String quantity, String published, String source, String thisRun) {
        t.stringColumn("quantity").append(quantity);
        t.stringColumn("published").append(published);
        t.stringColumn("source and set-up").append(source);
        t.stringColumn("this run").append(thisRun);
    }

    private static String n(double x) {
        return String.format(Locale.ROOT, "%.3f", x);
    }
}
