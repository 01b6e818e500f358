package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.List;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Mean attention probability from each prompt's END to its IO, S1 and S2 tokens, for every head
 * (paper §3.1, §3.2): the paper reports that the Name Mover Heads put <b>0.59</b> on IO on average,
 * and that the S-Inhibition Heads 7.3, 7.9, 8.6, 8.10 put <b>0.51</b> on S2. Averaged over the prompts of
 * the clean batch.
 */
public final class NameAttention {

    private NameAttention() {}

    /** The attended words, as {@link IoiBatch#wordIdx} names them. */
    public static final List<String> WORDS = List.of("IO", "S1", "S2");

    /**
     * @param io mean attention END -> IO [n_layers, n_heads]
     * @param s1 mean attention END -> S1 [n_layers, n_heads]
     * @param s2 mean attention END -> S2 [n_layers, n_heads]
     */
    public record Result(Grid io, Grid s1, Grid s2) {

        /** The grid for {@code "IO"}, {@code "S1"} or {@code "S2"}: [n_layers, n_heads]. */
        public Grid get(String word) {
            return switch (checkWord(word)) {
                case "IO" -> io;
                case "S1" -> s1;
                default -> s2;
            };
        }

        /** One head's mean attention to {@code word}. */
        public double get(String word, int layer, int head) {
            Grid a = get(word);
            Heads.check(a.shape().get(0), a.shape().get(1), layer, head);
            return a.get(layer, head);
        }

        /** The mean over the given heads ({@code "9.9"}, ...), e.g. the Name Movers' attention to IO. */
        public double mean(String word, List<String> heads) {
            double sum = 0;
            for (int[] h : parse(heads)) {
                sum += get(word, h[0], h[1]);
            }
            return sum / heads.size();
        }

        /** One row per given head: head, to_IO, to_S1, to_S2. */
        public Table table(List<String> heads) {
            List<int[]> hs = parse(heads);
            double[][] cols = new double[3][hs.size()];
            List<String> labels = new ArrayList<>();
            for (int i = 0; i < hs.size(); i++) {
                int[] h = hs.get(i);
                labels.add(Heads.label(h[0], h[1]));
                for (int w = 0; w < 3; w++) {
                    cols[w][i] = get(WORDS.get(w), h[0], h[1]);
                }
            }
            return Table.create("Mean attention from END", StringColumn.create("head", labels),
                    DoubleColumn.create("to_IO", cols[0]), DoubleColumn.create("to_S1", cols[1]),
                    DoubleColumn.create("to_S2", cols[2]));
        }

        public Table table(String... heads) {
            return table(List.of(heads));
        }

        private List<int[]> parse(List<String> heads) {
            return Heads.parse(heads, io.shape().get(0), io.shape().get(1));
        }
    }

    /** Runs the clean prompts (caching only the attention patterns) and averages. */
    public static Result compute(HookedTransformer model, IoiBatch batch) {
        try (NDManager tmp = model.resultManager().newSubManager();
                ActivationCache cache = model.runWithCache(batch.tokens(tmp), name -> name.endsWith(".hook_pattern"),
                        RunOptions.defaults().returnType(RunOptions.ReturnType.NONE))) {
            return compute(model, cache, batch);
        }
    }

    /** From a cache of the clean prompts that holds every layer's {@code hook_pattern}. */
    public static Result compute(HookedTransformer model, ActivationCache cache, IoiBatch batch) {
        GPT2Config cfg = model.cfg();
        try (NDScope scope = new NDScope()) {
            Grid[] grids = new Grid[3];
            for (int w = 0; w < 3; w++) {
                long[] word = batch.wordIdx(WORDS.get(w));
                List<NDArray> perLayer = new ArrayList<>();
                for (int l = 0; l < cfg.nLayers(); l++) {
                    NDArray pattern = cache.get("pattern", l); // [batch, head_index, query_pos, key_pos]
                    perLayer.add(endToWord(pattern, batch.end(), word).mean(new int[] {0})); // [head_index]
                }
                grids[w] = Grid.of(NDArrays.stack(new NDList(perLayer))); // [n_layers, n_heads]
            }
            return new Result(grids[0], grids[1], grids[2]);
        }
    }

    /**
     * {@code pattern[b, :, from[b], to[b]]} for every prompt b: [batch, head_index], exact gathers.
     *
     * @param pattern [batch, head_index, query_pos, key_pos]
     */
    static NDArray endToWord(NDArray pattern, long[] from, long[] to) {
        long batch = pattern.getShape().get(0);
        long heads = pattern.getShape().get(1);
        long keys = pattern.getShape().get(3);
        if (from.length != batch || to.length != batch) {
            throw new IllegalArgumentException("expected one position per prompt (" + batch + ") but got " + from.length
                    + " and " + to.length);
        }
        NDManager m = pattern.getManager();
        NDArray q = m.create(from).reshape(batch, 1, 1, 1).broadcast(batch, heads, 1, keys); // [batch, head_index, 1, key_pos]
        NDArray rows = pattern.gather(q.toType(DataType.INT64, false), 2); // [batch, head_index, 1, key_pos]
        NDArray k = m.create(to).reshape(batch, 1, 1, 1).broadcast(batch, heads, 1, 1); // [batch, head_index, 1, 1]
        return rows.gather(k, 3).reshape(batch, heads); // [batch, head_index]
    }

    static String checkWord(String word) {
        if (!WORDS.contains(word)) {
            throw new IllegalArgumentException("unknown word '" + word + "'; expected one of " + WORDS);
        }
        return word;
    }
}
