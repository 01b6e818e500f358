package ioi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import ioi.data.IOIDataset;
import ioi.experiments.AttributionPatching;
import ioi.experiments.Circuit;
import ioi.experiments.CopyingScores;
import ioi.experiments.EdgeAttribution;
import ioi.experiments.EdgeRecovery;
import ioi.experiments.HeadRecovery;
import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import ioi.lens.TestModels;
import ioi.notebook.Paper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./ioi replicate} on the tests' 12x12 checkpoint: the keys the report promises, a few
 * values against the library called directly (tolerance 1e-6: the same computation), and bad input
 * that fails with one line and leaves {@code --out} empty.
 */
class ReplicateCommandTest {

    @Test
    void writesEveryNotebooksResults(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("replication");
        int code = Main.run("replicate", "--model", TestModels.ioiGpt2().toString(), "--out", out.toString(),
                "--greedy-runs", "2", "--greedy-iterations", "2");
        assertEquals(0, code);
        for (String f : List.of("replication.json", "replication.md", "replication.html")) {
            assertTrue(Files.size(out.resolve(f)) > 100, f);
        }
        JsonObject j = JsonParser.parseString(Files.readString(out.resolve("replication.json"))).getAsJsonObject();
        for (String key : List.of("meta", "logit_diff", "writing_direction", "copying_scores", "head_validation",
                "minimal_circuit", "path_patching", "signals", "backup_name_movers", "faithfulness", "completeness",
                "minimality", "adversarial", "attribution_patching", "edge_attribution")) {
            assertTrue(j.has(key), "replication.json has " + key + "; keys: " + j.keySet());
        }
        JsonObject ld = j.getAsJsonObject("logit_diff");
        assertEquals(25, ld.getAsJsonArray("ioi_per_prompt").size());
        assertEquals(25, ld.getAsJsonArray("abc_per_prompt").size());
        for (String h : List.of("9.9", "11.10")) {
            JsonObject wd = j.getAsJsonObject("writing_direction").getAsJsonObject(h);
            for (String k : List.of("attn_io", "attn_s", "proj_io", "proj_s")) {
                assertEquals(25, wd.getAsJsonArray(k).size(), h + " " + k);
            }
        }
        JsonObject cs = j.getAsJsonObject("copying_scores");
        assertGrid(cs.getAsJsonArray("positive"), "copying_scores.positive");
        assertGrid(cs.getAsJsonArray("negative"), "copying_scores.negative");
        for (String s : List.of("duplicate", "prev", "induction")) {
            assertGrid(j.getAsJsonObject("head_validation").getAsJsonArray(s), "head_validation." + s);
        }
        for (String k : List.of("arena_to_logits", "paper_to_logits_end", "arena_to_name_mover_queries",
                "paper_to_s_inhibition_values_s2", "paper_to_induction_keys_s1p1")) {
            assertTrue(j.getAsJsonObject("path_patching").has(k), "path_patching." + k);
        }
        JsonObject mc = j.getAsJsonObject("minimal_circuit");
        assertTrue(mc.has("logit_diff_model") && mc.has("logit_diff_circuit"), mc.toString());
        assertEquals(1 + 6 + 10 + 2, j.getAsJsonObject("completeness").getAsJsonArray("points").size(),
                "∅, the 6 classes of the paper's code, 10 random sets, one greedy set per run");

        // the same numbers as the library called directly
        try (HookedTransformer m = HookedTransformer.fromPretrained(TestModels.ioiGpt2().toString(),
                ProcessingOptions.withRefactoring())) {
            IOIDataset ioi = IOIDataset.builder(m.tokenizer()).promptType("mixed").n(25).seed(1).prependBos(false).build();
            IoiBatch batch = Paper.batch(ioi, ioi.genFlippedPrompts(Paper.ABC_FLIP));
            Metrics.Performance perf = Metrics.performance(m, batch);
            assertEquals(perf.meanLogitDiff(), ld.get("ioi").getAsDouble(), 1e-6, "logit_diff.ioi");
            assertEquals(perf.meanAbcLogitDiff(), ld.get("abc").getAsDouble(), 1e-6, "logit_diff.abc");
            try (var ap = AttributionPatching.ioiNoising(m, batch, Metrics.logitDiffMetric(batch))) {
                var r = ap.headOutAllPos();
                JsonArray head = j.getAsJsonObject("attribution_patching").getAsJsonArray("head_out");
                assertGrid(head, "attribution_patching.head_out");
                assertEquals(r.get(9, 9) - ap.baseline(), head.get(9).getAsJsonArray().get(9).getAsDouble(), 1e-5,
                        "attribution_patching.head_out[9][9]: the estimated change for head 9.9 (tolerance 1e-5)");
            }
            EdgeAttribution.Scores eap = EdgeAttribution.ioi(m, batch, 8, null);
            JsonObject eapJson = j.getAsJsonObject("edge_attribution").getAsJsonObject("eap");
            JsonObject first = eapJson.getAsJsonArray("top_100").get(0).getAsJsonObject();
            EdgeAttribution.Edge top = eap.top(1).get(0);
            assertEquals(top.parent() + "->" + top.child(), first.get("from").getAsString() + "->" + first.get("to").getAsString(),
                    "edge_attribution.eap.top_100[0]");
            assertEquals(top.score(), first.get("score").getAsDouble(), 1e-6, "edge_attribution.eap.top_100[0].score");
            assertEquals(100, eapJson.getAsJsonArray("top_100").size());
            assertEquals(HeadRecovery.roc(eap, Circuit.PAPER.heads()).auc(), eapJson.get("roc_auc").getAsDouble(), 1e-9,
                    "edge_attribution.eap.roc_auc");
            var acdc = EdgeRecovery.acdcIoi(eap.graph());
            JsonObject acdcJson = eapJson.getAsJsonObject("acdc_edges");
            assertEquals(acdc.size(), acdcJson.get("reference_edges").getAsInt(), "edge_attribution.eap.acdc_edges.reference_edges");
            assertEquals(EdgeRecovery.roc(eap, acdc).auc(), acdcJson.get("roc_auc").getAsDouble(), 1e-9,
                    "edge_attribution.eap.acdc_edges.roc_auc");
            assertEquals(EdgeRecovery.at(eap, 400, acdc).truePositives(),
                    acdcJson.getAsJsonArray("at").get(3).getAsJsonObject().get("true_positives").getAsInt(),
                    "edge_attribution.eap.acdc_edges.at[3]: the top 400");
            JsonObject igJson = j.getAsJsonObject("edge_attribution").getAsJsonObject("eap_ig");
            assertEquals(5, igJson.get("steps").getAsInt(), "edge_attribution.eap_ig.steps");
            assertEquals(5, igJson.getAsJsonArray("paper_heads").size(), "edge_attribution.eap_ig.paper_heads: one row per n");
            CopyingScores.Result c = CopyingScores.compute(m);
            assertEquals(c.averageArena(CopyingScores.Sign.POSITIVE), cs.get("average_positive").getAsDouble(), 1e-6);
            assertEquals(c.positive(9, 9), cs.getAsJsonArray("positive").get(9).getAsJsonArray().get(9).getAsDouble(),
                    1e-6, "layer-major: [9][9] is head 9.9");
        }
        String md = Files.readString(out.resolve("replication.md"));
        assertTrue(md.contains("| quantity | paper | ARENA | this run |"), md);
        assertTrue(md.contains("copy score 9.9 / 10.0 / 9.6 (ARENA's get_copying_scores)"), md);
    }

