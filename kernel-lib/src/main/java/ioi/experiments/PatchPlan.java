package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.ActivationCache;
import ioi.lens.GPT2Config;
import ioi.lens.HookPoint;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@link ActivationPatching}'s cells touch in one batch: each {@link Patch} as a boolean mask
 * over its activation (positions cut to the ones run), the layer a cell starts at, the first
 * position it changes, and whether it changes anything at all. The edits it makes are run by
 * {@link BatchedRun}.
 */
final class PatchPlan {

    private final HookedTransformer model;
    private final GPT2Config cfg;
    private final NDManager manager; // temporaries only
    private final long batch;
    private final long seqLen; // full sequence length (TL's pos axis)
    private final long cut; // positions run: last position the metric reads + 1
    private final long[] positions; // [batch]: where the metric reads

    PatchPlan(HookedTransformer model, long batch, long seqLen, long cut, long[] positions, NDManager manager) {
        this.model = model;
        this.cfg = model.cfg();
        this.batch = batch;
        this.seqLen = seqLen;
        this.cut = cut;
        this.positions = positions;
        this.manager = manager;
    }

    /**
     * The corrupted run's activations at the patched hooks, to find patches that change nothing:
     * per (hook, source) a boolean [batch, ...] of where the source differs from them.
     */
    final class Unchanged implements AutoCloseable {
        private final ActivationCache acts;
        // hook -> source -> where the cut source differs from the corrupted activation, BOOLEAN [batch, ...]
        private final Map<String, Map<NDArray, NDArray>> differs = new HashMap<>();
        private final NDManager m;

        Unchanged(List<List<Patch>> cells, NDArray tokens, NDManager m) {
            this.m = m;
            Set<String> hooks = new HashSet<>();
            for (List<Patch> c : cells) {
                for (Patch p : c) {
                    hooks.add(p.hookName());
                }
            }
            acts = model.runWithCache(tokens, hooks::contains, RunOptions.defaults().returnType(RunOptions.ReturnType.NONE));
        }

        /** Where the patch's source differs from the corrupted activation: BOOLEAN [batch, ...] over [0, cut). */
        NDArray differs(Patch p) {
            Map<NDArray, NDArray> ofHook = differs.computeIfAbsent(p.hookName(), h -> new IdentityHashMap<>());
            return ofHook.computeIfAbsent(p.source(), s -> {
                try (NDScope scope = new NDScope()) {
                    NDArray cutSource = s.get(cutIndex(model.hookPoint(p.hookName()), 0));
                    NDArray diff = cutSource.neq(acts.get(p.hookName())); // [batch, ...]
                    NDScope.unregister(diff);
                    diff.attach(m);
                    return diff;
                }
            });
        }

        boolean changesNothing(List<Patch> patches) {
            try (NDScope scope = new NDScope()) {
                for (Patch p : patches) {
                    NDArray d = differs(p);
                    Region.Mask mask = mask(p, 0, cut);
                    NDArray where = m.create(mask.values(), new Shape(mask.shape())).broadcast(d.getShape()); // [batch, ...]
                    if (d.logicalAnd(where).any().getBoolean()) {
                        return false;
                    }
                }
                return true;
            }
        }

        @Override
        public void close() {
            acts.close();
        }
    }

    /** The NDIndex of positions [from, cut) along every position axis. */
    String cutIndex(HookPoint hp, long from) {
        StringBuilder index = new StringBuilder();
        for (String dim : hp.dims()) {
            index.append(index.length() == 0 ? "" : ", ").append(Region.isPos(dim) ? from + ":" + cut : ":");
        }
        return index.toString();
    }

    /**
     * The first position a cell's patches can change, capped at the first position the metric
     * reads; 0 when the prefix cannot be reused (option off, embeddings, or a hook without a
     * {@code pos} axis: attention scores and patterns span key positions too).
     */
    long firstChanged(List<Patch> patches, int start, Unchanged unchanged, boolean reusePrefix) {
        if (!reusePrefix || start < 0) {
            return 0;
        }
        long first = Arrays.stream(positions).min().orElse(0);
        for (Patch p : patches) {
            HookPoint hp = model.hookPoint(p.hookName());
            int posAxis = hp.dims().indexOf("pos");
            if (posAxis < 0 || hp.dims().contains("key_pos")) {
                return 0;
            }
            try (NDScope scope = new NDScope()) {
                Region.Mask mask = mask(p, 0, cut);
                NDArray touched = manager.create(mask.values(), new Shape(mask.shape())); // BOOLEAN, broadcasts
                Shape shape = new Shape(fullShape(hp)).slice(0, posAxis).addAll(new Shape(cut))
                        .addAll(new Shape(fullShape(hp)).slice(posAxis + 1));
                touched = touched.broadcast(shape); // [batch, cut, ...]
                if (unchanged != null) {
                    touched = touched.logicalAnd(unchanged.differs(p)); // where the patch changes a value
                }
                int[] others = new int[shape.dimension() - 1];
                for (int a = 0, o = 0; a < shape.dimension(); a++) {
                    if (a != posAxis) {
                        others[o++] = a;
                    }
                }
                long[] perPos = touched.toType(DataType.INT32, false).sum(others).toType(DataType.INT64, false)
                        .toLongArray(); // [cut]
                for (int q = 0; q < perPos.length && q < first; q++) {
                    if (perPos[q] > 0) {
                        first = q;
                    }
                }
            }
        }
        return first;
    }

