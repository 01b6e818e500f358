package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.HookNames;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * The table behind {@link PathPatching#attentionAfter} (paper Fig 4c): some heads' attention from END
 * to IO, S1 and S2, on the clean run and after path patching senders → receivers, mean and standard
 * deviation over prompts. The patched pass is the path patching's own; this class only reads its
 * patterns.
 */
final class AttentionAfterPatching {

    private final PathPatching patching;
    private final GPT2Config cfg;
    private final int nBatch;

    AttentionAfterPatching(PathPatching patching) {
        this.patching = patching;
        this.cfg = patching.model().cfg();
        this.nBatch = patching.batch().size();
    }

    Table table(List<Head> senders, PathPatching.Receivers receivers, List<Head> heads) {
        if (receivers.isFinal()) {
            throw new IllegalArgumentException("attention after patching needs receiver heads (q, k or v), not the "
                    + "final residual stream");
        }
        Map<Head, NDArray> after = new LinkedHashMap<>();
        for (Head h : heads) {
            after.put(h.checkIn(cfg), null);
        }
        Table t = Table.create("Attention from END before and after path patching " + senders + " → " + receivers,
                StringColumn.create("head"), StringColumn.create("to"), DoubleColumn.create("before"),
                DoubleColumn.create("before_std"), DoubleColumn.create("after"), DoubleColumn.create("after_std"));
        patching.runCapturing(senders, receivers, after);
        Map<Head, NDArray> before = cleanPatterns(heads);
        try {
            for (Head h : heads) {
                for (String key : List.of("IO", "S1", "S2")) {
                    double[] b = pick(before.get(h), patching.batch().wordIdx(key));
                    double[] a = pick(after.get(h), patching.batch().wordIdx(key));
                    t.stringColumn("head").append(h.toString());
                    t.stringColumn("to").append(key);
                    t.doubleColumn("before").append(mean(b));
                    t.doubleColumn("before_std").append(std(b));
                    t.doubleColumn("after").append(mean(a));
                    t.doubleColumn("after_std").append(std(a));
                }
            }
        } finally {
            before.values().forEach(NDArray::close);
            after.values().forEach(a -> {
                if (a != null) {
                    a.close();
                }
            });
        }
        return t;
    }

    /** Each head's clean pattern rows at END, [batch, key_pos], with the base hooks on. */
    private Map<Head, NDArray> cleanPatterns(List<Head> heads) {
        Set<String> names = new TreeSet<>();
        for (Head h : heads) {
            names.add(HookNames.getActName("pattern", h.layer()));
        }
        HookedTransformer model = patching.model();
        Map<Head, NDArray> out = new LinkedHashMap<>();
        try (HookScope base = model.hooks(patching.baseHooks());
                ActivationCache c = model.runWithCache(patching.cleanTokens(), names::contains,
                        RunOptions.defaults().returnType(RunOptions.ReturnType.NONE))) {
            for (Head h : heads) {
                try (NDScope s = new NDScope()) {
                    NDArray rows = patching.patternRows(c.get("pattern", h.layer()).get(new NDIndex(":, {}", h.head())));
                    NDScope.unregister(rows);
                    rows.attach(patching.manager());
                    out.put(h, rows);
                }
            }
        }
        return out;
    }

    private double[] pick(NDArray rows, long[] keys) { // rows [batch, key_pos]
        float[] v = rows.toType(DataType.FLOAT32, false).toFloatArray();
        long k = rows.getShape().get(1);
        double[] out = new double[nBatch];
        for (int b = 0; b < nBatch; b++) {
            out[b] = v[(int) (b * k + keys[b])];
        }
        return out;
    }

    private static double mean(double[] x) {
        return Arrays.stream(x).average().orElse(Double.NaN);
    }

    private static double std(double[] x) {
        double m = mean(x);
        return Math.sqrt(Arrays.stream(x).map(v -> (v - m) * (v - m)).sum() / Math.max(1, x.length - 1));
    }
}
