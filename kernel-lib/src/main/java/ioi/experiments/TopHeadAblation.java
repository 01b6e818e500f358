package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ioi.lens.ActivationCache;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * ARENA 1.4.1's first look at backup name movers ([A3] instructions page, "backup name mover heads";
 * paper §3.4, App F): ablate one head
 * (by default the one with the largest direct logit attribution, 9.9 in GPT-2 small) at END only,
 * by its ABC template-group mean, and compare the logit difference with the naive prediction
 * "original minus the head's DLA". In GPT-2 small (ARENA, N=25 seed 1): 2.8052 original, 1.7086
 * DLA, 1.0966 naive prediction, 2.6290 after the ablation: other heads compensate. The change of
 * ln_final's scale at END (ARENA: 1.04) is too small to explain it.
 *
 * @param head the ablated head
 * @param originalLogitDiff F(M), mean logit difference of the clean run
 * @param dla the head's mean direct logit attribution (through the clean run's cached ln_final scale)
 * @param naivePrediction original - DLA
 * @param ablatedLogitDiff mean logit difference with the head's z at END replaced by its template mean
 * @param lnScaleRatio mean over prompts of ln_final's scale at END, ablated / original
 */
public record TopHeadAblation(Head head, double originalLogitDiff, double dla, double naivePrediction,
        double ablatedLogitDiff, double lnScaleRatio, Table table) {

    /** Ablates the head with the largest (signed) mean DLA. */
    public static TopHeadAblation run(MeanAblation ablation) {
        return run(ablation, null);
    }

    /** Ablates {@code head} ({@code null}: the head with the largest mean DLA) at END. */
    public static TopHeadAblation run(MeanAblation ablation, Head head) {
        HookedTransformer model = ablation.model();
        IoiBatch batch = ablation.batch();
        if (head != null) {
            head.checkIn(model.cfg());
        }
        long[] end = batch.end();
        try (NDManager m = model.resultManager().newSubManager()) {
            NDArray tokens = batch.tokens(m); // [batch, pos]
            double original;
            double dla;
            float[] scale;
            try (ActivationCache cache = model.runWithCache(tokens)) {
                LogitAttribution.Attribution attr = LogitAttribution.byHead(model, cache, batch);
                float[] means = attr.mean().toFloatArray(); // [n_layers * n_heads]
                if (head == null) {
                    int best = 0;
                    for (int i = 1; i < means.length; i++) {
                        if (means[i] > means[best]) {
                            best = i;
                        }
                    }
                    head = new Head(best / model.cfg().nHeads(), best % model.cfg().nHeads());
                }
                dla = means[head.layer() * model.cfg().nHeads() + head.head()];
                original = Metrics.mean(Metrics.logitDiff(cache.logits(), batch, m));
                scale = scaleAtEnd(cache.get("ln_final.hook_scale"), end);
            }
            double ablated;
            float[] ablatedScale;
            try (HookScope s = ablation.hooks(ablation.knockOut(List.of(head), "end"));
                    ActivationCache cache = model.runWithCache(tokens, n -> n.equals("ln_final.hook_scale"),
                            RunOptions.defaults())) {
                ablated = Metrics.mean(Metrics.logitDiff(cache.logits(), batch, m));
                ablatedScale = scaleAtEnd(cache.get("ln_final.hook_scale"), end);
            }
            double ratio = 0;
            for (int b = 0; b < end.length; b++) {
                ratio += (double) ablatedScale[b] / scale[b];
            }
            ratio /= end.length;
            Table t = Table.create("Ablating " + head + " at END by its ABC template mean",
                    StringColumn.create("quantity", List.of("original logit diff", "DLA of " + head,
                            "naive prediction (original - DLA)", "logit diff after ablating " + head,
                            "ln_final scale ratio at END (ablated / original)")),
                    DoubleColumn.create("value", new double[] {original, dla, original - dla, ablated, ratio}));
            return new TopHeadAblation(head, original, dla, original - dla, ablated, ratio, t);
        }
    }

    /** scale [batch, pos, 1] at each prompt's END: [batch]. */
    private static float[] scaleAtEnd(NDArray scale, long[] end) {
        float[] flat = scale.toType(DataType.FLOAT32, false).toFloatArray();
        long pos = scale.getShape().get(1);
        float[] out = new float[end.length];
        for (int b = 0; b < end.length; b++) {
            out[b] = flat[(int) (b * pos + end[b])];
        }
        return out;
    }
}
