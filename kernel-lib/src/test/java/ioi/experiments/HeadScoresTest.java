package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.Gson;
import ioi.data.IOIWords;
import ioi.display.Figure;
import ioi.lens.Compare;
import ioi.lens.HookedTransformer;
import ioi.lens.TestModels;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The head scores (copy scores, repeated-token attention scores, writing direction, name attention)
 * against TransformerLens 2.18 on the committed 12x12 random GPT-2: goldens
 * {@code ioi-goldens/scores.safetensors} of tools/goldens/make_ioi_scores_goldens.py.
 *
 * <p>Tolerances: attention probabilities {@code 1e-5} absolute; projections on {@code W_U} and
 * correlations {@code 1e-4}; the extended embeddings {@code 1e-5}. Copy scores: a target's rank (how
 * many logits exceed its own) may differ from TL's only by the number of other logits within
 * {@code 1e-4} of the target's logit (the golden's {@code near}: this model's 50257 logits are dense,
 * so float32 rounding reorders neighbours); a head's top-k score may differ from TL's
 * {@code torch.topk} membership only by its targets that lie within {@code 1e-4} of the top-k boundary
 * (the golden's {@code ambiguous_k}, none for k = 5), i.e. {@code |score - expected| * n <= ambiguous}.
 */
class HeadScoresTest {

    static final double ATTN_ATOL = 1e-5;
    static final double PROJ_ATOL = 1e-4;

    static HookedTransformer model;
    static SafetensorsFile g;
    static SafetensorsFile exp;
    static IoiBatch batch;
    static NDManager m;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        g = Safetensors.open(TestModels.resource("ioi-goldens/scores.safetensors"));
        exp = IoiGoldens.open();
        batch = IoiGoldens.batch(exp);
        m = NDManager.newBaseManager();
        // the scores' golden was made on the same batch as experiments.safetensors
        assertArrayEquals(IoiGoldens.rows(exp.load("tokens", m)), IoiGoldens.rows(g.load("tokens", m)));
        assertArrayEquals(batch.end(), IoiGoldens.longs(g.load("word_idx/end", m)));
    }

    @AfterAll
    static void close() {
        m.close();
        exp.close();
        g.close();
        model.close();
    }

    static float[] floats(String key) {
        return g.load(key, m).toType(DataType.FLOAT32, false).toFloatArray();
    }

    // ------------------------------------------------------------------ copy scores

    /** The default is ARENA's: bare names ({@code to_tokens(NAMES, prepend_bos=False)}), all 109. */
    @Test
    void copyScoresMatchArenasGetCopyingScores() {
        assertEquals(IOIWords.NAMES, Arrays.asList(new Gson().fromJson(g.metadata().get("names"), String[].class)),
                "the golden embeds ARENA's names");
        Compare cmp = new Compare("Copy scores vs TL get_copying_scores (bare names)");
        CopyingScores.Options options = CopyingScores.Options.defaults()
                .maxLogitElements(17_000_000); // several chunks: 17e6 / (109 * 50257) = 3 heads each
        assertFalse(options.leadingSpace(), "ARENA's get_copying_scores embeds the bare names");
        CopyingScores.Result r = CopyingScores.compute(model, options);
        assertArrayEquals(IoiGoldens.longs(g.load("copying/nospace/name_tokens", m)), r.targetTokens(),
                "bare-name tokens, as ARENA's model.to_tokens(NAMES, prepend_bos=False)");
        try (NDManager tmp = NDManager.newBaseManager()) {
            NDArray resid = CopyingScores.extendedEmbeddings(model, r.targetTokens(), tmp);
            cmp.close("W_E + MLP0(ln2(W_E)) [109, 24]", resid, g.load("copying/nospace/resid", m), 1e-5, 0);
        }
        checkCopying(cmp, "copying/nospace", r);
        cmp.check();
    }

    /** The option: the first token of {@code " " + name}, the token the prompts contain. */
    @Test
    void spacedNameTokensMatchTransformerLens() {
        Compare cmp = new Compare("Copy scores vs TL, names with a leading space");
        CopyingScores.Result r = CopyingScores.compute(model, CopyingScores.Options.defaults().leadingSpace(true));
        assertArrayEquals(IoiGoldens.longs(g.load("copying/space/name_tokens", m)), r.targetTokens(), "tokens");
        checkCopying(cmp, "copying/space", r);
        cmp.check();
    }

    @Test
    void multiTokenBareNameIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CopyingScores.compute(model, CopyingScores.Options.defaults().names(List.of("Mary", "Xylophonist"))));
        assertTrue(e.getMessage().contains("name 1 'Xylophonist' is") && e.getMessage().contains("leadingSpace(true)"),
                e.getMessage());
    }

    @Test
    void datasetCopyScoresMatchThePapersCheckCopyCircuit() {
        Compare cmp = new Compare("Copy scores on the dataset vs check_copy_circuit");
        CopyingScores.Result r = CopyingScores.onDataset(model, batch);
        assertEquals(3 * batch.size(), r.targets().size());
        assertEquals("prompt 1 S2", r.targets().get(5));
        assertEquals(batch.tokens()[1][(int) batch.s2()[1]], r.targetTokens()[5]);
        checkCopying(cmp, "copying/dataset", r);
        cmp.check();
    }

    static void checkCopying(Compare cmp, String key, CopyingScores.Result r) {
        int n = r.targets().size();
        long[] ranks = r.ranks();
        float[] expectedRanks = floats(key + "/rank");
        float[] near = floats(key + "/near");
        assertEquals(expectedRanks.length, ranks.length, key + " ranks");
        assertEquals(2L * 12 * 12 * n, r.ranks().length, "ranks [2, 12, 12, targets]");
        long differing = 0;
        double worstExcess = 0;
        for (int i = 0; i < ranks.length; i++) {
            double d = Math.abs(ranks[i] - expectedRanks[i]);
            differing += d > 0 ? 1 : 0;
            worstExcess = Math.max(worstExcess, d - near[i]);
        }
        System.out.printf(Locale.ROOT, "%s: %d of %d ranks differ from TL, all within their near-tie counts: %s%n", key,
                differing, ranks.length, worstExcess <= 0);
        if (worstExcess > 0) {
            cmp.fail(key + ": a rank differs from TL's by " + worstExcess + " more than its near-tie count");
        }
        for (int k : new int[] {5, 1000}) {
            float[] actual = k == 5 ? r.scores().toFloatArray() : r.scoresAt(k);
            float[] expected = floats(key + "/scores_k" + k);
            float[] ambiguous = floats(key + "/ambiguous_k" + k);
            double worst = 0;
            for (int i = 0; i < actual.length; i++) {
                double d = Math.abs(actual[i] - expected[i]);
                worst = Math.max(worst, d);
                if (d * n > ambiguous[i] + 1e-3) {
                    cmp.fail(String.format(Locale.ROOT, "%s top-%d: head %d.%d scores %s, TL %s (%s near-ties allowed)",
                            key, k, i % 144 / 12, i % 12, actual[i], expected[i], ambiguous[i]));
                }
            }
            System.out.printf(Locale.ROOT, "%s top-%d: max |score diff| %.3e, %d ambiguous targets in all%n", key, k,
                    worst, (long) sum(ambiguous));
            assertTrue(sum(expected) > 0 || k == 5, key + ": the golden's k = " + k + " scores are not all zero");
        }
        // getters agree with the tensor
        float[] s = r.scores().toFloatArray();
        assertEquals(s[9 * 12 + 9], r.positive(9, 9), 0);
        assertEquals(s[144 + 11 * 12 + 10], r.negative(11, 10), 0);
        double mean = sum(Arrays.copyOfRange(s, 0, 144)) / 144;
        assertEquals(mean, r.average(CopyingScores.Sign.POSITIVE), 1e-6);
        double arena = sum(Arrays.copyOfRange(s, 144 + 12, 288)) / 144;
        assertEquals(arena, r.averageArena(CopyingScores.Sign.NEGATIVE), 1e-6);
        assertEquals(144, r.table().rowCount());
        double top = r.table().doubleColumn("positive_pct").get(0);
        assertEquals(100 * max(Arrays.copyOfRange(s, 0, 144)), top, 1e-4, "table sorted by positive score");
        double topNeg = r.table(CopyingScores.Sign.NEGATIVE).doubleColumn("negative_pct").get(0);
        assertEquals(100 * max(Arrays.copyOfRange(s, 144, 288)), topNeg, 1e-4);
    }

    // ------------------------------------------------------------------ repeated random tokens

    @Test
    void validationScoresMatchArenaGetAttnScores() {
        long[][] tokens = IoiGoldens.rows(g.load("validation/tokens", m));
        assertEquals(8, tokens.length);
        assertEquals(40, tokens[0].length);
        Compare cmp = new Compare("Repeated-token attention scores vs ARENA get_attn_scores");
        ValidationScores.Result r = ValidationScores.compute(model, tokens);
        assertEquals(20, r.seqLen());
        for (String score : ValidationScores.SCORES) {
            cmp.close(score + " [12, 12]", r.get(score).toNDArray(m), g.load("validation/" + score, m), ATTN_ATOL, 0);
        }
        float[] prev = floats("validation/prev");
        assertEquals(prev[4 * 12 + 11], r.score("prev", 4, 11), ATTN_ATOL);
        assertEquals(144, r.table().rowCount());
        List<String> top = r.topHeads("induction", 3);
        assertEquals(3, top.size());
        float[] ind = floats("validation/induction");
        int best = argmax(ind);
        assertEquals(best / 12 + "." + best % 12, top.get(0), "top induction head");
        assertEquals(1, ioi.notebook.Plots.imshow(r, "duplicate").figure().data().size());
        cmp.check();
    }

    @Test
    void seededRandomTokensAreRepeatedAndReproducible() {
        long[][] a = ValidationScores.repeatedRandomTokens(50257, 20, 8, 7);
        long[][] b = ValidationScores.repeatedRandomTokens(50257, 20, 8, 7);
        long[][] c = ValidationScores.repeatedRandomTokens(50257, 20, 8, 8);
        assertArrayEquals(a, b);
        assertNotEquals(Arrays.deepToString(a), Arrays.deepToString(c));
        for (long[] row : a) {
            assertArrayEquals(Arrays.copyOfRange(row, 0, 20), Arrays.copyOfRange(row, 20, 40));
            assertTrue(Arrays.stream(row).allMatch(t -> t >= 0 && t < 50257));
        }
        ValidationScores.Result r = ValidationScores.compute(model, 20, 8, 7);
        assertArrayEquals(a, r.tokens());
        // an attention probability, averaged: within [0, 1]
        float[] dup = r.duplicate().toFloatArray();
        assertTrue(min(dup) >= 0 && max(dup) <= 1);
    }

    // ------------------------------------------------------------------ writing direction, name attention

    @Test
    void writingDirectionMatchesArenaScatter() {
        Compare cmp = new Compare("Writing direction vs calculate_and_show_scatter_embedding_vs_attn");
        for (String head : new Gson().fromJson(g.metadata().get("writing_heads"), String[].class)) {
            int l = Integer.parseInt(head.split("\\.")[0]);
            int h = Integer.parseInt(head.split("\\.")[1]);
            WritingDirection.Result r = WritingDirection.compute(model, batch, l, h);
            String k = "writing/" + head + "/";
            cmp.close(head + " attn END->IO", r.attnIo(), floats(k + "attn_io"), ATTN_ATOL, 0);
            cmp.close(head + " attn END->S1", r.attnS1(), floats(k + "attn_s1"), ATTN_ATOL, 0);
            cmp.close(head + " attn END->S2", r.attnS2(), floats(k + "attn_s2"), ATTN_ATOL, 0);
            cmp.close(head + " z W_O . W_U[:, IO]", r.projIo(), floats(k + "proj_io"), PROJ_ATOL, 0);
            cmp.close(head + " z W_O . W_U[:, S]", r.projS(), floats(k + "proj_s"), PROJ_ATOL, 0);
            cmp.close(head + " corr (S1 + S2, paper)", new float[] {(float) r.correlation()}, floats(k + "corr_paper"),
                    PROJ_ATOL, 0);
            cmp.close(head + " corr (S1, ARENA)", new float[] {(float) r.correlation(WritingDirection.SAttention.S1)},
                    floats(k + "corr_arena"), PROJ_ATOL, 0);
            assertEquals(batch.size(), r.table().rowCount());
            Figure fig = ioi.notebook.Plots.scatter(r).figure();
            assertEquals(2, fig.data().size(), "one trace per name type (IO, S)");
            assertEquals("IO", fig.data().get(0).get("name"));
        }
        cmp.check();
    }

    @Test
    void nameAttentionMatchesTransformerLens() {
        Compare cmp = new Compare("Attention END -> names vs TL");
        NameAttention.Result r = NameAttention.compute(model, batch);
        for (String w : NameAttention.WORDS) {
            cmp.close("END -> " + w + " [12, 12]", r.get(w).toNDArray(m), g.load("name_attention/" + w, m), ATTN_ATOL, 0);
        }
        float[] io = floats("name_attention/IO");
        List<String> nameMovers = List.of("9.9", "9.6", "10.0");
        double expected = (io[9 * 12 + 9] + io[9 * 12 + 6] + io[10 * 12]) / 3.0;
        assertEquals(expected, r.mean("IO", nameMovers), ATTN_ATOL);
        var t = r.table(nameMovers);
        assertEquals(3, t.rowCount());
        assertEquals(io[9 * 12 + 6], t.doubleColumn("to_IO").get(1), ATTN_ATOL);
        cmp.check();
    }

    // ------------------------------------------------------------------ bad input, memory

    @Test
    void badInputFailsNamingTheValue() {
        ValidationScores.Result r = ValidationScores.compute(model, 4, 2, 1);
        NameAttention.Result na = NameAttention.compute(model, batch);
        expect("unknown score 'inductoin'", () -> r.get("inductoin"));
        expect("head 12.0 does not exist", () -> r.score("prev", 12, 0));
        expect("unknown word 'S3'", () -> na.get("S3"));
        expect("head 9.12 does not exist", () -> na.table("9.9", "9.12"));
        expect("head 'L9H9' is not of the form layer.head", () -> na.mean("IO", List.of("L9H9")));
        expect("head 12.0 does not exist: layer must be in [0, 12)", () -> WritingDirection.compute(model, batch, 12, 0));
        expect("head 3.-1 does not exist", () -> WritingDirection.compute(model, batch, 3, -1));
        long[][] notRepeated = {{1, 2, 3, 1, 2, 4}};
        expect("row 0 is not a sequence repeated twice: position 5 is 4 but position 2 is 3",
                () -> ValidationScores.compute(model, notRepeated));
        expect("k must be >= 1 but is 0", () -> CopyingScores.Options.defaults().k(0));
        CopyingScores.Result john = CopyingScores.compute(model, CopyingScores.Options.defaults().names(List.of("John")));
        expect("head 0.12 does not exist", () -> john.positive(0, 12));
    }

    static void expect(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should contain '" + fragment + "'");
    }

    @Test
    void repeatedRunsLeaveNoArraysBehind() {
        IoiBatch two = IoiBatch.of(Arrays.copyOf(batch.tokens(), 2), Arrays.copyOf(batch.abcTokens(), 2),
                Arrays.copyOf(batch.io(), 2), Arrays.copyOf(batch.s1(), 2), Arrays.copyOf(batch.s2(), 2),
                Arrays.copyOf(batch.end(), 2), Arrays.copyOf(batch.ioTokenIds(), 2), Arrays.copyOf(batch.sTokenIds(), 2));
        Runnable all = () -> {
            CopyingScores.Result c = CopyingScores.onDataset(model, two);
            ValidationScores.Result v = ValidationScores.compute(model, 10, 4, 3);
            NameAttention.Result n = NameAttention.compute(model, batch);
            c.table();
            v.table();
            n.table("9.9");
            ioi.notebook.Plots.scatter(WritingDirection.compute(model, batch, 9, 9));
            CopyingScores.compute(model, CopyingScores.Options.defaults().names(IOIWords.NAMES.subList(0, 3)))
                    .average(CopyingScores.Sign.POSITIVE);
        };
        all.run(); // warm-up
        System.gc();
        int arrays = model.liveArrayCount();
        int resultArrays = model.resultManager().getManagedArrays().size();
        int caches = model.openCacheCount();
        for (int i = 0; i < 2; i++) {
            all.run();
        }
        System.gc();
        System.out.printf("live arrays %d -> %d, result-manager arrays %d -> %d, open caches %d -> %d%n", arrays,
                model.liveArrayCount(), resultArrays, model.resultManager().getManagedArrays().size(), caches,
                model.openCacheCount());
        assertEquals(arrays, model.liveArrayCount(), "live arrays");
        assertEquals(resultArrays, model.resultManager().getManagedArrays().size(), "arrays under the result manager");
        assertEquals(caches, model.openCacheCount(), "open caches");
    }

    static double sum(float[] a) {
        double s = 0;
        for (float v : a) {
            s += v;
        }
        return s;
    }

    static float max(float[] a) {
        float x = Float.NEGATIVE_INFINITY;
        for (float v : a) {
            x = Math.max(x, v);
        }
        return x;
    }

    static float min(float[] a) {
        float x = Float.POSITIVE_INFINITY;
        for (float v : a) {
            x = Math.min(x, v);
        }
        return x;
    }

    static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) {
            if (a[i] > a[best]) {
                best = i;
            }
        }
        return best;
    }
}
