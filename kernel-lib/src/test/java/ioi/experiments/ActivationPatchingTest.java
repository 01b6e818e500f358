package ioi.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.Compare;
import ioi.lens.Hook;
import ioi.lens.HookedTransformer;
import ioi.lens.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Batched activation patching against TransformerLens 2.18's {@code transformer_lens.patching}
 * (one forward per cell) on the committed 12x12 random GPT-2: corrupted = ABC tokens, clean cache,
 * metric = the normalised IOI metric. Tolerance {@code 1e-4} absolute (the metric is O(1); each
 * cell is one float32 forward, batched differently). Also: the generic core against plain hooked
 * forwards, the batch cap, progress, and memory.
 */
class ActivationPatchingTest {

    static final double ATOL = 1e-4;

    static HookedTransformer model;
    static SafetensorsFile g;
    static IoiBatch batch;
    static NDManager m;
    static ActivationCache clean;
    static Metrics.Performance performance;
    static PatchingMetric metric;

    @BeforeAll
    static void load() {
        model = IoiGoldens.model();
        g = IoiGoldens.open();
        batch = IoiGoldens.batch(g);
        m = NDManager.newBaseManager();
        clean = model.runWithCache(batch.tokens(m));
        performance = Metrics.performance(model, batch);
        metric = performance.normalisedMetric();
    }

    @AfterAll
    static void close() {
        clean.close();
        m.close();
        g.close();
        model.close();
    }

    static ActivationPatching patching(ActivationPatching.Options options) {
        return ActivationPatching.ioi(model, batch, clean, metric, options);
    }

    @Test
    void gridsMatchTransformerLens() {
        Compare cmp = new Compare("Activation patching vs transformer_lens.patching");
        List<Object[]> grids = List.of(
                new Object[] {"resid_pre", (Function<ActivationPatching, PatchingResult>) ActivationPatching::residPre},
                new Object[] {"attn_out", (Function<ActivationPatching, PatchingResult>) ActivationPatching::attnOut},
                new Object[] {"mlp_out", (Function<ActivationPatching, PatchingResult>) ActivationPatching::mlpOut},
                new Object[] {"head_out_all_pos", (Function<ActivationPatching, PatchingResult>) ActivationPatching::headOutAllPos},
                new Object[] {"head_q_all_pos", (Function<ActivationPatching, PatchingResult>) ActivationPatching::headQAllPos},
                new Object[] {"head_k_all_pos", (Function<ActivationPatching, PatchingResult>) ActivationPatching::headKAllPos},
                new Object[] {"head_v_all_pos", (Function<ActivationPatching, PatchingResult>) ActivationPatching::headVAllPos},
                new Object[] {"head_pattern_all_pos", (Function<ActivationPatching, PatchingResult>) ActivationPatching::headPatternAllPos},
                new Object[] {"head_out_by_pos", (Function<ActivationPatching, PatchingResult>) ActivationPatching::headOutByPos});
        try (ActivationPatching ap = patching(ActivationPatching.Options.defaults())) {
            cmp.close("baseline (ABC level)", new float[] {(float) ap.baseline()}, new float[] {0f}, 1e-5, 0);
            for (Object[] grid : grids) {
                @SuppressWarnings("unchecked")
                Function<ActivationPatching, PatchingResult> fn = (Function<ActivationPatching, PatchingResult>) grid[1];
                long t0 = System.nanoTime();
                PatchingResult r = fn.apply(ap);
                System.out.println(grid[0] + ": " + ap.lastRunStats());
                NDArray expected = g.load("act_patch/" + grid[0], m);
                cmp.close("act_patch/" + grid[0] + " " + expected.getShape() + String.format(java.util.Locale.ROOT,
                        " (%.1f s)", (System.nanoTime() - t0) / 1e9), r.toNDArray(m), expected, ATOL, 0);
                assertEquals(r.toFloatArray().length, r.table().rowCount());
                assertEquals(r.axes().size() + 1, r.table().columnCount());
            }
        }
        cmp.check();
    }

