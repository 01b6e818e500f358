package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.reflect.TypeToken;
import ioi.data.IOIDataset;
import ioi.lens.Compare;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import ioi.notebook.Paper;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Mean ablation, circuit evaluation and the top-head ablation against
 * {@code ioi-goldens/ablation.safetensors} (tools/goldens/make_ioi_ablation_goldens.py: ARENA's
 * compute_means_by_template / get_heads_and_posns_to_keep / hook_fn_mask_z written with
 * TransformerLens 2.18 on the committed 12x12 random GPT-2, fixture mixed_N50_seed0, all 50 prompts
 * with BOS, 14 template groups). Tolerance: {@value #ATOL} absolute on logit differences (O(1) values,
 * float32 forwards batched differently, END-only unembedding), {@value #MEANS_ATOL} on the means.
 */
class CircuitEvaluationTest {

    static final double ATOL = 1e-4;
    static final double MEANS_ATOL = 1e-5;

    static HookedTransformer model;
    static SafetensorsFile g;
    static NDManager m;
    static IOIDataset clean;
    static IOIDataset abc;
    static IoiBatch batch;
    static MeanAblation ablation;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        g = Safetensors.open(TestModels.resource("ioi-goldens/ablation.safetensors"));
        m = NDManager.newBaseManager();
        clean = IOIDataset.builder(model.tokenizer()).promptType("mixed").n(50).seed(0).prependBos(true).build();
        abc = clean.genFlippedPrompts(Paper.ABC_FLIP);
        batch = Paper.batch(clean, abc);
        ablation = MeanAblation.byTemplate(model, batch, abc);
    }

    @AfterAll
    static void close() {
        ablation.close();
        m.close();
        g.close();
        model.close();
    }

    static float[] f(String key) {
        return g.load(key, m).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
    }

    static List<String> meta(String key) {
        return new Gson().fromJson(g.metadata().get(key), new TypeToken<List<String>>() {}.getType());
    }

    static float[] floats(double... v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) v[i];
        }
        return out;
    }

    static Set<Head> heads(List<String> labels) {
        Set<Head> s = new LinkedHashSet<>();
        labels.forEach(l -> s.add(Head.parse(l)));
        return s;
    }

    /** The Java dataset and batch are the golden's: tokens, positions, answers, template groups. */
    @Test
    void datasetIsTheGoldens() {
        assertArrayEquals(IoiGoldens.rows(g.load("tokens", m)), batch.tokens());
        assertArrayEquals(IoiGoldens.rows(g.load("abc_tokens", m)), batch.abcTokens());
        for (String k : List.of("IO", "S1", "S2", "end")) {
            assertArrayEquals(IoiGoldens.longs(g.load("word_idx/" + k, m)), batch.wordIdx(k), k);
        }
        assertArrayEquals(IoiGoldens.longs(g.load("io_token_ids", m)), batch.ioTokenIds());
        int[] golden = Arrays.stream(IoiGoldens.longs(g.load("template_idx", m))).mapToInt(x -> (int) x).toArray();
        int[] fromGroups = MeanAblation.templateIndex(abc.groups(), abc.n());
        for (int i = 0; i < golden.length; i++) {
            for (int j = 0; j < golden.length; j++) {
                assertEquals(golden[i] == golden[j], fromGroups[i] == fromGroups[j], "same group: prompts " + i + ", " + j);
            }
        }
        List<int[]> cleanGroups = clean.groups();
        List<int[]> abcGroups = abc.groups();
        assertEquals(cleanGroups.size(), abcGroups.size());
        for (int i = 0; i < cleanGroups.size(); i++) {
            assertArrayEquals(cleanGroups.get(i), abcGroups.get(i), "the ABC flip keeps TEMPLATE_IDX");
        }
    }

    /**
     * The means after W_O (z's d_head basis depends on the refactoring's SVD, so Java's and TL's z
     * may differ by a rotation per head; z W_O does not), for the golden's first prompts.
     */
    @Test
    void meansMatchComputeMeansByTemplate() {
        Compare cmp = new Compare("compute_means_by_template (through W_O)");
        int[] golden = Arrays.stream(IoiGoldens.longs(g.load("template_idx", m))).mapToInt(x -> (int) x).toArray();
        try (MeanAblation byIndex = MeanAblation.byTemplate(model, batch, golden)) {
            for (int layer : new int[] {0, 9}) {
                NDArray expected = g.load("means_out/layer_" + layer, m);
                long rows = expected.getShape().get(0);
                cmp.close("layer " + layer + " (dataset groups)", throughWo(ablation.means(layer), layer, rows), expected,
                        MEANS_ATOL, 0);
                cmp.close("layer " + layer + " (template_idx)", throughWo(byIndex.means(layer), layer, rows), expected,
                        MEANS_ATOL, 0);
            }
        }
        cmp.check();
    }

    /** means [batch, pos, head_index, d_head] -> [rows, pos, head_index, d_model], each head through its W_O. */
    static NDArray throughWo(NDArray means, int layer, long rows) {
        NDArray z = means.get(":" + rows).duplicate(); // [rows, pos, head_index, d_head]
        z.attach(m);
        long pos = z.getShape().get(1);
        long heads = z.getShape().get(2);
        NDArray wO = model.W_O().get(layer); // [head_index, d_head, d_model]
        NDArray perHead = z.transpose(2, 0, 1, 3).reshape(heads, rows * pos, -1).matMul(wO); // [head_index, rows*pos, d_model]
        NDArray out = perHead.reshape(heads, rows, pos, -1).transpose(1, 2, 0, 3).duplicate(); // [rows, pos, head_index, d_model]
        out.attach(m);
        return out;
    }

    @Test
    void faithfulnessMatchesTransformerLens() {
        Compare cmp = new Compare("F(M), F(C) vs TL");
        CircuitEvaluation full = CircuitEvaluation.of(ablation, Circuit.PAPER);
        CircuitEvaluation.Faithfulness fa = full.faithfulness();
        cmp.close("F(M)", floats(fa.fModel()), f("f_model"), ATOL, 0);
        cmp.close("F(C)", floats(fa.fCircuit()), f("f_circuit"), ATOL, 0);
        cmp.close("F(M) per prompt", floats(ablation.logitDiffsPerPrompt(List.of(ablation.nothing()))[0]),
                f("f_model_per_prompt"), ATOL, 0);
        cmp.close("F(C), union of positions",
                floats(ablation.logitDiff(ablation.keep(Circuit.PAPER, MeanAblation.Keep.UNION))), f("f_circuit_union"), ATOL, 0);
        cmp.close("F(naive)", floats(CircuitEvaluation.of(ablation, Circuit.NAIVE).fCircuit()), f("f_naive"), ATOL, 0);
        // the scoped hooks on an ordinary forward pass give the same F(C)
        try (NDManager run = m.newSubManager(); HookScope s = ablation.keeping(Circuit.PAPER)) {
            NDArray logits = model.forward(batch.tokens(run));
            cmp.close("F(C) through scoped hooks", floats(Metrics.mean(Metrics.logitDiff(logits, batch, run))),
                    f("f_circuit"), ATOL, 0);
        }
        cmp.check();
        assertEquals(Math.abs(fa.fModel() - fa.fCircuit()), fa.absDiff(), 1e-12);
        assertEquals(4, fa.table().rowCount());
        assertTrue(Math.abs(f("f_circuit")[0] - f("f_circuit_union")[0]) > 10 * ATOL,
                "the two position semantics must differ here, or the union test proves nothing");
    }

    /**
     * {@link HeadRecovery#faithfulness} (the batched mask machinery) against plain hooks that put
     * the template means into every hook_z entry of the heads outside the set, at every position.
     */
    @Test
    void faithfulnessOfAHeadSetEqualsMeansPutInByHooks() {
        List<Set<Head>> sets = List.of(Set.copyOf(Circuit.PAPER.heads()), Set.of(Head.of(9, 9), Head.of(9, 6)), Set.of());
        List<HeadRecovery.Faithfulness> got = HeadRecovery.faithfulness(ablation, sets);
        Compare cmp = new Compare("HeadRecovery.faithfulness vs hooks");
        for (int i = 0; i < sets.size(); i++) {
            Set<Head> keep = sets.get(i);
            List<ioi.lens.Hook> hooks = new ArrayList<>();
            for (int l = 0; l < model.cfg().nLayers(); l++) {
                int layer = l;
                hooks.add(ioi.lens.Hook.of(ioi.lens.HookNames.getActName("z", l), (z, h) -> { // [batch, pos, head_index, d_head]
                    NDArray y = ablation.means(layer).duplicate(); // [batch, pos, head_index, d_head]
                    for (int head = 0; head < model.cfg().nHeads(); head++) {
                        if (keep.contains(Head.of(layer, head))) {
                            ai.djl.ndarray.index.NDIndex at = new ai.djl.ndarray.index.NDIndex(":, :, {}", head);
                            y.set(at, z.get(at));
                        }
                    }
                    return y;
                }));
            }
            try (NDManager run = m.newSubManager(); HookScope s = model.hooks(hooks)) {
                NDArray logits = model.forward(batch.tokens(run)); // [batch, pos, d_vocab]
                run.attachAll(logits);
                cmp.close("F(" + keep.size() + " heads)", floats(got.get(i).fCircuit()),
                        floats(Metrics.mean(Metrics.logitDiff(logits, batch, run))), ATOL, 0);
            }
            assertEquals(got.get(i).fCircuit() / got.get(i).fModel(), got.get(i).fraction(), 1e-12);
        }
        cmp.close("F(M)", floats(got.get(0).fModel()), f("f_model"), ATOL, 0);
        cmp.check();
        var bad = assertThrows(IllegalArgumentException.class,
                () -> HeadRecovery.faithfulness(ablation, List.of(Set.of(Head.of(12, 0)))));
        assertTrue(bad.getMessage().contains("12.0"), bad.getMessage());
    }

    @Test
    void completenessMatchesTransformerLens() {
        Compare cmp = new Compare("completeness vs TL");
        List<String> names = meta("completeness/k_names");
        List<List<String>> sets = new Gson().fromJson(g.metadata().get("completeness/k_sets"),
                new TypeToken<List<List<String>>>() {}.getType());
        List<CircuitEvaluation.KSet> ks = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            ks.add(new CircuitEvaluation.KSet("fixed", names.get(i), heads(sets.get(i))));
        }
        CircuitEvaluation full = CircuitEvaluation.of(ablation, Circuit.PAPER);
        CircuitEvaluation.Completeness c = full.completeness(ks);
        cmp.close("F(C \\ K)", floats(c.fCircuitWithout()), f("completeness/f_c_minus_k"), ATOL, 0);
        cmp.close("F(M \\ K)", floats(c.fModelWithout()), f("completeness/f_m_minus_k"), ATOL, 0);
        assertEquals(names.size(), c.table().rowCount());
        assertTrue(ioi.notebook.Plots.chart(c).toString().length() > 0);

        // the naive circuit with its classes, from standardSets
        CircuitEvaluation naive = CircuitEvaluation.of(ablation, Circuit.NAIVE);
        CircuitEvaluation.Completeness cn = naive.completeness(0, 0);
        assertEquals(meta("completeness_naive/k_names").size(), cn.sets().size());
        cmp.close("naive F(C \\ K)", floats(cn.fCircuitWithout()), f("completeness_naive/f_c_minus_k"), ATOL, 0);
        cmp.close("naive F(M \\ K)", floats(cn.fModelWithout()), f("completeness_naive/f_m_minus_k"), ATOL, 0);
        cmp.check();

        // random sets: seeded, subsets of C
        List<CircuitEvaluation.KSet> a = full.standardSets(5, 7);
        List<CircuitEvaluation.KSet> b = full.standardSets(5, 7);
        assertEquals(a, b);
        assertEquals(1 + 7 + 5, a.size());
        assertTrue(a.stream().allMatch(s -> Circuit.PAPER.heads().containsAll(s.heads())));
    }

    @Test
    void minimalityMatchesTransformerLens() {
        Compare cmp = new Compare("minimality vs TL");
        CircuitEvaluation full = CircuitEvaluation.of(ablation, Circuit.PAPER);
        assertEquals(meta("circuit_heads"), Circuit.PAPER.heads().stream().map(Head::toString).toList());
        for (Map.Entry<String, Map<Head, Set<Head>>> e : Map.of("arena", Minimality.ARENA_K, "paper", Minimality.PAPER_K)
                .entrySet()) {
            Minimality.Result r = full.minimality(e.getValue());
            String p = "minimality_" + e.getKey() + "/";
            cmp.close(p + "f_c_minus_k_v", floats(r.fWithoutKAndV()), f(p + "f_c_minus_k_v"), ATOL, 0);
            cmp.close(p + "f_c_minus_k", floats(r.fWithoutK()), f(p + "f_c_minus_k"), ATOL, 0);
            cmp.close(p + "score", floats(r.score()), f(p + "score"), ATOL, 0);
            assertEquals(26, r.table().rowCount());
            assertEquals(100 * r.score(Head.of(9, 9)) / Math.abs(r.fModel()), r.percentOfModel()[0], 1e-9);
            assertTrue(ioi.notebook.Plots.chart(r).toString().length() > 0);
        }
        cmp.check();
    }

    /**
     * The paper's greedy search (Easy-Transformer's {@code new_greedy_search}) against a literal
     * transcription run with Python's {@code random.seed(seed + run)}: the same candidates drawn,
     * the same best candidate, the same acceptances (some rejected), each run's point.
     */
    @Test
    void greedySearchFollowsThePapersCode() {
        Map<String, String> o = new Gson().fromJson(g.metadata().get("greedy_paper/options"),
                new TypeToken<Map<String, String>>() {}.getType());
        int runs = Integer.parseInt(o.get("no_runs"));
        CircuitEvaluation et = CircuitEvaluation.of(ablation, Circuit.PAPER_CODE);
        CircuitEvaluation.Greedy gr = et.greedy(CircuitEvaluation.GreedyOptions.paper(Circuit.PAPER_CODE)
                .runs(runs).iterations(Integer.parseInt(o.get("no_iters"))).samples(Integer.parseInt(o.get("no_samples")))
                .seed(Long.parseLong(o.get("seed"))));
        assertEquals(CircuitEvaluation.GreedyVariant.PAPER_CODE, gr.variant());
        List<Map<String, Object>> steps = new Gson().fromJson(g.metadata().get("greedy_paper/steps"),
                new TypeToken<List<Map<String, Object>>>() {}.getType());
        assertEquals(steps.size(), gr.steps().size(), "steps");
        // the Java runs advance in lock step; the reference runs one after another
        List<CircuitEvaluation.GreedyStep> byRun = new ArrayList<>(gr.steps());
        byRun.sort(java.util.Comparator.comparingInt(CircuitEvaluation.GreedyStep::run)
                .thenComparingInt(CircuitEvaluation.GreedyStep::step));
        int rejected = 0;
        for (int i = 0; i < steps.size(); i++) {
            Map<String, Object> ref = steps.get(i);
            CircuitEvaluation.GreedyStep s = byRun.get(i);
            String where = "run " + s.run() + " step " + s.step();
            assertEquals(ref.get("to_test"), s.candidates().stream().map(Head::toString).toList(), where + ": random.sample");
            assertEquals(ref.get("best"), s.best().toString(), where + ": argmax");
            assertEquals(ref.get("accepted"), s.accepted(), where + ": accepted only if it raises the incompleteness");
            assertEquals(ref.get("K"), s.k().stream().map(Head::toString).toList(), where + ": K");
            rejected += s.accepted() ? 0 : 1;
        }
        assertTrue(rejected > 0, "the reference rejects some candidates");
        List<Map<String, Object>> refRuns = new Gson().fromJson(g.metadata().get("greedy_paper/runs"),
                new TypeToken<List<Map<String, Object>>>() {}.getType());
        assertEquals(runs, gr.sets().size(), "one point per run");
        double[] got = new double[2 * runs];
        for (int r = 0; r < runs; r++) {
            assertEquals(refRuns.get(r).get("best set"), gr.sets().get(r).heads().stream().map(Head::toString).toList(),
                    "run " + r + "'s set");
            got[2 * r] = et.fCircuitWithout(gr.sets().get(r).heads());
            got[2 * r + 1] = et.fModelWithout(gr.sets().get(r).heads());
        }
        Compare cmp = new Compare("greedy search (paper's code) vs TL");
        cmp.close("(F(C\\K), F(M\\K)) of each run's set", floats(got), f("greedy_paper/points"), ATOL, 0);
        cmp.check();
    }

    /**
     * The algorithm-box variant: every value it used equals a direct, unbatched evaluation, each
     * step added the candidate with the largest drop of F(C \ K), and a seed gives the same search.
     */
    @Test
    void algorithmBoxGreedyUsesConsistentValues() {
        CircuitEvaluation.GreedyOptions o = CircuitEvaluation.GreedyOptions.algorithmBox(Circuit.PAPER).runs(1).iterations(2)
                .seed(3);
        assertEquals(10, o.samples());
        assertEquals(5, CircuitEvaluation.GreedyOptions.algorithmBox(Circuit.NAIVE).samples());
        assertEquals(5, CircuitEvaluation.GreedyOptions.paper(Circuit.NAIVE).samples(), "ET: 10 if circuit_size == 26 else 5");
        CircuitEvaluation.Greedy gr = CircuitEvaluation.of(ablation, Circuit.PAPER).greedy(o);
        CircuitEvaluation.Greedy again = CircuitEvaluation.of(ablation, Circuit.PAPER).greedy(o);
        assertEquals(gr.steps().stream().map(CircuitEvaluation.GreedyStep::k).toList(),
                again.steps().stream().map(CircuitEvaluation.GreedyStep::k).toList(), "same seed, same search");
        assertEquals(2, gr.steps().size());
        int checked = 0;
        double fcPrev = CircuitEvaluation.of(ablation, Circuit.PAPER).fCircuit();
        for (CircuitEvaluation.GreedyStep s : gr.steps()) {
            assertEquals(10, s.candidates().size());
            assertEquals(s.step(), s.k().size(), "the algorithm box always adds");
            assertTrue(s.accepted());
            int best = 0;
            for (int j = 0; j < s.candidateObjective().length; j++) {
                assertEquals(Math.abs(s.candidateFCircuit()[j] - fcPrev), s.candidateObjective()[j], 1e-12);
                best = s.candidateObjective()[j] > s.candidateObjective()[best] ? j : best;
            }
            assertEquals(s.candidates().get(best), s.best());
            // the chosen set and one other candidate, each in its own forward pass with scoped hooks
            for (int j : new int[] {best, (best + 1) % s.candidates().size()}) {
                Set<Head> kv = new LinkedHashSet<>(s.k());
                kv.remove(s.best());
                kv.add(s.candidates().get(j));
                assertEquals(direct(ablation.keep(Circuit.PAPER.without(kv))), s.candidateFCircuit()[j], ATOL, "F(C\\K) " + kv);
                assertEquals(direct(ablation.knockOutNodes(Circuit.PAPER, kv)), s.candidateFModel()[j], ATOL,
                        "F(M\\K) " + kv);
                checked++;
            }
            fcPrev = s.fCircuitWithout();
        }
        assertEquals(4, checked);
        assertTrue(gr.sets().size() <= 5 && !gr.sets().isEmpty());
    }

    static double direct(MeanAblation.KeepMask mask) {
        try (NDManager run = m.newSubManager(); HookScope s = ablation.hooks(mask)) {
            return Metrics.mean(Metrics.logitDiff(model.forward(batch.tokens(run)), batch, run));
        }
    }

    @Test
    void topHeadAblationMatchesArenasRecipe() {
        TopHeadAblation r = TopHeadAblation.run(ablation, Head.of(9, 9));
        Compare cmp = new Compare("ablating 9.9 at END vs TL");
        cmp.close("[original, DLA, naive, ablated, ln scale ratio]", floats(r.originalLogitDiff(), r.dla(),
                r.naivePrediction(), r.ablatedLogitDiff(), r.lnScaleRatio()), f("top_head_9_9/values"), ATOL, 0);
        cmp.check();
        assertEquals(5, r.table().rowCount());
        long[] top = IoiGoldens.longs(g.load("top_head/argmax", m));
        assertEquals(Head.of((int) top[0], (int) top[1]), TopHeadAblation.run(ablation).head(),
                "the default head is the largest DLA");
    }

    @Test
    void badInputFailsNamingTheProblem() {
        var e = assertThrows(IllegalArgumentException.class, () -> Circuit.PAPER.headsOf("name movers"));
        assertTrue(e.getMessage().contains("unknown class 'name movers'") && e.getMessage().contains("backup name mover"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Circuit.PAPER.classOf(Head.of(1, 1)));
        assertTrue(e.getMessage().contains("head 1.1 is not in the circuit"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Circuit.builder().add("name mover", "S3", "9.9").build());
        assertTrue(e.getMessage().contains("unknown position key 'S3'") && e.getMessage().contains("S1+1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Circuit.builder().add("a", "end", "9.9").add("b", "S2", "9.9").build());
        assertTrue(e.getMessage().contains("head 9.9 is in two classes"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Head.parse("9,9"));
        assertTrue(e.getMessage().contains("'9,9' is not a head"), e.getMessage());
        Circuit tooDeep = Circuit.builder().add("name mover", "end", "12.0").build();
        e = assertThrows(IllegalArgumentException.class, () -> ablation.keep(tooDeep));
        assertTrue(e.getMessage().contains("head 12.0 is out of range: the model has layers [0, 12)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ablation.knockOut(List.of(Head.of(3, 12))));
        assertTrue(e.getMessage().contains("head 3.12 is out of range"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Circuit.PAPER.without(List.of(Head.of(1, 1))));
        assertTrue(e.getMessage().contains("cannot remove head 1.1"), e.getMessage());
        CircuitEvaluation naive = CircuitEvaluation.of(ablation, Circuit.NAIVE);
        e = assertThrows(IllegalArgumentException.class, () -> naive.minimality(Minimality.PAPER_K));
        assertTrue(e.getMessage().contains("not in the circuit"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> naive.minimality(Map.of()));
        assertTrue(e.getMessage().contains("no K for head 9.6"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> MeanAblation.byTemplate(model, batch, new int[3]));
        assertTrue(e.getMessage().contains("expected one template index per prompt (50) but got 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> MeanAblation.templateIndex(List.of(new int[] {0, 1}), 3));
        assertTrue(e.getMessage().contains("prompt 2 is in no group"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ablation.logitDiff(
                new MeanAblation.KeepMask("x", new boolean[12][16 * 22 * 12], 16, 22, 12)));
        assertTrue(e.getMessage().contains("this ablation is 12 layers x [50, 22, 12]"), e.getMessage());
    }

    /** Repeated evaluations leave no native memory behind. */
    @Test
    void repeatedRunsDoNotLeak() {
        int[] golden = Arrays.stream(IoiGoldens.longs(g.load("template_idx", m))).mapToInt(x -> (int) x).toArray();
        Runnable once = () -> {
            try (MeanAblation a = MeanAblation.byTemplate(model, batch, golden,
                    MeanAblation.Options.defaults().maxTokensPerForward(2000))) {
                CircuitEvaluation e = CircuitEvaluation.of(a, Circuit.PAPER);
                e.faithfulness();
                e.completeness(List.of(new CircuitEvaluation.KSet("class", "negative", Set.of(Head.of(10, 7), Head.of(11, 10)))));
                TopHeadAblation.run(a, Head.of(9, 9));
                try (HookScope s = a.knockingOut(List.of(Head.of(9, 9)))) {
                    model.forward(batch.tokens(m)).close();
                }
            }
        };
        once.run();
        System.gc();
        int arrays = model.liveArrayCount();
        int caches = model.openCacheCount();
        for (int i = 0; i < 2; i++) {
            once.run();
        }
        System.gc();
        System.out.printf("live arrays %d -> %d, open caches %d -> %d%n", arrays, model.liveArrayCount(), caches,
                model.openCacheCount());
        assertEquals(arrays, model.liveArrayCount(), "live arrays");
        assertEquals(caches, model.openCacheCount(), "open caches");
    }

    /** Many masks per forward or one: the same numbers; progress counts masks. */
    @Test
    void batchingDoesNotChangeResults() {
        List<MeanAblation.KeepMask> masks = List.of(ablation.keep(Circuit.PAPER), ablation.knockOut(List.of(Head.of(9, 9))),
                ablation.keep(Circuit.NAIVE), ablation.nothing(), ablation.knockOut(List.of(Head.of(0, 1)), "S2"));
        long[] progress = new long[3];
        Progress p = new Progress() {
            @Override
            public void start(long total) {
                progress[0] += total;
            }

            @Override
            public void step(long n) {
                progress[1] += n;
            }

            @Override
            public void done() {
                progress[2]++;
            }
        };
        try (MeanAblation one = ablation.withOptions(new MeanAblation.Options(1, p))) {
            double[] a = ablation.logitDiffs(masks);
            double[] b = one.logitDiffs(masks);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-5, masks.get(i).label());
            }
        }
        assertArrayEquals(new long[] {5, 5, 1}, progress);
    }
}
