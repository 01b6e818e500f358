package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Identities that hold exactly in real arithmetic (docs/model.md "Parity with TransformerLens"), checked on the
 * tiny random GPT-2 in fp32. Tolerance 1e-4 absolute + 1e-4 relative unless stated.
 */
class InvarianceTest {

    static final double ATOL = 1e-4;
    static final double RTOL = 1e-4;
    static HookedTransformer processed;
    static HookedTransformer unprocessed;
    static NDManager manager;
    static NDArray tokens; // [batch, pos]

    @BeforeAll
    static void load() {
        processed = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
        unprocessed = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.none(), null);
        manager = NDManager.newBaseManager();
        tokens = manager.create(new long[][] {
                {50256, 464, 3290, 1110, 290, 1757, 1816, 284, 262, 3650, 11, 1757, 2921},
                {50256, 15496, 995, 0, 314, 716, 257, 1332, 13, 383, 3290, 318, 2415}});
    }

    @AfterAll
    static void close() {
        manager.close();
        processed.close();
        unprocessed.close();
    }

    @Test
    void processingShiftsLogitsByAConstantPerPositionAndKeepsProbabilitiesAndLoss() {
        Compare cmp = new Compare("processed vs unprocessed");
        RunOptions both = RunOptions.defaults().returnType(RunOptions.ReturnType.BOTH);
        try (Output p = processed.forward(tokens, both); Output u = unprocessed.forward(tokens, both)) {
            NDArray diff = p.logits().sub(u.logits()); // [batch, pos, d_vocab]
            cmp.close("logit difference minus its per-position mean", diff.sub(diff.mean(new int[] {-1}, true)),
                    diff.zerosLike(), ATOL, 0);
            cmp.close("processed logits have mean 0 per position (center_unembed)",
                    p.logits().mean(new int[] {-1}), p.logits().mean(new int[] {-1}).zerosLike(), 1e-5, 0);
            cmp.close("log_softmax", p.logits().logSoftmax(-1), u.logits().logSoftmax(-1), ATOL, RTOL);
            cmp.close("loss", p.loss().reshape(1), u.loss().reshape(1), 1e-5, 0);
        }
        cmp.check();
    }

    @Test
    void processedResidualsAreUnprocessedMinusTheirMean() {
        Compare cmp = new Compare("center_writing_weights: residuals");
        try (ActivationCache p = processed.runWithCache(tokens); ActivationCache u = unprocessed.runWithCache(tokens)) {
            for (int l = 0; l < processed.cfg().nLayers(); l++) {
                for (String name : new String[] {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"}) {
                    NDArray raw = u.get(name, l);
                    cmp.close(name + " " + l, p.get(name, l), raw.sub(raw.mean(new int[] {-1}, true)), ATOL, RTOL);
                }
                // fold_ln leaves what the readers compute unchanged
                cmp.close("pre " + l, p.get("pre", l), u.get("pre", l), ATOL, RTOL);
                cmp.close("pattern " + l, p.get("pattern", l), u.get("pattern", l), ATOL, RTOL);
                cmp.close("ln1 scale " + l, p.get("scale", l, "ln1"), u.get("scale", l, "ln1"), ATOL, RTOL);
            }
        }
        cmp.check();
    }

    @Test
    void residualIdentitiesHold() {
        Compare cmp = new Compare("residual identities");
        try (ActivationCache c = processed.runWithCache(tokens)) {
            cmp.close("resid_pre 0 = embed + pos_embed", c.get("resid_pre", 0),
                    c.get("hook_embed").add(c.get("hook_pos_embed")), 1e-6, 0);
            int n = processed.cfg().nLayers();
            for (int l = 0; l < n; l++) {
                cmp.close("resid_mid = resid_pre + attn_out, " + l, c.get("resid_mid", l),
                        c.get("resid_pre", l).add(c.get("attn_out", l)), 1e-6, 0);
                cmp.close("resid_post = resid_mid + mlp_out, " + l, c.get("resid_post", l),
                        c.get("resid_mid", l).add(c.get("mlp_out", l)), 1e-6, 0);
                if (l + 1 < n) {
                    cmp.close("resid_pre[l+1] = resid_post[l], " + l, c.get("resid_pre", l + 1), c.get("resid_post", l), 0, 0);
                }
            }
            LabeledStack parts = c.decomposeResid(null, false);
            cmp.close("sum of decomposeResid = final resid_post", parts.stack().sum(new int[] {0}),
                    c.get("resid_post", -1), ATOL, RTOL);
            if (!parts.labels().get(0).equals("embed") || !parts.labels().get(parts.labels().size() - 1).equals((n - 1) + "_mlp_out")) {
                cmp.fail("decomposeResid labels: " + parts.labels());
            }
        }
        cmp.check();
    }

    @Test
    void headResultsSumToAttnOut() {
        Compare cmp = new Compare("sum of stackHeadResults + b_O == attn_out");
        int n = processed.cfg().nLayers();
        int h = processed.cfg().nHeads();
        for (HookedTransformer model : new HookedTransformer[] {processed, unprocessed}) {
            try (ActivationCache c = model.runWithCache(tokens)) {
                LabeledStack heads = c.stackHeadResults(null, false, false); // [n_layers*head_index, batch, pos, d_model]
                Shape s = heads.stack().getShape();
                NDArray perLayer = heads.stack().reshape(n, h, s.get(1), s.get(2), s.get(3)).sum(new int[] {1}); // [n_layers, batch, pos, d_model]
                for (int l = 0; l < n; l++) {
                    cmp.close(model.processing().foldLn() + " layer " + l,
                            perLayer.get(l).add(model.weight("blocks." + l + ".attn.b_O")), c.get("attn_out", l), ATOL, RTOL);
                }
                if (!heads.labels().get(h + 1).equals("L1H1")) {
                    cmp.fail("labels: " + heads.labels());
                }
                LabeledStack withRest = c.stackHeadResults(null, true, false);
                cmp.close("heads + remainder = final resid_post", withRest.stack().sum(new int[] {0}),
                        c.get("resid_post", -1), ATOL, RTOL);
            }
        }
        cmp.check();
    }

    @Test
    void logitLensOfTheFinalResidualIsTheLogitsAndLogitAttrsAddUp() {
        Compare cmp = new Compare("logit lens and direct logit attribution");
        try (ActivationCache c = processed.runWithCache(tokens)) {
            LabeledStack acc = c.accumulatedResid(null, false, true); // [components, batch, pos, d_model]
            int last = acc.labels().size() - 1;
            if (!acc.labels().get(last).equals("final_post") || !acc.labels().get(0).equals("0_pre")) {
                cmp.fail("accumulatedResid labels: " + acc.labels());
            }
            NDArray lens = acc.stack().get(last).matMul(processed.W_U()).add(processed.b_U()); // [batch, pos, d_vocab]
            cmp.close("accumulatedResid(applyLn)[-1] @ W_U + b_U == logits", lens, c.logits(), ATOL, RTOL);

            // DLA at the last position: sum over components of logitAttrs = logit(tok) - b_U[tok]
            long[] answer = {1757, 2415};
            long[] wrong = {3290, 318};
            LabeledStack parts = c.decomposeResid(null, false);
            NDArray atLast = parts.stack().get(":, :, -1, :"); // [components, batch, d_model]
            NDArray attrs = c.logitAttrs(atLast, answer, wrong, -1); // [components, batch]
            NDArray logitsLast = c.logits().get(":, -1, :"); // [batch, d_vocab]
            float[] total = attrs.sum(new int[] {0}).toFloatArray();
            float[] expected = new float[answer.length];
            for (int b = 0; b < answer.length; b++) {
                expected[b] = logitsLast.getFloat(b, answer[b]) - processed.b_U().getFloat(answer[b])
                        - (logitsLast.getFloat(b, wrong[b]) - processed.b_U().getFloat(wrong[b]));
            }
            cmp.close("sum of logitAttrs = logit difference minus b_U", total, expected, ATOL, RTOL);
        }
        cmp.check();
    }

    @Test
    void refactoringKeepsEveryHeadsQkAndOvCircuits() {
        Compare cmp = new Compare("refactor_factored_attn_matrices keeps W_Q W_K^T and W_V W_O");
        try (HookedTransformer refactored = HookedTransformer.load(TestModels.tinyGpt2(),
                ProcessingOptions.withRefactoring(), null)) {
            for (int l = 0; l < processed.cfg().nLayers(); l++) {
                for (int h = 0; h < processed.cfg().nHeads(); h++) {
                    String p = "blocks." + l + ".attn.";
                    NDArray ov = processed.weight(p + "W_V").get(h).matMul(processed.weight(p + "W_O").get(h));
                    cmp.close("OV " + l + "." + h + " = W_V W_O", processed.OV(l, h), ov, 1e-6, 0);
                    cmp.close("OV " + l + "." + h + " refactored", refactored.OV(l, h), processed.OV(l, h), ATOL, RTOL);
                    cmp.close("QK " + l + "." + h + " refactored", refactored.QK(l, h), processed.QK(l, h), ATOL, RTOL);
                    // W_O's rows become orthonormal: W_O W_O^T = I [d_head, d_head]
                    NDArray wO = refactored.weight(p + "W_O").get(h);
                    cmp.close("W_O W_O^T = I " + l + "." + h, wO.matMul(wO.transpose()),
                            manager.eye(processed.cfg().dHead()), 1e-5, 0);
                }
            }
        }
        cmp.check();
    }
}
