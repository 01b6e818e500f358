package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ioi.data.IOIDataset;
import ioi.data.IOIPrompt;
import ioi.lens.GPT2Tokenizer;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * Adversarial examples (paper §4.4, Fig 8, App L; Easy-Transformer's {@code advex.py};
 * docs/signals-and-adversarial.md): the circuit predicts "the name that is not repeated", so repeating
 * IO as well fools it.
 * After the first clause a natural sentence naming IO is inserted ("John and Mary went to the store.
 * <b>Mary had a good day.</b> John gave a bottle of milk to"): GPT-2 small then predicts S over IO
 * 23.4% of the time. The control sentence names S instead (S appears three times) and leaves the
 * task intact (0.4%).
 *
 * <p>The sentences are App L's five ({@link #SENTENCES}, each with a leading space, {@code [A]} =
 * the name); {@link Mode#DOUBLE} uses two of them in a row ({@code advex.py}'s
 * {@code DOUBLE_ADX_TEMPLATE}: all 25 ordered pairs, index {@code 5 * first + second}). Which sentence
 * a prompt gets is either given explicitly (an index per prompt) or drawn with a seed: one
 * {@code new java.util.Random(seed).nextInt(5 or 25)} per prompt, in prompt order; the IO and S
 * conditions of a prompt use the same sentence.
 *
 * <p>Insertion, as {@code advex.py} does it, on tokens: the sentence's tokens go right after the
 * punctuation token of the first clause ({@code word_idx["punct"]}: the last "." of the prompt, or
 * its last "," if it has none; counted without BOS, so {@code + 1} when the dataset prepends one),
 * and {@code end} and {@code S2} move by the number of inserted tokens. Rows are right-padded again
 * with {@code <|endoftext|>}. The answer ids are the clean prompts'.
 */
public final class Adversarial {

    private Adversarial() {}

    /** App L's sentences (ET's {@code ADX_TEMPLATE}), {@code [A]} = the repeated name. */
    public static final List<String> SENTENCES = List.of(" [A] had a good day.", " [A] was enjoying the situation.",
            " [A] was tired.", " [A] enjoyed being with a friend.", " [A] was an enthusiast person.");

    /** ET's {@code DOUBLE_ADX_TEMPLATE}: every ordered pair of {@link #SENTENCES}, index {@code 5 * first + second}. */
    public static final List<String> DOUBLE_SENTENCES = doubles();

    private static List<String> doubles() {
        List<String> out = new ArrayList<>();
        for (String a : SENTENCES) {
            for (String b : SENTENCES) {
                out.add(a + b);
            }
        }
        return List.copyOf(out);
    }

    /** One inserted sentence or two. */
    public enum Mode {
        SINGLE, DOUBLE;

        /** The sentences a prompt's index selects from. */
        public List<String> sentences() {
            return this == SINGLE ? SENTENCES : DOUBLE_SENTENCES;
        }
    }

    /** Fig 8's rows. */
    public enum Condition {
        /** The clean prompts. */
        IOI("p IOI"),
        /** The control: a sentence naming S (S occurs three times). */
        EXTRA_S("Additional occurrence of S (natural sentence)"),
        /** The adversarial examples: a sentence naming IO (IO occurs twice, like S). */
        EXTRA_IO("Additional occurrence of IO (natural sentence)");

        /** The paper's row label. */
        public final String label;

        Condition(String label) {
            this.label = label;
        }
    }

    /**
     * A row of Fig 8.
     *
     * @param logitDiff mean logit difference IO - S
     * @param ioProbability mean IO probability
     * @param sOverIo fraction of prompts whose S logit is above the IO logit
     */
    public record Reference(double logitDiff, double ioProbability, double sOverIo) {}

    /** Paper Fig 8 (§4.4), in {@link Condition} order. */
    public static final List<Reference> PAPER_FIG8 = List.of(new Reference(3.55, 0.49, 0.007),
            new Reference(3.64, 0.59, 0.004), new Reference(1.23, 0.36, 0.234));

    /** Prompts per forward pass when measuring (bounds memory whatever N). */
    static final int PROMPTS_PER_FORWARD = 64;

    // ---------------------------------------------------------------- prompts

