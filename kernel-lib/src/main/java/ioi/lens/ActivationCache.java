package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Activations captured by {@link HookedTransformer#runWithCache}, keyed by TransformerLens hook
 * name in execution order, plus the pass's logits and loss. It owns every array it holds (and
 * every stack its methods return) in one manager: close it to free them all.
 *
 * <p>Look-ups: {@code get("blocks.9.attn.hook_pattern")}, {@code get("pattern", 9)},
 * {@code get("scale", 4, "ln1")}, {@code get("resid_post", -1)} (negative layers count from
 * the end). Unknown or uncached names throw and list what the cache holds.
 */
public final class ActivationCache implements AutoCloseable {

    private final HookedTransformer model;
    private final NDManager manager;
    private final LinkedHashMap<String, NDArray> cache = new LinkedHashMap<>();
    private volatile boolean closed;
    private NDArray logits;
    private NDArray loss;

    ActivationCache(HookedTransformer model, NDManager manager) {
        this.model = model;
        this.manager = manager;
    }

    NDManager manager() {
        return manager;
    }

    /** Takes ownership of an activation captured mid-forward (it outlives the pass's scope). */
    void put(String name, NDArray activation) {
        NDScope.unregister(activation);
        activation.attach(manager);
        cache.put(name, activation);
    }

    /** Whether this cache owns this very array (not a copy). */
    boolean holds(NDArray array) {
        return array.getManager() == manager;
    }

    void setOutput(NDArray logits, NDArray loss) {
        this.logits = logits;
        this.loss = loss;
    }

    /** Logits of the cached pass [batch, pos, d_vocab], or null if it returned none. */
    public NDArray logits() {
        requireOpen();
        return logits;
    }

    /** Loss of the cached pass, if it was asked for. */
    public NDArray loss() {
        return loss;
    }

    /** Hook names held, in execution order. */
    public List<String> keys() {
        return List.copyOf(cache.keySet());
    }

    public int size() {
        return cache.size();
    }

    public boolean contains(String name) {
        return cache.containsKey(name);
    }

    /** An unmodifiable view name -> activation. */
    public Map<String, NDArray> asMap() {
        requireOpen();
        return Collections.unmodifiableMap(cache);
    }

    /** By full TL name or a layer-less short name ({@code "embed"}, {@code "scale"} = ln_final). */
    public NDArray get(String name) {
        return lookup(HookNames.getActName(name), name);
    }

    /** TL's {@code cache[name, layer]}. */
    public NDArray get(String name, int layer) {
        return lookup(HookNames.getActName(name, layer(layer)), name + ", " + layer);
    }

    /** TL's {@code cache[name, layer, layer_type]}, e.g. {@code ("scale", 4, "ln1")}. */
    public NDArray get(String name, int layer, String layerType) {
        return lookup(HookNames.getActName(name, layer(layer), layerType),
                name + ", " + layer + ", " + layerType);
    }

    private int layer(int layer) {
        int n = model.cfg().nLayers();
        int l = layer < 0 ? n + layer : layer;
        if (l < 0 || l >= n) {
            throw new IllegalArgumentException("layer " + layer + " is out of range [-" + n + ", " + n + ")");
        }
        return l;
    }

    private NDArray lookup(String fullName, String asked) {
        requireOpen();
        NDArray a = cache.get(fullName);
        if (a != null) {
            return a;
        }
        if (model.hookNames().contains(fullName)) {
            throw new IllegalArgumentException("'" + fullName + "' (from " + asked + ") is a hook point but was not "
                    + "cached: widen the names filter of runWithCache. Cached: " + summary());
        }
        throw new IllegalArgumentException(HookNames.unknownNameMessage(fullName, cache.keySet()));
    }

    private String summary() {
        List<String> k = keys();
        return k.size() <= 12 ? k.toString() : k.subList(0, 10) + " ... (" + k.size() + " in all)";
    }

    // ---------------------------------------------------------------- decompositions

