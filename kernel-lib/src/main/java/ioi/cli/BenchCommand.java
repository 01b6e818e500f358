package ioi.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./ioi bench}: throughput and memory of {@code forward} and {@code runWithCache} on a
 * batch of random tokens, the Java counterpart of {@code tools/goldens/bench_tl.py}. Each mode
 * runs in its own JVM ({@code --mode all} re-launches this command once per mode) so that peak
 * RSS figures do not mix. Prints one JSON line (and writes it to {@code --out}).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark forward / runWithCache throughput (tokens/s) and memory on random tokens; "
                + "one JSON line, comparable with tools/goldens/bench_tl.py.")
final class BenchCommand implements Callable<Integer> {

    private static final List<String> MODES = List.of("forward", "cache");

    @Option(names = "--model", defaultValue = "gpt2",
            description = "gpt2, an org/name Hugging Face repo, or a local checkpoint directory (default: ${DEFAULT-VALUE})")
    String model;

    @Option(names = "--batch", defaultValue = "8", description = "batch size (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--pos", defaultValue = "64", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
    int pos;

    @Option(names = "--warmup", defaultValue = "2", description = "untimed runs first (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--runs", defaultValue = "10", description = "timed runs (default: ${DEFAULT-VALUE})")
    int runs;

    @Option(names = "--mode", defaultValue = "all",
            description = "forward, cache, or all (each mode in a fresh JVM) (default: ${DEFAULT-VALUE})")
    String mode;

    @Option(names = "--threads",
            description = "libtorch intra- and inter-op threads (default: the CPUs this JVM may use)")
    Integer threads;

    @Option(names = "--seed", defaultValue = "0", description = "token seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--no-processing", description = "load the weights as they are (TL's from_pretrained_no_processing)")
    boolean noProcessing;

    @Option(names = "--out", description = "also write the JSON line to this file")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (!mode.equals("all") && !MODES.contains(mode)) {
            throw new IllegalArgumentException("--mode must be forward, cache or all but got '" + mode + "'");
        }
        if (batch < 1 || pos < 1 || runs < 1 || warmup < 0) {
            throw new IllegalArgumentException("--batch, --pos and --runs must be >= 1 and --warmup >= 0");
        }
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        // Read by PtEngine when the engine starts, i.e. before the first NDManager exists.
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(nThreads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", Integer.toString(nThreads));

        double[] loadStart = loadAverage();
        Map<String, JsonElement> results = new LinkedHashMap<>();
        if (mode.equals("all")) {
            for (String m : MODES) {
                results.put(m, child(m));
            }
        } else {
            results.put(mode, new Gson().toJsonTree(measure(mode, nThreads)));
        }

        JsonObject line = new JsonObject();
        line.addProperty("tool", "./ioi bench");
        line.addProperty("impl", "ioi.lens.HookedTransformer (DJL PyTorch engine)");
        line.addProperty("djl_version", Engine.getDjlVersion());
        line.addProperty("java_version", System.getProperty("java.version"));
        line.add("jvm_args", new Gson().toJsonTree(jvmArgs()));
        line.addProperty("cpu_model", cpuModel());
        line.addProperty("cpu_count", Runtime.getRuntime().availableProcessors());
        line.addProperty("threads", nThreads);
        line.addProperty("model", model);
        line.addProperty("processing", noProcessing ? "none" : "from_pretrained defaults");
        line.addProperty("batch", batch);
        line.addProperty("seq", pos);
        line.addProperty("runs", runs);
        line.addProperty("warmup", warmup);
        line.add("loadavg_start", new Gson().toJsonTree(loadStart));
        line.add("loadavg_end", new Gson().toJsonTree(loadAverage()));
        JsonObject res = new JsonObject();
        results.forEach(res::add);
        line.add("results", res);
        String text = new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(line);
        System.out.println(text);
        if (out != null) {
            Files.writeString(out, text + "\n", StandardCharsets.UTF_8);
        }
        return 0;
    }

    /** One mode in this JVM. */
    private Map<String, Object> measure(String m, int nThreads) {
        Engine engine = Engine.getInstance(); // starts libtorch with the thread settings above
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("mode", m);
        r.put("pytorch_version", engine.getVersion());
        r.put("rss_baseline_mib", statusMib("VmRSS"));
        ProcessingOptions processing = noProcessing ? ProcessingOptions.none() : ProcessingOptions.defaults();
        long t0 = System.nanoTime();
        try (HookedTransformer hooked = HookedTransformer.fromPretrained(model, processing);
                NDManager manager = NDManager.newBaseManager(hooked.device())) {
            double loadS = (System.nanoTime() - t0) / 1e9;
            GPT2Config cfg = hooked.cfg();
            Random random = new Random(seed + 1);
            long[][] ids = new long[batch][pos];
            for (long[] row : ids) {
                for (int i = 0; i < pos; i++) {
                    row[i] = random.nextInt(cfg.dVocab());
                }
            }
            NDArray tokens = manager.create(ids); // [batch, pos]
            Runnable step = m.equals("forward")
                    ? () -> hooked.forward(tokens).close() // logits [batch, pos, d_vocab]
                    : () -> hooked.runWithCache(tokens).close(); // every default hook + logits

            long paramBytes = 0;
            for (String name : hooked.weightNames()) {
                NDArray w = hooked.weight(name);
                paramBytes += w.size() * w.getDataType().getNumOfBytes();
            }
            // The loader maps the checkpoint (copy-on-write); the mapping goes when the GC collects
            // its buffers, which a near-empty heap may not do for a long time. Collect now, so the
            // file pages neither count as model memory nor inflate the run's peak.
            r.put("rss_file_before_gc_mib", statusMib("RssFile"));
            settle();
            r.put("load_s", loadS);
            r.put("param_mib", paramBytes / MIB);
            r.put("peak_rss_load_mib", statusMib("VmHWM"));
            r.put("rss_after_load_mib", statusMib("VmRSS"));
            r.put("rss_anon_after_load_mib", statusMib("RssAnon")); // libtorch tensors, JVM heap, malloc
            r.put("rss_file_after_load_mib", statusMib("RssFile")); // mapped files: jars, .so, the checkpoint
            r.put("heap_used_after_load_mib", heapUsedMib());
            r.put("live_arrays_after_load", hooked.liveArrayCount());
            boolean reset = resetPeakRss();
            List<MemoryPoolMXBean> heapPools = new ArrayList<>();
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
                if (p.getType() == MemoryType.HEAP) {
                    p.resetPeakUsage();
                    heapPools.add(p);
                }
            }
            for (int i = 0; i < warmup; i++) {
                step.run();
            }
            long faults = minorFaults();
            double[] times = new double[runs];
            for (int i = 0; i < runs; i++) {
                long t = System.nanoTime();
                step.run();
                times[i] = (System.nanoTime() - t) / 1e9;
            }
            double[] sorted = times.clone();
            Arrays.sort(sorted);
            double median = runs % 2 == 1 ? sorted[runs / 2] : (sorted[runs / 2 - 1] + sorted[runs / 2]) / 2;
            long tokensPerRun = (long) batch * pos;
            r.put("median_s", median);
            r.put("min_s", sorted[0]);
            r.put("max_s", sorted[runs - 1]);
            r.put("tokens_per_s", tokensPerRun / median);
            r.put("tokens_per_s_min", tokensPerRun / sorted[runs - 1]);
            r.put("tokens_per_s_max", tokensPerRun / sorted[0]);
            r.put("times_s", times);
            r.put("minor_faults_per_run", (minorFaults() - faults) / (double) runs); // fresh pages touched
            r.put("rss_anon_after_runs_mib", statusMib("RssAnon"));
            r.put("peak_rss_run_mib", reset ? statusMib("VmHWM") : null);
            long heapPeak = 0;
            for (MemoryPoolMXBean p : heapPools) {
                heapPeak += p.getPeakUsage().getUsed();
            }
            r.put("heap_peak_used_run_mib", heapPeak / MIB); // sum of per-pool peaks: an upper bound
            r.put("heap_used_after_runs_mib", heapUsedMib());
            r.put("heap_committed_mib", Runtime.getRuntime().totalMemory() / MIB);
            r.put("heap_max_mib", Runtime.getRuntime().maxMemory() / MIB);
            r.put("direct_buffers_mib", directBufferMib());
            r.put("live_arrays_after_runs", hooked.liveArrayCount());
            r.put("torch_threads", nThreads);
            Map<String, Object> shape = new LinkedHashMap<>();
            shape.put("n_layers", cfg.nLayers());
            shape.put("d_model", cfg.dModel());
            shape.put("n_heads", cfg.nHeads());
            shape.put("d_vocab", cfg.dVocab());
            shape.put("n_ctx", cfg.nCtx());
            r.put("cfg", shape);
        }
        return r;
    }

