package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.HookNames;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.TestModels;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The engine's grouping of prompts by length: a run whose prompts are read at different positions
 * gives, grouped (each group only up to its last read position), what the whole batch gives run
 * rectangular, from each kind of start (tokens, a layer's hook_z, a layer's resid_pre with a
 * prefix of cached keys and values), with edits; and it runs fewer tokens. Tolerance 1e-5 (the
 * same ops on fewer rows: matrix products may block differently); a failure prints the worst
 * difference. The whole-batch runs themselves equal TransformerLens in the experiments' golden tests.
 */
class BatchedRunTest {

    private static final double ATOL = 1e-5;
    private static final long[] READ_AT = {9, 4, 6, 3, 9}; // [batch]
    private static final int BATCH = READ_AT.length;
    private static final int POS = 10;

    @Test
    void groupsByLengthGiveTheWholeBatchsResult() {
        try (HookedTransformer model = HookedTransformer.load(TestModels.ioiGpt2(), ProcessingOptions.defaults(), null);
                NDManager m = NDManager.newBaseManager()) {
            Random rnd = new Random(7);
            long[][] t = new long[BATCH][POS];
            for (long[] row : t) {
                for (int p = 0; p < POS; p++) {
                    row[p] = rnd.nextInt(5000);
                }
            }
            NDArray tokens = m.create(t); // [batch, pos]
            long heads = model.cfg().nHeads();
            long dHead = model.cfg().dHead();
            long dModel = model.cfg().dModel();
            int copies = 3;
            try (ActivationCache c = model.runWithCache(tokens)) {
                // a mask per copy: copy k edits head 2k (z) or position k (resid_pre)
                boolean[] headMask = new boolean[(int) (copies * heads)];
                for (int k = 0; k < copies; k++) {
                    headMask[(int) (k * heads + 2 * k)] = true;
                }
                NDArray byHead = m.create(headMask, new Shape(copies, 1, 1, heads, 1)); // [copies, 1, 1, head_index, 1]
                NDArray zeros = m.zeros(new Shape(1, BATCH, POS, heads, dHead)); // [1, batch, pos, head_index, d_head]

                BatchedRun.Edit z3 = new BatchedRun.Edit(HookNames.getActName("z", 3), byHead, zeros);
                same("from the tokens, hook_z of layer 3 edited", model, copies,
                        BatchedRun.Start.tokens(tokens), null, List.of(z3));

                BatchedRun.Edit z5 = new BatchedRun.Edit(HookNames.getActName("z", 5), byHead, zeros);
                same("from layer 5's hook_z", model, copies,
                        BatchedRun.Start.z(5, c.get("resid_pre", 5), c.get("z", 5)), null, List.of(z5));

                long from = 2;
                long run = POS - from;
                boolean[] posMask = new boolean[(int) (copies * run)];
                for (int k = 0; k < copies; k++) {
                    posMask[(int) (k * run + k)] = true;
                }
                NDArray byPos = m.create(posMask, new Shape(copies, 1, run, 1)); // [copies, 1, pos, 1]
                NDArray source = m.randomNormal(new Shape(1, BATCH, run, dModel)); // [1, batch, pos, d_model]
                BatchedRun.Edit r4 = new BatchedRun.Edit(HookNames.getActName("resid_pre", 4), byPos, source);
                BatchedRun.Prefix prefix = new BatchedRun.Prefix(from, l -> c.get("k", l), l -> c.get("v", l));
                same("from layer 2's resid_pre with a prefix of 2, resid_pre of layer 4 edited", model, copies,
                        BatchedRun.Start.residPre(2, c.get("resid_pre", 2).get(":, " + from + ":")), prefix, List.of(r4));

                BatchedRun engine = new BatchedRun(model, BATCH, READ_AT);
                var out = assertThrows(IllegalArgumentException.class, () -> engine.run(1,
                        BatchedRun.Start.residPre(2, c.get("resid_pre", 2).get(":, 5:")),
                        new BatchedRun.Prefix(5, l -> c.get("k", l), l -> c.get("v", l)), List.of(), List.of(),
                        r -> r.toFloatArray(), m));
                assertTrue(out.getMessage().contains("read position 4") && out.getMessage().contains("[5, 10)"),
                        out.getMessage());
            }
        }
    }

    private static void same(String what, HookedTransformer model, int copies, BatchedRun.Start at,
            BatchedRun.Prefix prefix, List<BatchedRun.Edit> edits) {
        try (NDManager scratch = NDManager.newBaseManager()) {
            BatchedRun whole = new BatchedRun(model, BATCH, READ_AT, 1, 0);
            // groups cost nothing: this d_model-24 model would never group its prompts otherwise
            BatchedRun grouped = new BatchedRun(model, BATCH, READ_AT, BatchedRun.MAX_BUCKETS, 0);
            float[] w = whole.run(copies, at, prefix, List.of(), edits,
                    r -> r.toType(DataType.FLOAT32, false).toFloatArray(), scratch); // [copies, batch, d_model]
            float[] g = grouped.run(copies, at, prefix, List.of(), edits,
                    r -> r.toType(DataType.FLOAT32, false).toFloatArray(), scratch);
            assertEquals(w.length, g.length, what);
            double worst = 0;
            for (int i = 0; i < w.length; i++) {
                worst = Math.max(worst, Math.abs(w[i] - g[i]));
            }
            System.out.println(what + ": tokens " + whole.lastTokens() + " whole, " + grouped.lastTokens()
                    + " grouped, worst |diff| " + worst);
            assertTrue(worst <= ATOL, what + ": worst difference " + worst + " > " + ATOL);
            assertTrue(grouped.lastTokens() < whole.lastTokens(), what + ": grouped ran " + grouped.lastTokens()
                    + " tokens, the whole batch " + whole.lastTokens());
        }
    }

    @Test
    void bucketsGroupPromptsByReadPosition() {
        // two lengths: two groups, each prompt once, in ascending order
        List<long[]> two = BatchedRun.buckets(new long[] {10, 3, 10, 3, 3, 10}, 0, 4, 1);
        assertEquals(2, two.size());
        assertArrayEquals(new long[] {1, 3, 4}, two.get(0));
        assertArrayEquals(new long[] {0, 2, 5}, two.get(1));
        // one length, or one group allowed: the whole batch
        assertEquals(1, BatchedRun.buckets(new long[] {7, 7, 7}, 2, 4, 0).size());
        assertArrayEquals(new long[] {0, 1, 2, 3}, BatchedRun.buckets(new long[] {9, 4, 6, 3}, 0, 1, 0).get(0));
        // a group is made only when it saves more tokens than it costs: 1 token saved against 2, 3 against 2
        assertEquals(1, BatchedRun.buckets(new long[] {9, 10, 10, 10, 10, 10}, 0, 4, 2).size());
        assertEquals(2, BatchedRun.buckets(new long[] {9, 9, 9, 10, 10, 10}, 0, 4, 2).size());
        // with groups free, the fewest tokens: one group per read position
        assertEquals(4, BatchedRun.buckets(new long[] {9, 4, 6, 3, 9}, 0, 4, 0).size());
        var bad = assertThrows(IllegalArgumentException.class, () -> new BatchedRun(null, 2, new long[] {1, 1}, 0, 0));
        assertTrue(bad.getMessage().contains("maxBuckets must be >= 1 but is 0"), bad.getMessage());
        var cost = assertThrows(IllegalArgumentException.class, () -> new BatchedRun(null, 2, new long[] {1, 1}, 2, -1));
        assertTrue(cost.getMessage().contains("groupCost must be >= 0 but is -1.0"), cost.getMessage());
    }
}