    /**
     * TL's {@code accumulated_resid}: the residual stream entering each layer up to {@code layer}
     * ({@code resid_pre} 0..layer, and {@code final_post} when layer is n_layers or -1/null),
     * optionally with the {@code resid_mid} values, as [components, batch, pos, d_model].
     *
     * @param layer 0..n_layers, or null / -1 for all of them
     * @param applyLn scale by the cached LN scale of that layer ({@link #applyLnToStack})
     */
    public LabeledStack accumulatedResid(Integer layer, boolean inclMid, boolean applyLn) {
        int n = model.cfg().nLayers();
        int upTo = layer == null || layer == -1 ? n : checkStackLayer(layer);
        NDList parts = new NDList();
        List<String> labels = new ArrayList<>();
        for (int l = 0; l <= upTo; l++) {
            if (l == n) {
                parts.add(get("resid_post", n - 1));
                labels.add("final_post");
                continue;
            }
            parts.add(get("resid_pre", l));
            labels.add(l + "_pre");
            if (inclMid && l < upTo) {
                parts.add(get("resid_mid", l));
                labels.add(l + "_mid");
            }
        }
        return finish(parts, labels, applyLn ? upTo : null, false);
    }

    /**
     * TL's {@code decompose_resid}: the pieces that add up to the residual stream entering
     * {@code layer}: embed, pos_embed, then each layer's attn_out and mlp_out.
     *
     * @param mode "all", "attn" or "mlp"
     */
    public LabeledStack decomposeResid(Integer layer, boolean mlpInput, String mode, boolean applyLn,
            boolean inclEmbeds) {
        if (!Set.of("all", "attn", "mlp").contains(mode)) {
            throw new IllegalArgumentException("mode must be one of all, attn, mlp but got '" + mode + "'");
        }
        int n = model.cfg().nLayers();
        int upTo = layer == null || layer == -1 ? n : checkStackLayer(layer);
        boolean inclAttn = !mode.equals("mlp");
        boolean inclMlp = !mode.equals("attn");
        NDList parts = new NDList();
        List<String> labels = new ArrayList<>();
        if (inclEmbeds) {
            parts.add(get("hook_embed"));
            labels.add("embed");
            parts.add(get("hook_pos_embed"));
            labels.add("pos_embed");
        }
        for (int l = 0; l < upTo; l++) {
            if (inclAttn) {
                parts.add(get("attn_out", l));
                labels.add(l + "_attn_out");
            }
            if (inclMlp) {
                parts.add(get("mlp_out", l));
                labels.add(l + "_mlp_out");
            }
        }
        if (mlpInput && inclAttn) {
            parts.add(get("attn_out", upTo));
            labels.add(upTo + "_attn_out");
        }
        return finish(parts, labels, applyLn ? upTo : null, mlpInput);
    }

    public LabeledStack decomposeResid(Integer layer, boolean applyLn) {
        return decomposeResid(layer, false, "all", applyLn, true);
    }

    /**
     * TL's {@code stack_head_results}: each head's output {@code z @ W_O[h]} for layers before
     * {@code layer}, [layer * n_heads (+1), batch, pos, d_model], labels {@code L{l}H{h}} and an
     * optional {@code remainder} (resid_post of the last layer minus the heads' sum). Uses cached
     * {@code hook_result} when present, else computes it from {@code hook_z} (as TL's
     * {@code compute_head_results}).
     */
    public LabeledStack stackHeadResults(Integer layer, boolean inclRemainder, boolean applyLn) {
        int n = model.cfg().nLayers();
        int upTo = layer == null || layer == -1 ? n : checkStackLayer(layer);
        int heads = model.cfg().nHeads();
        NDList parts = new NDList();
        List<String> labels = new ArrayList<>();
        try (NDScope scope = new NDScope()) {
            for (int l = 0; l < upTo; l++) {
                NDArray result = headResult(l); // [batch, pos, head_index, d_model]
                parts.add(result.transpose(2, 0, 1, 3)); // [head_index, batch, pos, d_model]
                for (int h = 0; h < heads; h++) {
                    labels.add("L" + l + "H" + h);
                }
            }
            if (parts.isEmpty()) {
                throw new IllegalArgumentException("stackHeadResults(layer " + layer + ") has no heads before it");
            }
            NDArray stack = NDArrays.concat(parts, 0); // [layer*head_index, batch, pos, d_model]
            if (inclRemainder) {
                NDArray remainder = get("resid_post", upTo - 1).sub(stack.sum(new int[] {0})); // [batch, pos, d_model]
                stack = NDArrays.concat(new NDList(stack, remainder.expandDims(0)), 0);
                labels.add("remainder");
            }
            if (applyLn) {
                stack = applyLnToStack(stack, upTo, false, null);
            }
            return own(stack, labels);
        }
    }

