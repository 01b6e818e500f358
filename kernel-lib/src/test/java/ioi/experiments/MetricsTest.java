package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ioi.lens.ActivationCache;
import ioi.lens.Compare;
import ioi.lens.Hook;
import ioi.lens.HookedTransformer;
import ioi.lens.io.SafetensorsFile;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tech.tablesaw.api.Table;

/**
 * The IOI metrics against TransformerLens 2.18 on the committed 12x12 random GPT-2 and 16 prompts
 * of the fixture {@code mixed_N50_seed0} (goldens of tools/goldens/make_ioi_goldens.py). Tolerance
 * {@code 1e-5 + 1e-5 |x|}: logit differences are O(1-10) here, one float32 forward apart.
 */
class MetricsTest {

    static final double ATOL = 1e-5;
    static final double RTOL = 1e-5;

    static HookedTransformer model;
    static SafetensorsFile g;
    static IoiBatch batch;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        g = IoiGoldens.open();
        batch = IoiGoldens.batch(g);
    }

    @AfterAll
    static void close() {
        g.close();
        model.close();
    }

    /**
     * A metric's constants (the normalised metric's offset and divisor) are still there for the
     * backward pass after a garbage collection (tolerance 0 against the same run without one).
     */
    @Test
    void metricGradientsSurviveAGarbageCollection() {
        PatchingMetric metric = Metrics.normalisedMetric(batch, 3.0, 0.5);
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            NDArray tokens = m.create(batch.tokens()); // [batch, pos]
            java.util.function.Predicate<String> at = n -> n.equals("blocks.11.hook_resid_post");
            try (ioi.lens.GradientRun plain = model.runWithGradients(tokens, at, l -> Metrics.scoreArray(metric, l));
                    ioi.lens.GradientRun collected = model.runWithGradients(tokens, at, l -> {
                        NDArray value = Metrics.scoreArray(metric, l); // [1]
                        ioi.lens.Collect.garbage();
                        return value;
                    })) {
                float[] a = plain.gradient("blocks.11.hook_resid_post").toFloatArray();
                float[] b = collected.gradient("blocks.11.hook_resid_post").toFloatArray();
                double worst = 0;
                for (int i = 0; i < a.length; i++) {
                    worst = Math.max(worst, Double.isFinite(b[i]) ? Math.abs(a[i] - b[i]) : Double.POSITIVE_INFINITY);
                }
                assertEquals(0, worst, 0, "worst difference after a collection " + worst);
            }
        }
    }

    @Test
    void goldenBatchIsWhatTheDatasetDescribes() {
        assertEquals(16, batch.size());
        assertEquals(batch.seqLen(), batch.abcTokens()[0].length);
        for (int i = 0; i < batch.size(); i++) {
            assertEquals(50256, batch.tokens()[i][0], "BOS first");
            long end = batch.end()[i];
            assertEquals(batch.ioTokenIds()[i], batch.tokens()[i][(int) end + 1], "the IO answer follows END");
            assertEquals(" to", model.toString(new long[] {batch.tokens()[i][(int) end]}), "END is the ' to' before IO");
            assertEquals(batch.sTokenIds()[i], batch.tokens()[i][(int) batch.s1()[i]]);
            assertEquals(batch.sTokenIds()[i], batch.tokens()[i][(int) batch.s2()[i]]);
            assertEquals(batch.ioTokenIds()[i], batch.tokens()[i][(int) batch.io()[i]]);
        }
        assertEquals(batch.s1()[3] + 1, batch.wordIdx("S1+1")[3]);
    }

    @Test
    void performanceMatchesTransformerLens() {
        Compare cmp = new Compare("IOI metrics vs TransformerLens");
        try (NDManager m = NDManager.newBaseManager()) {
            Metrics.Performance p = Metrics.performance(model, batch);
            cmp.close("logit_diff_clean", p.logitDiff().toNDArray(m), g.load("metrics/logit_diff_clean", m), ATOL, RTOL);
            cmp.close("logit_diff_abc", p.abcLogitDiff().toNDArray(m), g.load("metrics/logit_diff_abc", m), ATOL, RTOL);
            cmp.close("io_prob_clean", p.ioProbability().toNDArray(m), g.load("metrics/io_prob_clean", m), 1e-7, 1e-4);
            cmp.close("io_prob_abc", p.abcIoProbability().toNDArray(m), g.load("metrics/io_prob_abc", m), 1e-7, 1e-4);
            double clean = p.meanLogitDiff();
            double abc = p.meanAbcLogitDiff();
            closeScalar(cmp, "logit_diff_clean_mean", clean, g, "metrics/logit_diff_clean_mean", m, ATOL);
            closeScalar(cmp, "logit_diff_abc_mean", abc, g, "metrics/logit_diff_abc_mean", m, ATOL);
            closeScalar(cmp, "io_prob_clean_mean", p.meanIoProbability(), g, "metrics/io_prob_clean_mean", m, 1e-7);
            closeScalar(cmp, "io_prob_abc_mean", p.meanAbcIoProbability(), g, "metrics/io_prob_abc_mean", m, 1e-7);
            closeScalar(cmp, "normalised_clean", Metrics.normalised(clean, clean, abc), g, "metrics/normalised_clean", m, ATOL);
            closeScalar(cmp, "normalised_abc", Metrics.normalised(abc, clean, abc), g, "metrics/normalised_abc", m, ATOL);
            closeScalar(cmp, "metric2_clean", Metrics.metric2(clean, clean, abc), g, "metrics/metric2_clean", m, ATOL);
            closeScalar(cmp, "metric2_abc", Metrics.metric2(abc, clean, abc), g, "metrics/metric2_abc", m, ATOL);

            Table t = p.table();
            assertEquals(batch.size(), t.rowCount());
            assertEquals(List.of("index", "prompt", "logit_diff", "abc_logit_diff", "io_prob", "abc_io_prob"),
                    t.columnNames());
            assertEquals(batch.prompts().get(0), t.stringColumn("prompt").get(0));
            assertEquals(p.logitDiff().get(5), t.doubleColumn("logit_diff").get(5), 1e-6);
            assertEquals(3, p.summary().rowCount());
            System.out.println(p + "\n" + p.summary());
        }
        cmp.check();
    }

    /** The metric formulas on non-trivial logits: the ABC run with head 9.9's output patched from clean. */
    @Test
    void metricsOfAPatchedRunMatchTransformerLens() {
        Compare cmp = new Compare("IOI metrics of the 9.9-patched ABC run vs TransformerLens");
        try (NDManager m = NDManager.newBaseManager();
                ActivationCache clean = model.runWithCache(batch.tokens(m))) {
            Metrics.Performance p = Metrics.performance(model, batch);
            NDArray cleanZ = clean.get("z", 9);
            NDArray logits = model.runWithHooks(batch.abcTokens(m), Hook.of("blocks.9.attn.hook_z", (z, hook) -> {
                z.set(new NDIndex(":, :, 9"), cleanZ.get(":, :, 9"));
                return z;
            }));
            cmp.close("example/logit_diff", Metrics.logitDiff(logits, batch, m), g.load("metrics/example/logit_diff", m),
                    ATOL, RTOL);
            cmp.close("example/io_prob", Metrics.ioProbability(logits, batch, m), g.load("metrics/example/io_prob", m),
                    1e-7, 1e-4);
            closeScalar(cmp, "example/normalised", Metrics.score(p.normalisedMetric(), logits), g,
                    "metrics/example/normalised", m, ATOL);
            closeScalar(cmp, "example/metric2", Metrics.score(p.metric2(), logits), g, "metrics/example/metric2", m, ATOL);
            double ld = Metrics.score(Metrics.logitDiffMetric(batch), logits);
            assertEquals(Metrics.normalised(ld, p.meanLogitDiff(), p.meanAbcLogitDiff()),
                    Metrics.score(p.normalisedMetric(), logits), 1e-5);
            assertEquals(1.0, Metrics.score(p.normalisedMetric(), clean.logits()), 1e-5);
        }
        cmp.check();
    }

    @Test
    void badBatchesFailNamingTheProblem() {
        long[][] t = {{50256, 1, 2, 3}, {50256, 4, 5, 6}};
        long[] two = {1, 1};
        IoiBatch ok = IoiBatch.of(t, t, two, two, new long[] {2, 2}, new long[] {2, 2}, two, two);
        assertEquals(2, ok.size());
        var e = assertThrows(IllegalArgumentException.class,
                () -> IoiBatch.of(t, new long[][] {{1, 2, 3}, {4, 5, 6}}, two, two, two, two, two, two));
        assertTrue(e.getMessage().contains("abcTokens[0] must have 4 tokens"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> IoiBatch.of(t, t, two, two, two, new long[] {1, 4}, two, two));
        assertTrue(e.getMessage().contains("end[1] = 4 is out of range [0, 4)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> IoiBatch.of(t, t, two, two, two, two, two, new long[] {1}));
        assertTrue(e.getMessage().contains("sTokenIds must have one entry per prompt (2)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ok.wordIdx("S3"));
        assertTrue(e.getMessage().contains("unknown word_idx key 'S3'"), e.getMessage());
    }

    static void closeScalar(Compare cmp, String name, double actual, SafetensorsFile g, String key, NDManager m,
            double atol) {
        cmp.close(name, new float[] {(float) actual}, new float[] {IoiGoldens.scalar(g, key, m)}, atol, RTOL);
    }
}
