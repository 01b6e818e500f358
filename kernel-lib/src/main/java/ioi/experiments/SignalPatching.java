package ioi.experiments;

import ai.djl.ndarray.NDManager;
import ioi.data.IOIDataset;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.HookNames;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * What the S-inhibition heads tell the name movers (paper §3.2 and App A, Fig 9; ARENA 1.4.1 "Paper
 * replication", the S-inhibition heads' "token and position signal"): the clean prompts run with
 * the outputs ({@code hook_z}) of the S-inhibition heads 7.3, 7.9, 8.6, 8.10 taken from one of six
 * <em>signal datasets</em>, and the logit difference IO - S is measured against the clean answers.
 *
 * <p>The six datasets are ARENA's flips of the clean dataset ({@link IOIDataset#genFlippedPrompts},
 * paper App A; [A3] {@code gen_flipped_prompts}), a 3 x 2 grid of token signal (which name S is) x
 * position signal (where S1 is):
 * <table>
 *   <caption>signal datasets</caption>
 *   <tr><th>token \ position</th><th>original</th><th>inverted</th></tr>
 *   <tr><td>original</td><td>the clean prompts</td><td>{@code "ABB->BAB, BAB->ABB"}</td></tr>
 *   <tr><td>random</td><td>{@code "ABB->CDD, BAB->DCD"}</td><td>{@code "ABB->DCD, BAB->CDD"}</td></tr>
 *   <tr><td>inverted</td><td>{@code "ABB->BAA, BAB->ABA"}</td><td>{@code "ABB->ABA, BAB->BAA"}</td></tr>
 * </table>
 * With single-token names a flip keeps every prompt's length, so the clean word positions apply to
 * all six (checked: a dataset that changes a prompt's length is refused).
 *
 * <p>Two variants ({@link Variant}): ARENA patches the heads' {@code z} at every position; the
 * paper's code ({@code experiments.py}, {@code patch_end}) only at each prompt's END. The paper's
 * Fig 9 (its own flips, END only) gives 3.55 / 2.45 / 1.77 (original position) and -0.99 / -1.96
 * / -3.16 (inverted position), fitted by {@code 2.31 S_pos + 0.99 S_tok} with a mean error of 7%
 * of the baseline ({@link Fit}). Each head can also be patched alone (ARENA's per-head heatmaps).
 *
 * <p>Computation: one cached run per signal dataset (only the patched layers' {@code hook_z}), then
 * every cell (6 signals x (all heads + each head)) as one {@link ActivationPatching#run} over the
 * clean prompts: cells share batched forward passes, start at layer 7 from the clean run's
 * residual stream, and the unchanged "original" cells are the clean run without a forward pass.
 */
public final class SignalPatching {

    private SignalPatching() {}

    /** The paper's S-inhibition heads (§3.2, Fig 4): 7.3, 7.9, 8.6, 8.10. */
    public static final List<Head> S_INHIBITION_HEADS = Circuit.PAPER.headsOf("s2 inhibition");

    /** Which name the patched heads see as S: {@code S_tok} = 1, 0, -1. */
    public enum TokenSignal {
        ORIGINAL(1), RANDOM(0), INVERTED(-1);

        /** {@code S_tok} of the paper's linear fit. */
        public final int value;

        TokenSignal(int value) {
            this.value = value;
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Where the patched heads see S1: {@code S_pos} = 1, -1. */
    public enum PositionSignal {
        ORIGINAL(1), INVERTED(-1);

        /** {@code S_pos} of the paper's linear fit. */
        public final int value;

        PositionSignal(int value) {
            this.value = value;
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Which positions of the heads' output are patched. */
    public enum Variant {
        /** ARENA's replication: {@code z[:, :, head]} at every position. */
        ALL_POSITIONS("all positions (ARENA)"),
        /** The paper's code ({@code patch_end}): {@code z[b, end[b], head]} only. */
        END("END only (paper)");

        public final String label;

        Variant(String label) {
            this.label = label;
        }
    }

    /**
     * One signal dataset: its token and position signals and ARENA's flip string (null: the clean
     * prompts themselves).
     */
    public record Signal(TokenSignal token, PositionSignal position, String flip) {
        public String label() {
            return "token " + token.label() + ", position " + position.label();
        }
    }

    /** The six signal datasets, row-major in the table: token ORIGINAL, RANDOM, INVERTED x position ORIGINAL, INVERTED. */
    public static final List<Signal> SIGNALS = List.of(
            new Signal(TokenSignal.ORIGINAL, PositionSignal.ORIGINAL, null),
            new Signal(TokenSignal.ORIGINAL, PositionSignal.INVERTED, "ABB->BAB, BAB->ABB"),
            new Signal(TokenSignal.RANDOM, PositionSignal.ORIGINAL, "ABB->CDD, BAB->DCD"),
            new Signal(TokenSignal.RANDOM, PositionSignal.INVERTED, "ABB->DCD, BAB->CDD"),
            new Signal(TokenSignal.INVERTED, PositionSignal.ORIGINAL, "ABB->BAA, BAB->ABA"),
            new Signal(TokenSignal.INVERTED, PositionSignal.INVERTED, "ABB->ABA, BAB->BAA"));

    /** Paper Fig 9: logit difference after patching the S-inhibition heads, [token signal][position signal]. */
    public static final double[][] PAPER_LOGIT_DIFF = {{3.55, -0.99}, {2.45, -1.96}, {1.77, -3.16}};

    /**
     * @param variant which positions are patched
     * @param heads the heads patched together (default {@link #S_INHIBITION_HEADS})
     * @param perHead also patch each head alone
     * @param progress reports cells as they finish
     */
    public record Options(Variant variant, List<Head> heads, boolean perHead, Progress progress) {
        public Options {
            if (variant == null) {
                throw new IllegalArgumentException("variant must not be null");
            }
            if (heads == null || heads.isEmpty()) {
                throw new IllegalArgumentException("at least one head must be patched");
            }
            heads = List.copyOf(heads);
            if (new LinkedHashSet<>(heads).size() != heads.size()) {
                throw new IllegalArgumentException("heads repeat: " + heads);
            }
            if (progress == null) {
                progress = Progress.NONE;
            }
        }

        /** ARENA's variant: all positions, the four S-inhibition heads, per-head cells too. */
        public static Options arena() {
            return new Options(Variant.ALL_POSITIONS, S_INHIBITION_HEADS, true, Progress.NONE);
        }

        /** The paper's variant: END only, the four S-inhibition heads, per-head cells too. */
        public static Options paper() {
            return new Options(Variant.END, S_INHIBITION_HEADS, true, Progress.NONE);
        }

        public Options variant(Variant v) {
            return new Options(v, heads, perHead, progress);
        }

        public Options heads(List<Head> h) {
            return new Options(variant, h, perHead, progress);
        }

        public Options perHead(boolean on) {
            return new Options(variant, heads, on, progress);
        }

        public Options progress(Progress p) {
            return new Options(variant, heads, perHead, p);
        }
    }

    // ---------------------------------------------------------------- entry points

    /** ARENA's variant ({@link Options#arena()}) on {@code clean}: the notebook's one call. */
    public static Result run(HookedTransformer model, IOIDataset clean) {
        return run(model, clean, Options.arena());
    }

    /** The six signal datasets flipped from {@code clean} ({@link #signalDatasets}), patched as {@code options} says. */
    public static Result run(HookedTransformer model, IOIDataset clean, Options options) {
        return run(model, clean, signalDatasets(clean), options);
    }

    /**
     * The experiment on given signal datasets, one per {@link #SIGNALS} entry in that order (the
     * first is normally {@code clean} itself). Each must have the clean dataset's size and every
     * prompt's token length.
     *
     * @throws IllegalArgumentException if a dataset's size or a prompt's length differs from the
     *     clean one's, or a head is not in the model
     */
    public static Result run(HookedTransformer model, IOIDataset clean, List<IOIDataset> signalDatasets, Options options) {
        GPT2Config cfg = model.cfg();
        for (Head h : options.heads()) {
            if (h.layer() >= cfg.nLayers() || h.head() >= cfg.nHeads()) {
                throw new IllegalArgumentException("head " + h + " is not in the model: it has " + cfg.nLayers()
                        + " layers x " + cfg.nHeads() + " heads (layer in [0, " + cfg.nLayers() + "), head in [0, "
                        + cfg.nHeads() + "))");
            }
        }
        if (signalDatasets.size() != SIGNALS.size()) {
            throw new IllegalArgumentException("expected " + SIGNALS.size() + " signal datasets (one per SIGNALS entry) "
                    + "but got " + signalDatasets.size());
        }
        long[][] toks = clean.toks();
        for (int s = 0; s < SIGNALS.size(); s++) {
            checkSameLengths(clean, signalDatasets.get(s), s);
        }
        long[] end = longs(clean.wordIdx("end"));
        // The patching core reads the metric's batch; abcTokens is unused here (the run is the clean one).
        IoiBatch batch = new IoiBatch(toks, toks, longs(clean.wordIdx("IO")), longs(clean.wordIdx("S1")),
                longs(clean.wordIdx("S2")), end, clean.ioTokenIds(), clean.sTokenIds(), List.of());
        Set<Integer> layers = new LinkedHashSet<>();
        options.heads().forEach(h -> layers.add(h.layer()));
        Set<String> zNames = new LinkedHashSet<>();
        layers.forEach(l -> zNames.add(HookNames.getActName("z", l)));

        List<ActivationCache> caches = new ArrayList<>();
        try (NDManager tmp = model.resultManager().newSubManager()) {
            for (IOIDataset ds : signalDatasets) {
                // hook_z [batch, pos, head_index, d_head] of the patched layers on the signal dataset's tokens [batch, pos]
                caches.add(model.runWithCache(tmp.create(ds.toks()), zNames::contains,
                        RunOptions.defaults().returnType(RunOptions.ReturnType.NONE)));
            }
            List<List<Head>> groups = new ArrayList<>();
            groups.add(options.heads());
            if (options.perHead()) {
                options.heads().forEach(h -> groups.add(List.of(h)));
            }
            List<List<Patch>> cells = new ArrayList<>();
            for (ActivationCache cache : caches) { // signal-major: cell = s * groups + g
                for (List<Head> group : groups) {
                    List<Patch> patches = new ArrayList<>();
                    for (Head h : group) {
                        Region region = Region.at("head_index", h.head());
                        if (options.variant() == Variant.END) {
                            region = region.andPerPrompt("pos", end);
                        }
                        patches.add(Patch.fromCache(cache, HookNames.getActName("z", h.layer()), region));
                    }
                    cells.add(patches);
                }
            }
            float[] values;
            double cleanLd;
            // the "corrupted" run of the patching core is the clean one [batch, pos]; caches.get(0) is only borrowed
            try (ActivationPatching ap = ActivationPatching.create(model, tmp.create(toks), caches.get(0),
                    Metrics.logitDiffMetric(batch), ActivationPatching.Options.defaults().progress(options.progress()))) {
                values = ap.run(cells);
                cleanLd = ap.baseline();
            }
            int g = groups.size();
            int nHeads = options.perHead() ? options.heads().size() : 0;
            double[][] table = new double[TokenSignal.values().length][PositionSignal.values().length];
            double[][][] perHead = new double[nHeads][TokenSignal.values().length][PositionSignal.values().length];
            for (int s = 0; s < SIGNALS.size(); s++) {
                Signal sig = SIGNALS.get(s);
                int r = sig.token().ordinal();
                int c = sig.position().ordinal();
                table[r][c] = values[s * g];
                for (int k = 0; k < nHeads; k++) {
                    perHead[k][r][c] = values[s * g + 1 + k];
                }
            }
            List<List<String>> texts = new ArrayList<>();
            signalDatasets.forEach(ds -> texts.add(List.copyOf(ds.sentences())));
            return new Result(options.variant(), options.heads(), cleanLd, table, options.perHead() ? perHead : null,
                    Fit.of(table), texts);
        } finally {
            caches.forEach(ActivationCache::close);
        }
    }

    /** The six signal datasets of {@code clean}, in {@link #SIGNALS} order ({@code clean} itself first). */
    public static List<IOIDataset> signalDatasets(IOIDataset clean) {
        List<IOIDataset> out = new ArrayList<>();
        for (Signal s : SIGNALS) {
            out.add(s.flip() == null ? clean : clean.genFlippedPrompts(s.flip()));
        }
        return out;
    }

    /** Row {@code i}'s token length: the first pad after the BOS slot, or the padded width. */
    private static int length(long[] row, boolean bos, long pad) {
        for (int p = bos ? 1 : 0; p < row.length; p++) {
            if (row[p] == pad) {
                return p;
            }
        }
        return row.length;
    }

    private static void checkSameLengths(IOIDataset clean, IOIDataset flipped, int index) {
        Signal signal = SIGNALS.get(index);
        String what = "signal dataset " + index + " (" + signal.label() + (signal.flip() == null ? ", the clean prompts"
                : ", ARENA's flip \"" + signal.flip() + "\"") + ")";
        if (flipped.n() != clean.n()) {
            throw new IllegalArgumentException(what + " has " + flipped.n() + " prompts but the clean dataset has "
                    + clean.n());
        }
        if (flipped.prependBos() != clean.prependBos()) {
            throw new IllegalArgumentException(what + " has prependBos " + flipped.prependBos()
                    + " but the clean dataset " + clean.prependBos());
        }
        long pad = 50256; // <|endoftext|>, GPT-2's pad (and BOS)
        long[][] a = clean.toks();
        long[][] b = flipped.toks();
        for (int i = 0; i < a.length; i++) {
            int la = length(a[i], clean.prependBos(), pad);
            int lb = length(b[i], clean.prependBos(), pad);
            if (la != lb) {
                throw new IllegalArgumentException(what + " changes the length of prompt " + i + ": '"
                        + flipped.sentences().get(i) + "' has " + lb + " tokens but the clean '" + clean.sentences().get(i)
                        + "' has " + la + "; the signal datasets must keep every prompt's length (single-token names) "
                        + "so that the clean word positions apply");
            }
        }
        if (a[0].length != b[0].length) {
            throw new IllegalArgumentException(what + " is padded to " + b[0].length + " tokens but the clean dataset to "
                    + a[0].length);
        }
    }

    private static long[] longs(int[] a) {
        return Arrays.stream(a).asLongStream().toArray();
    }

    // ---------------------------------------------------------------- results

    /**
     * The paper's linear fit {@code logit diff ~ a S_pos + b S_tok} (no intercept; S_tok in {1, 0,
     * -1}, S_pos in {1, -1}), least squares over the six cells, and its mean absolute error
     * relative to the baseline cell (original/original). Paper: {@code a = 2.31, b = 0.99}, 7%.
     *
     * @param positionCoefficient a
     * @param tokenCoefficient b
     * @param meanRelativeError mean over cells of |fit - value|, divided by |baseline|
     */
    public record Fit(double positionCoefficient, double tokenCoefficient, double meanRelativeError) {

        /** The paper's numbers (App A). */
        public static final Fit PAPER = new Fit(2.31, 0.99, 0.07);

        /**
         * The fit of a table [token signal ORIGINAL, RANDOM, INVERTED][position signal ORIGINAL,
         * INVERTED]. The design's columns are orthogonal ({@code sum S_pos S_tok = 0}), so the least
         * squares solution is {@code a = sum(S_pos y) / sum(S_pos^2)}, {@code b = sum(S_tok y) / sum(S_tok^2)}.
         */
        public static Fit of(double[][] table) {
            if (table.length != TokenSignal.values().length || table[0].length != PositionSignal.values().length) {
                throw new IllegalArgumentException("expected a [3][2] table (token x position signal) but got ["
                        + table.length + "][" + table[0].length + "]");
            }
            double py = 0, pp = 0, ty = 0, tt = 0;
            for (TokenSignal t : TokenSignal.values()) {
                for (PositionSignal p : PositionSignal.values()) {
                    double y = table[t.ordinal()][p.ordinal()];
                    py += p.value * y;
                    pp += p.value * p.value;
                    ty += t.value * y;
                    tt += t.value * t.value;
                }
            }
            double a = py / pp;
            double b = ty / tt;
            double err = 0;
            for (TokenSignal t : TokenSignal.values()) {
                for (PositionSignal p : PositionSignal.values()) {
                    err += Math.abs(a * p.value + b * t.value - table[t.ordinal()][p.ordinal()]);
                }
            }
            int cells = TokenSignal.values().length * PositionSignal.values().length;
            return new Fit(a, b, err / cells / Math.abs(table[0][0]));
        }

        /** The fitted logit difference of one cell. */
        public double predict(TokenSignal t, PositionSignal p) {
            return positionCoefficient * p.value + tokenCoefficient * t.value;
        }
    }

    /**
     * The logit differences after patching.
     *
     * @param variant which positions were patched
     * @param heads the heads patched together
     * @param cleanLogitDiff the clean run's mean logit difference (nothing patched)
     * @param logitDiff [token signal][position signal]: the mean logit difference with all heads patched
     * @param perHead [head][token signal][position signal]: each head patched alone, or null
     * @param prompts [signal][prompt]: the texts of each signal dataset, in {@link #SIGNALS} order
     */
    public record Result(Variant variant, List<Head> heads, double cleanLogitDiff, double[][] logitDiff,
            double[][][] perHead, Fit fit, List<List<String>> prompts) {

        /** One cell: the mean logit difference with the heads patched from that signal dataset. */
        public double get(TokenSignal t, PositionSignal p) {
            return logitDiff[t.ordinal()][p.ordinal()];
        }

        /** Fig 9's table: a row per token signal, a column per position signal. */
        public Table table() {
            Table t = Table.create("Logit difference after patching " + heads + " from the signal datasets, "
                    + variant.label, StringColumn.create("token signal"));
            for (TokenSignal s : TokenSignal.values()) {
                t.stringColumn(0).append(s.label());
            }
            for (PositionSignal p : PositionSignal.values()) {
                double[] col = new double[TokenSignal.values().length];
                for (TokenSignal s : TokenSignal.values()) {
                    col[s.ordinal()] = get(s, p);
                }
                t.addColumns(DoubleColumn.create(p.label() + " position", col));
            }
            return t;
        }

        /** One row per head patched alone and signal: head, token signal, position signal, logit diff. */
        public Table perHeadTable() {
            requirePerHead();
            Table t = Table.create("Logit difference, each head patched alone (" + variant.label + ")",
                    StringColumn.create("head"), StringColumn.create("token signal"),
                    StringColumn.create("position signal"), DoubleColumn.create("logit diff"));
            for (int k = 0; k < heads.size(); k++) {
                for (TokenSignal s : TokenSignal.values()) {
                    for (PositionSignal p : PositionSignal.values()) {
                        t.stringColumn(0).append(heads.get(k).toString());
                        t.stringColumn(1).append(s.label());
                        t.stringColumn(2).append(p.label());
                        t.doubleColumn(3).append(perHead[k][s.ordinal()][p.ordinal()]);
                    }
                }
            }
            return t;
        }

        /** The linear fit beside the paper's: quantity, paper, this run. */
        public Table fitTable() {
            return Table.create("Linear fit logit diff = a S_pos + b S_tok: paper vs this run",
                    StringColumn.create("quantity", List.of("a (position signal)", "b (token signal)",
                            "mean error / baseline")),
                    DoubleColumn.create("paper", new double[] {Fit.PAPER.positionCoefficient(),
                            Fit.PAPER.tokenCoefficient(), Fit.PAPER.meanRelativeError()}),
                    DoubleColumn.create("this run", new double[] {fit.positionCoefficient(), fit.tokenCoefficient(),
                            fit.meanRelativeError()}));
        }

        /** Fig 9 beside this run, cell by cell: token signal, position signal, paper, this run. */
        public Table paperVsRun() {
            Table t = Table.create("Fig 9: paper vs this run (" + variant.label + ")", StringColumn.create("token signal"),
                    StringColumn.create("position signal"), DoubleColumn.create("paper"),
                    DoubleColumn.create("this run"));
            for (TokenSignal s : TokenSignal.values()) {
                for (PositionSignal p : PositionSignal.values()) {
                    t.stringColumn(0).append(s.label());
                    t.stringColumn(1).append(p.label());
                    t.doubleColumn(2).append(PAPER_LOGIT_DIFF[s.ordinal()][p.ordinal()]);
                    t.doubleColumn(3).append(get(s, p));
                }
            }
            return t;
        }

        /** The first {@code rows} prompts of every signal dataset: a column per signal. */
        public Table promptsTable(int rows) {
            int n = Math.min(Math.max(rows, 0), prompts.get(0).size());
            Table t = Table.create("Signal datasets");
            for (int s = 0; s < SIGNALS.size(); s++) {
                t.addColumns(StringColumn.create(SIGNALS.get(s).label(), prompts.get(s).subList(0, n)));
            }
            return t;
        }

        /** {@link #perHead()}, or an error saying how to get it when this run did not patch heads alone. */
        public double[][][] requirePerHead() {
            if (perHead == null) {
                throw new IllegalStateException("this result has no per-head cells: run with Options.perHead(true)");
            }
            return perHead;
        }

        /** The position signals' labels, in table order. */
        public static List<String> positionLabels() {
            return Arrays.stream(PositionSignal.values()).map(PositionSignal::label).toList();
        }

        /** The token signals' labels, in table order. */
        public static List<String> tokenLabels() {
            return Arrays.stream(TokenSignal.values()).map(TokenSignal::label).toList();
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                    "SignalPatching.Result(%s, heads %s, clean %.4f:", variant.label, heads, cleanLogitDiff));
            for (TokenSignal s : TokenSignal.values()) {
                sb.append(String.format(Locale.ROOT, " [%s: %.4f, %.4f]", s.label(), get(s, PositionSignal.ORIGINAL),
                        get(s, PositionSignal.INVERTED)));
            }
            return sb.append(String.format(Locale.ROOT, "; fit %.3f S_pos + %.3f S_tok, error %.1f%%)",
                    fit.positionCoefficient(), fit.tokenCoefficient(), 100 * fit.meanRelativeError())).toString();
        }
    }

    /** Both variants on the same signal datasets: ARENA's (all positions) and the paper's (END). */
    public static Map<Variant, Result> runBoth(HookedTransformer model, IOIDataset clean) {
        List<IOIDataset> datasets = signalDatasets(clean);
        Map<Variant, Result> out = new LinkedHashMap<>();
        out.put(Variant.ALL_POSITIONS, run(model, clean, datasets, Options.arena()));
        out.put(Variant.END, run(model, clean, datasets, Options.paper()));
        return out;
    }
}