    boolean touchesRunPositions(List<Patch> patches) {
        for (Patch p : patches) {
            if (mask(p, 0, cut).any()) {
                return true;
            }
        }
        return false;
    }

    int startLayer(List<Patch> patches) {
        int start = Integer.MAX_VALUE;
        for (Patch p : patches) {
            if (p.hookName().startsWith("ln_final.")) {
                throw new IllegalArgumentException(p.hookName() + " cannot be patched here: the final LayerNorm runs "
                        + "only at the metric's positions");
            }
            start = Math.min(start, model.hookPoint(p.hookName()).layer()); // -1: hook_embed / hook_pos_embed
        }
        return start;
    }

    /** The patch's mask over positions [from, to) (and everything else whole). */
    Region.Mask mask(Patch p, long from, long to) {
        HookPoint hp = model.hookPoint(p.hookName());
        long[] full = fullShape(hp);
        Shape s = p.source().getShape();
        if (!s.equals(new Shape(full))) {
            throw new IllegalArgumentException(p.hookName() + ": the patch source is " + s + " but the activation is "
                    + hp.dims() + " = " + new Shape(full));
        }
        return p.region().mask(p.hookName(), hp.dims(), full, from, to);
    }

    /** The activation's shape for one copy of the batch over the full sequence. */
    long[] fullShape(HookPoint hp) {
        List<String> dims = hp.dims();
        long[] shape = new long[dims.size()];
        for (int a = 0; a < shape.length; a++) {
            shape[a] = switch (dims.get(a)) {
                case "batch" -> batch;
                case "pos", "query_pos", "key_pos" -> seqLen;
                case "head_index" -> cfg.nHeads();
                case "d_head" -> cfg.dHead();
                case "d_model" -> cfg.dModel();
                case "d_mlp" -> cfg.dMlp();
                case "d_vocab" -> cfg.dVocab();
                case "1" -> 1;
                default -> throw new IllegalArgumentException(hp.name() + ": unknown dimension " + dims.get(a));
            };
        }
        return shape;
    }


    NDArray cutSource(Patch p, long from, NDManager runManager) { // [1, batch, ...] positions [from, cut)
        try (NDScope scope = new NDScope()) {
            NDArray s = p.source().get(cutIndex(model.hookPoint(p.hookName()), from)); // [batch, ...] positions [from, cut)
            NDArray c = s.expandDims(0).duplicate(); // [1, batch, ...], contiguous and owned here
            NDScope.unregister(c);
            c.attach(runManager);
            return c;
        }
    }

    static Region.Mask or(Region.Mask a, Region.Mask b) {
        long[] shape = new long[a.shape().length];
        int size = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = Math.max(a.shape()[i], b.shape()[i]);
            size *= (int) shape[i];
        }
        boolean[] v = new boolean[size];
        int[] idx = new int[shape.length];
        for (int flat = 0; flat < size; flat++) {
            v[flat] = a.at(idx) || b.at(idx);
            increment(idx, shape);
        }
        return new Region.Mask(shape, v);
    }

    /** Per-copy masks -> one boolean array [copies, ...] (axes a copy does not restrict broadcast). */
    static NDArray stackMasks(Region.Mask[] masks, NDManager gm) {
        int rank = 0;
        for (Region.Mask m : masks) {
            if (m != null) {
                rank = m.shape().length;
            }
        }
        long[] shape = new long[rank];
        Arrays.fill(shape, 1);
        for (Region.Mask m : masks) {
            if (m != null) {
                for (int a = 0; a < rank; a++) {
                    shape[a] = Math.max(shape[a], m.shape()[a]);
                }
            }
        }
        int per = 1;
        for (long s : shape) {
            per *= (int) s;
        }
        boolean[] all = new boolean[masks.length * per];
        int[] idx = new int[rank];
        for (int k = 0; k < masks.length; k++) {
            if (masks[k] == null) {
                continue;
            }
            Arrays.fill(idx, 0);
            for (int flat = 0; flat < per; flat++) {
                all[k * per + flat] = masks[k].at(idx);
                increment(idx, shape);
            }
        }
        long[] withCopies = new long[rank + 1];
        withCopies[0] = masks.length;
        System.arraycopy(shape, 0, withCopies, 1, rank);
        return gm.create(all, new Shape(withCopies));
    }

    static void increment(int[] idx, long[] shape) {
        for (int a = shape.length - 1; a >= 0; a--) {
            if (++idx[a] < shape[a]) {
                return;
            }
            idx[a] = 0;
        }
    }
}
