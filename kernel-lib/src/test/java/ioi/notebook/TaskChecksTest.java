package ioi.notebook;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.Hook;
import ioi.lens.HookNames;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * {@link TaskChecks}: the solution passes, the stub is not implemented, the mistakes are named.
 */
class TaskChecksTest extends CheckFixture {

    static NDArray logitsToAveLogitDiff(NDArray logits, NDArray answerTokens, boolean perPrompt, int position, int sign) {
        NDArray finalLogits = logits.get(new NDIndex(":, {}, :", position)); // [batch, d_vocab]
        NDArray answerLogits = finalLogits.gather(answerTokens, 1); // [batch, 2]
        NDArray diff = answerLogits.get(":, 0").sub(answerLogits.get(":, 1")).mul(sign); // [batch]
        return perPrompt ? diff : diff.mean();
    }

    @Test
    void logitDiff() {
        passes(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, -1, 1)));
        stub(TaskChecks.logitsToAveLogitDiff((l, a, p) -> {
            throw Check.todo();
        }));
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, -1, -1)), "S - IO", "expected");
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, p, 0, 1)), "first position");
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> logitsToAveLogitDiff(l, a, false, -1, 1)), "has shape ()",
                "should have (4)");
        fails(TaskChecks.logitsToAveLogitDiff((l, a, p) -> {
            throw new IllegalStateException("boom");
        }), "threw IllegalStateException: boom");
    }

    // ---------------------------------------------------------------- activation patching by hand

    static NDArray patchResidualComponent(NDArray corrupted, HookPoint hook, int pos, ActivationCache cleanCache) {
        NDIndex at = new NDIndex(":, {}, :", pos);
        corrupted.set(at, cleanCache.get(hook.name()).get(at)); // [batch, d_model] at pos
        return corrupted;
    }

    @Test
    void patchResidual() {
        passes(TaskChecks.patchResidualComponent(model, batch, cache, TaskChecksTest::patchResidualComponent));
        stub(TaskChecks.patchResidualComponent(model, batch, cache, (c, h, p, cc) -> {
            throw Check.todo();
        }));
        fails(TaskChecks.patchResidualComponent(model, batch, cache, (c, h, p, cc) -> c), "unchanged");
        fails(TaskChecks.patchResidualComponent(model, batch, cache, (c, h, p, cc) -> patchResidualComponent(c, h, p + 1, cc)),
                "off-by-one", "differs at [");
        fails(TaskChecks.patchResidualComponent(model, batch, cache, (c, h, p, cc) -> cc.get(h.name())), "every position");
    }

    static NDArray getActPatchResidPre(HookedTransformer model, NDArray corruptedTokens, ActivationCache cleanCache,
            ToDoubleFunction<NDArray> patchingMetric) {
        int layers = model.cfg().nLayers();
        int seqLen = (int) corruptedTokens.getShape().get(1);
        float[] results = new float[layers * seqLen];
        for (int layer = 0; layer < layers; layer++) {
            for (int position = 0; position < seqLen; position++) {
                int p = position;
                NDArray logits = model.runWithHooks(corruptedTokens, Hook.of(HookNames.getActName("resid_pre", layer),
                        (act, hook) -> patchResidualComponent(act, hook, p, cleanCache))); // [batch, pos, d_vocab]
                results[layer * seqLen + position] = (float) patchingMetric.applyAsDouble(logits);
                logits.close();
            }
        }
        return model.resultManager().create(results, new Shape(layers, seqLen)); // [n_layers, pos]
    }

    @Test
    void actPatchResidPre() {
        passes(TaskChecks.getActPatchResidPre(model, batch, TaskChecksTest::getActPatchResidPre));
        stub(TaskChecks.getActPatchResidPre(model, batch, (mo, t, c, metric) -> {
            throw Check.todo();
        }));
        fails(TaskChecks.getActPatchResidPre(model, batch, (mo, t, c, metric) -> {
            try (NDManager mm = mo.resultManager().newSubManager();
                    ActivationCache corrupted = mo.runWithCache(t, n -> n.endsWith("hook_resid_pre"))) {
                return getActPatchResidPre(mo, Check.loopBatch(batch).tokens(mm), corrupted, metric);
            }
        }), "wrong direction");
        fails(TaskChecks.getActPatchResidPre(model, batch, (mo, t, c, metric) -> {
            try (ActivationCache corrupted = mo.runWithCache(t, n -> n.endsWith("hook_resid_pre"))) {
                return getActPatchResidPre(mo, t, corrupted, metric);
            }
        }), "own cache");
        fails(TaskChecks.getActPatchResidPre(model, batch,
                (mo, t, c, metric) -> mo.resultManager().zeros(new Shape(mo.cfg().nLayers(), 3))), "has shape (12, 3)",
                "should have (12, " + Check.loopBatch(batch).seqLen() + ")");
    }
}