    /**
     * The stacked grids ({@code *_every}) against TL's single grids, and the by-position grids (q,
     * k, v, pattern rows, pattern entries) against TL on a seeded sample of cells
     * (patching_extra.safetensors, tools/goldens/make_ioi_patching_extra_goldens.py): those grids have
     * thousands of cells, so the sampled cells are taken from the grids' own cell lists, in grid
     * order, and run through the batched core.
     */
    @Test
    void everyAndByPositionGridsMatchTransformerLens() {
        Compare cmp = new Compare("Stacked and by-position grids vs transformer_lens.patching");
        int layers = 12;
        int heads = 12;
        int seq = batch.seqLen();
        try (SafetensorsFile extra = ioi.lens.io.Safetensors.open(ioi.lens.TestModels.resource(
                        "ioi-goldens/patching_extra.safetensors"));
                ActivationPatching ap = patching(ActivationPatching.Options.defaults())) {
            PatchingResult block = ap.blockEvery();
            PatchingResult allPos = ap.headAllPosEvery();
            String[] blockGrids = {"resid_pre", "attn_out", "mlp_out"};
            for (int i = 0; i < blockGrids.length; i++) {
                cmp.close("block_every[" + i + "] = " + blockGrids[i], block.toNDArray(m).get(i),
                        g.load("act_patch/" + blockGrids[i], m), ATOL, 0);
            }
            String[] headGrids = {"head_out_all_pos", "head_q_all_pos", "head_k_all_pos", "head_v_all_pos",
                "head_pattern_all_pos"};
            for (int i = 0; i < headGrids.length; i++) {
                cmp.close("all_pos_every[" + i + "] = " + headGrids[i], allPos.toNDArray(m).get(i),
                        g.load("act_patch/" + headGrids[i], m), ATOL, 0);
            }
            List<List<Patch>> every = new ArrayList<>(); // [5, layer, pos, head], as headByPosEvery builds it
            for (String act : List.of("z", "q", "k", "v", "pattern")) {
                every.addAll(ap.cells(act, List.of("pos", "head_index")));
            }
            assertEquals(5 * layers * seq * heads, every.size());
            String[] sampled = {"head_q_by_pos", "head_k_by_pos", "head_v_by_pos", "head_pattern_by_pos"};
            for (int i = 0; i < sampled.length; i++) {
                long[][] idx = IoiGoldens.rows(extra.load(sampled[i] + "/index", m)); // q/k/v [layer, pos, head]; pattern [layer, head, dest]
                List<List<Patch>> cells = new ArrayList<>();
                List<List<Patch>> own = i < 3 ? ap.cells(new String[] {"q", "k", "v"}[i], List.of("pos", "head_index"))
                        : ap.cells("pattern", List.of("head_index", "query_pos"));
                for (long[] c : idx) {
                    long pos = i < 3 ? c[1] : c[2];
                    long head = i < 3 ? c[2] : c[1];
                    List<Patch> cell = i < 3 ? own.get((int) ((c[0] * seq + c[1]) * heads + c[2]))
                            : own.get((int) ((c[0] * heads + c[1]) * seq + c[2]));
                    // the stacked grid holds the same cell at [act, layer, pos, head]
                    Patch mine = cell.get(0);
                    Patch stacked = every.get((int) ((((i + 1) * layers + c[0]) * seq + pos) * heads + head)).get(0);
                    String where = sampled[i] + " cell " + java.util.Arrays.toString(c);
                    assertEquals(mine.hookName(), stacked.hookName(), where);
                    assertEquals(mine.region().toString(), stacked.region().toString(), where);
                    assertTrue(mine.source() == stacked.source(), where);
                    cells.add(cell);
                }
                cmp.close(sampled[i] + " (" + idx.length + " sampled cells)", ap.run(cells),
                        extra.load(sampled[i] + "/values", m).toFloatArray(), ATOL, 0);
            }
            long[][] ds = IoiGoldens.rows(extra.load("head_pattern_dest_src/index", m)); // [layer, head, dest, src]
            List<List<Patch>> own = ap.cells("pattern", List.of("head_index", "query_pos", "key_pos"));
            List<List<Patch>> cells = new ArrayList<>();
            for (long[] c : ds) {
                cells.add(own.get((int) (((c[0] * heads + c[1]) * seq + c[2]) * seq + c[3])));
            }
            cmp.close("head_pattern_dest_src (" + ds.length + " sampled cells)", ap.run(cells),
                    extra.load("head_pattern_dest_src/values", m).toFloatArray(), ATOL, 0);
        }
        cmp.check();
    }

