package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Attention scores on sequences of repeated random tokens, the paper's validation of the early heads
 * (App H/I, Fig 18) as ARENA's {@code get_attn_scores} /
 * {@code plot_early_head_validation_results(seq_len=50, batch=50)} computes them: {@code seq_len}
 * uniform random tokens repeated once ({@code [batch, 2 * seq_len]}, no BOS), and for every head the
 * mean attention probability over the batch and these (dest, src) pairs:
 *
 * <ul>
 *   <li>{@code prev}: dest 1..seq_len, src dest - 1 (previous-token heads; 4.11 and 2.2 lead in GPT-2 small);</li>
 *   <li>{@code induction}: dest seq_len..2 seq_len - 1, src dest - seq_len + 1, the token after the
 *       first occurrence (5.5 and 6.9 are among the top 5);</li>
 *   <li>{@code duplicate}: dest seq_len..2 seq_len - 1, src dest - seq_len, the first occurrence
 *       (3.0 and 0.1 are among the top 3).</li>
 * </ul>
 *
 * The paper used sequences of 100 tokens (seq_len 100); the scores' definitions are the same.
 */
public final class ValidationScores {

    private ValidationScores() {}

    /** ARENA's sizes. */
    public static final int DEFAULT_SEQ_LEN = 50;
    public static final int DEFAULT_BATCH = 50;

    /** The three scores, by their ARENA names. */
    public static final List<String> SCORES = List.of("prev", "induction", "duplicate");

    /**
     * Scores of every head.
     *
     * @param prev [n_layers, n_heads]
     * @param induction [n_layers, n_heads]
     * @param duplicate [n_layers, n_heads]
     * @param tokens the repeated sequences used [batch][2 * seq_len]
     * @param seqLen length of one half
     */
    public record Result(Grid prev, Grid induction, Grid duplicate, long[][] tokens, int seqLen) {

        /** One score by name: {@code prev}, {@code induction} or {@code duplicate}; [n_layers, n_heads]. */
        public Grid get(String score) {
            return switch (checkScore(score)) {
                case "prev" -> prev;
                case "induction" -> induction;
                default -> duplicate;
            };
        }

        /** One score as [n_layers][n_heads] rows of plain floats. */
        public float[][] grid(String score) {
            return get(score).rows();
        }

        /** One head's score. */
        public double score(String score, int layer, int head) {
            Grid a = get(score);
            Heads.check(a.shape().get(0), a.shape().get(1), layer, head);
            return a.get(layer, head);
        }

        /** Every head with its three scores (head, layer, head_index, prev, induction, duplicate). */
        public Table table() {
            float[] p = prev.toFloatArray();
            float[] i = induction.toFloatArray();
            float[] d = duplicate.toFloatArray();
            int nHeads = (int) prev.shape().get(1);
            int[] layer = IntStream.range(0, p.length).map(x -> x / nHeads).toArray();
            int[] head = IntStream.range(0, p.length).map(x -> x % nHeads).toArray();
            List<String> labels = IntStream.range(0, p.length).mapToObj(x -> Heads.label(x / nHeads, x % nHeads))
                    .collect(Collectors.toList());
            return Table.create("Attention scores on repeated random tokens (seq_len " + seqLen + ", batch "
                    + tokens.length + ")", StringColumn.create("head", labels), IntColumn.create("layer", layer),
                    IntColumn.create("head_index", head), DoubleColumn.create("prev", toDoubles(p)),
                    DoubleColumn.create("induction", toDoubles(i)), DoubleColumn.create("duplicate", toDoubles(d)));
        }

        /** The {@code n} heads with the highest {@code score}, descending. */
        public Table top(String score, int n) {
            if (n < 1) {
                throw new IllegalArgumentException("n must be >= 1 but is " + n);
            }
            Table t = table().sortDescendingOn(checkScore(score));
            return t.first(n).setName("Top " + n + " heads by " + score + " score");
        }

        /** The labels ({@code "4.11"}) of the {@code n} heads with the highest {@code score}. */
        public List<String> topHeads(String score, int n) {
            return top(score, n).stringColumn("head").asList();
        }
    }

    /** ARENA's {@code plot_early_head_validation_results}: seq_len 50, batch 50, tokens from {@code seed}. */
    public static Result compute(HookedTransformer model, long seed) {
        return compute(model, DEFAULT_SEQ_LEN, DEFAULT_BATCH, seed);
    }

    /** Scores on {@code batch} fresh sequences of {@code seqLen} random tokens (seeded), each repeated once. */
    public static Result compute(HookedTransformer model, int seqLen, int batch, long seed) {
        return compute(model, repeatedRandomTokens(model.cfg().dVocab(), seqLen, batch, seed));
    }

