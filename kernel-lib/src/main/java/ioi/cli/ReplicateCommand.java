package ioi.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import ioi.data.IOIDataset;
import ioi.display.ProgressBar;
import ioi.display.Tables;
import ioi.experiments.Adversarial;
import ioi.experiments.AttributionPatching;
import ioi.experiments.Circuit;
import ioi.experiments.CircuitEvaluation;
import ioi.experiments.CopyingScores;
import ioi.experiments.EdgeAttribution;
import ioi.experiments.EdgeRecovery;
import ioi.experiments.Head;
import ioi.experiments.HeadRecovery;
import ioi.experiments.IoiBatch;
import ioi.experiments.MeanAblation;
import ioi.experiments.Metrics;
import ioi.experiments.Minimality;
import ioi.experiments.PathPatching;
import ioi.experiments.PatchingResult;
import ioi.experiments.SignalPatching;
import ioi.experiments.TopHeadAblation;
import ioi.experiments.ValidationScores;
import ioi.experiments.WritingDirection;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.notebook.CircuitReference;
import ioi.notebook.Paper;
import ioi.notebook.ReferenceTable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tech.tablesaw.api.Table;

/**
 * {@code ./ioi replicate}: every experiment of notebooks 01-07, headless, on ARENA's dataset
 * (mixed, N = 25, seed 1, no BOS, ABC = {@code "ABB->XYZ, BAB->XYZ"}; notebook 07's N = 100 for the
 * adversarial examples) with the model processed as in the exercise (fold_ln, centring,
 * refactor_factored_attn_matrices). Writes {@code replication.json} and a report,
 * {@code replication.md} and {@code replication.html}, with each notebook's "paper / ARENA / this
 * run" rows. The keys are documented in docs/replicate.md. Everything is written to a temporary
 * directory and moved into {@code --out} only when every experiment has run, so a failure leaves
 * nothing half-written.
 */
@Command(name = "replicate", mixinStandardHelpOptions = true,
        description = "Run every experiment of notebooks 01-07 headless; write replication.json, .md and .html.")
final class ReplicateCommand implements Callable<Integer> {

    private static final List<Head> NAME_MOVERS = Circuit.PAPER.headsOf("name mover");
    private static final List<Head> S_INHIBITION = Circuit.PAPER.headsOf("s2 inhibition");
    private static final List<Head> INDUCTION = List.of(Head.of(5, 5), Head.of(6, 9));

    @Option(names = "--model", defaultValue = "gpt2", description = "gpt2 (Hugging Face Hub / cache) or a checkpoint "
            + "directory (default: ${DEFAULT-VALUE})")
    String model;

    @Option(names = "--out", defaultValue = "out/replication", description = "output directory (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--rep-tokens", description = "JSON [batch][2*seq_len] repeated random tokens for the head validation "
            + "scores (default: generated from --seed-rep)")
    Path repTokens;

    @Option(names = "--seed-rep", defaultValue = "0", description = "seed of the generated repeated tokens (default: ${DEFAULT-VALUE})")
    long seedRep;

    @Option(names = "--greedy-runs", defaultValue = "10", description = "greedy search runs (paper's code: ${DEFAULT-VALUE})")
    int greedyRuns;

    @Option(names = "--greedy-iterations", defaultValue = "10",
            description = "greedy search steps per run (paper's code: ${DEFAULT-VALUE})")
    int greedyIterations;

    private final Map<String, Object> json = new LinkedHashMap<>();
    private final List<Table> report = new ArrayList<>();
    private int step;
    private static final int STEPS = 7;

