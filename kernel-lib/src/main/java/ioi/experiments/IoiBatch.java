package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Arrays;
import java.util.List;

/**
 * One IOI batch as the experiments read it ([A3] {@code ioi_dataset.py}: {@code toks}, {@code word_idx},
 * answer ids; docs/sources.md): the clean (p_IOI) prompts and their
 * corrupted p_ABC versions ({@code "ABB->XYZ, BAB->XYZ"}: the same template with three unrelated
 * names) as token ids, the word positions, and the answer tokens.
 *
 * <p>Tokens are {@code [batch, pos]} with {@code <|endoftext|>} prepended and right padding with
 * 50256, clean and ABC of the same shape. Positions count that BOS ({@code word_idx} of the
 * reference with {@code prepend_bos=True}); the ABC prompts share the clean positions (the flip keeps
 * every single-token name in place). {@code end} is the position of the last token before the IO
 * answer (" to"): the logits there are what every metric reads. {@code ioTokenIds} /
 * {@code sTokenIds} are the first tokens of {@code " " + IO} / {@code " " + S} of the clean prompts,
 * used for the ABC run too ("we're always measuring performance with respect to the correct
 * answers for the IOI dataset").
 *
 * <p>Plain Java arrays, so the record holds no native memory; {@link #tokens(NDManager)} makes the
 * NDArrays. The record's arrays are not copied: do not modify them.
 *
 * @param tokens clean prompts [batch][pos]
 * @param abcTokens ABC prompts [batch][pos]
 * @param io position of the IO name in the first clause [batch]
 * @param s1 position of the first S [batch]
 * @param s2 position of the second S [batch]
 * @param end position read by the metrics [batch]
 * @param ioTokenIds the correct answer per prompt [batch]
 * @param sTokenIds the wrong answer (the subject) per prompt [batch]
 * @param prompts the clean prompts' texts (for tables), or an empty list
 */
