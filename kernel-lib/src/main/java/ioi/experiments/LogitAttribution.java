package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import ioi.lens.LabeledStack;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Direct logit attribution of the IOI logit difference, each prompt read at its own {@code end}:
 * how much each component of the residual stream writes along
 * {@code W_U[:, IO] - W_U[:, S]} through ln_final's cached scale (ARENA 1.4.1 §2 "Logit
 * attribution"; the paper's Fig 3 finds the same heads, 9.9, 9.6, 10.0 positive and 10.7, 11.10
 * negative, by path patching). Attributions exclude {@code b_U}, so the components of
 * {@link #byComponent} add up to the logit difference minus {@code b_U[IO] - b_U[S]}.
 *
 * <p>Every result holds plain Java arrays ({@link Grid}): nothing to close.
 */
public final class LogitAttribution {

    private LogitAttribution() {}

    /** How {@link #logitLens} normalises each accumulated residual stream. */
    public enum LensNorm {
        /**
         * Each component through ln_final with its own mean and scale, as a real forward pass would:
         * TransformerLens 2.18's {@code accumulated_resid(apply_ln=True)}.
         */
        RECOMPUTED,
        /**
         * Each component divided by the final residual stream's cached scale (TL's
         * {@code apply_ln_to_stack}), ARENA's {@code residual_stack_to_logit_diff} of
         * {@code accumulated_resid}: the components are then linear pieces of the logit difference.
         */
        CACHED_SCALE
    }

    /**
     * Attributions per component and prompt, their mean over prompts, and labels.
     *
     * @param perPrompt [components, batch]
     * @param mean [components], or [n_layers, n_heads] for {@link #byHead}
     * @param labels one per component: {@code embed, pos_embed, 0_attn_out, 0_mlp_out, ...},
     *     {@code L0H0, L0H1, ...}, or {@code 0_pre, 0_mid, ..., final_post}
     * @param table one row per component (the means)
     */
    public record Attribution(Grid perPrompt, Grid mean, List<String> labels, Table table) {
        /** The mean attribution of the component with this label. */
        public double get(String label) {
            int i = labels.indexOf(label);
            if (i < 0) {
                throw new IllegalArgumentException("no component '" + label + "'; components: " + labels);
            }
            return mean.toFloatArray()[i];
        }
    }

    /**
     * DLA per layer component: embed, pos_embed, then each layer's attention and MLP output (TL's
     * {@code decompose_resid}); ARENA's "logit difference from each layer" line plot.
     */
    public static Attribution byComponent(HookedTransformer model, ActivationCache cache, IoiBatch batch) {
        try (NDScope scope = new NDScope()) {
            LabeledStack stack = cache.decomposeResid(null, false); // [components, batch, pos, d_model]
            NDArray perPrompt = attrs(cache, stack.stack(), batch); // [components, batch]
            stack.stack().close(); // owned by the cache: freed now, so repeated calls do not pile up
            return result(model, "Direct logit attribution by component", perPrompt, null, stack.labels(), false);
        }
    }

    /**
     * DLA per attention head (TL's {@code stack_head_results}), mean [n_layers, n_heads]; ARENA's
     * "logit difference from each head" heatmap, where 9.6 and 9.9 stand out positive and 10.7,
     * 11.10 negative in GPT-2 small.
     */
    public static Attribution byHead(HookedTransformer model, ActivationCache cache, IoiBatch batch) {
        try (NDScope scope = new NDScope()) {
            LabeledStack stack = cache.stackHeadResults(null, false, false); // [layer*head, batch, pos, d_model]
            NDArray perPrompt = attrs(cache, stack.stack(), batch); // [layer*head, batch]
            stack.stack().close();
            return result(model, "Direct logit attribution by head", perPrompt,
                    new long[] {model.cfg().nLayers(), model.cfg().nHeads()}, stack.labels(), true);
        }
    }

    /**
     * The logit lens: the logit difference read off the residual stream before each layer and its
     * attention ({@code accumulated_resid(incl_mid=True)}: {@code 0_pre, 0_mid, ..., final_post});
     * ARENA's "logit difference from accumulated residual stream", which rises in layers 9-10 in
     * GPT-2 small.
     */
    public static Attribution logitLens(HookedTransformer model, ActivationCache cache, IoiBatch batch, LensNorm norm) {
        try (NDScope scope = new NDScope()) {
            LabeledStack stack = cache.accumulatedResid(null, true, false); // [components, batch, pos, d_model]
            NDArray perPrompt;
            if (norm == LensNorm.CACHED_SCALE) {
                perPrompt = attrs(cache, stack.stack(), batch);
            } else {
                NDArray atEnd = cache.atPositions(stack.stack(), batch.end()); // [components, batch, d_model]
                NDArray normalized = model.applyLayerNorm("ln_final", atEnd); // [components, batch, d_model]
                perPrompt = normalized.mul(directions(model, batch)).sum(new int[] {-1}); // [components, batch]
                atEnd.close();
            }
            stack.stack().close();
            return result(model, "Logit lens (" + norm + ")", perPrompt, null, stack.labels(), false);
        }
    }

    /** W_U[:, io] - W_U[:, s] per prompt: [batch, d_model]. */
    static NDArray directions(HookedTransformer model, IoiBatch batch) {
        NDArray wUt = model.W_U().transpose(); // [d_vocab, d_model]
        NDManager m = wUt.getManager();
        NDArray io = wUt.get(new ai.djl.ndarray.index.NDIndex("{}", m.create(batch.ioTokenIds()))); // [batch, d_model]
        NDArray s = wUt.get(new ai.djl.ndarray.index.NDIndex("{}", m.create(batch.sTokenIds())));
        return io.sub(s);
    }

    private static NDArray attrs(ActivationCache cache, NDArray stack, IoiBatch batch) {
        // Both intermediates belong to the cache; the caller's scope gets a copy and the cache lets go.
        NDArray atEnd = cache.atPositions(stack, batch.end()); // [components, batch, d_model]
        NDArray attrs = cache.logitAttrsAtPositions(atEnd, batch.ioTokenIds(), batch.sTokenIds(), batch.end()); // [components, batch]
        NDArray copy = attrs.duplicate();
        attrs.close();
        atEnd.close();
        return copy;
    }

    private static Attribution result(HookedTransformer model, String title, NDArray perPrompt, long[] meanShape,
            List<String> labels, boolean heads) {
        Grid pp = Grid.of(perPrompt); // [components, batch]
        Grid mean = Grid.of(perPrompt.mean(new int[] {1})); // [components]
        if (meanShape != null) {
            mean = mean.reshape(meanShape);
        }
        double[] values = mean.toDoubleArray();
        Table table;
        if (heads) {
            int nHeads = model.cfg().nHeads();
            int[] layer = new int[values.length];
            int[] head = new int[values.length];
            for (int i = 0; i < values.length; i++) {
                layer[i] = i / nHeads;
                head[i] = i % nHeads;
            }
            table = Table.create(title, IntColumn.create("layer", layer), IntColumn.create("head", head),
                    StringColumn.create("component", labels), DoubleColumn.create("logit_diff", values));
        } else {
            table = Table.create(title, StringColumn.create("component", labels),
                    DoubleColumn.create("logit_diff", values));
        }
        return new Attribution(pp, mean, List.copyOf(labels), table);
    }
}