    private static void assertGrid(JsonArray a, String what) {
        assertEquals(12, a.size(), what + " layers");
        for (int l = 0; l < 12; l++) {
            assertEquals(12, a.get(l).getAsJsonArray().size(), what + " heads of layer " + l);
        }
    }

    @Test
    void badInputFailsWithOneLineAndWritesNothing(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("out");
        Path notJson = tmp.resolve("rep.json");
        Files.writeString(notJson, "[[1, 2, 3");
        Path tooLong = tmp.resolve("long.json");
        StringBuilder row = new StringBuilder("[[");
        for (int i = 0; i < 2 * 2000; i++) {
            row.append(i == 0 ? "" : ", ").append(i % 100);
        }
        Files.writeString(tooLong, row.append("]]").toString());
        String model = TestModels.ioiGpt2().toString();
        expectError(() -> Main.run("replicate", "--model", tmp.resolve("no-such-model").toString(), "--out", out.toString()),
                "no-such-model");
        expectError(() -> Main.run("replicate", "--model", model, "--out", out.toString(), "--rep-tokens",
                tmp.resolve("missing.json").toString()), "cannot be read");
        expectError(() -> Main.run("replicate", "--model", model, "--out", out.toString(), "--rep-tokens",
                notJson.toString()), "is not a JSON array");
        expectError(() -> Main.run("replicate", "--model", model, "--out", out.toString(), "--rep-tokens",
                tooLong.toString()), "exceed the model's n_ctx");
        assertTrue(Files.notExists(out), "nothing written under --out");
        try (var left = Files.list(tmp)) {
            assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith(".replication-")).toList(),
                    "no temporary directory left behind");
        }
    }

    private static void expectError(Supplier<Integer> run, String expected) {
        PrintStream err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = run.get();
        } finally {
            System.setErr(err);
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        assertEquals(1, code, text);
        assertTrue(text.contains("ioi: ") && text.contains(expected), text);
    }
}