    @Override
    public Integer call() throws IOException {
        long[][] rep = repTokens == null ? null : readRepTokens(repTokens);
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, ".replication-");
        try {
            try (HookedTransformer m = HookedTransformer.fromPretrained(model, ProcessingOptions.withRefactoring())) {
                if (rep != null) {
                    checkRepTokens(rep, m);
                }
                run(m, rep);
            }
            write(tmp);
            Files.createDirectories(out);
            for (String f : List.of("replication.json", "replication.md", "replication.html")) {
                Files.move(tmp.resolve(f), out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
            System.err.println("replicate: wrote " + out.resolve("replication.json") + ", replication.md and replication.html");
            return 0;
        } finally {
            deleteTree(tmp);
        }
    }

    private void progress(String what) {
        System.err.println("replicate: [" + (++step) + "/" + STEPS + "] " + what);
    }

    private void run(HookedTransformer m, long[][] rep) {
        IOIDataset ioi = IOIDataset.builder(m.tokenizer()).promptType(Paper.ARENA_PROMPT_TYPE).n(Paper.ARENA_N)
                .seed(Paper.ARENA_SEED).prependBos(false).build();
        IOIDataset abc = ioi.genFlippedPrompts(Paper.ABC_FLIP);
        IoiBatch batch = Paper.batch(ioi, abc);
        json.put("meta", Map.of("model", model, "prompt_type", Paper.ARENA_PROMPT_TYPE, "n", Paper.ARENA_N,
                "seed", Paper.ARENA_SEED, "prepend_bos", false, "abc_flip", Paper.ABC_FLIP,
                "processing", "fold_ln, center_writing_weights, center_unembed, fold_value_biases, "
                        + "refactor_factored_attn_matrices", "time", Instant.now().toString()));

        progress("01 the task: logit differences");
        Metrics.Performance perf = Metrics.performance(m, batch);
        json.put("logit_diff", Map.of("ioi", perf.meanLogitDiff(), "abc", perf.meanAbcLogitDiff(),
                "ioi_per_prompt", perf.logitDiff().toFloatArray(), "abc_per_prompt", perf.abcLogitDiff().toFloatArray(),
                "io_probability", perf.meanIoProbability()));
        report.add(retitle(Paper.referenceVsRun(perf), "01 · the task (§2)"));

        progress("02 name movers: path patching to the logits, writing direction, copying scores");
        nameMovers(m, batch);
        progress("03 S-inhibition heads: path patching to the name movers' queries, signals");
        sInhibition(m, batch, ioi);
        progress("04 induction, duplicate and previous token heads");
        earlyHeads(m, batch, rep);
        try (MeanAblation ablation = MeanAblation.byTemplate(m, batch, abc)) {
            progress("05 backup name movers; 06 circuit evaluation: faithfulness, completeness, minimality");
            TopHeadAblation top = TopHeadAblation.run(ablation);   // ARENA's 9.9 experiment: for 05 and 06
            backup(m, batch, ablation, top);
            circuit(ablation, top);
        }
        progress("beyond the paper: attribution patching of every head's output; EAP and EAP-IG over every edge");
        // The estimated change of the mean logit difference when one head's z is patched at every
        // position from the ABC run into the IOI run: Σ (z_ABC − z_IOI) · ∂LD/∂z at the IOI run.
        try (AttributionPatching ap = AttributionPatching.ioiNoising(m, batch, Metrics.logitDiffMetric(batch))) {
            PatchingResult r = ap.headOutAllPos();
            float[][] delta = r.rows();
            for (float[] row : delta) {
                for (int h = 0; h < row.length; h++) {
                    row[h] -= (float) ap.baseline();
                }
            }
            json.put("attribution_patching", Map.of("head_out", delta, "logit_diff", ap.baseline(),
                    "definition", "estimated change of the mean logit difference (IO - S at END) when head L.H's z is "
                            + "patched at every position from the ABC run into the IOI run: sum over prompts, positions "
                            + "and d_head of (z_ABC - z_IOI) * dLD/dz at the IOI run; [layer][head]"));
        }
        Map<String, Object> eap = new LinkedHashMap<>();
        for (EdgeAttribution.Scores s : List.of(
                EdgeAttribution.ioi(m, batch, EAP_CHUNK, ProgressBar.text("EAP")),
                EdgeAttribution.ioiIg(m, batch, EAP_IG_STEPS, EAP_CHUNK, ProgressBar.text("EAP-IG")))) {
            eap.put(s.method().equals("EAP") ? "eap" : "eap_ig", edgeResults(s));
        }
        eap.put("definition", "score(u -> v) = sum over prompts, positions and d_model of (a_u(ABC) - a_u(IOI)) * dLD/d in_v "
                + "at the IOI run (EAP; EAP-IG: dLD/d in_v averaged over " + EAP_IG_STEPS + " runs with the token embeddings "
                + "at ABC + k/" + EAP_IG_STEPS + " (IOI - ABC)); LD = the mean logit difference; EAP-IG's graph (docs/attribution.md)");
        json.put("edge_attribution", eap);
        progress("07 adversarial examples (N = 100)");
        IOIDataset ioi100 = IOIDataset.builder(m.tokenizer()).promptType(Paper.ARENA_PROMPT_TYPE).n(100)
                .seed(Paper.ARENA_SEED).prependBos(false).build();
        Adversarial.Result adv = Adversarial.run(m, ioi100, Adversarial.Mode.SINGLE, 0);
        Map<String, Object> a = new LinkedHashMap<>();
        for (Adversarial.Condition c : Adversarial.Condition.values()) {
            Adversarial.Measured r = adv.get(c);
            a.put(c.name().toLowerCase(), Map.of("logit_diff", r.meanLogitDiff(), "io_probability", r.meanIoProbability(),
                    "s_over_io", r.fractionSOverIo()));
        }
        json.put("adversarial", a);
        report.add(retitle(adv.paperVsRun(), "07 · adversarial examples (§4.4, Fig 8)"));
    }

    private static final int EAP_CHUNK = 8;
    private static final int EAP_IG_STEPS = 5;
    private static final int[] TOP_EDGES = {50, 100, 200, 400, 800};

    /** The top edges and how many of the paper's heads they hold. */
    private static Map<String, Object> edgeResults(EdgeAttribution.Scores s) {
        List<Map<String, Object>> top = new ArrayList<>();
        for (EdgeAttribution.Edge e : s.top(100)) {
            top.add(Map.of("from", e.parent(), "to", e.child(), "score", e.score()));
        }
        List<Map<String, Object>> recovery = new ArrayList<>();
        for (int n : TOP_EDGES) {
            HeadRecovery r = HeadRecovery.at(s, n, Circuit.PAPER.heads());
            recovery.add(Map.of("top_edges", n, "heads", r.found().size(), "true_positives", r.truePositives(),
                    "precision", r.precision(), "recall", r.recall(), "false_positive_rate", r.falsePositiveRate()));
        }
        Map<String, Object> out = new LinkedHashMap<>(Map.of("method", s.method(), "steps", s.steps(), "edges",
                s.graph().edgeCount(), "top_100", top, "paper_heads", recovery, "roc_auc",
                HeadRecovery.roc(s, Circuit.PAPER.heads()).auc()));
        if (s.graph().nLayers() == 12 && s.graph().nHeads() == 12) { // ACDC's ground truth is GPT-2 small's
            java.util.Set<String> acdc = EdgeRecovery.acdcIoi(s.graph());
            List<Map<String, Object>> edgeRows = new ArrayList<>();
            for (int n : TOP_EDGES) {
                EdgeRecovery r = EdgeRecovery.at(s, n, acdc);
                edgeRows.add(Map.of("top_edges", n, "true_positives", r.truePositives(), "precision", r.precision(),
                        "recall", r.recall(), "false_positive_rate", r.falsePositiveRate()));
            }
            out.put("acdc_edges", Map.of("reference_edges", acdc.size(), "at", edgeRows, "roc_auc",
                    EdgeRecovery.roc(s, acdc).auc()));
        }
        return out;
    }

    private void nameMovers(HookedTransformer m, IoiBatch batch) {
        Map<String, Object> pp = new LinkedHashMap<>();
        PatchingResult fig3b;
        try (PathPatching arena = PathPatching.create(m, batch,
                PathPatching.Options.arena().progress(ProgressBar.text("path patching → logits (ARENA)")));
             PathPatching paper = PathPatching.paper(m, batch, "end")) {
            fig3b = arena.toFinalResid();
            pp.put("arena_to_logits", fig3b.rows());
            pp.put("paper_to_logits_end", paper.toFinalResid().rows());
        }
        Map<String, Object> wd = new LinkedHashMap<>();
        WritingDirection.Result wd99 = null;
        for (Head h : List.of(Head.of(9, 9), Head.of(11, 10))) {
            WritingDirection.Result r = WritingDirection.compute(m, batch, h.layer(), h.head());
            wd99 = wd99 == null ? r : wd99;
            wd.put(h.toString(), Map.of("attn_io", r.attnIo(), "attn_s", r.attnS1(), "attn_s2", r.attnS2(),
                    "proj_io", r.projIo(), "proj_s", r.projS(),
                    "correlation_arena", r.correlation(WritingDirection.SAttention.S1),
                    "correlation_paper", r.correlation(WritingDirection.SAttention.S1_PLUS_S2)));
        }
        json.put("writing_direction", wd);
        ReferenceTable ref = new ReferenceTable("02 · name movers (§3.1)");
        CopyingScores.Result c = CopyingScores.compute(m, CopyingScores.Options.defaults().progress(ProgressBar.text("copying scores (ARENA)")));
        CopyingScores.Result cp = CopyingScores.onDataset(m, batch);
        Map<String, Object> cs = new LinkedHashMap<>();
        cs.put("positive", c.scores().slice(0).rows());
        cs.put("negative", c.scores().slice(1).rows());
        cs.put("average_positive", c.averageArena(CopyingScores.Sign.POSITIVE));
        cs.put("average_negative", c.averageArena(CopyingScores.Sign.NEGATIVE));
        cs.put("paper", Map.of("positive", cp.scores().slice(0).rows(), "negative", cp.scores().slice(1).rows()));
        json.put("copying_scores", cs);
        ref.row("path patching → logits, 9.9 / 9.6 / 10.0 (ioi_metric_2)", "large drop", "large drop",
                String.format(java.util.Locale.ROOT, "%.3f / %.3f / %.3f", fig3b.get(9, 9), fig3b.get(9, 6), fig3b.get(10, 0)))
                .row("correlation attention / writing direction, 9.9 (paper: S1 + S2)", "> 0.81 (N = 500)", "",
                        ReferenceTable.number(wd99.correlation(WritingDirection.SAttention.S1_PLUS_S2), 2))
                .row("copy score 9.9 / 10.0 / 9.6 (ARENA's get_copying_scores)", "", "100.00% / 94.50% / 94.50%",
                        ReferenceTable.percent(c.positive(9, 9), 2) + " / " + ReferenceTable.percent(c.positive(10, 0), 2)
                                + " / " + ReferenceTable.percent(c.positive(9, 6), 2))
                .row("copy score 9.9 / 10.0 / 9.6 (paper's check_copy_circuit)", "> 95%", "",
                        ReferenceTable.percent(cp.positive(9, 9), 2) + " / " + ReferenceTable.percent(cp.positive(10, 0), 2)
                                + " / " + ReferenceTable.percent(cp.positive(9, 6), 2))
                .row("copy score, average head (ARENA: layers 1-11 / 144)", "< 20%", "10.11%",
                        ReferenceTable.percent(c.averageArena(CopyingScores.Sign.POSITIVE), 2))
                .row("negative copy score 10.7 / 11.10 (ARENA's code)", "98%", "100.00% / 100.00%",
                        ReferenceTable.percent(c.negative(10, 7), 2) + " / " + ReferenceTable.percent(c.negative(11, 10), 2))
                .row("negative copy score, average head (ARENA: layers 1-11 / 144)", "12%", "1.93%",
                        ReferenceTable.percent(c.averageArena(CopyingScores.Sign.NEGATIVE), 2));
        json.put("path_patching", pp);
        report.add(ref.table());
    }

    private void sInhibition(HookedTransformer m, IoiBatch batch, IOIDataset ioi) {
        @SuppressWarnings("unchecked")
        Map<String, Object> pp = (Map<String, Object>) json.get("path_patching");
        try (PathPatching arena = PathPatching.create(m, batch,
                PathPatching.Options.arena().progress(ProgressBar.text("path patching → name mover queries (ARENA)")));
             PathPatching paper = PathPatching.paper(m, batch, "end")) {
            PatchingResult q = arena.toHeads("q", NAME_MOVERS);
            PatchingResult qp = paper.toHeads("q", NAME_MOVERS);
            PatchingResult v = arena.toHeads("v", S_INHIBITION);
            PatchingResult k = arena.toHeads("k", S_INHIBITION);
            pp.put("arena_to_name_mover_queries", q.rows());
            pp.put("paper_to_name_mover_queries_end", qp.rows());
            pp.put("arena_to_s_inhibition_values", v.rows());
            pp.put("arena_to_s_inhibition_keys", k.rows());
        }
        SignalPatching.Result sa = SignalPatching.run(m, ioi,
                SignalPatching.Options.arena().progress(ProgressBar.text("signal datasets (ARENA)")));
        SignalPatching.Result sp = SignalPatching.run(m, ioi, SignalPatching.Options.paper());
        Map<String, Object> sig = new LinkedHashMap<>();
        for (SignalPatching.Result r : List.of(sa, sp)) {
            sig.put(r == sa ? "arena" : "paper", Map.of("logit_diff", r.logitDiff(), "clean_logit_diff", r.cleanLogitDiff(),
                    "fit_position", r.fit().positionCoefficient(), "fit_token", r.fit().tokenCoefficient(),
                    "fit_mean_relative_error", r.fit().meanRelativeError()));
        }
        sig.put("rows", "token signal: original, random, inverted; columns: position signal original, inverted");
        json.put("signals", sig);
        report.add(retitle(sp.paperVsRun(), "03 · S-inhibition signals (§3.2, Fig 9), the paper's variant"));
    }

    private void earlyHeads(HookedTransformer m, IoiBatch batch, long[][] rep) {
        @SuppressWarnings("unchecked")
        Map<String, Object> pp = (Map<String, Object>) json.get("path_patching");
        try (PathPatching s2 = PathPatching.create(m, batch, PathPatching.Options.paper(batch, "S2")
                .progress(ProgressBar.text("path patching → S-inhibition values at S2 (paper)")));
             PathPatching s1p1 = PathPatching.paper(m, batch, "S1+1")) {
            PatchingResult v = s2.toHeads("v", S_INHIBITION);
            PatchingResult k = s1p1.toHeads("k", INDUCTION);
            pp.put("paper_to_s_inhibition_values_s2", v.rows());
            pp.put("paper_to_induction_keys_s1p1", k.rows());
        }
        int seqLen = Math.min(ValidationScores.DEFAULT_SEQ_LEN, m.cfg().nCtx() / 2);
        ValidationScores.Result r = rep != null ? ValidationScores.compute(m, rep) : ValidationScores.compute(m, seqLen, ValidationScores.DEFAULT_BATCH, seedRep);
        Map<String, Object> hv = new LinkedHashMap<>();
        for (String s : ValidationScores.SCORES) {
            hv.put(s, r.grid(s));
        }
        hv.put("tokens", rep != null ? repTokens.toString() : "generated, seed " + seedRep + ", seq_len " + seqLen);
        json.put("head_validation", hv);
        report.add(new ReferenceTable("04 · induction, duplicate and previous token heads (§3.3, Fig 18)")
                .row("top 2 previous token heads", "4.11, 2.2", "", String.join(", ", r.topHeads("prev", 2)))
                .row("top 5 induction heads", "include 5.5, 6.9", "", String.join(", ", r.topHeads("induction", 5)))
                .row("top 3 duplicate token heads", "include 3.0, 0.1", "", String.join(", ", r.topHeads("duplicate", 3)))
                .table());
    }

    private void backup(HookedTransformer m, IoiBatch batch, MeanAblation ablation, TopHeadAblation top) {
        double ld = ablation.logitDiff(ablation.nothing());
        MeanAblation.KeepMask nameMoversOut = ablation.knockOut(NAME_MOVERS);
        double knocked = ablation.logitDiff(nameMoversOut);
        @SuppressWarnings("unchecked")
        Map<String, Object> pp = (Map<String, Object>) json.get("path_patching");
        try (PathPatching after = PathPatching.create(m, batch, PathPatching.Options.paper(batch, "end")
                .baseHooks(ablation.hookList(nameMoversOut))
                .progress(ProgressBar.text("path patching → logits, name movers knocked out")))) {
            PatchingResult r = after.toFinalResid();
            pp.put("paper_to_logits_end_name_movers_knocked_out", r.rows());
        }
        json.put("backup_name_movers", Map.of("logit_diff", ld, "logit_diff_name_movers_knocked_out", knocked,
                "top_head", top.head().toString(), "top_head_original", top.originalLogitDiff(), "top_head_dla", top.dla(),
                "top_head_naive_prediction", top.naivePrediction(), "top_head_ablated", top.ablatedLogitDiff(),
                "ln_scale_ratio", top.lnScaleRatio()));
        report.add(new ReferenceTable("05 · backup name movers (§3.4)")
                .row("logit diff change, name movers knocked out", "-5%", "", ReferenceTable.number(100 * (knocked - ld) / ld, 1) + "%")
                .row("logit diff after ablating " + top.head() + " at end", "", "2.6290", ReferenceTable.number(top.ablatedLogitDiff(), 4))
                .table());
    }

    private void circuit(MeanAblation ablation, TopHeadAblation top) {
        CircuitEvaluation full = CircuitEvaluation.of(ablation, Circuit.PAPER);
        CircuitEvaluation.Faithfulness f = full.faithfulness();
        double union = ablation.logitDiff(ablation.keep(Circuit.PAPER, MeanAblation.Keep.UNION));
        json.put("minimal_circuit", Map.of("logit_diff_model", f.fModel(), "logit_diff_circuit", f.fCircuit(),
                "logit_diff_circuit_union", union));
        CircuitEvaluation.Faithfulness naive = CircuitEvaluation.of(ablation, Circuit.NAIVE).faithfulness();
        json.put("faithfulness", Map.of("f_model", f.fModel(), "f_circuit", f.fCircuit(), "abs_diff", f.absDiff(),
                "percent_of_model", f.percentOfModel(), "naive_f_circuit", naive.fCircuit(), "naive_abs_diff", naive.absDiff()));

        CircuitEvaluation paperCode = CircuitEvaluation.of(ablation, Circuit.PAPER_CODE)
                .progress(ProgressBar.text("greedy search (paper's code)"));
        CircuitEvaluation.Greedy greedy = paperCode.greedy(CircuitEvaluation.GreedyOptions.paper(Circuit.PAPER_CODE)
                .runs(greedyRuns).iterations(greedyIterations));
        List<CircuitEvaluation.KSet> sets = new ArrayList<>(paperCode.standardSets(10, 0));
        sets.addAll(greedy.sets());
        CircuitEvaluation.Completeness c = paperCode.completeness(sets);
        List<Map<String, Object>> points = new ArrayList<>();
        for (int i = 0; i < sets.size(); i++) {
            points.add(Map.of("kind", sets.get(i).kind(), "name", sets.get(i).name(),
                    "heads", sets.get(i).heads().stream().map(Head::toString).toList(),
                    "f_c_minus_k", c.fCircuitWithout()[i], "f_m_minus_k", c.fModelWithout()[i]));
        }
        json.put("completeness", Map.of("points", points, "greedy_runs", greedyRuns, "greedy_iterations", greedyIterations,
                "max_incompleteness", c.maxIncompleteness()));

        Minimality.Result min = full.minimality(Minimality.ARENA_K);
        Minimality.Result minPaper = full.minimality(Minimality.PAPER_K);
        Map<String, Object> mj = new LinkedHashMap<>();
        for (Minimality.Result r : List.of(min, minPaper)) {
            Map<String, Object> per = new LinkedHashMap<>();
            for (int i = 0; i < r.heads().size(); i++) {
                per.put(r.heads().get(i).toString(), Map.of("score", r.score()[i], "percent_of_model", r.percentOfModel()[i]));
            }
            mj.put(r == min ? "arena_k" : "paper_k", per);
        }
        json.put("minimality", mj);
        report.add(retitle(CircuitReference.referenceVsRun(f, naive, c, min, top), "06 · circuit evaluation (§4)"));
    }

    // ---------------------------------------------------------------- helpers

    private static Table retitle(Table t, String title) {
        return t.copy().setName(title);
    }

    /** {@code --rep-tokens}: a JSON array of equal-length rows of token ids. */
    static long[][] readRepTokens(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("--rep-tokens " + file + " cannot be read: " + e.getMessage());
        }
        long[][] rows;
        try {
            rows = new Gson().fromJson(text, long[][].class);
        } catch (JsonParseException | NumberFormatException e) {
            throw new IllegalArgumentException("--rep-tokens " + file + " is not a JSON array [batch][2*seq_len] of token ids: "
                    + e.getMessage());
        }
        if (rows == null || rows.length == 0 || rows[0] == null || rows[0].length < 2) {
            throw new IllegalArgumentException("--rep-tokens " + file + ": expected [batch][2*seq_len] token ids, at least "
                    + "one row of two tokens");
        }
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] == null || rows[i].length != rows[0].length) {
                throw new IllegalArgumentException("--rep-tokens " + file + ": row " + i + " has "
                        + (rows[i] == null ? 0 : rows[i].length) + " tokens but row 0 has " + rows[0].length);
            }
        }
        if (rows[0].length % 2 != 0) {
            throw new IllegalArgumentException("--rep-tokens " + file + ": rows have " + rows[0].length
                    + " tokens, expected an even 2*seq_len (a sequence followed by its repeat)");
        }
        return rows;
    }

    private void checkRepTokens(long[][] rows, HookedTransformer m) {
        if (rows[0].length > m.cfg().nCtx()) {
            throw new IllegalArgumentException("--rep-tokens " + repTokens + ": rows of " + rows[0].length
                    + " tokens exceed the model's n_ctx " + m.cfg().nCtx());
        }
        for (long[] row : rows) {
            for (long t : row) {
                if (t < 0 || t >= m.cfg().dVocab()) {
                    throw new IllegalArgumentException("--rep-tokens " + repTokens + ": token " + t + " is outside [0, "
                            + m.cfg().dVocab() + ")");
                }
            }
        }
    }

    private void write(Path dir) throws IOException {
        Gson gson = new GsonBuilder().serializeSpecialFloatingPointValues().create();
        Files.writeString(dir.resolve("replication.json"), gson.toJson(json) + "\n", StandardCharsets.UTF_8);
        StringBuilder md = new StringBuilder("# IOI replication: paper / ARENA / this run\n\nModel `" + model
                + "`, ARENA's dataset (mixed, N = 25, seed 1, no BOS; ABC = `" + Paper.ABC_FLIP + "`). "
                + "Numbers in `replication.json` (keys: docs/replicate.md).\n");
        StringBuilder html = new StringBuilder("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>IOI replication"
                + "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
                + "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
                + "<h1>IOI replication: paper / ARENA / this run</h1><p>Model <code>" + escape(model) + "</code>, ARENA's "
                + "dataset (mixed, N = 25, seed 1, no BOS).</p>");
        for (Table t : report) {
            md.append("\n## ").append(t.name()).append("\n\n").append(markdown(t));
            html.append("<h2>").append(escape(t.name())).append("</h2>").append(Tables.html(t));
        }
        html.append("</body></html>\n");
        Files.writeString(dir.resolve("replication.md"), md.toString(), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("replication.html"), html.toString(), StandardCharsets.UTF_8);
    }

    private static String markdown(Table t) {
        StringBuilder sb = new StringBuilder("|");
        for (String c : t.columnNames()) {
            sb.append(' ').append(c).append(" |");
        }
        sb.append("\n|").append(" --- |".repeat(t.columnCount())).append('\n');
        for (int r = 0; r < t.rowCount(); r++) {
            sb.append('|');
            for (int c = 0; c < t.columnCount(); c++) {
                sb.append(' ').append(t.getString(r, c).replace("|", "\\|")).append(" |");
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