public record IoiBatch(long[][] tokens, long[][] abcTokens, long[] io, long[] s1, long[] s2, long[] end,
        long[] ioTokenIds, long[] sTokenIds, List<String> prompts) {

    /** The word positions {@link #wordIdx} knows. */
    public static final List<String> WORD_IDX_KEYS = List.of("IO", "S1", "S2", "end", "S1+1", "starts");

    public IoiBatch {
        if (tokens == null || tokens.length == 0) {
            throw new IllegalArgumentException("an IoiBatch needs at least one prompt");
        }
        int batch = tokens.length;
        int pos = tokens[0].length;
        checkRect("tokens", tokens, batch, pos);
        checkRect("abcTokens", abcTokens, batch, pos);
        checkPositions("io", io, batch, pos);
        checkPositions("s1", s1, batch, pos);
        checkPositions("s2", s2, batch, pos);
        checkPositions("end", end, batch, pos);
        checkLength("ioTokenIds", ioTokenIds, batch);
        checkLength("sTokenIds", sTokenIds, batch);
        prompts = prompts == null ? List.of() : List.copyOf(prompts);
        if (!prompts.isEmpty() && prompts.size() != batch) {
            throw new IllegalArgumentException("prompts must be empty or one per row: expected " + batch
                    + " but got " + prompts.size());
        }
    }

    /** From plain arrays, without texts. */
    public static IoiBatch of(long[][] tokens, long[][] abcTokens, long[] io, long[] s1, long[] s2, long[] end,
            long[] ioTokenIds, long[] sTokenIds) {
        return new IoiBatch(tokens, abcTokens, io, s1, s2, end, ioTokenIds, sTokenIds, List.of());
    }

    /** Number of prompts. */
    public int size() {
        return tokens.length;
    }

    /** Padded sequence length (BOS included). */
    public int seqLen() {
        return tokens[0].length;
    }

    /** Clean tokens as INT64 [batch, pos] in {@code manager}. */
    public NDArray tokens(NDManager manager) {
        return manager.create(tokens);
    }

    /** ABC tokens as INT64 [batch, pos] in {@code manager}. */
    public NDArray abcTokens(NDManager manager) {
        return manager.create(abcTokens);
    }

    /**
     * The reference's {@code word_idx[key]}: {@code IO}, {@code S1}, {@code S2}, {@code end},
     * {@code S1+1} (where the paper keeps the previous-token heads) or {@code starts} (zeros).
     */
    public long[] wordIdx(String key) {
        return switch (key) {
            case "IO" -> io.clone();
            case "S1" -> s1.clone();
            case "S2" -> s2.clone();
            case "end" -> end.clone();
            case "S1+1" -> Arrays.stream(s1).map(p -> p + 1).toArray();
            case "starts" -> new long[size()];
            default -> throw new IllegalArgumentException("unknown word_idx key '" + key + "'; known: " + WORD_IDX_KEYS);
        };
    }

    /**
     * The first {@code n} prompts, each row cut after the last {@code end} among them: what the
     * model computes at those prompts' {@code end} is unchanged (it is causal), with fewer
     * positions to run. For checks and quick looks at a part of a batch.
     */
    public IoiBatch first(int n) {
        if (n < 1 || n > size()) {
            throw new IllegalArgumentException("first(" + n + "): n must be in [1, " + size() + "], the batch's size");
        }
        return rows(0, n);
    }

    /**
     * Prompts {@code from} (inclusive) to {@code to} (exclusive), cut after the last {@code end}
     * among them as {@link #first} does: for running a batch in chunks.
     */
    public IoiBatch rows(int from, int to) {
        if (from < 0 || to > size() || from >= to) {
            throw new IllegalArgumentException("rows(" + from + ", " + to + "): need 0 <= from < to <= " + size()
                    + ", the batch's size");
        }
        int cut = (int) Arrays.stream(end, from, to).max().orElseThrow() + 1;
        int n = to - from;
        long[][] t = new long[n][];
        long[][] abc = new long[n][];
        for (int b = 0; b < n; b++) {
            t[b] = Arrays.copyOf(tokens[from + b], cut);
            abc[b] = Arrays.copyOf(abcTokens[from + b], cut);
        }
        return new IoiBatch(t, abc, Arrays.copyOfRange(io, from, to), Arrays.copyOfRange(s1, from, to),
                Arrays.copyOfRange(s2, from, to), Arrays.copyOfRange(end, from, to),
                Arrays.copyOfRange(ioTokenIds, from, to), Arrays.copyOfRange(sTokenIds, from, to),
                prompts.isEmpty() ? List.of() : prompts.subList(from, to));
    }

    /** A short label per prompt: its text, or {@code "prompt i"}. */
    public String label(int i) {
        return prompts.isEmpty() ? "prompt " + i : prompts.get(i);
    }

    private static void checkRect(String name, long[][] a, int batch, int pos) {
        if (a == null || a.length != batch) {
            throw new IllegalArgumentException(name + " must have " + batch + " rows but has "
                    + (a == null ? "none" : a.length));
        }
        for (int i = 0; i < batch; i++) {
            if (a[i] == null || a[i].length != pos) {
                throw new IllegalArgumentException(name + "[" + i + "] must have " + pos + " tokens (clean and ABC "
                        + "prompts are [batch, pos] of one shape) but has " + (a[i] == null ? "none" : a[i].length));
            }
        }
    }

    private static void checkLength(String name, long[] a, int batch) {
        if (a == null || a.length != batch) {
            throw new IllegalArgumentException(name + " must have one entry per prompt (" + batch + ") but has "
                    + (a == null ? "none" : a.length));
        }
    }

    private static void checkPositions(String name, long[] a, int batch, int pos) {
        checkLength(name, a, batch);
        for (int i = 0; i < batch; i++) {
            if (a[i] < 0 || a[i] >= pos) {
                throw new IllegalArgumentException(name + "[" + i + "] = " + a[i] + " is out of range [0, " + pos + ")");
            }
        }
    }

    /** Equal when every array and text is equal (a record compares arrays by identity). */
    @Override
    public boolean equals(Object o) {
        return o instanceof IoiBatch b && Arrays.deepEquals(tokens, b.tokens) && Arrays.deepEquals(abcTokens, b.abcTokens)
                && Arrays.equals(io, b.io) && Arrays.equals(s1, b.s1) && Arrays.equals(s2, b.s2)
                && Arrays.equals(end, b.end) && Arrays.equals(ioTokenIds, b.ioTokenIds)
                && Arrays.equals(sTokenIds, b.sTokenIds) && prompts.equals(b.prompts);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(tokens) * 31 + Arrays.hashCode(end);
    }

    @Override
    public String toString() {
        return "IoiBatch(" + size() + " prompts x " + seqLen() + " tokens)";
    }
}
