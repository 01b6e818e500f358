package ioi.notebook;

import ioi.data.IOIDataset;
import ioi.data.IOIPrompt;
import ioi.display.BarChart;
import ioi.display.Charts;
import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import ioi.lens.GPT2Config;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * The paper's and ARENA's reference numbers, and the small glue the paper notebooks need between the
 * dataset ({@code ioi.data}), the experiments ({@code ioi.experiments}) and the display layer:
 * {@link IOIDataset} to {@link IoiBatch}, results as Tablesaw tables.
 *
 * <p>Sources (the paper [P] and ARENA's exercise [A3]; see docs/sources.md):
 * <ul>
 *   <li>The paper §2 "Task description" (Wang et al., ICLR 2023 camera-ready): "Over 100,000
 *       dataset examples, GPT-2 small has mean logit difference of 3.56 (IO predicted over S 99.3% of
 *       the time), and mean IO probability of 49%." (Fig 8's p_IOI row gives 3.55, 0.49, 0.7%.)</li>
 *   <li>ARENA 3.0's expected outputs ({@code 21_[1.4.1]_Indirect_Object_Identification.md}) for
 *       {@code IOIDataset(prompt_type="mixed", N=25, prepend_bos=False, seed=1)} and its flip
 *       {@code "ABB->XYZ, BAB->XYZ"}: "Average logit diff (IOI dataset): 2.8052", "Average logit diff
 *       (ABC dataset): -0.7699", and the first rows of its table "Sentences from IOI vs ABC
 *       distribution".</li>
 * </ul>
 */
public final class Paper {

    /** Paper §2: mean logit difference of GPT-2 small over 100,000 p_IOI prompts. */
    public static final double PAPER_LOGIT_DIFF = 3.56;
    /** Paper §2: IO predicted over S 99.3% of the time (Fig 8: S over IO 0.7%). */
    public static final double PAPER_IO_OVER_S = 0.993;
    /** Paper §2: mean IO probability 49%. */
    public static final double PAPER_IO_PROB = 0.49;
    /** ARENA 3.0: "Average logit diff (IOI dataset): 2.8052" (mixed, N=25, seed 1; [A3] instructions page). */
    public static final double ARENA_LOGIT_DIFF = 2.8052;
    /** ARENA 3.0: "Average logit diff (ABC dataset): -0.7699", against the IOI answers ([A3] instructions page). */
    public static final double ARENA_ABC_LOGIT_DIFF = -0.7699;

    /**
     * ARENA 3.0's table "Sentences from IOI vs ABC distribution", its first five rows as printed:
     * the IOI logit difference and the ABC logit difference (against the IOI answers) of prompts 0-4.
     */
    public static final double[][] ARENA_FIRST_ROWS = {
        {2.4403, -2.4177}, {6.5408, 6.1583}, {3.3345, -1.7351}, {1.1972, -4.2358}, {3.0530, 0.1968}};

    /** ARENA's exercise dataset ([A3] instructions page): prompt type, N, seed, the ABC flip. */
    public static final String ARENA_PROMPT_TYPE = "mixed";
    public static final int ARENA_N = 25;
    public static final long ARENA_SEED = 1;
    public static final String ABC_FLIP = "ABB->XYZ, BAB->XYZ";

    private Paper() {
    }

    /**
     * The experiments' batch from a dataset and its ABC flip: the dataset's {@code toks},
     * {@code word_idx} (IO, S1, S2, end) and answer ids; the flip's {@code toks} as the corrupted
     * prompts (the flip keeps the clean word indices and, with single-token names, every row's
     * length). Positions are the dataset's, so they count a BOS exactly when the dataset prepends one.
     * The prompt labels are the texts without their final IO name.
     *
     * @throws IllegalArgumentException if the two datasets differ in size or token shape
     */
    public static IoiBatch batch(IOIDataset clean, IOIDataset abc) {
        long[][] toks = clean.toks();
        long[][] abcToks = abc.toks();
        if (toks.length != abcToks.length) {
            throw new IllegalArgumentException("the ABC dataset has " + abcToks.length + " prompts but the clean one has "
                    + toks.length);
        }
        for (int i = 0; i < toks.length; i++) {
            if (toks[i].length != abcToks[i].length) {
                throw new IllegalArgumentException("clean and ABC tokens differ in shape at prompt " + i + " ("
                        + toks[i].length + " vs " + abcToks[i].length + " tokens): the flip must keep each prompt's"
                        + " length (single-token names)");
            }
        }
        return new IoiBatch(toks, abcToks, longs(clean.wordIdx("IO")), longs(clean.wordIdx("S1")),
                longs(clean.wordIdx("S2")), longs(clean.wordIdx("end")), clean.ioTokenIds(), clean.sTokenIds(),
                promptsWithoutAnswer(clean));
    }

    /** Each prompt's text without its last word (the IO answer the model should predict). */
    public static List<String> promptsWithoutAnswer(IOIDataset ds) {
        List<String> out = new ArrayList<>(ds.n());
        for (String s : ds.sentences()) {
            out.add(withoutLastWord(s));
        }
        return out;
    }

    static String withoutLastWord(String s) {
        int cut = s.stripTrailing().lastIndexOf(' ');
        return cut < 0 ? s : s.substring(0, cut);
    }

    /**
     * The first {@code rows} prompts of a dataset beside their ABC versions: index, template (ABBA or
     * BABA), IO, S, the prompt without its answer, the ABC prompt without its answer.
     */
    public static Table prompts(IOIDataset clean, IOIDataset abc, int rows) {
        int n = Math.min(Math.max(rows, 0), Math.min(clean.n(), abc.n()));
        Table t = Table.create("IOI prompts and their ABC versions",
                IntColumn.create("index"), StringColumn.create("template"), StringColumn.create("IO"),
                StringColumn.create("S"), StringColumn.create("prompt"), StringColumn.create("abc_prompt"));
        for (int i = 0; i < n; i++) {
            IOIPrompt p = clean.prompt(i);
            t.intColumn("index").append(i);
            t.stringColumn("template").append(clean.templatesByPrompt().get(i));
            t.stringColumn("IO").append(p.io());
            t.stringColumn("S").append(p.s());
            t.stringColumn("prompt").append(withoutLastWord(p.text()));
            t.stringColumn("abc_prompt").append(withoutLastWord(abc.prompt(i).text()));
        }
        return t;
    }

    /**
     * ARENA's table "Sentences from IOI vs ABC distribution", one row per prompt: "IOI prompt",
     * "IOI logit diff", "ABC prompt", "ABC logit diff" (the full sentences, as ARENA's
     * {@code make_table} prints {@code ioi_dataset.sentences} and {@code abc_dataset.sentences}; the
     * ABC logit difference is against the IOI answers).
     */
    public static Table ioiVsAbc(Metrics.Performance perf, IOIDataset clean, IOIDataset abc) {
        Table all = perf.table();
        if (all.rowCount() != clean.n() || clean.n() != abc.n()) {
            throw new IllegalArgumentException("expected one performance row per prompt of both datasets but got "
                    + all.rowCount() + " rows for " + clean.n() + " IOI and " + abc.n() + " ABC prompts");
        }
        return Table.create("Sentences from IOI vs ABC distribution",
                StringColumn.create("IOI prompt", clean.sentences()), all.doubleColumn("logit_diff").copy().setName("IOI logit diff"),
                StringColumn.create("ABC prompt", abc.sentences()),
                all.doubleColumn("abc_logit_diff").copy().setName("ABC logit diff"));
    }

    /** Per prompt: index, prompt, IO, S, logit_diff, io_prob (of a {@link Metrics.Performance}). */
    public static Table logitDiffs(Metrics.Performance perf, IOIDataset clean) {
        Table all = perf.table();
        List<String> io = new ArrayList<>();
        List<String> s = new ArrayList<>();
        for (int i = 0; i < all.rowCount(); i++) {
            io.add(clean.prompt(i).io());
            s.add(clean.prompt(i).s());
        }
        return Table.create("Logit difference per prompt (IO vs S at end)",
                all.intColumn("index").copy(), all.stringColumn("prompt").copy(), StringColumn.create("IO", io),
                StringColumn.create("S", s), all.doubleColumn("logit_diff").copy(), all.doubleColumn("io_prob").copy());
    }

    /**
     * Bars of the logit difference per prompt, IOI and ABC side by side, with each prompt's text as
     * hover text.
     */
    public static BarChart logitDiffBars(Metrics.Performance perf) {
        Table t = perf.table();
        List<String> index = new ArrayList<>();
        for (int i = 0; i < t.rowCount(); i++) {
            index.add(String.valueOf(i));
        }
        List<String> hover = t.stringColumn("prompt").asList();
        return Charts.bar(index)
                .add("IOI", t.doubleColumn("logit_diff").asDoubleArray(), hover)
                .add("ABC", t.doubleColumn("abc_logit_diff").asDoubleArray(), hover)
                .title("Logit difference (IO \u2212 S) per prompt")
                .labels("prompt", "logit difference");
    }

    /** Fraction of prompts whose logit difference is positive (IO over S; paper: 99.3%). */
    public static double fractionIoOverS(double[] logitDiffs) {
        if (logitDiffs.length == 0) {
            return Double.NaN;
        }
        return (double) Arrays.stream(logitDiffs).filter(d -> d > 0).count() / logitDiffs.length;
    }

    /**
     * "Paper / ARENA reference vs this run": quantity, paper, ARENA, this run, as text (logit
     * differences to 4 decimals, fractions as percentages; a blank where the source gives no number).
     */
    public static Table referenceVsRun(Metrics.Performance perf) {
        double[] ld = perf.table().doubleColumn("logit_diff").asDoubleArray();
        double[] abcLd = perf.table().doubleColumn("abc_logit_diff").asDoubleArray();
        Table t = referenceVsRun(perf.meanLogitDiff(), perf.meanAbcLogitDiff(), fractionIoOverS(ld),
                perf.meanIoProbability());
        for (int i = 0; i < Math.min(ARENA_FIRST_ROWS.length, ld.length); i++) {
            t.stringColumn("quantity").append("logit diff of prompt " + i + " (IOI / ABC)");
            t.stringColumn("paper").append("");
            t.stringColumn("ARENA").append(number(ARENA_FIRST_ROWS[i][0], 4) + " / " + number(ARENA_FIRST_ROWS[i][1], 4));
            t.stringColumn("this run").append(number(ld[i], 4) + " / " + number(abcLd[i], 4));
        }
        return t;
    }

    static Table referenceVsRun(double logitDiff, double abcLogitDiff, double ioOverS, double ioProb) {
        return Table.create("Paper / ARENA reference vs this run",
                StringColumn.create("quantity", List.of("mean logit diff (IOI)", "mean logit diff (ABC, IOI answers)",
                        "IO > S accuracy", "mean IO probability")),
                StringColumn.create("paper", List.of(number(PAPER_LOGIT_DIFF, 2), "", percent(PAPER_IO_OVER_S, 1),
                        percent(PAPER_IO_PROB, 0))),
                StringColumn.create("ARENA", List.of(number(ARENA_LOGIT_DIFF, 4), number(ARENA_ABC_LOGIT_DIFF, 4), "", "")),
                StringColumn.create("this run", List.of(number(logitDiff, 4), number(abcLogitDiff, 4),
                        percent(ioOverS, 1), percent(ioProb, 1))));
    }

    static String number(double x, int digits) {
        return String.format(Locale.ROOT, "%." + digits + "f", x);
    }

    static String percent(double fraction, int digits) {
        return String.format(Locale.ROOT, "%." + digits + "f%%", 100 * fraction);
    }

    /**
     * {@code {layer, head}} of a head the paper names, or, when this model has no such head (a small
     * test checkpoint), the fallback {@code {nLayers - 1, 0}}: the last layer's head 0.
     */
    public static int[] headOrLast(GPT2Config cfg, int layer, int head) {
        if (layer >= 0 && layer < cfg.nLayers() && head >= 0 && head < cfg.nHeads()) {
            return new int[] {layer, head};
        }
        return new int[] {cfg.nLayers() - 1, 0};
    }

    /** The tokens of prompt {@code i} of a batch up to and including its {@code end} position. */
    public static long[] upToEnd(IoiBatch batch, int i) {
        return Arrays.copyOf(batch.tokens()[i], (int) batch.end()[i] + 1);
    }

    private static long[] longs(int[] a) {
        return Arrays.stream(a).asLongStream().toArray();
    }
}
