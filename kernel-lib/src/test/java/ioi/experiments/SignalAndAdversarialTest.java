package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.Gson;
import ioi.data.IOIDataset;
import ioi.data.IOIPrompt;
import ioi.experiments.SignalPatching.PositionSignal;
import ioi.experiments.SignalPatching.Signal;
import ioi.experiments.SignalPatching.TokenSignal;
import ioi.experiments.SignalPatching.Variant;
import ioi.lens.Compare;
import ioi.lens.HookedTransformer;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link SignalPatching} and {@link Adversarial} against tools/goldens/make_ioi_signals_goldens.py
 * (TransformerLens 2.18 on the committed 12x12 random GPT-2 with the paper notebooks' processing, the
 * first 16 prompts of {@code mixed_N50_seed0}, BOS prepended). Tolerances: logit differences
 * {@code 1e-4} absolute (O(1) values, float32 forwards batched differently); IO probabilities
 * {@code 1e-3} relative (they are ~1e-5 on a random model); tokens, positions and the S-over-IO
 * fractions exactly. The worst difference of each comparison is printed.
 */
class SignalAndAdversarialTest {

    static final double ATOL = 1e-4;
    static final double PROB_RTOL = 1e-3;
    static final String[] ROWS = {"original", "random", "inverted"};
    static final String[] COLS = {"original", "inverted"};