    /** {@code attn.hook_result} of a layer, computed from {@code hook_z} and {@code W_O} if not cached. */
    private NDArray headResult(int layer) {
        String name = "blocks." + layer + ".attn.hook_result";
        NDArray cached = cache.get(name);
        if (cached != null) {
            return cached;
        }
        NDArray z = get("z", layer); // [batch, pos, head_index, d_head]
        NDArray wO = model.weight("blocks." + layer + ".attn.W_O"); // [head_index, d_head, d_model]
        long batch = z.getShape().get(0);
        long pos = z.getShape().get(1);
        long heads = z.getShape().get(2);
        NDArray byHead = z.transpose(2, 0, 1, 3).reshape(heads, batch * pos, -1); // [head_index, batch*pos, d_head]
        NDArray result = byHead.matMul(wO) // [head_index, batch*pos, d_model]
                .reshape(heads, batch, pos, -1).transpose(1, 2, 0, 3); // [batch, pos, head_index, d_model]
        NDScope.unregister(result);
        result.attach(manager);
        cache.put(name, result);
        return result;
    }

    /**
     * TL's {@code apply_ln_to_stack}: treats each component as the input of {@code layer}'s LN
     * (ln1, or ln2 with {@code mlpInput}; ln_final for n_layers, -1 or null) and applies that
     * LN's frozen scale from the cache: centre over d_model, divide by the cached hook_scale.
     *
     * @param stack [components, batch, pos, d_model], or [components, batch, d_model] with {@code pos}
     * @param pos the single position the stack was sliced at (negatives from the end), or null
     */
    public NDArray applyLnToStack(NDArray stack, Integer layer, boolean mlpInput, Integer pos) {
        NDArray scale = lnScale(layer, mlpInput); // [batch, pos, 1]
        if (pos != null) {
            long p = scale.getShape().get(1);
            long idx = pos < 0 ? p + pos : pos;
            scale = scale.get(":, " + idx + ", :"); // [batch, 1]
        }
        NDArray centred = stack.sub(stack.mean(new int[] {-1}, true)); // [components, batch, (pos,) d_model]
        NDArray out = centred.div(scale); // [components, batch, (pos,) d_model]
        out.attach(manager);
        return out;
    }

    /**
     * TL's {@code logit_attrs}: each component's direct contribution to the logit of
     * {@code tokens} (minus that of {@code incorrectTokens} if given), through ln_final's frozen
     * scale and {@code W_U} (no {@code b_U}).
     *
     * @param stack [components, batch, d_model] at one position {@code pos} (or [components,
     *     batch, pos, d_model] with pos null)
     * @param tokens [batch] token ids, one per prompt
     * @param incorrectTokens [batch] or null
     * @return [components, batch] (or [components, batch, pos])
     */
    public NDArray logitAttrs(NDArray stack, long[] tokens, long[] incorrectTokens, Integer pos) {
        if (incorrectTokens != null && incorrectTokens.length != tokens.length) {
            throw new IllegalArgumentException("tokens and incorrectTokens must have the same length but have "
                    + tokens.length + " and " + incorrectTokens.length);
        }
        try (NDScope scope = new NDScope()) {
            NDArray wU = model.W_U(); // [d_model, d_vocab]
            NDArray directions = residualDirections(wU, tokens); // [batch, d_model]
            if (incorrectTokens != null) {
                directions = directions.sub(residualDirections(wU, incorrectTokens));
            }
            NDArray scaled = applyLnToStack(stack, null, false, pos); // [components, batch, (pos,) d_model]
            if (pos == null) {
                directions = directions.expandDims(1); // [batch, 1, d_model]
            }
            NDArray attrs = scaled.mul(directions).sum(new int[] {-1}); // [components, batch (, pos)]
            return own(attrs, null).stack();
        }
    }

