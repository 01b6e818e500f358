package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Parity with TransformerLens 2.18 on the committed tiny random GPT-2: every hook point, the
 * logits and the loss, and the processed weights, against goldens written by
 * tools/goldens/make_goldens.py. Tolerances are TL's own spirit for fp32: activations and weights
 * {@code 1e-4 + 1e-4 |x|}, logits {@code 1e-4 + 1e-5 |x|}, loss {@code 1e-5}.
 */
class TransformerLensParityTest {

    static final double ATOL = 1e-4;
    static final double RTOL = 1e-4;

    static ProcessingOptions options(String caseName) {
        return switch (caseName) {
            case "unprocessed" -> ProcessingOptions.none();
            case "processed", "left_padded" -> ProcessingOptions.defaults();
            case "refactored" -> ProcessingOptions.withRefactoring();
            default -> throw new IllegalArgumentException(caseName);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"unprocessed", "processed", "refactored", "left_padded"})
    void everyHookLogitsAndLossMatchTransformerLens(String caseName) {
        Compare cmp = new Compare("TransformerLens parity, " + caseName);
        try (NDManager m = NDManager.newBaseManager();
                SafetensorsFile g = Safetensors.open(TestModels.golden(caseName));
                HookedTransformer model = HookedTransformer.load(TestModels.tinyGpt2(), options(caseName), null)) {
            NDArray tokens = g.load("tokens", m);
            RunOptions opts = RunOptions.defaults().returnType(RunOptions.ReturnType.BOTH);
            if (g.contains("attention_mask")) {
                opts = opts.attentionMask(g.load("attention_mask", m));
            }
            boolean refactored = caseName.equals("refactored");
            try (ActivationCache cache = model.runWithCache(tokens, null, opts)) {
                List<String> expectedOrder = Arrays.asList(g.metadata().get("hook_order").split(","));
                assertEquals(expectedOrder, cache.keys(), "cache keys in TL's execution order");
                for (String name : expectedOrder) {
                    NDArray expected = g.load(name, m);
                    NDArray actual = cache.get(name);
                    if (refactored && isNewBasis(name)) {
                        closeUpToSign(cmp, name, actual, expected);
                    } else {
                        cmp.close(name, actual, expected, ATOL, RTOL);
                    }
                }
                compareLogits(cmp, "", cache.logits(), g, m);
                cmp.close("loss", cache.loss().reshape(1), g.load("loss", m), 1e-5, 0);
            }
            try (Output perToken = model.forward(tokens, opts.returnType(RunOptions.ReturnType.LOSS).lossPerToken(true))) {
                cmp.close("loss_per_token", perToken.loss(), g.load("loss_per_token", m), 1e-5, 1e-5);
            }
            if (g.contains("blocks.0.attn.hook_result")) {
                compareGatedHooks(cmp, model, tokens, g, m);
            }
            compareWeights(cmp, model, g, m, refactored);
            for (int row = 0; g.contains("unpadded_row" + row + "/tokens"); row++) {
                compareUnpadded(cmp, model, g, m, row);
            }
        }
        cmp.check();
    }

    /** The flag-gated hooks, with TL's flags on: attn.hook_result, hook_q/k/v_input, hook_mlp_in, per-head ln1. */
    private static void compareGatedHooks(Compare cmp, HookedTransformer model, NDArray tokens,
            SafetensorsFile g, NDManager m) {
        model.setUseAttnResult(true);
        model.setUseSplitQkvInput(true);
        model.setUseHookMlpIn(true);
        try (ActivationCache cache = model.runWithCache(tokens)) {
            for (int l = 0; l < model.cfg().nLayers(); l++) {
                String p = "blocks." + l + ".";
                for (String name : List.of(p + "attn.hook_result", p + "hook_q_input", p + "hook_k_input",
                        p + "hook_v_input", p + "hook_mlp_in")) {
                    cmp.close(name, cache.get(name), g.load(name, m), ATOL, RTOL);
                }
                for (String ln : List.of("ln1.hook_scale", "ln1.hook_normalized")) {
                    cmp.close("split_qkv/" + p + ln, cache.get(p + ln), g.load("split_qkv/" + p + ln, m), ATOL, RTOL);
                }
            }
            cmp.close("split_qkv/logits_head", cache.logits().get("..., 0:512"),
                    g.load("split_qkv/logits_head", m), ATOL, 1e-5);
        } finally {
            model.setUseAttnResult(false);
            model.setUseSplitQkvInput(false);
            model.setUseHookMlpIn(false);
        }
    }

