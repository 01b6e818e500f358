package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Hook points, hooks, scopes, the activation cache's look-ups, {@code get_act_name}, partial
 * forward passes and return types on the tiny random GPT-2 (3 layers, d_model 32, 4 heads of 8).
 *
 * <p>Tolerances (fp32): identities computed by two different paths (head results summed vs the
 * fused W_O matmul, per-head vs shared ln1) {@code 1e-5} absolute (1e-4 for whole-model logits
 * through a different path); partial forward passes that repeat the very same ops {@code 1e-6}
 * (residual) and {@code 1e-5} (logits); hand-computed loss {@code 1e-5}; "a change happened"
 * means a max |diff| above {@code 1e-3}. Every test leaves the model without hooks.
 */
class HooksTest {

    static final String PROMPT = "When Mary and John went to the store, John gave a drink to";

    static HookedTransformer model;
    NDManager m;
    NDArray tokens; // [batch = 2, pos]

    @BeforeAll
    static void load() {
        model = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @BeforeEach
    void setUp() {
        m = NDManager.newBaseManager();
        long[] ids = model.tokenizer().encode(PROMPT, true);
        long[][] rows = new long[2][ids.length];
        for (int i = 0; i < ids.length; i++) {
            rows[0][i] = ids[i];
            rows[1][i] = i == 0 ? ids[0] : ids[ids.length - i]; // BOS, then the prompt reversed
        }
        tokens = m.create(rows);
    }

    @AfterEach
    void tearDown() {
        model.resetHooks(true);
        m.close();
    }

    // ------------------------------------------------------------------ helpers

    /** TL's default (un-gated) hook names for GPT-2 in execution order. */
    static List<String> tlDefaultOrder(int nLayers) {
        List<String> out = new ArrayList<>(List.of("hook_embed", "hook_pos_embed"));
        for (int l = 0; l < nLayers; l++) {
            String p = "blocks." + l + ".";
            for (String s : List.of("hook_resid_pre", "ln1.hook_scale", "ln1.hook_normalized", "attn.hook_q",
                    "attn.hook_k", "attn.hook_v", "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z",
                    "hook_attn_out", "hook_resid_mid", "ln2.hook_scale", "ln2.hook_normalized", "mlp.hook_pre",
                    "mlp.hook_post", "hook_mlp_out", "hook_resid_post")) {
                out.add(p + s);
            }
        }
        out.add("ln_final.hook_scale");
        out.add("ln_final.hook_normalized");
        return out;
    }

    static List<String> gatedNames(int nLayers) {
        List<String> out = new ArrayList<>();
        for (int l = 0; l < nLayers; l++) {
            String p = "blocks." + l + ".";
            for (String s : List.of("hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input",
                    "attn.hook_result", "hook_mlp_in")) {
                out.add(p + s);
            }
        }
        return out;
    }

    static double maxAbsDiff(NDArray a, NDArray b) {
        assertEquals(b.getShape(), a.getShape());
        return a.sub(b).abs().max().getFloat();
    }

    /** A copy of an activation that outlives the forward pass (also when made inside a hook), in the test's manager. */
    NDArray keep(NDArray activation) {
        return HookFunction.keep(activation, m);
    }

    NDArray plainLogits() {
        return model.forward(tokens);
    }

    static void assertNoHooksAnywhere() {
        for (String n : model.hookNames()) {
            assertFalse(model.hookPoint(n).hasHooks(), "hook left behind on " + n);
        }
    }

    static void assertContains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "expected '" + p + "' in: " + message);
        }
    }

    // ------------------------------------------------------------------ names and order

    @Test
    void hookNamesAndDefaultNamesInTransformerLensOrder() {
        int n = model.cfg().nLayers();
        List<String> all = model.hookNames();
        assertEquals(4 + n * 23, all.size(), "hook points incl. gated: " + all);
        assertEquals(all.size(), new HashSet<>(all).size(), "duplicate names: " + all);
        Set<String> expectedAll = new HashSet<>(tlDefaultOrder(n));
        expectedAll.addAll(gatedNames(n));
        assertEquals(expectedAll, new HashSet<>(all));

        assertEquals(4 + 17 * n, model.defaultHookNames().size());
        assertEquals(55, model.defaultHookNames().size());
        assertEquals(tlDefaultOrder(n), model.defaultHookNames());
        for (String g : gatedNames(n)) {
            assertNotNull(model.hookPoint(g).flag(), g + " should be gated");
        }
        assertEquals(List.of("batch", "pos", "head_index", "d_head"), model.hookPoint("blocks.2.attn.hook_z").dims());
        assertEquals(1, model.hookPoint("blocks.1.attn.hook_pattern").layer());
        assertEquals(-1, model.hookPoint("ln_final.hook_scale").layer());
    }

    @Test
    void defaultHooksFireInExecutionOrder() {
        List<String> fired = new ArrayList<>();
        Predicate<String> notGated = model.defaultHookNames()::contains;
        try (HookScope s = model.hooks(Hook.matching(notGated, (a, h) -> {
            fired.add(h.name());
            return null;
        }))) {
            assertEquals(55, s.size());
            model.forward(tokens);
        }
        assertEquals(tlDefaultOrder(model.cfg().nLayers()), fired);
        assertNoHooksAnywhere();
    }

    @Test
    void hooksOnEveryNameFireInHookNamesOrderAndLeaveLogitsUnchanged() {
        NDArray plain = plainLogits();
        List<String> fired = new ArrayList<>();
        NDArray logits;
        try (HookScope s = model.hooks(Hook.matching(name -> true, (a, h) -> {
            fired.add(h.name());
            return null;
        }))) {
            assertEquals(model.hookNames().size(), s.size());
            logits = model.forward(tokens);
        }
        // With hooks on them, every gated point fires; ln1 then runs once per q/k/v input, as in TL.
        assertEquals(model.hookNames(), List.copyOf(new LinkedHashSet<>(fired)));
        for (int l = 0; l < model.cfg().nLayers(); l++) {
            String ln1 = "blocks." + l + ".ln1.hook_scale";
            assertEquals(3, fired.stream().filter(ln1::equals).count(), ln1 + " with split q/k/v input");
        }
        // The per-head paths compute the same function: whole-model logits within 1e-4.
        Compare cmp = new Compare("all hook points on (gated paths) vs plain forward");
        cmp.close("logits", logits, plain, 1e-4, 1e-5);
        cmp.check();
    }

    // ------------------------------------------------------------------ replacing activations

    @Test
    void replacementNullAndInPlaceEdits() {
        NDArray plain = plainLogits();
        Compare cmp = new Compare("hook replacements");

        // returning null keeps the activation: identical logits (un-gated points: the same code path)
        NDArray kept = model.runWithHooks(tokens, Hook.matching(model.defaultHookNames()::contains, (a, h) -> null));
        cmp.close("null everywhere == plain", kept, plain, 0, 0);

        // replacing attn_out of block 0 by zeros changes the logits, and resid_mid == resid_pre there
        HookFunction zero = (a, h) -> a.zerosLike();
        NDArray zeroed = model.runWithHooks(tokens, Hook.of("blocks.0.hook_attn_out", zero));
        double changed = maxAbsDiff(zeroed, plain);
        System.out.printf(Locale.ROOT, "zeroing blocks.0.hook_attn_out moves logits by up to %.3e%n", changed);
        assertTrue(changed > 1e-3, "zeroing attn_out did not change the logits: " + changed);
        try (HookScope s = model.hooks(Hook.of("blocks.0.hook_attn_out", zero));
                ActivationCache c = model.runWithCache(tokens,
                        n -> n.equals("blocks.0.hook_resid_pre") || n.equals("blocks.0.hook_resid_mid"))) {
            cmp.close("resid_mid == resid_pre with attn_out zeroed", c.get("resid_mid", 0), c.get("resid_pre", 0), 0, 0);
            cmp.close("cached logits == runWithHooks logits", c.logits(), zeroed, 0, 0);
        }

        // in place: muli(0) has the same effect as the replacement
        NDArray inPlace = model.runWithHooks(tokens, Hook.of("blocks.0.hook_attn_out", (a, h) -> a.muli(0)));
        cmp.close("muli(0) == zerosLike replacement", inPlace, zeroed, 1e-6, 0);

        // in place with set(...) returning null == returning an edited copy
        NDArray setInPlace = model.runWithHooks(tokens, Hook.of("blocks.1.attn.hook_v", (a, h) -> {
            a.set(new NDIndex(":, :, 2, :"), 0f);
            return null;
        }));
        NDArray setCopy = model.runWithHooks(tokens, Hook.of("blocks.1.attn.hook_v", (a, h) -> {
            NDArray c = a.duplicate();
            c.set(new NDIndex(":, :, 2, :"), 0f);
            return c;
        }));
        cmp.close("v head 2 zeroed: set in place == edited copy", setInPlace, setCopy, 1e-6, 0);
        assertTrue(maxAbsDiff(setInPlace, plain) > 1e-3, "zeroing v of head 1.2 in place had no effect");
        cmp.check();
        assertNoHooksAnywhere();
    }

    @Test
    void zeroingOneHeadsPatternZeroesItsZOnly() {
        NDArray plain = plainLogits();
        Compare cmp = new Compare("pattern of head 1.1 zeroed");
        NDArray zPlain;
        try (ActivationCache c = model.runWithCache(tokens, n -> n.equals("blocks.1.attn.hook_z"))) {
            zPlain = keep(c.get("z", 1));
        }
        HookFunction ablate = (p, h) -> {
            NDArray r = p.duplicate();
            r.set(new NDIndex(":, 1, :, :"), 0f); // [batch, head_index, query_pos, key_pos]
            return r;
        };
        try (HookScope s = model.hooks(Hook.of("blocks.1.attn.hook_pattern", ablate));
                ActivationCache c = model.runWithCache(tokens,
                        n -> n.equals("blocks.1.attn.hook_pattern") || n.equals("blocks.1.attn.hook_z"))) {
            NDArray z = c.get("z", 1); // [batch, pos, head_index, d_head]
            assertEquals(0f, c.get("pattern", 1).get(":, 1").abs().max().getFloat(), "cache sees the replacement");
            assertEquals(0f, z.get(":, :, 1, :").abs().max().getFloat(), "z of the ablated head");
            for (int h : new int[] {0, 2, 3}) {
                cmp.close("z head " + h + " unchanged", z.get(":, :, " + h + ", :"), zPlain.get(":, :, " + h + ", :"), 1e-6, 0);
            }
            double changed = maxAbsDiff(c.logits(), plain);
            assertTrue(changed > 1e-3, "ablating head 1.1 did not change the logits: " + changed);
        }
        cmp.check();
    }

    // ------------------------------------------------------------------ scopes and lifetimes

    @Test
    void scopeRemovesExactlyItsHooksAlsoWhenTheForwardThrows() {
        NDArray plain = plainLogits();
        AtomicInteger outer = new AtomicInteger();
        AtomicInteger inner = new AtomicInteger();
        model.addHook("blocks.0.hook_resid_pre", (a, h) -> {
            outer.incrementAndGet();
            return null;
        });
        HookFunction countInner = (a, h) -> {
            inner.incrementAndGet();
            return null;
        };
        try (HookScope s = model.hooks(Hook.of("blocks.0.hook_resid_pre", countInner),
                Hook.of("blocks.1.hook_resid_pre", countInner))) {
            assertEquals(2, s.size());
            model.forward(tokens);
        }
        assertEquals(1, outer.get());
        assertEquals(2, inner.get());
        assertTrue(model.hookPoint("blocks.0.hook_resid_pre").hasHooks(), "the non-scoped hook must stay");
        assertFalse(model.hookPoint("blocks.1.hook_resid_pre").hasHooks());
        model.forward(tokens);
        assertEquals(2, outer.get());
        assertEquals(2, inner.get(), "scoped hooks fired after their scope closed");

        // a hook that throws mid-forward: the exception propagates and the scope still cleans up
        RuntimeException boom = new RuntimeException("boom from a hook");
        RuntimeException thrown = assertThrows(RuntimeException.class, () -> {
            try (HookScope s = model.hooks(Hook.of("blocks.1.attn.hook_pattern", (a, h) -> a.zerosLike()),
                    Hook.of("blocks.2.mlp.hook_post", (a, h) -> {
                        throw boom;
                    }))) {
                model.forward(tokens);
            }
        });
        assertSame(boom, thrown);
        assertFalse(model.hookPoint("blocks.1.attn.hook_pattern").hasHooks());
        assertFalse(model.hookPoint("blocks.2.mlp.hook_post").hasHooks());
        assertTrue(model.hookPoint("blocks.0.hook_resid_pre").hasHooks(), "the non-scoped hook must stay");
        model.resetHooks();
        assertNoHooksAnywhere();

        Compare cmp = new Compare("forward after a throwing hook");
        cmp.close("logits == plain", model.forward(tokens), plain, 0, 0);
        cmp.check();

        HookScope twice = model.hooks(Hook.of("hook_embed", countInner));
        twice.close();
        twice.close(); // harmless
        assertNoHooksAnywhere();
    }

    @Test
    void permanentHooksSurviveResetAndRunWithHooksLeavesNothing() {
        AtomicInteger perma = new AtomicInteger();
        AtomicInteger normal = new AtomicInteger();
        model.addPermanentHook("blocks.2.hook_mlp_out", (a, h) -> {
            perma.incrementAndGet();
            return null;
        });
        model.addHook(n -> n.endsWith("hook_resid_post"), (a, h) -> {
            normal.incrementAndGet();
            return null;
        });
        model.forward(tokens);
        assertEquals(1, perma.get());
        assertEquals(3, normal.get());

        model.resetHooks();
        model.forward(tokens);
        assertEquals(2, perma.get(), "permanent hook must survive resetHooks()");
        assertEquals(3, normal.get(), "resetHooks() must remove normal hooks");

        AtomicInteger once = new AtomicInteger();
        model.runWithHooks(tokens, Hook.of("blocks.0.attn.hook_z", (a, h) -> {
            once.incrementAndGet();
            return null;
        }));
        assertEquals(1, once.get());
        assertEquals(3, perma.get());
        assertFalse(model.hookPoint("blocks.0.attn.hook_z").hasHooks(), "runWithHooks left its hook behind");

        model.resetHooks(true);
        model.forward(tokens);
        assertEquals(3, perma.get(), "resetHooks(true) must remove permanent hooks");
        assertNoHooksAnywhere();
    }

    // ------------------------------------------------------------------ errors

    @Test
    void unknownHookNameIsRejectedAndNothingIsAdded() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.hooks(Hook.of("blocks.0.hook_pattern", (a, h) -> null)));
        // a TL user's typical slip: "attn." forgotten
        assertContains(e.getMessage(), "'blocks.0.hook_pattern'", "blocks.0.attn.hook_pattern", "Valid names",
                "hook_embed", "73 in all");

        e = assertThrows(IllegalArgumentException.class, () -> model.hookPoint("blocks.1.attn.hook_patern"));
        assertContains(e.getMessage(), "did you mean", "blocks.1.attn.hook_pattern"); // a typo finds its name

        e = assertThrows(IllegalArgumentException.class, () -> model.hookPoint("no_such_hook"));
        assertContains(e.getMessage(), "no_such_hook", "Valid names", "hook_embed");

        AtomicInteger fired = new AtomicInteger();
        HookFunction count = (a, h) -> {
            fired.incrementAndGet();
            return null;
        };
        assertThrows(IllegalArgumentException.class, () -> model.hooks(Hook.of("blocks.0.hook_resid_pre", count),
                Hook.matching(n -> n.endsWith("hook_z"), count), Hook.of("blocks.9.hook_resid_pre", count)));
        assertThrows(IllegalArgumentException.class, () -> model.runWithHooks(tokens,
                Hook.of("blocks.1.hook_resid_pre", count), Hook.of("blocks.1.hook_resid_pree", count)));
        assertNoHooksAnywhere();
        model.forward(tokens);
        assertEquals(0, fired.get());
    }

    @Test
    void wrongReturnShapeOrDtypeNamesTheHookAndTheShapes() {
        Shape zShape = new Shape(tokens.getShape().get(0), tokens.getShape().get(1), 4, 8);
        RuntimeException e = assertThrows(RuntimeException.class, () -> model.runWithHooks(tokens,
                Hook.of("blocks.0.attn.hook_z", (a, h) -> a.reshape(zShape.get(0), zShape.get(1), 32))));
        assertContains(e.getMessage(), "blocks.0.attn.hook_z", "[batch, pos, head_index, d_head]", zShape.toString(),
                new Shape(zShape.get(0), zShape.get(1), 32).toString());
        System.out.println("wrong shape: " + e.getMessage());

        e = assertThrows(RuntimeException.class, () -> model.runWithHooks(tokens,
                Hook.of("blocks.1.hook_resid_mid", (a, h) -> a.toType(DataType.FLOAT64, false))));
        assertContains(e.getMessage().toLowerCase(Locale.ROOT), "blocks.1.hook_resid_mid", "dtype", "float64", "float32");
        System.out.println("wrong dtype: " + e.getMessage());
        assertNoHooksAnywhere();
    }

    // ------------------------------------------------------------------ gated hooks

    @Test
    void gatedResultHookFiresWithoutTheFlagAndSumsToAttnOut() {
        NDArray[] result = new NDArray[1];
        NDArray[] attnOut = new NDArray[1];
        NDArray attnOutPlain;
        try (ActivationCache c = model.runWithCache(tokens, n -> n.equals("blocks.1.hook_attn_out"))) {
            attnOutPlain = keep(c.get("attn_out", 1));
        }
        model.runWithHooks(tokens,
                Hook.of("blocks.1.attn.hook_result", (a, h) -> {
                    result[0] = keep(a);
                    return null;
                }),
                Hook.of("blocks.1.hook_attn_out", (a, h) -> {
                    attnOut[0] = keep(a);
                    return null;
                }));
        assertNotNull(result[0], "blocks.1.attn.hook_result did not fire without setUseAttnResult");
        assertEquals(new Shape(2, tokens.getShape().get(1), 4, 32), result[0].getShape());
        Compare cmp = new Compare("attn_out = sum over heads of hook_result + b_O (layer 1)");
        NDArray summed = result[0].sum(new int[] {2}).add(model.weight("blocks.1.attn.b_O"));
        cmp.close("sum_h result + b_O vs attn_out (same pass)", summed, attnOut[0], 1e-5, 0);
        cmp.close("attn_out via results vs fused path", attnOut[0], attnOutPlain, 1e-5, 0);
        cmp.check();
        assertNoHooksAnywhere();
    }

    @Test
    void runWithCacheFilterSwitchesGatedPointsOnForThatPassOnly() {
        try (ActivationCache c = model.runWithCache(tokens,
                n -> n.endsWith("hook_q_input") || n.endsWith("hook_resid_pre"))) {
            List<String> expected = new ArrayList<>();
            for (int l = 0; l < 3; l++) {
                expected.add("blocks." + l + ".hook_resid_pre");
                expected.add("blocks." + l + ".hook_q_input");
            }
            assertEquals(expected, c.keys());
            Compare cmp = new Compare("hook_q_input is resid_pre repeated per head");
            for (int l = 0; l < 3; l++) {
                NDArray qIn = c.get("q_input", l);
                assertEquals(new Shape(2, tokens.getShape().get(1), 4, 32), qIn.getShape(), "[batch, pos, n_heads, d_model]");
                for (int h = 0; h < 4; h++) {
                    cmp.close("layer " + l + " head " + h, qIn.get(":, :, " + h + ", :"), c.get("resid_pre", l), 0, 0);
                }
            }
            cmp.check();
        }
        try (ActivationCache c = model.runWithCache(tokens)) {
            assertEquals(model.defaultHookNames(), c.keys(), "a default cache has no gated names");
            for (String g : gatedNames(3)) {
                assertFalse(c.contains(g), g);
            }
        }
        assertNoHooksAnywhere();
    }

    // ------------------------------------------------------------------ cache look-ups and get_act_name

    @Test
    void cacheWithNamesFilterAndLookups() {
        Predicate<String> filter = n -> n.equals("blocks.1.attn.hook_pattern") || n.endsWith("hook_resid_post")
                || n.endsWith("hook_scale");
        try (ActivationCache c = model.runWithCache(tokens, filter)) {
            List<String> expected = model.defaultHookNames().stream().filter(filter).toList();
            assertEquals(1 + 3 + (2 * 3 + 1), expected.size(), "pattern 1, resid_post x3, ln1/ln2 x3 + ln_final scale");
            assertEquals(expected, c.keys());
            assertNotNull(c.logits());
            assertEquals(new Shape(2, tokens.getShape().get(1), 50257), c.logits().getShape());

            assertSame(c.get("blocks.1.attn.hook_pattern"), c.get("pattern", 1));
            assertSame(c.get("blocks.1.attn.hook_pattern"), c.get("attn", 1));
            assertSame(c.get("blocks.2.hook_resid_post"), c.get("resid_post", -1));
            assertSame(c.get("blocks.0.hook_resid_post"), c.get("resid_post", -3));
            assertSame(c.get("blocks.1.ln1.hook_scale"), c.get("scale", 1, "ln1"));
            assertSame(c.get("blocks.1.ln2.hook_scale"), c.get("scale", -2, "ln2"));
            assertSame(c.get("ln_final.hook_scale"), c.get("scale"));
            assertEquals(new Shape(2, tokens.getShape().get(1), 1), c.get("scale").getShape());

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.get("q", 1));
            assertContains(e.getMessage(), "blocks.1.attn.hook_q", "not cached", "blocks.1.attn.hook_pattern");
            e = assertThrows(IllegalArgumentException.class, () -> c.get("blocks.1.attn.hook_nonsense"));
            assertContains(e.getMessage(), "blocks.1.attn.hook_nonsense", "blocks.1.attn.hook_pattern");
            e = assertThrows(IllegalArgumentException.class, () -> c.get("pattern", 3));
            assertContains(e.getMessage(), "layer 3");
            e = assertThrows(IllegalArgumentException.class, () -> c.get("scale", 1));
            assertContains(e.getMessage(), "ln1");
        }
        assertNoHooksAnywhere();
    }

    @Test
    void getActNameFollowsTransformerLens() {
        assertEquals("blocks.3.attn.hook_z", HookNames.getActName("z", 3));
        assertEquals("blocks.9.attn.hook_pattern", HookNames.getActName("pattern", 9));
        assertEquals("blocks.0.hook_resid_pre", HookNames.getActName("resid_pre", 0));
        assertEquals("blocks.5.hook_attn_out", HookNames.getActName("attn_out", 5));
        assertEquals("blocks.2.attn.hook_q", HookNames.getActName("q", 2));
        assertEquals("blocks.1.attn.hook_attn_scores", HookNames.getActName("attn_scores", 1));
        assertEquals("blocks.7.mlp.hook_post", HookNames.getActName("post", 7));
        assertEquals("blocks.4.ln1.hook_scale", HookNames.getActName("scale", 4, "ln1"));
        assertEquals("blocks.4.ln2.hook_normalized", HookNames.getActName("normalized", 4, "ln2"));
        assertEquals("hook_embed", HookNames.getActName("embed"));
        assertEquals("hook_pos_embed", HookNames.getActName("pos_embed"));
        assertEquals("ln_final.hook_scale", HookNames.getActName("scale"));
        assertEquals("ln_final.hook_normalized", HookNames.getActName("normalized"));
        // aliases
        assertEquals("blocks.9.attn.hook_pattern", HookNames.getActName("attn", 9));
        assertEquals("blocks.1.attn.hook_attn_scores", HookNames.getActName("attn_logits", 1));
        assertEquals("blocks.7.mlp.hook_post", HookNames.getActName("mlp_post", 7));
        assertEquals("blocks.6.attn.hook_k", HookNames.getActName("key", 6));
        // layer types a / m
        assertEquals("blocks.3.attn.hook_z", HookNames.getActName("z", 3, "a"));
        assertEquals("blocks.5.mlp.hook_pre", HookNames.getActName("pre", 5, "m"));
        assertEquals("blocks.2.attn.hook_result", HookNames.getActName("result", 2));
        // full names pass through
        assertEquals("blocks.0.attn.hook_v", HookNames.getActName("blocks.0.attn.hook_v"));
        assertEquals("hook_embed", HookNames.getActName("hook_embed"));

        // TL gives the non-existent blocks.4.hook_scale here; this helper refuses
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HookNames.getActName("scale", 4));
        assertContains(e.getMessage(), "ln1", "ln2");
        e = assertThrows(IllegalArgumentException.class, () -> HookNames.getActName("zz", 3));
        assertContains(e.getMessage(), "zz", "resid_pre");
        e = assertThrows(IllegalArgumentException.class, () -> HookNames.getActName("z"));
        assertContains(e.getMessage(), "needs a layer");
    }

    // ------------------------------------------------------------------ partial passes

    @Test
    void stopAtLayerAndStartAtLayer() {
        Compare cmp = new Compare("stopAtLayer / startAtLayer");
        int n = model.cfg().nLayers();
        try (ActivationCache c = model.runWithCache(tokens)) {
            for (int k = 0; k <= n; k++) {
                NDArray resid = model.forward(tokens, RunOptions.defaults().stopAtLayer(k)).logits();
                NDArray expected = k < n ? c.get("resid_pre", k) : c.get("resid_post", n - 1);
                cmp.close("stopAtLayer " + k + " == resid_pre " + k, resid, expected, 1e-6, 0);
                NDArray logits = model.forward(resid, RunOptions.defaults().startAtLayer(k)).logits();
                cmp.close("startAtLayer " + k + " logits", logits, c.logits(), 1e-5, 0);
            }
            NDArray middle = model.forward(c.get("resid_pre", 1), RunOptions.defaults().startAtLayer(1).stopAtLayer(2))
                    .logits();
            cmp.close("start 1, stop 2 == resid_pre 2", middle, c.get("resid_pre", 2), 1e-6, 0);
            NDArray minusOne = model.forward(tokens, RunOptions.defaults().stopAtLayer(-1)).logits();
            NDArray two = model.forward(tokens, RunOptions.defaults().stopAtLayer(2)).logits();
            cmp.close("stopAtLayer -1 == 2", minusOne, two, 0, 0);
            NDArray fromMinusTwo = model.forward(c.get("resid_pre", 1), RunOptions.defaults().startAtLayer(-2)).logits();
            cmp.close("startAtLayer -2 == 1", fromMinusTwo, c.logits(), 1e-5, 0);
        }
        cmp.check();

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(tokens, RunOptions.defaults().stopAtLayer(4)));
        assertContains(e.getMessage(), "stopAtLayer 4", "[-3, 3]");
        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(tokens, RunOptions.defaults().stopAtLayer(-4)));
        assertContains(e.getMessage(), "stopAtLayer -4");
        NDArray resid = m.zeros(new Shape(2, 5, 32));
        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(resid, RunOptions.defaults().startAtLayer(7)));
        assertContains(e.getMessage(), "startAtLayer 7");
        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(resid, RunOptions.defaults().startAtLayer(2).stopAtLayer(1)));
        assertContains(e.getMessage(), "stopAtLayer 1", "startAtLayer 2");
        e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(m.zeros(new Shape(2, 5, 31)), RunOptions.defaults().startAtLayer(1)));
        assertContains(e.getMessage(), "[batch, pos, d_model]", "(2, 5, 31)");
    }

    // ------------------------------------------------------------------ return types

    /** Mean next-token cross-entropy computed in double from the logits, and per token [batch][pos - 1]. */
    static double[][] lossByHand(NDArray logits, NDArray tokens) {
        long[] shape = logits.getShape().getShape();
        int b = (int) shape[0];
        int p = (int) shape[1];
        int v = (int) shape[2];
        float[] l = logits.toFloatArray();
        long[] t = tokens.toLongArray();
        double[][] out = new double[b][p - 1];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < p - 1; j++) {
                int base = (i * p + j) * v;
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < v; k++) {
                    max = Math.max(max, l[base + k]);
                }
                double sum = 0;
                for (int k = 0; k < v; k++) {
                    sum += Math.exp(l[base + k] - max);
                }
                double logSoftmax = l[base + (int) t[i * p + j + 1]] - max - Math.log(sum);
                out[i][j] = -logSoftmax;
            }
        }
        return out;
    }

    @Test
    void returnTypesAndLoss() {
        Compare cmp = new Compare("return types and loss");
        RunOptions o = RunOptions.defaults();
        Output both = model.forward(tokens, o.returnType(RunOptions.ReturnType.BOTH));
        assertNotNull(both.logits());
        assertNotNull(both.loss());
        assertEquals(1, both.loss().size(), "the mean loss is a scalar");
        double[][] perToken = lossByHand(both.logits(), tokens);
        double mean = 0;
        int count = 0;
        float[] perTokenFlat = new float[perToken.length * perToken[0].length];
        for (double[] row : perToken) {
            for (double x : row) {
                perTokenFlat[count++] = (float) x;
                mean += x;
            }
        }
        mean /= count;
        System.out.printf(Locale.ROOT, "loss %.6f (by hand %.6f)%n", both.loss().getFloat(), mean);
        cmp.close("BOTH loss vs log_softmax by hand", new float[] {both.loss().getFloat()}, new float[] {(float) mean}, 1e-5, 0);
        cmp.close("BOTH logits == LOGITS", both.logits(), model.forward(tokens), 0, 0);

        Output loss = model.forward(tokens, o.returnType(RunOptions.ReturnType.LOSS));
        assertNull(loss.logits());
        cmp.close("LOSS == BOTH loss", new float[] {loss.loss().getFloat()}, new float[] {both.loss().getFloat()}, 0, 0);

        Output logits = model.forward(tokens, o);
        assertNotNull(logits.logits());
        assertNull(logits.loss());

        Output none = model.forward(tokens, o.returnType(RunOptions.ReturnType.NONE));
        assertNull(none.logits());
        assertNull(none.loss());

        Output per = model.forward(tokens, o.returnType(RunOptions.ReturnType.LOSS).lossPerToken(true));
        assertEquals(new Shape(2, tokens.getShape().get(1) - 1), per.loss().getShape(), "[batch, pos - 1]");
        cmp.close("loss per token vs by hand", per.loss().toFloatArray(), perTokenFlat, 1e-5, 0);
        cmp.close("mean of per-token loss == loss", new float[] {per.loss().mean().getFloat()},
                new float[] {both.loss().getFloat()}, 1e-6, 0);
        cmp.check();

        // NONE in runWithCache: activations, no logits
        try (ActivationCache c = model.runWithCache(tokens, n -> n.equals("hook_embed"), o.returnType(RunOptions.ReturnType.NONE))) {
            assertNull(c.logits());
            assertEquals(List.of("hook_embed"), c.keys());
        }
    }
}
