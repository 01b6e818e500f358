package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIDataset;
import ioi.experiments.Circuit;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.lens.ActivationCache;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.TestModels;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The exercise checks catch wrong answers, not only stubs: for each check, the solution (the same
 * code as the notebooks' solution cells) passes, the stub reports "not implemented yet", and at
 * least one plausible mistake fails with a message that names what differs. On the experiments'
 * 12 x 12 random checkpoint (the paper's head indices exist; the numbers mean nothing).
 */
class CheckTest {

    static HookedTransformer model;
    static NDManager m;
    static IOIDataset ioiDataset;
    static IOIDataset abcDataset;
    static IoiBatch batch;
    static ActivationCache cache;

    @BeforeAll
    static void load() {
        model = HookedTransformer.load(TestModels.ioiGpt2(), ProcessingOptions.withRefactoring(), null);
        m = model.resultManager().newSubManager();
        ioiDataset = IOIDataset.builder(model.tokenizer()).promptType("mixed").n(8).seed(1).prependBos(false).build();
        abcDataset = ioiDataset.genFlippedPrompts(Paper.ABC_FLIP);
        batch = Paper.batch(ioiDataset, abcDataset);
        cache = model.runWithCache(batch.tokens(m));
    }

    @AfterAll
    static void close() {
        cache.close();
        m.close();
        model.close();
    }

    static void passes(Check.Result r) {
        assertEquals(Check.Status.PASSED, r.status(), r.line());
        assertEquals("check " + r.exercise() + ": passed", r.line());
    }

    static void stub(Check.Result r) {
        assertEquals(Check.Status.NOT_IMPLEMENTED, r.status(), r.line());
        assertTrue(r.line().startsWith("check " + r.exercise() + ": not implemented yet"), r.line());
    }

    /** A failure whose line contains every one of {@code words}. */
    static void fails(Check.Result r, String... words) {
        assertEquals(Check.Status.FAILED, r.status(), r.line());
        for (String w : words) {
            assertTrue(r.line().contains(w), "expected '" + w + "' in: " + r.line());
        }
        System.out.println(r.line());
    }

    // ---------------------------------------------------------------- logitsToAveLogitDiff

    static NDArray logitsToAveLogitDiff(NDArray logits, NDArray answerTokens, boolean perPrompt, int position, int sign) {
        NDArray finalLogits = logits.get(new NDIndex(":, {}, :", position)); // [batch, d_vocab]
        NDArray answerLogits = finalLogits.gather(answerTokens, 1); // [batch, 2]
        NDArray diff = answerLogits.get(":, 0").sub(answerLogits.get(":, 1")).mul(sign); // [batch]
        return perPrompt ? diff : diff.mean();
    }

    @Test
    void logitDiff() {
        passes(Check.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, -1, 1)));
        stub(Check.logitsToAveLogitDiff((l, a, p) -> {
            throw Check.todo();
        }));
        fails(Check.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, -1, -1)), "S - IO", "expected");
        fails(Check.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, 0, 1)), "first position");
        fails(Check.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, false, -1, 1)), "has shape ()",
                "should have (4)");
        fails(Check.logitsToAveLogitDiff((l, a, p) -> {
            throw new IllegalStateException("boom");
        }), "threw IllegalStateException: boom");
    }

    // ---------------------------------------------------------------- embeddingVsAttn

    static NDArray embeddingVsAttn(HookedTransformer model, ActivationCache cache, IoiBatch batch, int layer, int head,
            long[] sPositions) {
        NDManager mm = cache.get("z", layer).getManager();
        int n = batch.size();
        NDArray rows = Check.rows(mm, n); // [batch]
        NDArray end = mm.create(batch.end()); // [batch]
        NDArray z = cache.get("z", layer).get(new NDIndex(":, :, {}", head)); // [batch, pos, d_head]
        NDArray output = z.matMul(model.W_O().get(new NDIndex("{}, {}", layer, head))); // [batch, pos, d_model]
        NDArray outputEnd = output.get(new NDIndex("{}, {}", rows, end)); // [batch, d_model]
        NDArray wUt = model.W_U().transpose(); // [d_vocab, d_model]
        NDArray ioUnembed = wUt.get(new NDIndex("{}", mm.create(batch.ioTokenIds()))); // [batch, d_model]
        NDArray sUnembed = wUt.get(new NDIndex("{}", mm.create(batch.sTokenIds()))); // [batch, d_model]
        NDArray projIo = outputEnd.mul(ioUnembed).sum(new int[] {-1}); // [batch]
        NDArray projS = outputEnd.mul(sUnembed).sum(new int[] {-1}); // [batch]
        NDArray pattern = cache.get("pattern", layer).get(new NDIndex(":, {}", head)); // [batch, query_pos, key_pos]
        NDArray attnIo = pattern.get(new NDIndex("{}, {}, {}", rows, end, mm.create(batch.io()))); // [batch]
        NDArray attnS = pattern.get(new NDIndex("{}, {}, {}", rows, end, mm.create(sPositions))); // [batch]
        return NDArrays.stack(new NDList(attnIo, attnS, projIo, projS)); // [4, batch]
    }

    @Test
    void writingDirection() {
        Head[] heads = {new Head(9, 9), new Head(11, 10)};
        passes(Check.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s1()), heads));
        stub(Check.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> {
            throw Check.todo();
        }, heads));
        fails(Check.embeddingVsAttn(model, cache, batch, (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s2()), heads),
                "S2 instead of S1", "differs at [1,");
        fails(Check.embeddingVsAttn(model, cache, batch,
                (mo, c, b, l, h) -> embeddingVsAttn(mo, c, b, l, h, b.s1()).get("0:3"), heads), "has shape (3, 8)");
    }

    // ---------------------------------------------------------------- generateRepeatedTokens, getAttnScores

    static NDArray generateRepeatedTokens(HookedTransformer model, int seqLen, int batch) {
        NDArray half = model.resultManager().randomInteger(0, model.cfg().dVocab(), new Shape(batch, seqLen),
                DataType.INT64); // [batch, seq_len]
        return half.concat(half, 1); // [batch, 2 * seq_len]
    }

    @Test
    void repeatedTokens() {
        passes(Check.generateRepeatedTokens(model, RepeatedTokensSolution::solve));
        stub(Check.generateRepeatedTokens(model, (mo, s, b) -> {
            throw Check.todo();
        }));
        fails(Check.generateRepeatedTokens(model, (mo, s, b) -> {
            NDArray t = generateRepeatedTokens(mo, s, b);
            return mo.resultManager().full(new Shape(b, 1), 50256L).concat(t, 1);
        }), "(3, 21)", "no start token");
        fails(Check.generateRepeatedTokens(model, (mo, s, b) -> {
            NDArray half = mo.resultManager().randomInteger(0, mo.cfg().dVocab(), new Shape(b, s), DataType.INT64);
            NDArray other = mo.resultManager().randomInteger(0, mo.cfg().dVocab(), new Shape(b, s), DataType.INT64);
            return half.concat(other, 1);
        }), "is not repeated");
        fails(Check.generateRepeatedTokens(model, (mo, s, b) -> mo.resultManager().zeros(new Shape(b, 2 * s), DataType.INT64)),
                "distinct tokens");
    }

    /** A method reference works as well as a lambda. */
    static final class RepeatedTokensSolution {
        static NDArray solve(HookedTransformer model, int seqLen, int batch) {
            return generateRepeatedTokens(model, seqLen, batch);
        }
    }

    static NDArray getAttnScores(HookedTransformer model, NDArray repTokens, String headType, int inductionOffset) {
        int seqLen = (int) repTokens.getShape().get(1) / 2;
        long[] dest = new long[seqLen];
        long[] src = new long[seqLen];
        for (int i = 0; i < seqLen; i++) {
            switch (headType) {
                case "duplicate" -> { dest[i] = seqLen + i; src[i] = i; }
                case "prev" -> { dest[i] = i + 1; src[i] = i; }
                case "induction" -> { dest[i] = seqLen + i; src[i] = i + inductionOffset; }
                default -> throw new IllegalArgumentException("headType " + headType);
            }
        }
        int layers = model.cfg().nLayers();
        int heads = model.cfg().nHeads();
        float[] results = new float[layers * heads];
        try (ActivationCache c = model.runWithCache(repTokens, name -> name.endsWith("hook_pattern"))) {
            NDManager cm = c.get("pattern", 0).getManager();
            NDArray d = cm.create(dest);
            NDArray s = cm.create(src);
            for (int layer = 0; layer < layers; layer++) {
                NDArray pattern = c.get("pattern", layer); // [batch, head_index, query_pos, key_pos]
                NDArray scores = pattern.get(new NDIndex(":, :, {}, {}", d, s)); // [batch, head_index, seq_len]
                float[] perHead = scores.mean(new int[] {2}).mean(new int[] {0}).toFloatArray(); // [head_index]
                System.arraycopy(perHead, 0, results, layer * heads, heads);
            }
        }
        return model.resultManager().create(results, new Shape(layers, heads)); // [n_layers, n_heads]
    }

    @Test
    void attnScores() {
        passes(Check.getAttnScores(model, (mo, t, type) -> getAttnScores(mo, t, type, 1)));
        stub(Check.getAttnScores(model, (mo, t, type) -> {
            throw Check.todo();
        }));
        fails(Check.getAttnScores(model, (mo, t, type) -> getAttnScores(mo, t, type, 0)), "\"induction\"",
                "duplicate score instead");
    }

    // ---------------------------------------------------------------- getHeadsAndPosnsToKeep, hookFnMaskZ

    static Map<Integer, NDArray> getHeadsAndPosnsToKeep(IoiBatch batch, HookedTransformer model, Circuit circuit,
            boolean union) {
        int n = batch.size();
        int pos = batch.seqLen();
        int heads = model.cfg().nHeads();
        Map<Integer, NDArray> keep = new HashMap<>();
        for (int layer = 0; layer < model.cfg().nLayers(); layer++) {
            boolean[] mask = new boolean[n * pos * heads]; // [batch, pos, head_index]
            for (String cls : circuit.classNames()) {
                long[] idx = batch.wordIdx(circuit.positionOf(cls));
                for (Head h : circuit.headsOf(cls)) {
                    if (h.layer() != layer) {
                        continue;
                    }
                    for (int b = 0; b < n; b++) {
                        if (union) {
                            for (int other = 0; other < n; other++) {
                                mask[(b * pos + (int) idx[other]) * heads + h.head()] = true;
                            }
                        } else {
                            mask[(b * pos + (int) idx[b]) * heads + h.head()] = true;
                        }
                    }
                }
            }
            keep.put(layer, model.resultManager().create(mask, new Shape(n, pos, heads)));
        }
        return keep;
    }

    @Test
    void keepMask() {
        Circuit circuit = Circuit.PAPER;
        passes(Check.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit,
                (b, mo, c) -> getHeadsAndPosnsToKeep(b, mo, c, false)));
        stub(Check.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit, (b, mo, c) -> {
            throw Check.todo();
        }));
        fails(Check.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit,
                (b, mo, c) -> getHeadsAndPosnsToKeep(b, mo, c, true)), "each prompt's own", "expected false, got true");
        fails(Check.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit, (b, mo, c) -> {
            Map<Integer, NDArray> k = getHeadsAndPosnsToKeep(b, mo, c, false);
            k.remove(11);
            return k;
        }), "no mask for layer 11");
        fails(Check.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit,
                (b, mo, c) -> getHeadsAndPosnsToKeep(b, mo, c.without(List.of(new Head(9, 9))), false)),
                "differs at [", "expected true, got false");
    }

    static NDArray hookFnMaskZ(NDArray z, HookPoint hook, Map<Integer, NDArray> keep, NDArray means, boolean inverted) {
        NDArray mask = keep.get(hook.layer()).expandDims(-1).broadcast(z.getShape()); // [batch, pos, head_index, d_head]
        NDArray mean = means.get(hook.layer()); // [batch, pos, head_index, d_head]
        return inverted ? NDArrays.where(mask, mean, z) : NDArrays.where(mask, z, mean);
    }

    @Test
    void maskZ() {
        Circuit circuit = Circuit.PAPER;
        passes(Check.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> hookFnMaskZ(z, h, k, mn, false)));
        stub(Check.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> {
            throw Check.todo();
        }));
        fails(Check.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> hookFnMaskZ(z, h, k, mn, true)),
                "swap z and the means");
        fails(Check.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> z), "return z unchanged");
        fails(Check.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> z.get(":, :-1")),
                "your hook threw", "hook_z", "(8, 18, 12, 2)");
    }

    static NDArray computeMeansByTemplate(IOIDataset meansDataset, HookedTransformer model, boolean byGroup) {
        NDManager mm = model.resultManager();
        int n = meansDataset.n();
        int[] groupOf = new int[n];
        List<int[]> groups = byGroup ? meansDataset.groups() : List.of(java.util.stream.IntStream.range(0, n).toArray());
        for (int g = 0; g < groups.size(); g++) {
            for (int b : groups.get(g)) {
                groupOf[b] = g;
            }
        }
        List<NDArray> layers = new ArrayList<>();
        try (NDArray tokens = mm.create(meansDataset.toks());
                ActivationCache c = model.runWithCache(tokens, name -> name.endsWith("hook_z"))) {
            for (int layer = 0; layer < model.cfg().nLayers(); layer++) {
                NDArray z = c.get("z", layer); // [batch, pos, head_index, d_head]
                List<NDArray> groupMeans = new ArrayList<>();
                for (int[] group : groups) {
                    NDArray idx = z.getManager().create(java.util.Arrays.stream(group).asLongStream().toArray());
                    groupMeans.add(z.get(new NDIndex("{}", idx)).mean(new int[] {0})); // [pos, head_index, d_head]
                }
                NDList perPrompt = new NDList();
                for (int b = 0; b < n; b++) {
                    perPrompt.add(groupMeans.get(groupOf[b]));
                }
                layers.add(NDArrays.stack(perPrompt)); // [batch, pos, head_index, d_head]
            }
            NDArray means = NDArrays.stack(new NDList(layers)); // [n_layers, batch, pos, head_index, d_head]
            means.attach(mm);
            return means;
        }
    }

    @Test
    void means() {
        passes(Check.computeMeansByTemplate(model, batch, abcDataset, (ds, mo) -> computeMeansByTemplate(ds, mo, true)));
        stub(Check.computeMeansByTemplate(model, batch, abcDataset, (ds, mo) -> {
            throw Check.todo();
        }));
        fails(Check.computeMeansByTemplate(model, batch, abcDataset, (ds, mo) -> computeMeansByTemplate(ds, mo, false)),
                "all prompts instead of over each template group");
        fails(Check.computeMeansByTemplate(model, batch, abcDataset,
                (ds, mo) -> computeMeansByTemplate(ds, mo, true).get("1:")), "has shape (11, 8");
    }

    // ---------------------------------------------------------------- hints, leaks

    @Test
    void hints() {
        assertTrue(Check.hint("getHeadsAndPosnsToKeep").contains("own position"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Check.hint("nope"));
        assertTrue(e.getMessage().contains("'nope'") && e.getMessage().contains("logitsToAveLogitDiff"), e.getMessage());
    }

    @Test
    void checksDoNotLeak() {
        List<Integer> counts = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            Check.getAttnScores(model, (mo, t, type) -> {
                throw Check.todo();
            });
            Check.hookFnMaskZ(model, batch, abcDataset, Circuit.PAPER, (z, h, k, mn) -> z);
            counts.add(model.liveArrayCount());
        }
        assertEquals(counts.get(1), counts.get(counts.size() - 1), "live arrays after each round: " + counts);
    }
}