    private static void compareLogits(Compare cmp, String prefix, NDArray logits, SafetensorsFile g, NDManager m) {
        long v = logits.getShape().get(2);
        cmp.close(prefix + "logits_head", logits.get("..., 0:512"), g.load(prefix + "logits_head", m), ATOL, 1e-5);
        if (g.contains(prefix + "logits_tail")) {
            cmp.close(prefix + "logits_tail", logits.get("..., " + (v - 512) + ":"), g.load(prefix + "logits_tail", m), ATOL, 1e-5);
        }
        NDArray lse = logits.exp().sum(new int[] {-1}).log(); // [batch, pos]
        cmp.close(prefix + "logits_lse (all d_vocab)", logits.max(new int[] {-1}).add(
                logits.sub(logits.max(new int[] {-1}, true)).exp().sum(new int[] {-1}).log()),
                g.load(prefix + "logits_lse", m), ATOL, 1e-5);
        lse.close();
        if (g.contains(prefix + "logits_argmax")) {
            long[] argmax = logits.argMax(-1).toLongArray();
            long[] expected = g.load(prefix + "logits_argmax", m).toLongArray();
            if (!Arrays.equals(argmax, expected)) {
                cmp.fail(prefix + "logits_argmax: " + Arrays.toString(argmax) + " but TL has " + Arrays.toString(expected));
            }
        }
    }

    private static void compareUnpadded(Compare cmp, HookedTransformer model, SafetensorsFile g, NDManager m, int row) {
        String p = "unpadded_row" + row + "/";
        NDArray tokens = g.load(p + "tokens", m);
        NDArray logits = model.forward(tokens);
        compareLogits(cmp, p, logits, g, m);
        logits.close();
    }

    private static void compareWeights(Compare cmp, HookedTransformer model, SafetensorsFile g, NDManager m,
            boolean refactored) {
        for (String key : g.names()) {
            if (!key.startsWith("weights/")) {
                continue;
            }
            String name = key.substring("weights/".length());
            NDArray expected = g.load(key, m);
            NDArray actual = switch (name) {
                case "embed.W_E_head" -> model.W_E().get("0:512");
                case "embed.W_E_tail" -> model.W_E().get("-512:");
                case "embed.W_E_colmean" -> model.W_E().mean(new int[] {0});
                case "unembed.W_U_head" -> model.W_U().get(":, 0:512");
                case "unembed.W_U_tail" -> model.W_U().get(":, -512:");
                case "unembed.W_U_colmean" -> model.W_U().mean(new int[] {1});
                case "unembed.b_U_head" -> model.b_U().get("0:512");
                case "unembed.b_U_tail" -> model.b_U().get("-512:");
                case "unembed.b_U_mean" -> model.b_U().mean().reshape(1);
                default -> model.weight(name);
            };
            if (refactored && name.matches("blocks\\.\\d+\\.attn\\.(W_Q|W_K|W_V|b_Q|b_K)")) {
                closeUpToSign(cmp, key, actual, expected);
            } else if (refactored && name.matches("blocks\\.\\d+\\.attn\\.W_O")) {
                closeUpToSign(cmp, key, actual.transpose(0, 2, 1), expected.transpose(0, 2, 1));
            } else {
                cmp.close(key, actual, expected, ATOL, RTOL);
            }
        }
        long weightsInModel = model.weightNames().size();
        long weightsInGolden = g.names().stream().filter(k -> k.startsWith("weights/blocks.")).count() + 2 /* W_pos, ln_final */;
        if (model.processing().foldLn() && model.weightNames().stream().anyMatch(n -> n.contains("ln"))) {
            cmp.fail("fold_ln left LayerNorm parameters: " + model.weightNames());
        }
        assert weightsInModel > 0 && weightsInGolden > 0;
    }

    /** Activations in the refactored basis: q, k, v, z (each d_head component defined up to sign). */
    private static boolean isNewBasis(String name) {
        return name.endsWith("attn.hook_q") || name.endsWith("attn.hook_k") || name.endsWith("attn.hook_v")
                || name.endsWith("attn.hook_z");
    }

    /**
     * Compares arrays whose last axis holds SVD directions, each defined up to sign: per
     * (leading head axis, last-axis component) the sign that fits best is chosen, then the usual
     * tolerance applies. For [batch, pos, head_index, d_head] and [head_index, d_model, d_head].
     */
    private static void closeUpToSign(Compare cmp, String name, NDArray actual, NDArray expected) {
        long[] shape = actual.getShape().getShape();
        if (!actual.getShape().equals(expected.getShape())) {
            cmp.fail(name + ": shape " + actual.getShape() + " but expected " + expected.getShape());
            return;
        }
        float[] a = actual.toType(DataType.FLOAT32, false).toFloatArray();
        float[] e = expected.toType(DataType.FLOAT32, false).toFloatArray();
        int last = (int) shape[shape.length - 1];
        // the head axis: index 2 for activations [batch, pos, head_index, d_head], 0 for weights
        int headAxis = shape.length == 4 ? 2 : 0;
        long heads = shape[headAxis];
        long inner = 1;
        for (int i = headAxis + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        double[][] same = new double[(int) heads][last];
        double[][] flipped = new double[(int) heads][last];
        for (int i = 0; i < a.length; i++) {
            int h = (int) ((i / inner) % heads);
            int c = i % last;
            same[h][c] = Math.max(same[h][c], Math.abs(a[i] - e[i]));
            flipped[h][c] = Math.max(flipped[h][c], Math.abs(a[i] + e[i]));
        }
        for (int i = 0; i < a.length; i++) {
            int h = (int) ((i / inner) % heads);
            int c = i % last;
            if (flipped[h][c] < same[h][c]) {
                a[i] = -a[i];
            }
        }
        cmp.close(name + " (up to sign)", a, e, ATOL, RTOL);
    }
}
