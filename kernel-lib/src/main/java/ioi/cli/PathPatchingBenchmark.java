package ioi.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.JsonObject;
import ioi.experiments.ActivationPatching;
import ioi.experiments.AttributionPatching;
import ioi.experiments.Circuit;
import ioi.experiments.EdgeAttribution;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import ioi.experiments.PatchingResult;
import ioi.experiments.PathPatching;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The Java side of {@code tools/bench/bench_tl_path_patching.py}: times the IOI experiments that
 * TransformerLens users run as one forward pass per head, on an IOI batch the Python side writes
 * (clean prompts and their ABC versions, word positions, answer ids) and the same checkpoint:
 * <ul>
 *   <li>{@code path_final}: path patching of all 144 sender heads to the final residual stream
 *       (Fig 3b, ARENA's variant);
 *   <li>{@code path_s_inh_v}: path patching of every head in layers 0-7 to the S-inhibition heads'
 *       values (Fig 5b, ARENA's variant);
 *   <li>{@code path_nm_q}: every head in layers 0-9 to the name movers' queries (Fig 4b);
 *   <li>{@code act_head_out}: the activation-patching grid of every head's output (TL's
 *       {@code get_act_patch_attn_head_out_all_pos}), corrupted = ABC;
 *   <li>{@code act_resid_pre}: the residual stream by layer and position (TL's
 *       {@code get_act_patch_resid_pre}), corrupted = ABC;
 *   <li>{@code attr_head_out}: the same head-output grid estimated by attribution patching
 *       ({@link AttributionPatching#ioi}: one forward and backward pass on the ABC prompts, one
 *       forward pass on the clean ones);
 *   <li>{@code eap}, {@code eap_ig}: every edge's EAP and EAP-IG (5 steps) score
 *       ({@link EdgeAttribution}, the whole batch as one chunk), [n_forward * n_backward].
 * </ul>
 * <pre>
 * java -cp CLASSPATH ioi.cli.PathPatchingBenchmark --model DIR --batch FILE [--threads 2]
 *     [--tasks path_final,path_s_inh_v,act_head_out] [--repeat 1] [--out FILE] [--grids-out FILE]
 * </pre>
 * Each task is timed after a warm-up, including the caches it makes (the clean and ABC runs). The
 * system property {@code ioi.bench.maxTokens} sets the activation-patching batch cap (default 4096).
 * Prints one JSON line.
 */
public final class PathPatchingBenchmark {

    static final List<Head> S_INHIBITION = Circuit.PAPER.headsOf("s2 inhibition");

    private PathPatchingBenchmark() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> opt = new LinkedHashMap<>(Map.of("--threads", "2", "--repeat", "1",
                "--tasks", "path_final,path_s_inh_v,act_head_out"));
        List<String> known = List.of("--model", "--batch", "--threads", "--repeat", "--tasks", "--out", "--grids-out");
        for (int i = 0; i < args.length; i++) {
            if (!known.contains(args[i]) || i + 1 >= args.length) {
                System.err.println("usage: PathPatchingBenchmark --model DIR --batch FILE [--threads N] [--tasks a,b] "
                        + "[--repeat N] [--out FILE] [--grids-out FILE]; tasks: " + TASKS.keySet());
                System.exit(2);
            }
            opt.put(args[i], args[++i]);
        }
        for (String required : List.of("--model", "--batch")) {
            if (!opt.containsKey(required)) {
                System.err.println("PathPatchingBenchmark: " + required + " is required");
                System.exit(2);
            }
        }
        int threads = Integer.parseInt(opt.get("--threads"));
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", Integer.toString(threads));
        Engine.getInstance();
        IoiBatch batch = readBatch(Path.of(opt.get("--batch")));
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("model", opt.get("--model"));
        line.put("threads", threads);
        line.put("batch", batch.size());
        line.put("pos", batch.seqLen());
        line.put("loadavg_start", PatchingBenchmark.loadavg());
        Map<String, Object> results = new LinkedHashMap<>();
        Map<String, float[]> grids = new LinkedHashMap<>();
        try (HookedTransformer model = HookedTransformer.load(Path.of(opt.get("--model")), ProcessingOptions.defaults(),
                null)) {
            // warm-up: JIT and libtorch's allocator
            try (PathPatching pp = PathPatching.arena(model, batch)) {
                pp.run(List.of(List.of(Head.of(10, 0))), PathPatching.Receivers.finalResid());
            }
            for (String task : opt.get("--tasks").split(",")) {
                BiFunction<HookedTransformer, IoiBatch, float[]> fn = TASKS.get(task);
                if (fn == null) {
                    throw new IllegalArgumentException("unknown task " + task + "; known: " + TASKS.keySet());
                }
                List<Double> times = new ArrayList<>();
                float[] v = null;
                for (int rep = 0; rep < Integer.parseInt(opt.get("--repeat")); rep++) {
                    long t0 = System.nanoTime();
                    v = fn.apply(model, batch);
                    times.add((System.nanoTime() - t0) / 1e9);
                }
                double best = times.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
                results.put(task, Map.of("seconds", best, "times_s", times, "cells", v.length));
                grids.put(task, v);
                System.err.printf(Locale.ROOT, "%s: %.2f s (%d cells)%n", task, best, v.length);
            }
        }
        line.put("results", results);
        line.put("loadavg_end", PatchingBenchmark.loadavg());
        PatchingBenchmark.printJson(line, grids, opt);
    }

    static final Map<String, BiFunction<HookedTransformer, IoiBatch, float[]>> TASKS = new LinkedHashMap<>();

    static {
        TASKS.put("path_final", (model, batch) -> {
            try (PathPatching pp = PathPatching.arena(model, batch)) {
                PatchingResult r = pp.toFinalResid();
                return r.toFloatArray();
            }
        });
        TASKS.put("path_s_inh_v", (model, batch) -> {
            try (PathPatching pp = PathPatching.arena(model, batch)) {
                PatchingResult r = pp.toHeads("v", S_INHIBITION);
                return r.toFloatArray();
            }
        });
        TASKS.put("path_nm_q", (model, batch) -> {
            try (PathPatching pp = PathPatching.arena(model, batch)) {
                PatchingResult r = pp.toHeads("q", Circuit.PAPER.headsOf("name mover"));
                return r.toFloatArray();
            }
        });
        TASKS.put("act_head_out", (model, batch) -> activationGrid(model, batch, ActivationPatching::headOutAllPos));
        TASKS.put("act_resid_pre", (model, batch) -> activationGrid(model, batch, ActivationPatching::residPre));
        TASKS.put("attr_head_out", (model, batch) -> {
            Metrics.Performance perf = Metrics.performance(model, batch);
            try (AttributionPatching ap = AttributionPatching.ioi(model, batch, perf.normalisedMetric())) {
                PatchingResult r = ap.headOutAllPos();
                return r.toFloatArray();
            }
        });
        TASKS.put("eap", (model, batch) -> EdgeAttribution.ioi(model, batch, batch.size(), null).scores());
        TASKS.put("eap_ig", (model, batch) -> EdgeAttribution.ioiIg(model, batch, 5, batch.size(), null).scores());
    }

    /** A TL activation-patching grid on the batch: clean cache, ABC corrupted, normalised metric. */
    static float[] activationGrid(HookedTransformer model, IoiBatch batch,
            java.util.function.Function<ActivationPatching, PatchingResult> grid) {
        Metrics.Performance perf = Metrics.performance(model, batch);
        try (NDManager m = NDManager.newBaseManager();
                ActivationCache clean = model.runWithCache(batch.tokens(m));
                ActivationPatching ap = ActivationPatching.ioi(model, batch, clean, perf.normalisedMetric(),
                        ActivationPatching.Options.defaults().maxTokensPerForward(
                                Long.getLong("ioi.bench.maxTokens", 4096)).maxCellsPerForward(
                                Integer.getInteger("ioi.bench.maxCells", Integer.MAX_VALUE)))) {
            PatchingResult r = grid.apply(ap);
            return r.toFloatArray();
        }
    }

    /** The batch file of bench_tl_path_patching.py: tokens, abc_tokens, IO, S1, S2, end, io, s. */
    static IoiBatch readBatch(Path file) throws IOException {
        JsonObject o = new Gson().fromJson(Files.readString(file), JsonObject.class);
        Gson g = new Gson();
        return IoiBatch.of(g.fromJson(o.get("tokens"), long[][].class), g.fromJson(o.get("abc_tokens"), long[][].class),
                g.fromJson(o.get("IO"), long[].class), g.fromJson(o.get("S1"), long[].class),
                g.fromJson(o.get("S2"), long[].class), g.fromJson(o.get("end"), long[].class),
                g.fromJson(o.get("io"), long[].class), g.fromJson(o.get("s"), long[].class));
    }
}