    // ---------------------------------------------------------------- one position per prompt

    /**
     * A stack at one position per prompt, TL's {@code stack[:, arange(batch), positions]}: how
     * IOI experiments read every prompt at its own {@code end}.
     *
     * @param stack [components, batch, pos, d_model]
     * @param positions one position per batch row
     * @return [components, batch, d_model], owned by the cache
     */
    public NDArray atPositions(NDArray stack, long[] positions) {
        ai.djl.ndarray.types.Shape s = stack.getShape();
        if (s.dimension() != 4) {
            throw new IllegalArgumentException("expected a stack [components, batch, pos, d_model] but got " + s);
        }
        long components = s.get(0);
        long batch = s.get(1);
        long pos = s.get(2);
        long[] flat = new long[(int) batch];
        checkPositions(positions, batch, pos);
        for (int b = 0; b < batch; b++) {
            flat[b] = b * pos + positions[b];
        }
        try (NDScope scope = new NDScope()) {
            NDArray idx = stack.getManager().create(flat); // [batch]
            NDArray rows = stack.reshape(components, batch * pos, s.get(3)) // [components, batch*pos, d_model]
                    .get(new ai.djl.ndarray.index.NDIndex(":, {}", idx)); // [components, batch, d_model]
            return own(rows, null).stack();
        }
    }

    /**
     * {@link #applyLnToStack} for a stack taken at one position per prompt (e.g. each prompt's
     * {@code end}): row {@code b} is divided by the cached LN scale of prompt {@code b} at
     * {@code positions[b]}. TL does this one prompt at a time, {@code apply_ln_to_stack(stack,
     * layer, pos_slice=positions[b], batch_slice=[b])}.
     *
     * @param stack [components, batch, d_model] (see {@link #atPositions})
     * @param positions one position per batch row
     * @return [components, batch, d_model], owned by the cache
     */
    public NDArray applyLnToStackAtPositions(NDArray stack, Integer layer, boolean mlpInput, long[] positions) {
        if (stack.getShape().dimension() != 3) {
            throw new IllegalArgumentException("expected a stack [components, batch, d_model] taken at one position "
                    + "per prompt but got " + stack.getShape());
        }
        NDArray scale = lnScale(layer, mlpInput); // [batch, pos, 1]
        long batch = scale.getShape().get(0);
        long pos = scale.getShape().get(1);
        if (stack.getShape().get(1) != batch) {
            throw new IllegalArgumentException("the stack has batch " + stack.getShape().get(1) + " but the cache "
                    + batch);
        }
        checkPositions(positions, batch, pos);
        long[] flat = new long[(int) batch];
        for (int b = 0; b < batch; b++) {
            flat[b] = b * pos + positions[b];
        }
        try (NDScope scope = new NDScope()) {
            NDArray idx = scale.getManager().create(flat); // [batch]
            NDArray rowScale = scale.reshape(batch * pos, 1).get(new ai.djl.ndarray.index.NDIndex("{}", idx)); // [batch, 1]
            NDArray centred = stack.sub(stack.mean(new int[] {-1}, true)); // [components, batch, d_model]
            return own(centred.div(rowScale), null).stack(); // [components, batch, d_model]
        }
    }