    /**
     * The per-prompt sentence index drawn with {@code seed}: {@code new Random(seed).nextInt(k)} for
     * each of the {@code n} prompts in order, {@code k} = 5 ({@link Mode#SINGLE}) or 25.
     */
    public static int[] choices(Mode mode, int n, long seed) {
        Random random = new Random(seed);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = random.nextInt(mode.sentences().size());
        }
        return out;
    }

    /**
     * The prompts of one condition as tokens.
     *
     * @param tokens [batch][pos], right-padded with 50256
     * @param end the position read by the metrics (moved by {@code inserted})
     * @param s2 the second S (moved by {@code inserted})
     * @param inserted tokens inserted per prompt (0 for {@link Condition#IOI})
     * @param texts each prompt up to and including {@code end} (the answer left off)
     */
    public record Prompts(Condition condition, long[][] tokens, long[] end, long[] s2, int[] inserted,
            List<String> texts) {}

    /**
     * The prompts of {@code condition}: the clean ones, or each with sentence {@code choices[i]} of
     * {@code mode} naming S or IO inserted after its punctuation token.
     *
     * @throws IllegalArgumentException if {@code choices} has the wrong length or an index out of
     *     range, or a prompt's token at {@code punct} is not "," or "."
     */
    public static Prompts prompts(IOIDataset clean, GPT2Tokenizer tokenizer, Mode mode, int[] choices,
            Condition condition) {
        int n = clean.n();
        List<String> sentences = mode.sentences();
        if (choices.length != n) {
            throw new IllegalArgumentException("expected one sentence index per prompt (" + n + ") but got "
                    + choices.length);
        }
        for (int i = 0; i < n; i++) {
            if (choices[i] < 0 || choices[i] >= sentences.size()) {
                throw new IllegalArgumentException("sentence index " + choices[i] + " of prompt " + i
                        + " is out of range [0, " + sentences.size() + ") for mode " + mode);
            }
        }
        long[][] toks = clean.toks();
        int bos = clean.prependBos() ? 1 : 0;
        int[] end = clean.wordIdx("end");
        int[] s2 = clean.wordIdx("S2");
        int[] punct = clean.wordIdx("punct");
        long[] io = clean.ioTokenIds();
        long comma = tokenizer.encode(",", false)[0];
        long period = tokenizer.encode(".", false)[0];
        long[][] rows = new long[n][];
        long[] newEnd = new long[n];
        long[] newS2 = new long[n];
        int[] inserted = new int[n];
        for (int i = 0; i < n; i++) {
            long[] row = Arrays.copyOf(toks[i], end[i] + 2); // BOS? + prompt + the IO answer, no pads
            long[] adv = new long[0];
            if (condition != Condition.IOI) {
                IOIPrompt p = clean.prompt(i);
                String name = condition == Condition.EXTRA_S ? p.s() : p.io();
                adv = tokenizer.encode(sentences.get(choices[i]).replace("[A]", name), false);
            }
            int at = punct[i] + bos; // the punctuation token in the row
            if (at >= row.length || row[at] != comma && row[at] != period) {
                throw new IllegalArgumentException("prompt " + i + " ('" + clean.sentences().get(i) + "'): expected ','"
                        + " or '.' at word_idx punct " + punct[i] + " (+" + bos + " for BOS) but found token "
                        + (at < row.length ? row[at] : "none"));
            }
            long[] out = new long[row.length + adv.length];
            System.arraycopy(row, 0, out, 0, at + 1);
            System.arraycopy(adv, 0, out, at + 1, adv.length);
            System.arraycopy(row, at + 1, out, at + 1 + adv.length, row.length - at - 1);
            rows[i] = out;
            inserted[i] = adv.length;
            newEnd[i] = end[i] + adv.length;
            newS2[i] = s2[i] + adv.length;
            if (out[(int) newEnd[i] + 1] != io[i]) {
                throw new IllegalStateException("prompt " + i + ": the token after end is " + out[(int) newEnd[i] + 1]
                        + ", not the IO answer " + io[i]);
            }
        }
        int width = Arrays.stream(rows).mapToInt(r -> r.length).max().orElse(0);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            texts.add(tokenizer.decode(Arrays.copyOfRange(rows[i], bos, (int) newEnd[i] + 1)));
            long[] padded = Arrays.copyOf(rows[i], width);
            Arrays.fill(padded, rows[i].length, width, tokenizer.bosTokenId());
            rows[i] = padded;
        }
        return new Prompts(condition, rows, newEnd, newS2, inserted, List.copyOf(texts));
    }

    // ---------------------------------------------------------------- runs

    /** Single sentences drawn with seed 0 ({@link #choices}): the notebook's one call. */
    public static Result run(HookedTransformer model, IOIDataset clean) {
        return run(model, clean, Mode.SINGLE, 0);
    }

    /** {@code mode}'s sentences drawn per prompt with {@code seed} ({@link #choices}). */
    public static Result run(HookedTransformer model, IOIDataset clean, Mode mode, long seed) {
        return run(model, clean, mode, choices(mode, clean.n(), seed));
    }

    /** {@code mode}'s sentence {@code choices[i]} for prompt {@code i}: Fig 8's three rows. */
    public static Result run(HookedTransformer model, IOIDataset clean, Mode mode, int[] choices) {
        List<Measured> rows = new ArrayList<>();
        for (Condition c : Condition.values()) {
            Prompts p = prompts(clean, model.tokenizer(), mode, choices, c);
            double[][] m = measure(model, p.tokens(), p.end(), clean.ioTokenIds(), clean.sTokenIds());
            rows.add(new Measured(p, m[0], m[1]));
        }
        List<String> io = new ArrayList<>();
        List<String> s = new ArrayList<>();
        for (IOIPrompt p : clean.prompts()) {
            io.add(p.io());
            s.add(p.s());
        }
        return new Result(mode, choices.clone(), rows, io, s);
    }

    /**
     * Logit difference and IO probability per prompt at {@code end}: the final residual stream,
     * {@code ln_final} and the unembedding at that position only, {@value #PROMPTS_PER_FORWARD}
     * prompts per forward pass.
     *
     * @return {logitDiff [batch], ioProbability [batch]}
     */
    static double[][] measure(HookedTransformer model, long[][] tokens, long[] end, long[] io, long[] s) {
        int n = tokens.length;
        double[] ld = new double[n];
        double[] prob = new double[n];
        int layers = model.cfg().nLayers();
        for (int from = 0; from < n; from += PROMPTS_PER_FORWARD) {
            int to = Math.min(n, from + PROMPTS_PER_FORWARD);
            long[] ioC = Arrays.copyOfRange(io, from, to);
            long[] sC = Arrays.copyOfRange(s, from, to);
            try (NDManager m = model.resultManager().newSubManager(); NDScope scope = new NDScope()) {
                NDArray t = m.create(Arrays.copyOfRange(tokens, from, to)); // [batch, pos]
                NDArray resid = model.forward(t, RunOptions.defaults().stopAtLayer(layers)).logits(); // [batch, pos, d_model]
                NDArray atEnd = Metrics.atPositions(resid, Arrays.copyOfRange(end, from, to)); // [batch, d_model]
                NDArray logits = model.applyLayerNorm("ln_final", atEnd).matMul(model.W_U()).add(model.b_U()); // [batch, d_vocab]
                NDArray diff = Metrics.pick(logits, ioC).sub(Metrics.pick(logits, sC)); // [batch]
                NDArray p = Metrics.pick(logits.softmax(-1), ioC); // [batch]
                double[] d = diff.toType(DataType.FLOAT64, false).toDoubleArray();
                double[] q = p.toType(DataType.FLOAT64, false).toDoubleArray();
                System.arraycopy(d, 0, ld, from, d.length);
                System.arraycopy(q, 0, prob, from, q.length);
            }
        }
        return new double[][] {ld, prob};
    }

    // ---------------------------------------------------------------- results

    /**
     * One condition measured.
     *
     * @param logitDiff logit IO - logit S at end, per prompt
     * @param ioProbability IO probability at end, per prompt
     */
    public record Measured(Prompts prompts, double[] logitDiff, double[] ioProbability) {

        public Condition condition() {
            return prompts.condition();
        }

        public double meanLogitDiff() {
            return Arrays.stream(logitDiff).average().orElse(Double.NaN);
        }

        public double meanIoProbability() {
            return Arrays.stream(ioProbability).average().orElse(Double.NaN);
        }

        /** Fraction of prompts whose S logit is above the IO logit. */
        public double fractionSOverIo() {
            return (double) Arrays.stream(logitDiff).filter(d -> d < 0).count() / logitDiff.length;
        }
    }

    /**
     * Fig 8 measured: one {@link Measured} per {@link Condition}, in that order.
     *
     * @param choices the sentence index of each prompt (into {@code mode.sentences()})
     */
    public record Result(Mode mode, int[] choices, List<Measured> conditions, List<String> ioNames,
            List<String> sNames) {

        public Measured get(Condition c) {
            return conditions.get(c.ordinal());
        }

        /** Fig 8: distribution, logit difference, IO probability, S logit > IO logit, and the paper's values. */
        public Table table() {
            Table t = Table.create("Fig 8: adversarial examples (" + mode.name().toLowerCase(Locale.ROOT)
                    + " sentence, N = " + choices.length + ")",
                    StringColumn.create("distribution"), DoubleColumn.create("logit difference"),
                    DoubleColumn.create("IO probability"), DoubleColumn.create("S logit > IO logit"),
                    DoubleColumn.create("paper logit difference"), DoubleColumn.create("paper IO probability"),
                    DoubleColumn.create("paper S logit > IO logit"));
            for (Measured m : conditions) {
                Reference ref = PAPER_FIG8.get(m.condition().ordinal());
                t.stringColumn(0).append(m.condition().label);
                t.doubleColumn(1).append(m.meanLogitDiff());
                t.doubleColumn(2).append(m.meanIoProbability());
                t.doubleColumn(3).append(m.fractionSOverIo());
                t.doubleColumn(4).append(ref.logitDiff());
                t.doubleColumn(5).append(ref.ioProbability());
                t.doubleColumn(6).append(ref.sOverIo());
            }
            return t;
        }

        /** "Paper vs this run" as text: quantity, paper, this run (fractions as percentages). */
        public Table paperVsRun() {
            Table t = Table.create("Fig 8: paper vs this run", StringColumn.create("distribution"),
                    StringColumn.create("quantity"), StringColumn.create("paper"), StringColumn.create("this run"));
            for (Measured m : conditions) {
                Reference ref = PAPER_FIG8.get(m.condition().ordinal());
                String[][] rows = {
                    {"logit difference", f("%.2f", ref.logitDiff()), f("%.2f", m.meanLogitDiff())},
                    {"IO probability", f("%.2f", ref.ioProbability()), f("%.2f", m.meanIoProbability())},
                    {"S logit > IO logit", f("%.1f%%", 100 * ref.sOverIo()), f("%.1f%%", 100 * m.fractionSOverIo())}};
                for (String[] r : rows) {
                    t.stringColumn(0).append(m.condition().label);
                    t.stringColumn(1).append(r[0]);
                    t.stringColumn(2).append(r[1]);
                    t.stringColumn(3).append(r[2]);
                }
            }
            return t;
        }

        /** The first {@code rows} prompts: IO, S, and the prompt of each condition (answer left off). */
        public Table promptsTable(int rows) {
            int n = Math.min(Math.max(rows, 0), choices.length);
            Table t = Table.create("Adversarial prompts", IntColumn.create("index"), StringColumn.create("IO"),
                    StringColumn.create("S"));
            for (int i = 0; i < n; i++) {
                t.intColumn(0).append(i);
                t.stringColumn(1).append(ioNames.get(i));
                t.stringColumn(2).append(sNames.get(i));
            }
            for (Measured m : conditions) {
                t.addColumns(StringColumn.create(m.condition().label, m.prompts().texts().subList(0, n)));
            }
            return t;
        }

        /** Per prompt: index, and the logit difference of each condition. */
        public Table perPromptTable() {
            Table t = Table.create("Logit difference per prompt");
            int[] idx = new int[choices.length];
            Arrays.setAll(idx, i -> i);
            t.addColumns(IntColumn.create("index", idx));
            for (Measured m : conditions) {
                t.addColumns(DoubleColumn.create(m.condition().label, m.logitDiff()));
            }
            return t;
        }

        private static String f(String format, double x) {
            return String.format(Locale.ROOT, format, x);
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder("Adversarial.Result(" + mode + ", N = " + choices.length);
            for (Measured m : conditions) {
                sb.append(String.format(Locale.ROOT, "; %s: logit diff %.4f, IO prob %.4f, S > IO %.1f%%",
                        m.condition().name(), m.meanLogitDiff(), m.meanIoProbability(), 100 * m.fractionSOverIo()));
            }
            return sb.append(')').toString();
        }
    }
}