    @Test
    void capAndProgressDoNotChangeResults() {
        AtomicLong started = new AtomicLong();
        AtomicLong stepped = new AtomicLong();
        AtomicLong done = new AtomicLong();
        Progress progress = new Progress() {
            @Override
            public void start(long total) {
                started.addAndGet(total);
            }

            @Override
            public void step(long n) {
                stepped.addAndGet(n);
            }

            @Override
            public void done() {
                done.incrementAndGet();
            }
        };
        try (ActivationPatching one = patching(ActivationPatching.Options.defaults().maxCellsPerForward(1));
                ActivationPatching seven = patching(ActivationPatching.Options.defaults().maxCellsPerForward(7)
                        .progress(progress))) {
            PatchingResult a = one.headOutAllPos();
            PatchingResult b = seven.headOutAllPos();
            float[] x = a.toFloatArray();
            float[] y = b.toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-5, "cell " + i + ": one cell per forward vs seven");
            }
            assertEquals(new Shape(12, 12), b.shape());
        }
        assertEquals(144, started.get());
        assertEquals(144, stepped.get());
        assertEquals(1, done.get());
    }

    /**
     * Cells whose patch equals the corrupted activation (positions before the first name, where clean
     * and ABC prompts agree) are answered without a forward pass, with the same results.
     */
    @Test
    void skippingUnchangedCellsChangesNoResult() {
        try (ActivationPatching all = patching(ActivationPatching.Options.defaults().skipUnchanged(false));
                ActivationPatching skip = patching(ActivationPatching.Options.defaults())) {
            PatchingResult a = all.residPre();
            PatchingResult b = skip.residPre();
            long minFirstName = Long.MAX_VALUE;
            for (int i = 0; i < batch.size(); i++) {
                minFirstName = Math.min(minFirstName, Math.min(batch.io()[i], batch.s1()[i]));
            }
            // every layer at the positions before the first name, and position 21 (after every END)
            assertTrue(skip.skippedCells() >= 12 * minFirstName + 12,
                    skip.skippedCells() + " cells skipped; positions before " + minFirstName + " are unchanged");
            assertEquals(12, all.skippedCells(), "without the check only the positions after END are skipped");
            float[] x = a.toFloatArray();
            float[] y = b.toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-5, "cell " + i);
            }
        }
    }

    /**
     * Running only the positions from the first changed one (prefix keys and values from the
     * corrupted cache, merged into z in the hooks) gives the results of running every position,
     * and computes less.
     */
    @Test
    void reusingThePrefixChangesNoResult() {
        Compare cmp = new Compare("prefix reuse vs every position");
        ActivationPatching.Options full = ActivationPatching.Options.defaults().reusePrefix(false);
        for (String grid : List.of("resid_pre", "head_q_all_pos", "mlp_out")) { // head_out_by_pos: gridsMatch...
            try (ActivationPatching a = patching(full); ActivationPatching b = patching(ActivationPatching.Options.defaults())) {
                PatchingResult x = run(a, grid);
                PatchingResult y = run(b, grid);
                double worst = cmp.close(grid, y.toNDArray(m), x.toNDArray(m), 2e-6, 0);
                System.out.println(grid + ": every position " + a.lastRunStats() + "\n  prefix reused " + b.lastRunStats()
                        + ", worst |diff| " + worst);
                assertTrue(b.lastRunStats().tokenLayers() < a.lastRunStats().tokenLayers(), grid);
                assertTrue(worst > 0, grid + ": the merged softmax rounds differently somewhere (else it did not run)");
            }
        }
        cmp.check();
    }

    static PatchingResult run(ActivationPatching ap, String grid) {
        return switch (grid) {
            case "resid_pre" -> ap.residPre();
            case "head_q_all_pos" -> ap.headQAllPos();
            default -> ap.mlpOut();
        };
    }

    /**
     * The generic core: cells of several patches, per-prompt positions and embeddings, each
     * against a plain forward pass with the same edits as ordinary hooks.
     */
    @Test
    void generalCellsMatchPlainHookedForwards() {
        long[] end = batch.end();
        NDArray z9 = clean.get("z", 9);
        NDArray mlp3 = clean.get("mlp_out", 3);
        NDArray embed = clean.get("hook_embed");
        NDArray pattern5 = clean.get("pattern", 5);
        List<List<Patch>> cells = List.of(
                List.of(new Patch("blocks.9.attn.hook_z", Region.perPrompt("pos", end).and("head", 9), z9)),
                List.of(new Patch("blocks.9.attn.hook_z", Region.perPrompt("pos", end).and("head", 9), z9),
                        new Patch("blocks.3.hook_mlp_out", Region.all(), mlp3)),
                List.of(new Patch("hook_embed", Region.at("pos", 3, 4), embed)),
                List.of(new Patch("blocks.5.attn.hook_pattern", Region.at("head", 1).and("dest_pos", 12, 13, 14), pattern5)),
                List.of(new Patch("blocks.3.hook_mlp_out", Region.at("pos", 21), mlp3))); // after every END: a no-op
        List<List<Hook>> reference = List.of(
                List.of(perPromptHead("blocks.9.attn.hook_z", z9, end, 9)),
                List.of(perPromptHead("blocks.9.attn.hook_z", z9, end, 9), Hook.of("blocks.3.hook_mlp_out", (a, h) -> mlp3)),
                List.of(Hook.of("hook_embed", (a, h) -> {
                    a.set(new NDIndex(":, 3:5"), embed.get(":, 3:5"));
                    return a;
                })),
                List.of(Hook.of("blocks.5.attn.hook_pattern", (a, h) -> {
                    a.set(new NDIndex(":, 1, 12:15"), pattern5.get(":, 1, 12:15"));
                    return a;
                })),
                List.of());
        try (ActivationPatching ap = patching(ActivationPatching.Options.defaults().maxCellsPerForward(2))) {
            float[] got = ap.run(cells);
            for (int i = 0; i < cells.size(); i++) {
                NDArray logits = model.runWithHooks(batch.abcTokens(m), ioi.lens.RunOptions.defaults(),
                        reference.get(i)).logits();
                double expected = Metrics.score(metric, logits);
                assertEquals(expected, got[i], 1e-5, "cell " + i + " " + cells.get(i));
            }
            assertEquals(ap.baseline(), got[4], 0, "a patch after the last END is the unpatched run");
            assertTrue(Math.abs(got[1] - got[0]) > 1e-3, "the MLP patch changes the result: " + got[0] + " vs " + got[1]);
        }
    }

    /** {@code z[b, end[b], head] = source[b, end[b], head]} for every prompt b. */
    static Hook perPromptHead(String name, NDArray source, long[] pos, int head) {
        return Hook.of(name, (a, h) -> {
            for (int b = 0; b < pos.length; b++) {
                String idx = b + ", " + pos[b] + ", " + head;
                a.set(new NDIndex(idx), source.get(idx));
            }
            return a;
        });
    }

    @Test
    void badCellsFailNamingTheProblem() {
        try (ActivationPatching ap = patching(ActivationPatching.Options.defaults())) {
            NDArray z = clean.get("z", 2);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> ap.run(List.of(List.of(new Patch("blocks.2.attn.hook_z", Region.at("head", 12), z)))));
            assertTrue(e.getMessage().contains("blocks.2.attn.hook_z: head_index index 12 is out of range [0, 12)"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> ap.run(List.of(List.of(new Patch("blocks.2.hook_resid_pre", Region.at("head", 1), z)))));
            assertTrue(e.getMessage().contains("the patch source is (16, 22, 12, 2) but the activation is"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> ap.run(List.of(List.of(new Patch("blocks.2.attn.hook_z", Region.at("d_model", 1), z)))));
            assertTrue(e.getMessage().contains("no 'd_model' to select on"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> ap.run(List.of(List.of(new Patch("ln_final.hook_scale", Region.all(), clean.get("ln_final.hook_scale"))))));
            assertTrue(e.getMessage().contains("cannot be patched here"), e.getMessage());
        }
    }

    /** Repeated grids leave no native memory behind: arrays, open caches and RSS stay flat. */
    @Test
    void repeatedGridsDoNotGrow() throws IOException {
        ActivationPatching.Options small = ActivationPatching.Options.defaults().maxCellsPerForward(5);
        for (int i = 0; i < 3; i++) { // warm-up; byHead also fills the clean cache's hook_result once
            try (ActivationPatching ap = patching(small)) {
                LogitAttribution.Attribution a = LogitAttribution.byHead(model, clean, batch);
                Metrics.Performance p = Metrics.performance(model, batch);
                PatchingResult r = ap.residPre();
                r.toFloatArray();
            }
        }
        System.gc();
        int arrays = model.liveArrayCount();
        int caches = model.openCacheCount();
        int resultArrays = model.resultManager().getManagedArrays().size();
        long rss = rssKiB();
        for (int i = 0; i < 15; i++) {
            try (ActivationPatching ap = patching(small)) {
                PatchingResult r = ap.residPre();
                PatchingResult h = ap.headVAllPos();
                r.toFloatArray();
                h.toFloatArray();
            }
            LogitAttribution.Attribution a = LogitAttribution.byHead(model, clean, batch);
            Metrics.Performance p = Metrics.performance(model, batch);
            a.mean();
        }
        System.gc();
        long grown = rssKiB() - rss;
        System.out.printf("live arrays %d -> %d, result-manager arrays %d -> %d, open caches %d -> %d, RSS +%d KiB%n",
                arrays, model.liveArrayCount(), resultArrays, model.resultManager().getManagedArrays().size(), caches,
                model.openCacheCount(), grown);
        assertEquals(arrays, model.liveArrayCount(), "live arrays");
        assertEquals(resultArrays, model.resultManager().getManagedArrays().size(), "arrays under the result manager");
        assertEquals(caches, model.openCacheCount(), "open caches");
        assertTrue(grown < 64 * 1024, "RSS grew by " + grown + " KiB");
    }

    static long rssKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS");
    }
}
