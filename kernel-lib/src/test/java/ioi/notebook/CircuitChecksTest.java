package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ioi.data.IOIDataset;
import ioi.experiments.Circuit;
import ioi.experiments.Head;
import ioi.experiments.IoiBatch;
import ioi.lens.ActivationCache;
import ioi.lens.HookPoint;
import ioi.lens.HookScope;
import ioi.lens.HookedTransformer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link CircuitChecks}: the solution passes, the stub is not implemented, the mistakes are named.
 */
class CircuitChecksTest extends CheckFixture {

    static Map<Integer, NDArray> getHeadsAndPosnsToKeep(IoiBatch batch, HookedTransformer model, Circuit circuit,
            boolean union) {
        int n = batch.size();
        int pos = batch.seqLen();
        int heads = model.cfg().nHeads();
        Map<Integer, NDArray> keep = new HashMap<>();
        for (int layer = 0; layer < model.cfg().nLayers(); layer++) {
            boolean[] mask = new boolean[n * pos * heads]; // [batch, pos, head_index]
            for (String cls : circuit.classNames()) {
                long[] idx = batch.wordIdx(circuit.positionOf(cls));
                for (Head h : circuit.headsOf(cls)) {
                    if (h.layer() != layer) {
                        continue;
                    }
                    for (int b = 0; b < n; b++) {
                        if (union) {
                            for (int other = 0; other < n; other++) {
                                mask[(b * pos + (int) idx[other]) * heads + h.head()] = true;
                            }
                        } else {
                            mask[(b * pos + (int) idx[b]) * heads + h.head()] = true;
                        }
                    }
                }
            }
            keep.put(layer, model.resultManager().create(mask, new Shape(n, pos, heads)));
        }
        return keep;
    }