    /**
     * {@link #logitAttrs} for a stack taken at one position per prompt: each component's direct
     * contribution to {@code logit[tokens[b]] - logit[incorrectTokens[b]]} of prompt {@code b} at
     * {@code positions[b]}, through ln_final's cached scale there and {@code W_U} (no {@code b_U}).
     * This is the IOI direct logit attribution (ARENA's {@code residual_stack_to_logit_diff} with
     * each prompt's {@code end}).
     *
     * @param stack [components, batch, d_model] (see {@link #atPositions})
     * @param tokens [batch]
     * @param incorrectTokens [batch] or null
     * @param positions [batch]
     * @return [components, batch], owned by the cache
     */
    public NDArray logitAttrsAtPositions(NDArray stack, long[] tokens, long[] incorrectTokens, long[] positions) {
        if (incorrectTokens != null && incorrectTokens.length != tokens.length) {
            throw new IllegalArgumentException("tokens and incorrectTokens must have the same length but have "
                    + tokens.length + " and " + incorrectTokens.length);
        }
        if (tokens.length != positions.length) {
            throw new IllegalArgumentException("expected one token per position but got " + tokens.length
                    + " tokens and " + positions.length + " positions");
        }
        try (NDScope scope = new NDScope()) {
            NDArray wU = model.W_U(); // [d_model, d_vocab]
            NDArray directions = residualDirections(wU, tokens); // [batch, d_model]
            if (incorrectTokens != null) {
                directions = directions.sub(residualDirections(wU, incorrectTokens));
            }
            NDArray scaled = applyLnToStackAtPositions(stack, null, false, positions); // [components, batch, d_model]
            NDArray attrs = scaled.mul(directions).sum(new int[] {-1}); // [components, batch]
            scaled.close(); // an intermediate: the cache need not keep it
            return own(attrs, null).stack();
        }
    }

    private static void checkPositions(long[] positions, long batch, long pos) {
        if (positions == null || positions.length != batch) {
            throw new IllegalArgumentException("expected one position per prompt (" + batch + ") but got "
                    + (positions == null ? "none" : positions.length));
        }
        for (int b = 0; b < batch; b++) {
            if (positions[b] < 0 || positions[b] >= pos) {
                throw new IllegalArgumentException("position " + positions[b] + " of prompt " + b
                        + " is out of range [0, " + pos + ")");
            }
        }
    }

    private static NDArray residualDirections(NDArray wU, long[] tokens) {
        NDArray idx = wU.getManager().create(tokens); // [batch]
        return wU.transpose().get(new ai.djl.ndarray.index.NDIndex("{}", idx)); // [batch, d_model]
    }

    /** The cached hook_scale of the LN that reads the residual entering {@code layer} (ln_final for n_layers, -1, null). */
    private NDArray lnScale(Integer layer, boolean mlpInput) {
        int n = model.cfg().nLayers();
        int l = layer == null || layer == -1 ? n : checkStackLayer(layer);
        if (l == n && mlpInput) {
            throw new IllegalArgumentException("mlpInput needs a layer below n_layers " + n + " (ln_final has no MLP)");
        }
        String scaleName = l == n ? "ln_final.hook_scale" : "blocks." + l + ".ln" + (mlpInput ? 2 : 1) + ".hook_scale";
        return lookup(scaleName, "the LN scale for layer " + l); // [batch, pos, 1]
    }

    private int checkStackLayer(int layer) {
        int n = model.cfg().nLayers();
        int l = layer < 0 ? n + 1 + layer : layer;
        if (l < 0 || l > n) {
            throw new IllegalArgumentException("layer " + layer + " is out of range [0, " + n + "]");
        }
        return l;
    }

    private LabeledStack finish(NDList parts, List<String> labels, Integer lnLayer, boolean mlpInput) {
        try (NDScope scope = new NDScope()) {
            NDArray stack = NDArrays.stack(parts, 0); // [components, batch, pos, d_model]
            if (lnLayer != null) {
                stack = applyLnToStack(stack, lnLayer, mlpInput, null);
            }
            return own(stack, labels);
        }
    }

    private LabeledStack own(NDArray stack, List<String> labels) {
        NDScope.unregister(stack);
        stack.attach(manager);
        return new LabeledStack(stack, labels == null ? null : List.copyOf(labels));
    }

    /** Whether {@link #close} was called (by the user, or by a notebook cell that replaced it). */
    public boolean isClosed() {
        return closed;
    }

    /** Fails with what to do when the cache's arrays were freed. */
    void requireOpen() {
        if (closed) {
            throw new IllegalStateException("this ActivationCache is closed (close() was called, or a re-run notebook "
                    + "cell replaced the variable that held it, which frees it): run model.runWithCache(...) again");
        }
    }

    /** Frees every array the cache holds or made. */
    @Override
    public void close() {
        closed = true;
        cache.clear();
        manager.close();
        model.cacheClosed(this);
    }

    @Override
    public String toString() {
        return "ActivationCache(" + cache.size() + " activations: " + summary() + ")";
    }
}