    private static final double MIB = 1024.0 * 1024.0;

    /** Runs {@code bench --mode m} in a fresh JVM with this JVM's options; returns its results[m]. */
    private JsonElement child(String m) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvmArgs());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of("bench", "--mode", m, "--model", model, "--batch", Integer.toString(batch),
                "--pos", Integer.toString(pos), "--warmup", Integer.toString(warmup),
                "--runs", Integer.toString(runs), "--seed", Long.toString(seed),
                "--threads", System.getProperty("ai.djl.pytorch.num_threads")));
        if (noProcessing) {
            cmd.add("--no-processing");
        }
        System.err.println("ioi bench: running " + m + " in a fresh JVM ...");
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String last = null;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String s; (s = r.readLine()) != null; ) {
                if (s.startsWith("{")) {
                    last = s;
                }
            }
        }
        int code = p.waitFor();
        if (code != 0 || last == null) {
            JsonObject err = new JsonObject();
            err.addProperty("error", "exit code " + code);
            return err;
        }
        return JsonParser.parseString(last).getAsJsonObject().getAsJsonObject("results").get(m);
    }

    /** This JVM's options (-Xmx, -D...), without a debugger agent that would clash in a child. */
    private static List<String> jvmArgs() {
        List<String> args = new ArrayList<>();
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib:jdwp") && !a.startsWith("-Dai.djl.pytorch.num_")) {
                args.add(a);
            }
        }
        return args;
    }

    /** GCs until RssFile stops shrinking (buffer cleaners run on their own thread), at most ~2 s. */
    private static void settle() {
        Double last = statusMib("RssFile");
        for (int i = 0; i < 20; i++) {
            System.gc();
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            Double now = statusMib("RssFile");
            if (last == null || now == null || Math.abs(last - now) < 1.0) {
                return;
            }
            last = now;
        }
    }

    /** A field of /proc/self/status in MiB (VmRSS, VmHWM), or null off Linux. */
    static Double statusMib(String field) {
        try {
            for (String s : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (s.startsWith(field + ":")) {
                    return Long.parseLong(s.substring(field.length() + 1).trim().split("\\s+")[0]) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return null;
    }

    /** Resets VmHWM to the current RSS (Linux >= 4.0), as bench_tl.py does. */
    static boolean resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** minflt of /proc/self/stat: pages the kernel had to map in (e.g. for fresh malloc/mmap memory). */
    private static long minorFaults() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[7]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static double heapUsedMib() {
        Runtime rt = Runtime.getRuntime();
        return (rt.totalMemory() - rt.freeMemory()) / MIB;
    }

    private static double directBufferMib() {
        long used = 0;
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals("direct")) {
                used += b.getMemoryUsed();
            }
        }
        return used / MIB;
    }

    private static double[] loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2])};
        } catch (IOException | RuntimeException e) {
            return new double[] {ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()};
        }
    }

    private static String cpuModel() {
        try {
            for (String s : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (s.startsWith("model name")) {
                    return s.substring(s.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException e) {
            // not Linux
        }
        return System.getProperty("os.arch");
    }
}