    static HookedTransformer model;
    static SafetensorsFile g;
    static NDManager m;
    static IOIDataset clean;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        g = Safetensors.open(TestModels.resource("ioi-goldens/signals.safetensors"));
        m = NDManager.newBaseManager();
        List<String> texts = strings("clean_prompts");
        List<String> io = strings("io_names");
        List<String> s = strings("s_names");
        int[] templates = new Gson().fromJson(g.metadata().get("template_idx"), int[].class);
        List<IOIPrompt> prompts = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            prompts.add(new IOIPrompt(texts.get(i), io.get(i), s.get(i), templates[i]));
        }
        // The fixture's dataset (mixed, seed 0, BOS): the flips draw the same names as the reference's.
        clean = IOIDataset.builder(model.tokenizer()).promptType("mixed").seed(0).prependBos(true).prompts(prompts)
                .build();
    }

    @AfterAll
    static void close() {
        m.close();
        g.close();
        model.close();
    }

    static List<String> strings(String key) {
        return Arrays.asList(new Gson().fromJson(g.metadata().get(key), String[].class));
    }

    static float[] floats(String key) {
        return g.load(key, m).toType(DataType.FLOAT32, false).toFloatArray();
    }

    static long[] longs(String key) {
        return g.load(key, m).toType(DataType.INT64, false).toLongArray();
    }

    static float[] flat(double[][]... tables) {
        List<Float> out = new ArrayList<>();
        for (double[][] t : tables) {
            for (double[] row : t) {
                for (double v : row) {
                    out.add((float) v);
                }
            }
        }
        float[] f = new float[out.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = out.get(i);
        }
        return f;
    }

    static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    // ---------------------------------------------------------------- signals

    @Test
    void theDatasetIsTheGoldens() {
        long[] tokens = longs("tokens");
        assertArrayEquals(tokens, Arrays.stream(clean.toks()).flatMapToLong(Arrays::stream).toArray());
        assertArrayEquals(longs("word_idx/end"), Arrays.stream(clean.wordIdx("end")).asLongStream().toArray());
    }

    @Test
    void signalDatasetsAreTheReferenceFlips() {
        List<IOIDataset> datasets = SignalPatching.signalDatasets(clean);
        for (int k = 0; k < SignalPatching.SIGNALS.size(); k++) {
            Signal s = SignalPatching.SIGNALS.get(k);
            String key = "signals/texts/" + s.token().label() + "_" + s.position().label();
            assertEquals(strings(key), datasets.get(k).sentences(), s.label() + " (" + s.flip() + ")");
        }
    }

    @Test
    void signalPatchingMatchesTransformerLens() {
        Compare cmp = new Compare("Signal patching vs TransformerLens hooks");
        Map<Variant, SignalPatching.Result> both = SignalPatching.runBoth(model, clean);
        double worst = 0;
        for (Map.Entry<Variant, SignalPatching.Result> e : both.entrySet()) {
            String v = e.getKey() == Variant.ALL_POSITIONS ? "all_pos" : "end";
            SignalPatching.Result r = e.getValue();
            System.out.println(r);
            worst = Math.max(worst, cmp.close("signals/" + v + "/logit_diff [3, 2]", flat(r.logitDiff()),
                    floats("signals/" + v + "/logit_diff"), ATOL, 0));
            worst = Math.max(worst, cmp.close("signals/" + v + "/per_head [4, 3, 2]", flat(r.perHead()),
                    floats("signals/" + v + "/per_head"), ATOL, 0));
            float[] fit = floats("signals/" + v + "/fit");
            cmp.close("signals/" + v + "/fit a, b", new float[] {(float) r.fit().positionCoefficient(),
                (float) r.fit().tokenCoefficient()}, Arrays.copyOf(fit, 2), ATOL, 0);
            cmp.close("signals/" + v + "/fit error", new float[] {(float) r.fit().meanRelativeError()},
                    new float[] {fit[2]}, 1e-3, 0);
            cmp.close("signals/" + v + " clean logit diff", new float[] {(float) r.cleanLogitDiff()},
                    new float[] {mean(floats("clean/logit_diff"))}, ATOL, 0);
            // The cells differ from each other (else the comparison would not test the patching).
            assertNotEquals(r.get(TokenSignal.ORIGINAL, PositionSignal.ORIGINAL),
                    r.get(TokenSignal.INVERTED, PositionSignal.INVERTED), 1e-3);
            assertEquals(3, r.table().rowCount());
            assertEquals(24, r.perHeadTable().rowCount());
            assertEquals(4, ioi.notebook.Plots.perHeadHeatmaps(r).facets());
            assertEquals(3, ioi.notebook.Plots.heatmap(r).rows());
        }
        System.out.println("signal patching: worst |diff| of a logit difference " + worst);
        cmp.check();
    }

    static float mean(float[] a) {
        double s = 0;
        for (float x : a) {
            s += x;
        }
        return (float) (s / a.length);
    }

    /**
     * ARENA's setting (no BOS, generated prompts): the original/original cell and the clean level equal
     * the clean logit difference of {@link Metrics#performance}, and every variant runs.
     */
    @Test
    void runsOnArenasDatasetWithoutBos() {
        IOIDataset ds = IOIDataset.builder(model.tokenizer()).promptType("mixed").n(8).seed(1).prependBos(false).build();
        IoiBatch batch = ioi.notebook.Paper.batch(ds, ds.genFlippedPrompts("ABB->XYZ, BAB->XYZ"));
        double cleanLd;
        Metrics.Performance perf = Metrics.performance(model, batch);
        cleanLd = perf.meanLogitDiff();
        for (SignalPatching.Options o : List.of(SignalPatching.Options.arena().perHead(false),
                SignalPatching.Options.paper().heads(List.of(new Head(9, 9))))) {
            SignalPatching.Result r = SignalPatching.run(model, ds, o);
            assertEquals(cleanLd, r.cleanLogitDiff(), ATOL);
            assertEquals(cleanLd, r.get(TokenSignal.ORIGINAL, PositionSignal.ORIGINAL), ATOL);
            assertEquals(6, r.paperVsRun().rowCount());
            assertEquals(o.perHead(), r.perHead() != null);
        }
        Adversarial.Result adv = Adversarial.run(model, ds);
        assertEquals(cleanLd, adv.get(Adversarial.Condition.IOI).meanLogitDiff(), ATOL);
        assertTrue(adv.get(Adversarial.Condition.EXTRA_IO).prompts().texts().get(0)
                .startsWith(ioi.notebook.Paper.promptsWithoutAnswer(ds).get(0).substring(0, 10)));
    }

    /** The linear fit on the paper's own Fig 9 numbers gives the paper's coefficients. */
    @Test
    void fitOfThePapersTableIsThePapersFit() {
        SignalPatching.Fit fit = SignalPatching.Fit.of(SignalPatching.PAPER_LOGIT_DIFF);
        assertEquals(2.31, fit.positionCoefficient(), 0.005);
        assertEquals(0.99, fit.tokenCoefficient(), 0.005);
        // mean |residual| / 3.55 = 7.8%; the paper rounds it to "7%"
        assertEquals(0.078, fit.meanRelativeError(), 0.001);
    }

    @Test
    void signalPatchingRefusesBadInput() {
        List<IOIDataset> datasets = new ArrayList<>(SignalPatching.signalDatasets(clean));
        datasets.set(2, clean.genFlippedPromptsPaper("S+1", "RAND")); // inserts words after S1
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SignalPatching.run(model, clean, datasets, SignalPatching.Options.arena()));
        System.out.println(e.getMessage());
        assertTrue(e.getMessage().contains("changes the length of prompt"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SignalPatching.run(model, clean,
                SignalPatching.Options.arena().heads(List.of(new Head(7, 3), new Head(12, 0)))));
        System.out.println(e.getMessage());
        assertTrue(e.getMessage().contains("head 12.0 is not in the model"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SignalPatching.run(model, clean,
                SignalPatching.Options.arena().heads(List.of(new Head(7, 12)))));
        assertTrue(e.getMessage().contains("head 7.12 is not in the model"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SignalPatching.run(model, clean, datasets.subList(0, 5),
                SignalPatching.Options.arena()));
    }

    // ---------------------------------------------------------------- adversarial examples

    @Test
    void adversarialExamplesMatchTransformerLens() {
        Compare cmp = new Compare("Adversarial examples vs TransformerLens");
        int n = clean.n();
        double worst = 0;
        for (Adversarial.Mode mode : Adversarial.Mode.values()) {
            String md = mode == Adversarial.Mode.SINGLE ? "single" : "double";
            int[] choices = new int[n];
            for (int i = 0; i < n; i++) {
                choices[i] = mode == Adversarial.Mode.SINGLE ? i % 5 : (3 * i + 1) % 25;
            }
            Adversarial.Result r = Adversarial.run(model, clean, mode, choices);
            System.out.println(r);
            Adversarial.Measured ioi = r.get(Adversarial.Condition.IOI);
            worst = Math.max(worst, cmp.close(md + " p_IOI logit diff", toFloats(ioi.logitDiff()),
                    floats("clean/logit_diff"), ATOL, 0));
            cmp.close(md + " p_IOI io prob", toFloats(ioi.ioProbability()), floats("clean/io_prob"), 0, PROB_RTOL);
            for (Adversarial.Condition c : List.of(Adversarial.Condition.EXTRA_S, Adversarial.Condition.EXTRA_IO)) {
                String key = "adv/" + md + "/" + (c == Adversarial.Condition.EXTRA_S ? "S" : "IO") + "/";
                Adversarial.Measured got = r.get(c);
                long[] expected = longs(key + "tokens");
                assertArrayEquals(expected, Arrays.stream(got.prompts().tokens()).flatMapToLong(Arrays::stream).toArray(),
                        key + "tokens");
                assertEquals(g.load(key + "tokens", m).getShape().get(1), got.prompts().tokens()[0].length);
                assertArrayEquals(longs(key + "end"), got.prompts().end(), key + "end");
                assertArrayEquals(longs(key + "S2"), got.prompts().s2(), key + "S2");
                assertArrayEquals(longs(key + "inserted"), Arrays.stream(got.prompts().inserted()).asLongStream().toArray());
                worst = Math.max(worst, cmp.close(key + "logit_diff", toFloats(got.logitDiff()),
                        floats(key + "logit_diff"), ATOL, 0));
                cmp.close(key + "io_prob", toFloats(got.ioProbability()), floats(key + "io_prob"), 0, PROB_RTOL);
                assertEquals(mean(floats(key + "s_over_io")), got.fractionSOverIo(), 1e-6, key + "s_over_io");
                String name = c == Adversarial.Condition.EXTRA_S ? clean.prompt(0).s() : clean.prompt(0).io();
                assertTrue(got.prompts().texts().get(0).contains(" " + name + " had a good day." + (
                        mode == Adversarial.Mode.DOUBLE ? " " + name + " was enjoying the situation." : "")),
                        got.prompts().texts().get(0));
            }
            assertEquals(3, r.table().rowCount());
            assertEquals(Adversarial.Condition.EXTRA_IO.label, r.table().stringColumn(0).get(2));
            assertEquals(9, r.paperVsRun().rowCount());
            assertEquals(4, r.promptsTable(4).rowCount());
        }
        System.out.println("adversarial examples: worst |diff| of a logit difference " + worst);
        cmp.check();
    }

    @Test
    void seededChoicesAreReproducibleAndInRange() {
        int[] a = Adversarial.choices(Adversarial.Mode.DOUBLE, 200, 3);
        assertArrayEquals(a, Adversarial.choices(Adversarial.Mode.DOUBLE, 200, 3));
        assertTrue(Arrays.stream(a).allMatch(x -> x >= 0 && x < 25));
        assertEquals(25, Arrays.stream(a).distinct().count(), "200 draws cover all 25 pairs");
        assertEquals(Adversarial.SENTENCES.get(2) + Adversarial.SENTENCES.get(4), Adversarial.DOUBLE_SENTENCES.get(14));
    }

    @Test
    void adversarialRefusesBadChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Adversarial.run(model, clean, Adversarial.Mode.SINGLE, new int[3]));
        assertTrue(e.getMessage().contains("one sentence index per prompt (16)"), e.getMessage());
        int[] bad = new int[clean.n()];
        bad[5] = 5;
        e = assertThrows(IllegalArgumentException.class, () -> Adversarial.run(model, clean, Adversarial.Mode.SINGLE, bad));
        assertTrue(e.getMessage().contains("sentence index 5 of prompt 5"), e.getMessage());
    }

    // ---------------------------------------------------------------- memory

    @Test
    void repeatedRunsLeakNoNativeMemory() {
        SignalPatching.Options end = SignalPatching.Options.paper();
        SignalPatching.run(model, clean, end);
        Adversarial.run(model, clean, Adversarial.Mode.DOUBLE, 1);
        int before = model.liveArrayCount();
        for (int i = 0; i < 2; i++) {
            SignalPatching.run(model, clean, end);
            Adversarial.run(model, clean, Adversarial.Mode.DOUBLE, 1);
        }
        assertEquals(before, model.liveArrayCount(), "arrays alive in the model's managers after repeated runs");
    }
}
