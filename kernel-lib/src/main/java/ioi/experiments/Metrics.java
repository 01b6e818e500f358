package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.HookedTransformer;
import ioi.lens.Scalar;
import java.util.ArrayList;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * The IOI metrics (paper §2; [A3] {@code solutions.py}, docs/sources.md), all read at each prompt's
 * {@code end} position:
 * <ul>
 *   <li>logit difference {@code logit[IO] - logit[S]} (paper §2: mean 3.56 for GPT-2 small; ARENA
 *       {@code logits_to_ave_logit_diff_2}: 2.8052 on its N=25 seed-1 dataset, -0.7699 on ABC);
 *   <li>IO probability, the softmax at {@code end} of the IO token (paper §2: 49%);
 *   <li>ARENA's normalised {@code ioi_metric}: {@code (ld - ld_ABC) / (ld_clean - ld_ABC)}, 0 at
 *       the ABC level and 1 at the clean level, what activation-patching grids show;
 *   <li>ARENA's {@code ioi_metric_2}: {@code (ld - ld_clean) / (ld_clean - ld_ABC)}, 0 at the
 *       clean level and -1 at the ABC level, what path patching plots (x100, "logit diff.
 *       variation").
 * </ul>
 * {@code ld} is always the mean logit difference over the batch, measured against the clean
 * prompts' answers, also on ABC tokens.
 */
public final class Metrics {

    private Metrics() {}

    // ---------------------------------------------------------------- on logits

    /**
     * Logit difference per prompt, {@code logits[b, end[b], io[b]] - logits[b, end[b], s[b]]}.
     *
     * @param logits [batch, pos, d_vocab]
     * @return [batch], in {@code out}
     */
    public static NDArray logitDiff(NDArray logits, IoiBatch batch, NDManager out) {
        try (NDScope scope = new NDScope()) {
            NDArray atEnd = atPositions(logits, batch.end()); // [batch, d_vocab]
            NDArray diff = pick(atEnd, batch.ioTokenIds()).sub(pick(atEnd, batch.sTokenIds())); // [batch]
            return keep(diff, out);
        }
    }

    /**
     * IO probability per prompt: {@code softmax(logits[b, end[b]])[io[b]]} (paper §2).
     *
     * @param logits [batch, pos, d_vocab]
     * @return [batch], in {@code out}
     */
    public static NDArray ioProbability(NDArray logits, IoiBatch batch, NDManager out) {
        try (NDScope scope = new NDScope()) {
            NDArray probs = atPositions(logits, batch.end()).softmax(-1); // [batch, d_vocab]
            return keep(pick(probs, batch.ioTokenIds()), out);
        }
    }

    /** ARENA's {@code ioi_metric}: 0 = ABC level, 1 = clean level. */
    public static double normalised(double logitDiff, double cleanLogitDiff, double abcLogitDiff) {
        return (logitDiff - abcLogitDiff) / (cleanLogitDiff - abcLogitDiff);
    }

    /** ARENA's {@code ioi_metric_2}: 0 = clean level, -1 = ABC level. */
    public static double metric2(double logitDiff, double cleanLogitDiff, double abcLogitDiff) {
        return (logitDiff - cleanLogitDiff) / (cleanLogitDiff - abcLogitDiff);
    }

    // ---------------------------------------------------------------- as patching metrics

    /** The mean logit difference as a {@link PatchingMetric}. */
    public static PatchingMetric logitDiffMetric(IoiBatch batch) {
        return new LogitDiffMetric(batch, 0, 1);
    }

    /**
     * ARENA's normalised {@code ioi_metric} as a {@link PatchingMetric}, the metric of the
     * activation-patching grids (0 = nothing restored, 1 = fully restored).
     *
     * @param cleanLogitDiff mean logit difference of the clean run
     * @param abcLogitDiff mean logit difference of the ABC run (against the clean answers)
     */
    public static PatchingMetric normalisedMetric(IoiBatch batch, double cleanLogitDiff, double abcLogitDiff) {
        return new LogitDiffMetric(batch, abcLogitDiff, cleanLogitDiff - abcLogitDiff);
    }

    /** ARENA's {@code ioi_metric_2} as a {@link PatchingMetric} (0 = clean, -1 = ABC). */
    public static PatchingMetric metric2(IoiBatch batch, double cleanLogitDiff, double abcLogitDiff) {
        return new LogitDiffMetric(batch, cleanLogitDiff, cleanLogitDiff - abcLogitDiff);
    }

    /**
     * The paper's path-patching metric as a {@link PatchingMetric}: the % change of the mean logit
     * difference, {@code 100 (ld - clean) / clean} ([ET] {@code experiments.py} {@code plot_path_patching}).
     */
    public static PatchingMetric percentChange(IoiBatch batch, double cleanLogitDiff) {
        if (cleanLogitDiff == 0) {
            throw new IllegalArgumentException("the clean logit difference is 0: a % change of it is undefined");
        }
        return new LogitDiffMetric(batch, cleanLogitDiff, cleanLogitDiff / 100.0);
    }

    /**
     * A {@link PatchingMetric} applied to the logits of an ordinary forward pass.
     *
     * @param logits [batch, pos, d_vocab]
     */
    public static double score(PatchingMetric metric, NDArray logits) {
        try (NDScope scope = new NDScope()) {
            return scoreArray(metric, logits).toType(DataType.FLOAT64, false).getDouble(0);
        }
    }

    /**
     * {@link #score} as an array, [1], through differentiable ops only (position rows, then a gather
     * of the metric's columns): what a backward pass starts from ({@link AttributionPatching}).
     *
     * @param logits [batch, pos, d_vocab]
     */
    static NDArray scoreArray(PatchingMetric metric, NDArray logits) {
        NDArray at = atPositions(logits, metric.positions()); // [batch, d_vocab]
        long[][] tokens = metric.tokens();
        if (tokens != null) {
            NDArray idx = at.getManager().create(tokens); // [batch, t]
            at = at.gather(idx, 1); // [batch, t]
        }
        return metric.score(at.expandDims(0)); // [1]
    }

    /** (mean logit diff - offset) / divisor, reading columns {io, s} per prompt. */
    private record LogitDiffMetric(IoiBatch batch, double offset, double divisor) implements PatchingMetric {
        @Override
        public long[] positions() {
            return batch.end();
        }

        @Override
        public long[][] tokens() {
            long[][] t = new long[batch.size()][];
            for (int b = 0; b < t.length; b++) {
                t[b] = new long[] {batch.ioTokenIds()[b], batch.sTokenIds()[b]};
            }
            return t;
        }

        @Override
        public NDArray score(NDArray logits) { // [copies, batch, 2]
            NDArray diff = logits.get(":, :, 0").sub(logits.get(":, :, 1")); // [copies, batch]
            return Scalar.div(Scalar.sub(diff.mean(new int[] {1}), offset), divisor); // [copies]
        }
    }

    // ---------------------------------------------------------------- task performance

    /**
     * Runs the clean and the ABC prompts and measures the task (paper §2 "Task description" and
     * the p_IOI row of Fig 8; ARENA's "Average logit diff (IOI dataset)" / "(ABC dataset)"): the
     * notebook's "check the model does the task" before any analysis.
     */
    public static Performance performance(HookedTransformer model, IoiBatch batch) {
        try (NDManager tmp = model.resultManager().newSubManager()) {
            NDArray logits = model.forward(batch.tokens(tmp)); // [batch, pos, d_vocab]
            NDArray ld = logitDiff(logits, batch, tmp); // [batch]
            NDArray p = ioProbability(logits, batch, tmp); // [batch]
            logits.close();
            NDArray abcLogits = model.forward(batch.abcTokens(tmp)); // [batch, pos, d_vocab]
            NDArray abcLd = logitDiff(abcLogits, batch, tmp); // [batch]
            NDArray abcP = ioProbability(abcLogits, batch, tmp); // [batch]
            // The means as the reference takes them: torch's float32 mean (logit_diff.mean()).
            return new Performance(batch, Grid.of(ld), Grid.of(abcLd), Grid.of(p), Grid.of(abcP), mean(ld), mean(abcLd),
                    mean(p), mean(abcP));
        }
    }

    /**
     * The task measured on clean and ABC prompts, in plain Java arrays (nothing to close).
     *
     * @param logitDiff clean logit difference per prompt [batch]
     * @param abcLogitDiff ABC logit difference per prompt (clean answers) [batch]
     * @param ioProbability clean IO probability per prompt [batch]
     * @param abcIoProbability ABC IO probability per prompt [batch]
     * @param meanLogitDiff mean clean logit difference (paper: 3.56 for GPT-2 small)
     * @param meanAbcLogitDiff mean ABC logit difference against the clean answers (ARENA: -0.7699)
     * @param meanIoProbability mean clean IO probability (paper: 0.49)
     * @param meanAbcIoProbability mean ABC IO probability
     */
    public record Performance(IoiBatch batch, Grid logitDiff, Grid abcLogitDiff, Grid ioProbability,
            Grid abcIoProbability, double meanLogitDiff, double meanAbcLogitDiff, double meanIoProbability,
            double meanAbcIoProbability) {

        /** From per-prompt values, with the means taken here (in double precision). */
        public static Performance of(IoiBatch batch, Grid logitDiff, Grid abcLogitDiff, Grid ioProbability,
                Grid abcIoProbability) {
            return new Performance(batch, logitDiff, abcLogitDiff, ioProbability, abcIoProbability, logitDiff.mean(),
                    abcLogitDiff.mean(), ioProbability.mean(), abcIoProbability.mean());
        }

        /** Fraction of clean prompts where S's logit is above IO's (paper Fig 8: 0.7%). */
        public double fractionSOverIo() {
            float[] d = logitDiff.toFloatArray();
            int n = 0;
            for (float x : d) {
                n += x < 0 ? 1 : 0;
            }
            return (double) n / d.length;
        }

        /** The normalised metric against this run's clean and ABC levels. */
        public PatchingMetric normalisedMetric() {
            return Metrics.normalisedMetric(batch, meanLogitDiff(), meanAbcLogitDiff());
        }

        /** {@code ioi_metric_2} against this run's clean and ABC levels. */
        public PatchingMetric metric2() {
            return Metrics.metric2(batch, meanLogitDiff(), meanAbcLogitDiff());
        }

        /** One row per prompt: prompt, logit_diff, abc_logit_diff, io_prob, abc_io_prob. */
        public Table table() {
            List<String> labels = new ArrayList<>();
            for (int i = 0; i < batch.size(); i++) {
                labels.add(batch.label(i));
            }
            int[] idx = new int[batch.size()];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = i;
            }
            return Table.create("IOI performance",
                    IntColumn.create("index", idx),
                    StringColumn.create("prompt", labels),
                    DoubleColumn.create("logit_diff", logitDiff.toDoubleArray()),
                    DoubleColumn.create("abc_logit_diff", abcLogitDiff.toDoubleArray()),
                    DoubleColumn.create("io_prob", ioProbability.toDoubleArray()),
                    DoubleColumn.create("abc_io_prob", abcIoProbability.toDoubleArray()));
        }

        /** The means, as one row each: metric, clean, abc. */
        public Table summary() {
            return Table.create("IOI performance (means)",
                    StringColumn.create("metric", List.of("logit_diff", "io_prob", "s_over_io")),
                    DoubleColumn.create("clean", new double[] {meanLogitDiff(), meanIoProbability(), fractionSOverIo()}),
                    DoubleColumn.create("abc", new double[] {meanAbcLogitDiff(), meanAbcIoProbability(), Double.NaN}));
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT,
                    "Performance(%d prompts: logit diff %.4f clean, %.4f ABC; IO prob %.4f clean, %.4f ABC)",
                    batch.size(), meanLogitDiff(), meanAbcLogitDiff(), meanIoProbability(), meanAbcIoProbability());
        }
    }

    // ---------------------------------------------------------------- helpers

    /** [batch, pos, ...rest] -> [batch, ...rest]: row b at positions[b] (TL: {@code x[arange(batch), positions]}). */
    static NDArray atPositions(NDArray x, long[] positions) {
        Shape s = x.getShape();
        long batch = s.get(0);
        long pos = s.get(1);
        if (positions.length != batch) {
            throw new IllegalArgumentException("expected one position per batch row (" + batch + ") but got "
                    + positions.length);
        }
        long[] flat = new long[positions.length];
        for (int b = 0; b < flat.length; b++) {
            if (positions[b] < 0 || positions[b] >= pos) {
                throw new IllegalArgumentException("position " + positions[b] + " of row " + b
                        + " is out of range [0, " + pos + ")");
            }
            flat[b] = b * pos + positions[b];
        }
        long[] merged = new long[s.dimension() - 1];
        merged[0] = batch * pos;
        for (int i = 2; i < s.dimension(); i++) {
            merged[i - 1] = s.get(i);
        }
        NDArray idx = x.getManager().create(flat); // [batch]
        return x.reshape(new Shape(merged)).get(new NDIndex("{}", idx)); // [batch, ...rest]
    }

    /** x [batch, n] -> [batch]: x[b, ids[b]]. */
    static NDArray pick(NDArray x, long[] ids) {
        NDArray idx = x.getManager().create(ids).reshape(ids.length, 1); // [batch, 1]
        return x.gather(idx, 1).reshape(ids.length); // [batch]
    }

    static NDArray keep(NDArray a, NDManager out) {
        NDScope.unregister(a);
        a.attach(out);
        return a;
    }

    static double mean(NDArray a) {
        try (NDScope scope = new NDScope()) {
            return a.mean().toType(DataType.FLOAT64, false).getDouble();
        }
    }

    static double[] toDoubles(NDArray a) {
        float[] f = a.toType(DataType.FLOAT32, false).toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
