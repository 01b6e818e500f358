package ioi.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import ioi.experiments.ActivationPatching;
import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import ioi.experiments.Patch;
import ioi.experiments.PatchingResult;
import ioi.experiments.Region;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Tokenizer;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Times activation-patching grids on a GPT-2-small-shaped checkpoint, the Java side of
 * {@code tools/bench/bench_tl_patching.py} (which times TransformerLens's
 * {@code transformer_lens.patching} on the same checkpoint, prompts and threads, and prints the
 * ratio). The prompts are ARENA 1.4.1's eight hand-written IOI prompts (15 tokens with BOS), the
 * corrupted prompts the same with the names swapped (ARENA's §3 set-up), the metric the
 * normalised logit difference.
 *
 * <pre>
 * java -cp CLASSPATH ioi.cli.PatchingBenchmark [--model /tmp/gpt2-random] [--threads 2]
 *     [--grids head_out_all_pos,resid_pre,head_out_by_pos] [--max-tokens 4096] [--out FILE] [--grids-out FILE]
 * </pre>
 * Prints one JSON line: seconds per grid (after a warm-up), cells, cells per second, each grid timed
 * twice: with the default options, and as plain batching ({@code GRID/plain}: no skipping of
 * unchanged cells, no prefix reuse).
 */
public final class PatchingBenchmark {

    /** ARENA 1.4.1's prompts: each template with either name as the subject. */
    static final String[] TEMPLATES = {
        "When John and Mary went to the shops,%s gave the bag to",
        "When Tom and James went to the park,%s gave the ball to",
        "When Dan and Sid went to the shops,%s gave an apple to",
        "After Martin and Amy went to the park,%s gave a drink to",
    };
    static final String[][] NAMES = {{" Mary", " John"}, {" Tom", " James"}, {" Dan", " Sid"}, {" Martin", " Amy"}};

    private PatchingBenchmark() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> opt = new LinkedHashMap<>(Map.of("--model", "/tmp/gpt2-random", "--threads", "2",
                "--grids", "head_out_all_pos,resid_pre", "--max-tokens", "4096", "--repeat", "1"));
        for (int i = 0; i < args.length; i++) {
            if (!opt.containsKey(args[i]) && !args[i].equals("--out") && !args[i].equals("--grids-out")
                    || i + 1 >= args.length) {
                System.err.println("usage: PatchingBenchmark [--model DIR] [--threads N] [--grids a,b] "
                        + "[--max-tokens N] [--repeat N] [--out FILE] [--grids-out FILE]; grids: " + GRIDS.keySet());
                System.exit(2);
            }
            opt.put(args[i], args[++i]);
        }
        int threads = Integer.parseInt(opt.get("--threads"));
        // Read by PtEngine when the engine starts, i.e. before the first NDManager exists.
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", Integer.toString(threads));
        Engine.getInstance();
        long maxTokens = Long.parseLong(opt.get("--max-tokens"));
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("model", opt.get("--model"));
        line.put("threads", threads);
        line.put("max_tokens_per_forward", maxTokens);
        line.put("loadavg_start", loadavg());
        Map<String, Object> results = new LinkedHashMap<>();
        Map<String, float[]> grids = new LinkedHashMap<>();
        try (HookedTransformer model = HookedTransformer.load(Paths.get(opt.get("--model")),
                ProcessingOptions.defaults(), null);
                NDManager m = NDManager.newBaseManager()) {
            IoiBatch batch = arenaBatch(model.tokenizer());
            line.put("batch", batch.size());
            line.put("pos", batch.seqLen());
            try (ActivationCache clean = model.runWithCache(batch.tokens(m))) {
                Metrics.Performance perf = Metrics.performance(model, batch);
                line.put("clean_logit_diff", perf.meanLogitDiff());
                line.put("corrupted_logit_diff", perf.meanAbcLogitDiff());
                ActivationPatching.Options options = ActivationPatching.Options.defaults().maxTokensPerForward(maxTokens);
                // warm-up: JIT and libtorch's allocator, on the last layers only (cheap)
                try (ActivationPatching ap = ActivationPatching.ioi(model, batch, clean, perf.normalisedMetric(), options)) {
                    List<List<Patch>> cells = new ArrayList<>();
                    for (int h = 0; h < 12; h++) {
                        cells.add(List.of(Patch.fromCache(clean, "blocks." + (model.cfg().nLayers() - 2) + ".attn.hook_z",
                                Region.at("head", h))));
                    }
                    ap.run(cells);
                }
                for (String name : opt.get("--grids").split(",")) {
                    Function<ActivationPatching, PatchingResult> grid = GRIDS.get(name);
                    if (grid == null) {
                        throw new IllegalArgumentException("unknown grid " + name + "; known: " + GRIDS.keySet());
                    }
                    for (boolean exact : new boolean[] {true, false}) {
                        String key = exact ? name : name + "/plain";
                        List<Double> times = new ArrayList<>();
                        for (int rep = 0; rep < Integer.parseInt(opt.get("--repeat")); rep++) {
                            long t0 = System.nanoTime();
                            // Timed: the corrupted run(s) that ActivationPatching caches, and the grid.
                            try (ActivationPatching ap = ActivationPatching.ioi(model, batch, clean,
                                            perf.normalisedMetric(), options.skipUnchanged(exact).reusePrefix(exact))) {
                                PatchingResult r = grid.apply(ap);
                                double s = (System.nanoTime() - t0) / 1e9;
                                times.add(s);
                                float[] v = r.toFloatArray();
                                grids.put(key, v);
                                Map<String, Object> g = new LinkedHashMap<>();
                                g.put("seconds", times.stream().mapToDouble(Double::doubleValue).min().getAsDouble());
                                g.put("times_s", times);
                                g.put("cells", v.length);
                                g.put("cells_skipped", ap.skippedCells());
                                g.put("forwards", ap.lastRunStats().forwards());
                                g.put("token_layers", ap.lastRunStats().tokenLayers());
                                g.put("shape", r.shape().getShape());
                                results.put(key, g);
                                System.err.printf(Locale.ROOT, "%s %s: %.2f s (%d cells, %d answered without a forward)%n",
                                        key, r.shape(), s, v.length, ap.skippedCells());
                            }
                        }
                    }
                }
            }
        }
        line.put("results", results);
        line.put("loadavg_end", loadavg());
        line.put("peak_rss_mib", peakRssMib());
        printJson(line, grids, opt);
    }

    static final Map<String, Function<ActivationPatching, PatchingResult>> GRIDS = new LinkedHashMap<>();

    static {
        GRIDS.put("head_out_all_pos", ActivationPatching::headOutAllPos);
        GRIDS.put("head_out_by_pos", ActivationPatching::headOutByPos);
        GRIDS.put("resid_pre", ActivationPatching::residPre);
        GRIDS.put("attn_out", ActivationPatching::attnOut);
        GRIDS.put("mlp_out", ActivationPatching::mlpOut);
        GRIDS.put("head_v_all_pos", ActivationPatching::headVAllPos);
        GRIDS.put("head_pattern_all_pos", ActivationPatching::headPatternAllPos);
    }

    /**
     * ARENA's eight prompts with BOS; prompt 2i and 2i+1 are one template with the names swapped,
     * and each one's corrupted version is the other (ARENA: {@code tokens[[1, 0, 3, 2, ...]]}).
     */
    static IoiBatch arenaBatch(GPT2Tokenizer tok) {
        int n = TEMPLATES.length * 2;
        long[][] tokens = new long[n][];
        long[] io = new long[n];
        long[] s = new long[n];
        List<String> texts = new ArrayList<>();
        for (int t = 0; t < TEMPLATES.length; t++) {
            for (int j = 0; j < 2; j++) {
                String subject = NAMES[t][1 - j]; // prompt 2t: S = second name, answer = first
                String text = String.format(Locale.ROOT, TEMPLATES[t], subject);
                texts.add(text);
                tokens[2 * t + j] = tok.encode(text, true);
                io[2 * t + j] = tok.toSingleToken(NAMES[t][j]);
                s[2 * t + j] = tok.toSingleToken(subject);
            }
        }
        long[][] corrupted = new long[n][];
        long[] ioPos = new long[n];
        long[] s1 = new long[n];
        long[] s2 = new long[n];
        long[] end = new long[n];
        for (int i = 0; i < n; i++) {
            corrupted[i] = tokens[i ^ 1];
            if (tokens[i].length != tokens[0].length) {
                throw new IllegalStateException("prompt " + i + " has " + tokens[i].length + " tokens, prompt 0 "
                        + tokens[0].length);
            }
            ioPos[i] = first(tokens[i], io[i]);
            s1[i] = first(tokens[i], s[i]);
            s2[i] = last(tokens[i], s[i]);
            end[i] = tokens[i].length - 1;
        }
        return new IoiBatch(tokens, corrupted, ioPos, s1, s2, end, io, s, texts);
    }

    private static long first(long[] row, long id) {
        for (int p = 0; p < row.length; p++) {
            if (row[p] == id) {
                return p;
            }
        }
        throw new IllegalStateException("token " + id + " not in the prompt");
    }

    private static long last(long[] row, long id) {
        for (int p = row.length - 1; p >= 0; p--) {
            if (row[p] == id) {
                return p;
            }
        }
        throw new IllegalStateException("token " + id + " not in the prompt");
    }

    /**
     * Prints a benchmark's JSON line, and writes it to {@code --out} and the grids to
     * {@code --grids-out} when those options are given.
     */
    static void printJson(Map<String, Object> line, Map<String, float[]> grids, Map<String, String> opt)
            throws IOException {
        Gson gson = new GsonBuilder().serializeSpecialFloatingPointValues().create();
        String json = gson.toJson(line);
        System.out.println(json);
        if (opt.containsKey("--out")) {
            Files.writeString(Path.of(opt.get("--out")), json + "\n");
        }
        if (opt.containsKey("--grids-out")) {
            Files.writeString(Path.of(opt.get("--grids-out")), gson.toJson(grids) + "\n");
        }
    }

    /** The load averages of /proc/loadavg (empty where there is none), printed beside every benchmark figure. */
    static double[] loadavg() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2])};
        } catch (IOException | RuntimeException e) {
            return new double[0];
        }
    }

    private static Double peakRssMib() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException e) {
            // not Linux
        }
        return null;
    }
}
