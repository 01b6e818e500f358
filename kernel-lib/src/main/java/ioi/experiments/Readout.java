package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ioi.lens.HookedTransformer;

/**
 * A {@link PatchingMetric} read off the final residual stream of batched runs: the final LayerNorm
 * and the unembedding computed only at the metric's positions and for the vocabulary columns it
 * reads (two per prompt for a logit difference instead of 50257), for many copies of the batch at
 * once. The readout of {@link BatchedRun}'s clients ({@link ActivationPatching}, {@link PathPatching}).
 */
final class Readout {

    private final HookedTransformer model;
    private final PatchingMetric metric;
    private final NDArray wU; // [batch, d_model, t], or null: the metric reads every column
    private final NDArray bU; // [batch, t]

    /**
     * @param batch prompts per copy
     * @param manager owns the gathered unembedding columns
     */
    Readout(HookedTransformer model, PatchingMetric metric, long batch, NDManager manager) {
        this.model = model;
        this.metric = metric;
        long[][] cols = metric.tokens();
        if (cols == null) {
            wU = null;
            bU = null;
            return;
        }
        if (cols.length != batch) {
            throw new IllegalArgumentException("the metric reads tokens for " + cols.length + " prompts but the batch has "
                    + batch);
        }
        try (NDScope scope = new NDScope()) {
            NDArray ids = manager.create(cols); // [batch, t]
            long t = ids.getShape().get(1);
            long d = model.cfg().dModel();
            NDArray rows = model.W_U().transpose().get(new NDIndex("{}", ids.flatten())); // [batch*t, d_model]
            NDArray w = rows.reshape(batch, t, d).transpose(0, 2, 1).duplicate(); // [batch, d_model, t]
            NDArray b = model.b_U().get(new NDIndex("{}", ids.flatten())).reshape(batch, t); // [batch, t]
            NDScope.unregister(w, b);
            w.attach(manager);
            b.attach(manager);
            wU = w;
            bU = b;
        }
    }

    /**
     * The metric of each copy.
     *
     * @param resid [copies, batch, d_model]: the final residual stream at each prompt's metric position
     * @return [copies]
     */
    float[] score(NDArray resid) {
        try (NDScope scope = new NDScope()) {
            long copies = resid.getShape().get(0);
            NDArray normalized = model.applyLayerNorm("ln_final", resid); // [copies, batch, d_model]
            NDArray logits;
            if (wU != null) {
                NDArray byPrompt = normalized.transpose(1, 0, 2); // [batch, copies, d_model]
                logits = byPrompt.matMul(wU).transpose(1, 0, 2).add(bU); // [copies, batch, t]
            } else {
                logits = normalized.matMul(model.W_U()).add(model.b_U()); // [copies, batch, d_vocab]
            }
            NDArray scores = metric.score(logits); // [copies]
            if (scores.getShape().dimension() != 1 || scores.getShape().get(0) != copies) {
                throw new IllegalStateException("the metric returned " + scores.getShape() + " for " + copies
                        + " copies; expected [" + copies + "]");
            }
            return scores.toType(DataType.FLOAT32, false).toFloatArray();
        }
    }
}
