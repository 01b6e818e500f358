package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ioi.lens.ActivationCache;
import ioi.lens.HookedTransformer;
import ioi.lens.RunOptions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The means {@link MeanAblation} ablates to: each layer's {@code hook_z} averaged over the prompts of
 * one template (the paper's "mean over the p_ABC prompts of the same template"), one row per prompt.
 */
final class TemplateMeans {

    private TemplateMeans() {
    }

    /**
     * Fills {@code means[l]} ([batch, pos, head_index, d_head], attached to {@code manager}) with
     * layer l's {@code hook_z} on {@code meansTokens}, averaged over the prompts sharing prompt b's
     * template index {@code templateIdx[b]}.
     */
    static void compute(HookedTransformer model, long[][] meansTokens, int[] templateIdx, NDArray[] means,
            NDManager manager) {
        int nBatch = templateIdx.length;
        Map<Integer, List<Integer>> groups = new LinkedHashMap<>();
        for (int b = 0; b < nBatch; b++) {
            groups.computeIfAbsent(templateIdx[b], g -> new ArrayList<>()).add(b);
        }
        long[] groupOf = new long[nBatch]; // [batch]: row of the stacked group means
        List<long[]> members = new ArrayList<>();
        for (List<Integer> g : groups.values()) {
            for (int b : g) {
                groupOf[b] = members.size();
            }
            members.add(g.stream().mapToLong(Integer::longValue).toArray());
        }
        try (NDManager tmp = manager.newSubManager()) {
            NDArray tokens = tmp.create(meansTokens); // [batch, pos]
            try (ActivationCache cache = model.runWithCache(tokens, n -> n.endsWith(".attn.hook_z"),
                    RunOptions.defaults().returnType(RunOptions.ReturnType.NONE))) {
                for (int l = 0; l < means.length; l++) {
                    try (NDScope scope = new NDScope()) {
                        NDArray z = cache.get("z", l); // [batch, pos, head_index, d_head]
                        NDList perGroup = new NDList();
                        for (long[] g : members) {
                            NDArray rows = z.get(new NDIndex("{}", z.getManager().create(g))); // [group, pos, head_index, d_head]
                            perGroup.add(rows.mean(new int[] {0})); // [pos, head_index, d_head]
                        }
                        NDArray stacked = NDArrays.stack(perGroup); // [groups, pos, head_index, d_head]
                        NDArray m = stacked.get(new NDIndex("{}", z.getManager().create(groupOf))).duplicate(); // [batch, pos, head_index, d_head]
                        NDScope.unregister(m);
                        m.attach(manager);
                        means[l] = m;
                    }
                }
            }
        }
    }
}
