package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ioi.lens.ActivationCache;
import ioi.lens.GradientRun;
import ioi.lens.HookNames;
import ioi.lens.HookedTransformer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * Attribution patching: the first-order estimate of every activation-patching cell from one
 * forward and one backward pass on the base run and one forward pass on the source run, instead of
 * one patched forward per cell. For a cell (a slice of a hook point's activation),
 * {@code estimate = metric(base) + Σ_slice (a_source − a_base) · ∂metric/∂a |_base}, summed over
 * the patched slice and over the prompts (a cell patches all prompts at once, as in
 * {@link ActivationPatching}).
 *
 * <p>Two directions, as the literature uses them:
 * <ul>
 *   <li>{@link #ioi} (denoising, the same set-up as {@link ActivationPatching#ioi}): base = the ABC
 *       run, source = the clean run, gradients at the ABC run; its grids estimate
 *       {@link ActivationPatching}'s grids cell for cell (Nanda's attribution-patching demo:
 *       {@code (clean_act − corrupted_act) · corrupted_grad});
 *   <li>{@link #ioiNoising}: base = the clean run, source = the ABC run, gradients at the clean run:
 *       the estimated change of the clean metric when one cell is corrupted.
 * </ul>
 *
 * <p>Each grid is reported as the estimated metric ({@code baseline + Σ}), so it can be plotted and
 * compared with the exact grid on the same scale; {@link #compare} gives the correlation and the
 * cells where the linear estimate is furthest off.
 */
public final class AttributionPatching implements AutoCloseable {

    /**
     * The hook points the grids read: resid_pre and each head's q, k, v and z; and the final
     * LayerNorm's output, on which a logit-difference metric depends linearly ({@link #byPosition}).
     */
    private static final Pattern HOOKS =
            Pattern.compile("blocks\\.\\d+\\.(hook_resid_pre|attn\\.hook_[qkvz])|ln_final\\.hook_normalized");

    private final HookedTransformer model;
    private final GradientRun base;
    private final ActivationCache source;
    private final int nLayers;
    private final int nHeads;

    private AttributionPatching(HookedTransformer model, GradientRun base, ActivationCache source) {
        this.model = model;
        this.base = base;
        this.source = source;
        this.nLayers = model.cfg().nLayers();
        this.nHeads = model.cfg().nHeads();
    }

    /**
     * Gradients of {@code metric} at the run of {@code baseTokens}; activations to patch in from the
     * run of {@code sourceTokens} (same shape).
     */
    public static AttributionPatching create(HookedTransformer model, NDArray baseTokens, NDArray sourceTokens,
            PatchingMetric metric) {
        if (!baseTokens.getShape().equals(sourceTokens.getShape())) {
            throw new IllegalArgumentException("base tokens " + baseTokens.getShape() + " and source tokens "
                    + sourceTokens.getShape() + " must have the same [batch, pos]: a cell patches position p of"
                    + " prompt b from the same position of the same prompt");
        }
        Predicate<String> names = n -> HOOKS.matcher(n).matches();
        GradientRun run = model.runWithGradients(baseTokens, names, logits -> Metrics.scoreArray(metric, logits));
        try {
            return new AttributionPatching(model, run, model.runWithCache(sourceTokens, names));
        } catch (RuntimeException e) {
            run.close();
            throw e;
        }
    }

    /** Denoising, as {@link ActivationPatching#ioi}: base = the batch's ABC prompts, source = its clean prompts. */
    public static AttributionPatching ioi(HookedTransformer model, IoiBatch batch, PatchingMetric metric) {
        try (NDManager tmp = model.resultManager().newSubManager()) {
            return create(model, batch.abcTokens(tmp), batch.tokens(tmp), metric);
        }
    }

    /** Noising: base = the batch's clean prompts, source = its ABC prompts. */
    public static AttributionPatching ioiNoising(HookedTransformer model, IoiBatch batch, PatchingMetric metric) {
        try (NDManager tmp = model.resultManager().newSubManager()) {
            return create(model, batch.tokens(tmp), batch.abcTokens(tmp), metric);
        }
    }

    /** The metric of the base run (nothing patched): every estimate starts here. */
    public double baseline() {
        return base.metric();
    }

    /** The gradient run (activations and ∂metric/∂activation of the base run). */
    public GradientRun gradients() {
        return base;
    }

    // ---------------------------------------------------------------- the grids

    /** Estimates {@link ActivationPatching#residPre}: [n_layers, pos]. */
    public PatchingResult residPre() {
        return grid("resid_pre", new int[] {0, 2}, "Attribution patching: resid_pre by position", List.of("layer", "pos"));
    }

    /** Estimates {@link ActivationPatching#headOutAllPos}: each head's z at every position, [n_layers, n_heads]. */
    public PatchingResult headOutAllPos() {
        return grid("z", new int[] {0, 1, 3}, "Attribution patching: head output (z), all positions", List.of("layer", "head"));
    }

    /** Estimates {@link ActivationPatching#headOutByPos}: [n_layers, pos, n_heads]. */
    public PatchingResult headOutByPos() {
        return grid("z", new int[] {0, 3}, "Attribution patching: head output (z) by position", List.of("layer", "pos", "head"));
    }

    /** Estimates {@link ActivationPatching#headQAllPos}: [n_layers, n_heads]. */
    public PatchingResult headQAllPos() {
        return grid("q", new int[] {0, 1, 3}, "Attribution patching: head queries, all positions", List.of("layer", "head"));
    }

    /** Estimates {@link ActivationPatching#headKAllPos}: [n_layers, n_heads]. */
    public PatchingResult headKAllPos() {
        return grid("k", new int[] {0, 1, 3}, "Attribution patching: head keys, all positions", List.of("layer", "head"));
    }

    /** Estimates {@link ActivationPatching#headVAllPos}: [n_layers, n_heads]. */
    public PatchingResult headVAllPos() {
        return grid("v", new int[] {0, 1, 3}, "Attribution patching: head values, all positions", List.of("layer", "head"));
    }

    /**
     * One hook point by position: the estimate for patching {@code hookName} at each position (every
     * other axis of the activation patched too), [pos]. For {@code ln_final.hook_normalized} and a
     * logit-difference metric the estimate is exact: the logits are linear in it.
     */
    public PatchingResult byPosition(String hookName) {
        if (!HOOKS.matcher(hookName).matches()) {
            throw new IllegalArgumentException("attribution patching recorded no gradient at '" + hookName
                    + "': it records blocks.L.hook_resid_pre, blocks.L.attn.hook_q/k/v/z and ln_final.hook_normalized");
        }
        try (NDScope scope = new NDScope()) {
            NDArray prod = source.get(hookName).sub(base.activations().get(hookName)).mul(base.gradient(hookName)); // activation's shape
            int[] axes = java.util.stream.IntStream.range(0, prod.getShape().dimension()).filter(a -> a != 1).toArray();
            NDArray grid = prod.sum(axes).add(base.metric()); // [pos]
            return PatchingResult.of("Attribution patching: " + hookName + " by position", grid, List.of("pos"),
                    base.metric());
        }
    }

    /**
     * One row per layer: (source − base) · gradient of {@code act}, summed over {@code sumAxes}
     * (the prompts and the patched slice), plus the baseline.
     */
    private PatchingResult grid(String act, int[] sumAxes, String title, List<String> axes) {
        try (NDScope scope = new NDScope()) {
            List<NDArray> rows = new ArrayList<>();
            for (int l = 0; l < nLayers; l++) {
                String name = HookNames.getActName(act, l);
                NDArray diff = source.get(name).sub(base.activations().get(name)); // activation's shape
                rows.add(diff.mul(base.gradient(name)).sum(sumAxes)); // [pos] | [head_index] | [pos, head_index]
            }
            NDArray grid = NDArrays.stack(new NDList(rows)).add(base.metric()); // [n_layers, ...]
            return PatchingResult.of(title, grid, axes, base.metric());
        }
    }

    // ---------------------------------------------------------------- against the exact grid

    /** One cell of a grid, with its exact value and its estimate. */
    public record Cell(long[] index, float exact, float estimate) {
        public float error() {
            return estimate - exact;
        }
    }

    /**
     * How well the estimate follows the exact grid.
     *
     * @param pearson correlation of the cells' values
     * @param worst the cells with the largest |estimate − exact|, largest first
     */
    public record Comparison(String title, double pearson, double maxAbsError, List<Cell> worst) {}

    /** Correlation of {@code estimate} with {@code exact} (same shape) and the {@code top} cells where they differ most. */
    public static Comparison compare(PatchingResult exact, PatchingResult estimate, int top) {
        if (!exact.shape().equals(estimate.shape())) {
            throw new IllegalArgumentException("the exact grid is " + exact.shape() + " " + exact.axes()
                    + " but the estimate is " + estimate.shape() + " " + estimate.axes() + ": compare the same grid");
        }
        float[] x = exact.toFloatArray();
        float[] y = estimate.toFloatArray();
        long[] shape = exact.shape().getShape();
        List<Cell> cells = new ArrayList<>(x.length);
        for (int i = 0; i < x.length; i++) {
            cells.add(new Cell(unravel(i, shape), x[i], y[i]));
        }
        cells.sort(Comparator.comparingDouble((Cell c) -> -Math.abs(c.error())));
        double maxAbs = cells.isEmpty() ? 0 : Math.abs(cells.get(0).error());
        return new Comparison(estimate.title() + " vs " + exact.title(), pearson(x, y), maxAbs,
                List.copyOf(cells.subList(0, Math.min(top, cells.size()))));
    }

    static double pearson(float[] x, float[] y) {
        double mx = 0;
        double my = 0;
        for (int i = 0; i < x.length; i++) {
            mx += x[i];
            my += y[i];
        }
        mx /= x.length;
        my /= y.length;
        double sxy = 0;
        double sxx = 0;
        double syy = 0;
        for (int i = 0; i < x.length; i++) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx == 0 || syy == 0 ? Double.NaN : sxy / Math.sqrt(sxx * syy);
    }

    private static long[] unravel(int flat, long[] shape) {
        long[] idx = new long[shape.length];
        long rest = flat;
        for (int a = shape.length - 1; a >= 0; a--) {
            idx[a] = rest % shape[a];
            rest /= shape[a];
        }
        return idx;
    }

    @Override
    public void close() {
        base.close();
        source.close();
    }
}