    @Test
    void keepMask() {
        Circuit circuit = Circuit.PAPER;
        passes(CircuitChecks.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit,
                (b, mo, c) -> getHeadsAndPosnsToKeep(b, mo, c, false)));
        stub(CircuitChecks.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit, (b, mo, c) -> {
            throw Check.todo();
        }));
        fails(CircuitChecks.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit,
                (b, mo, c) -> getHeadsAndPosnsToKeep(b, mo, c, true)), "each prompt's own", "expected false, got true");
        fails(CircuitChecks.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit, (b, mo, c) -> {
            Map<Integer, NDArray> k = getHeadsAndPosnsToKeep(b, mo, c, false);
            k.remove(11);
            return k;
        }), "no mask for layer 11");
        fails(CircuitChecks.getHeadsAndPosnsToKeep(model, batch, abcDataset, circuit,
                (b, mo, c) -> getHeadsAndPosnsToKeep(b, mo, c.without(List.of(new Head(9, 9))), false)),
                "differs at [", "expected true, got false");
    }

    static NDArray hookFnMaskZ(NDArray z, HookPoint hook, Map<Integer, NDArray> keep, NDArray means, boolean inverted) {
        NDArray mask = keep.get(hook.layer()).expandDims(-1).broadcast(z.getShape()); // [batch, pos, head_index, d_head]
        NDArray mean = means.get(hook.layer()); // [batch, pos, head_index, d_head]
        return inverted ? NDArrays.where(mask, mean, z) : NDArrays.where(mask, z, mean);
    }

    @Test
    void maskZ() {
        Circuit circuit = Circuit.PAPER;
        passes(CircuitChecks.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> hookFnMaskZ(z, h, k, mn, false)));
        stub(CircuitChecks.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> {
            throw Check.todo();
        }));
        fails(CircuitChecks.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> hookFnMaskZ(z, h, k, mn, true)),
                "swap z and the means");
        fails(CircuitChecks.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> z), "return z unchanged");
        fails(CircuitChecks.hookFnMaskZ(model, batch, abcDataset, circuit, (z, h, k, mn) -> z.get(":, :-1")),
                "your hook threw", "hook_z", "(8, 18, 12, 2)");
    }

    static NDArray computeMeansByTemplate(IOIDataset meansDataset, HookedTransformer model, boolean byGroup) {
        NDManager mm = model.resultManager();
        int n = meansDataset.n();
        int[] groupOf = new int[n];
        List<int[]> groups = byGroup ? meansDataset.groups() : List.of(java.util.stream.IntStream.range(0, n).toArray());
        for (int g = 0; g < groups.size(); g++) {
            for (int b : groups.get(g)) {
                groupOf[b] = g;
            }
        }
        List<NDArray> layers = new ArrayList<>();
        try (NDArray tokens = mm.create(meansDataset.toks());
                ActivationCache c = model.runWithCache(tokens, name -> name.endsWith("hook_z"))) {
            for (int layer = 0; layer < model.cfg().nLayers(); layer++) {
                NDArray z = c.get("z", layer); // [batch, pos, head_index, d_head]
                List<NDArray> groupMeans = new ArrayList<>();
                for (int[] group : groups) {
                    NDArray idx = z.getManager().create(java.util.Arrays.stream(group).asLongStream().toArray());
                    groupMeans.add(z.get(new NDIndex("{}", idx)).mean(new int[] {0})); // [pos, head_index, d_head]
                }
                NDList perPrompt = new NDList();
                for (int b = 0; b < n; b++) {
                    perPrompt.add(groupMeans.get(groupOf[b]));
                }
                layers.add(NDArrays.stack(perPrompt)); // [batch, pos, head_index, d_head]
            }
            NDArray means = NDArrays.stack(new NDList(layers)); // [n_layers, batch, pos, head_index, d_head]
            means.attach(mm);
            return means;
        }
    }

    @Test
    void means() {
        passes(CircuitChecks.computeMeansByTemplate(model, batch, abcDataset, (ds, mo) -> computeMeansByTemplate(ds, mo, true)));
        stub(CircuitChecks.computeMeansByTemplate(model, batch, abcDataset, (ds, mo) -> {
            throw Check.todo();
        }));
        fails(CircuitChecks.computeMeansByTemplate(model, batch, abcDataset, (ds, mo) -> computeMeansByTemplate(ds, mo, false)),
                "all prompts instead of over each template group");
        fails(CircuitChecks.computeMeansByTemplate(model, batch, abcDataset,
                (ds, mo) -> computeMeansByTemplate(ds, mo, true).get("1:")), "has shape (11, 8");
    }

    static HookScope addMeanAblationHook(HookedTransformer model, IOIDataset meansDataset, IoiBatch batch, Circuit circuit,
            boolean inverted) {
        NDArray means = computeMeansByTemplate(meansDataset, model, true); // [n_layers, batch, pos, head_index, d_head]
        Map<Integer, NDArray> keep = getHeadsAndPosnsToKeep(batch, model, circuit, false);
        return model.addPermanentHook(n -> n.endsWith("hook_z"), (z, hook) -> hookFnMaskZ(z, hook, keep, means, inverted));
    }

    @Test
    void meanAblationHook() {
        Circuit circuit = Circuit.PAPER;
        passes(CircuitChecks.addMeanAblationHook(model, batch, abcDataset, circuit,
                (mo, ds, b, c) -> addMeanAblationHook(mo, ds, b, c, false)));
        stub(CircuitChecks.addMeanAblationHook(model, batch, abcDataset, circuit, (mo, ds, b, c) -> {
            throw Check.todo();
        }));
        fails(CircuitChecks.addMeanAblationHook(model, batch, abcDataset, circuit,
                (mo, ds, b, c) -> addMeanAblationHook(mo, ds, b, c, true)), "swap z and the means");
        fails(CircuitChecks.addMeanAblationHook(model, batch, abcDataset, circuit,
                (mo, ds, b, c) -> mo.addHook("blocks.0.hook_resid_pre", (x, h) -> x)), "add no hook");
        // A hook the learner leaves on (not in the returned scope) is removed by the check.
        CircuitChecks.addMeanAblationHook(model, batch, abcDataset, circuit, (mo, ds, b, c) -> {
            addMeanAblationHook(mo, ds, b, c, false);
            return mo.addHook("blocks.0.hook_resid_pre", (x, h) -> x);
        });
        assertTrue(model.hookNames().stream().noneMatch(n -> model.hookPoint(n).hasHooks()), "hooks left on the model");
    }
}