    /**
     * Scores on caller-supplied repeated sequences [batch][2 * seq_len] (each row's second half must
     * equal its first half; no BOS).
     */
    public static Result compute(HookedTransformer model, long[][] tokens) {
        int seqLen = checkRepeated(tokens);
        GPT2Config cfg = model.cfg();
        try (NDManager tmp = model.resultManager().newSubManager(); NDScope scope = new NDScope();
                ActivationCache cache = model.runWithCache(tmp.create(tokens), name -> name.endsWith(".hook_pattern"),
                        RunOptions.defaults().returnType(RunOptions.ReturnType.NONE))) {
            int pos = 2 * seqLen;
            Grid[] scores = new Grid[SCORES.size()];
            for (int s = 0; s < scores.length; s++) {
                float[] pairs = new float[pos * pos]; // 1 at each (dest, src) pair of the score
                int count = 0;
                for (int dest = 0; dest < pos; dest++) {
                    int src = source(SCORES.get(s), dest, seqLen);
                    if (src >= 0) {
                        pairs[dest * pos + src] = 1f;
                        count++;
                    }
                }
                NDArray mask = tmp.create(pairs).reshape(1, 1, pos, pos); // [1, 1, query_pos, key_pos]
                List<NDArray> perLayer = new ArrayList<>();
                for (int l = 0; l < cfg.nLayers(); l++) {
                    NDArray pattern = cache.get("pattern", l); // [batch, head_index, query_pos, key_pos]
                    perLayer.add(pattern.mul(mask).sum(new int[] {0, 2, 3}) // [head_index]
                            .div((float) tokens.length * count));
                }
                scores[s] = Grid.of(ai.djl.ndarray.NDArrays.stack(new ai.djl.ndarray.NDList(perLayer))); // [n_layers, n_heads]
            }
            long[][] copy = Arrays.stream(tokens).map(long[]::clone).toArray(long[][]::new);
            return new Result(scores[0], scores[1], scores[2], copy, seqLen);
        }
    }

    /**
     * {@code batch} rows of {@code seqLen} uniform random tokens in [0, dVocab), each followed by
     * itself: [batch][2 * seqLen]. Deterministic for a seed ({@link SplittableRandom}); ARENA draws
     * with {@code torch.randint}, so the tokens (not the statistics) differ from a Python run.
     */
    public static long[][] repeatedRandomTokens(int dVocab, int seqLen, int batch, long seed) {
        if (seqLen < 2 || batch < 1 || dVocab < 1) {
            throw new IllegalArgumentException("need seqLen >= 2, batch >= 1 and dVocab >= 1 but got seqLen " + seqLen
                    + ", batch " + batch + ", dVocab " + dVocab);
        }
        SplittableRandom random = new SplittableRandom(seed);
        long[][] out = new long[batch][2 * seqLen];
        for (long[] row : out) {
            for (int i = 0; i < seqLen; i++) {
                row[i] = random.nextInt(dVocab);
                row[seqLen + i] = row[i];
            }
        }
        return out;
    }

    /** The source position a score reads from destination {@code dest}, or -1 if dest is not scored. */
    static int source(String score, int dest, int seqLen) {
        return switch (checkScore(score)) {
            case "prev" -> dest >= 1 && dest <= seqLen ? dest - 1 : -1;
            case "induction" -> dest >= seqLen ? dest - seqLen + 1 : -1;
            default -> dest >= seqLen ? dest - seqLen : -1;
        };
    }

    static String checkScore(String score) {
        if (!SCORES.contains(score)) {
            throw new IllegalArgumentException("unknown score '" + score + "'; expected one of " + SCORES);
        }
        return score;
    }

    private static int checkRepeated(long[][] tokens) {
        if (tokens == null || tokens.length == 0) {
            throw new IllegalArgumentException("expected at least one row of repeated tokens");
        }
        int pos = tokens[0].length;
        if (pos < 4 || pos % 2 != 0) {
            throw new IllegalArgumentException("rows must have an even length 2 * seq_len >= 4 but the first has " + pos);
        }
        int half = pos / 2;
        for (int b = 0; b < tokens.length; b++) {
            if (tokens[b].length != pos) {
                throw new IllegalArgumentException("row " + b + " has " + tokens[b].length + " tokens but row 0 has " + pos);
            }
            for (int i = 0; i < half; i++) {
                if (tokens[b][i] != tokens[b][half + i]) {
                    throw new IllegalArgumentException("row " + b + " is not a sequence repeated twice: position " + (half + i)
                            + " is " + tokens[b][half + i] + " but position " + i + " is " + tokens[b][i]);
                }
            }
        }
        return half;
    }

    private static double[] toDoubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
