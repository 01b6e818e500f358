package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ioi.experiments.Head;
import ioi.lens.ActivationCache;
import ioi.lens.Hook;
import ioi.lens.HookNames;
import ioi.lens.HookPoint;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * {@link SInhibitionChecks}: the solution passes, the stub is not implemented, the mistakes are named.
 */
class SInhibitionChecksTest extends CheckFixture {

    static final List<Head> NAME_MOVERS = List.of(new Head(9, 9), new Head(10, 0), new Head(9, 6));

    static NDArray patchHeadInput(NDArray orig, HookPoint hook, ActivationCache patchedCache, List<Head> heads,
            boolean checkLayer) {
        for (Head h : heads) {
            if (!checkLayer || h.layer() == hook.layer()) {
                NDIndex at = new NDIndex(":, :, {}", h.head());
                orig.set(at, patchedCache.get(hook.name()).get(at)); // [batch, pos, d_head]
            }
        }
        return orig;
    }

    @Test
    void patchInput() {
        passes(SInhibitionChecks.patchHeadInput(model, batch, NAME_MOVERS, (a, h, c, heads) -> patchHeadInput(a, h, c, heads, true)));
        stub(SInhibitionChecks.patchHeadInput(model, batch, NAME_MOVERS, (a, h, c, heads) -> {
            throw Check.todo();
        }));
        fails(SInhibitionChecks.patchHeadInput(model, batch, NAME_MOVERS, (a, h, c, heads) -> patchHeadInput(a, h, c, heads, false)),
                "in every layer");
        fails(SInhibitionChecks.patchHeadInput(model, batch, NAME_MOVERS, (a, h, c, heads) -> a), "unchanged");
    }

    static NDArray getPathPatchHeadToHeads(List<Head> receivers, String input, HookedTransformer model,
            ToDoubleFunction<NDArray> metric, NDArray origTokens, ActivationCache newCache, ActivationCache origCache,
            boolean step3) {
        Set<Integer> receiverLayers = receivers.stream().map(Head::layer).collect(Collectors.toCollection(TreeSet::new));
        Set<String> receiverNames = receiverLayers.stream().map(l -> HookNames.getActName(input, l)).collect(Collectors.toSet());
        int senderLayers = ((TreeSet<Integer>) receiverLayers).last();
        int heads = model.cfg().nHeads();
        float[] results = new float[senderLayers * heads];
        for (int l = 0; l < senderLayers; l++) {
            for (int h = 0; h < heads; h++) {
                Head sender = new Head(l, h);
                NDArray logits;
                try (HookScope freeze = model.addHook(n -> n.endsWith("hook_z"), (z, hook) ->
                        NameMoverChecksTest.patchOrFreezeHeadVectors(z, hook, newCache, origCache, sender, true))) {
                    if (!step3) {
                        logits = model.forward(origTokens);
                        results[l * heads + h] = (float) metric.applyAsDouble(logits);
                        logits.close();
                        continue;
                    }
                }
                try (ActivationCache patched = patchedInputs(model, origTokens, receiverNames, newCache, origCache, sender)) {
                    logits = model.runWithHooks(origTokens, Hook.matching(receiverNames::contains,
                            (act, hook) -> patchHeadInput(act, hook, patched, receivers, true))); // [batch, pos, d_vocab]
                    results[l * heads + h] = (float) metric.applyAsDouble(logits);
                    logits.close();
                }
            }
        }
        return model.resultManager().create(results, new Shape(senderLayers, heads));
    }

    /** Step 2: the receivers' inputs with the sender patched and every other head frozen. */
    private static ActivationCache patchedInputs(HookedTransformer model, NDArray tokens, Set<String> names,
            ActivationCache newCache, ActivationCache origCache, Head sender) {
        try (HookScope freeze = model.addHook(n -> n.endsWith("hook_z"), (z, hook) ->
                NameMoverChecksTest.patchOrFreezeHeadVectors(z, hook, newCache, origCache, sender, true))) {
            return model.runWithCache(tokens, names::contains);
        }
    }

    @Test
    void pathPatchToHeads() {
        passes(SInhibitionChecks.getPathPatchHeadToHeads(model, batch, NAME_MOVERS, "q",
                (r, in, mo, metric, t, nc, oc) -> getPathPatchHeadToHeads(r, in, mo, metric, t, nc, oc, true)));
        stub(SInhibitionChecks.getPathPatchHeadToHeads(model, batch, NAME_MOVERS, "q", (r, in, mo, metric, t, nc, oc) -> {
            throw Check.todo();
        }));
        fails(SInhibitionChecks.getPathPatchHeadToHeads(model, batch, NAME_MOVERS, "q",
                (r, in, mo, metric, t, nc, oc) -> getPathPatchHeadToHeads(r, in, mo, metric, t, nc, oc, false)), "step-2 run");
        fails(SInhibitionChecks.getPathPatchHeadToHeads(model, batch, NAME_MOVERS, "q",
                (r, in, mo, metric, t, nc, oc) -> getPathPatchHeadToHeads(r, in, mo, metric, t, oc, oc, true)), "from origCache");
    }
}
