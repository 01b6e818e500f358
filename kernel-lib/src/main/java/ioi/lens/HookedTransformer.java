package ioi.lens;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.hub.ModelResolver;
import ioi.lens.io.Safetensors;
import ioi.lens.io.SafetensorsFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * GPT-2 on DJL's PyTorch engine with TransformerLens's hook points, names, shapes and weight
 * processing, so TransformerLens code translates line by line:
 *
 * <pre>{@code
 * try (var model = HookedTransformer.fromPretrained("gpt2");
 *      var cache = model.runWithCache("When Mary and John went to the store, John gave a drink to")) {
 *     NDArray pattern = cache.get("pattern", 9);            // [batch, head_index, query_pos, key_pos]
 *     NDArray logits = cache.logits();                      // [batch, pos, d_vocab]
 * }
 * }</pre>
 *
 * <p>Lifetimes: the model owns its weights in one {@link NDManager}. Each forward pass runs in an
 * {@link NDScope} that frees every intermediate array; what it returns is attached to the
 * manager of the input tokens (or, for text input, to the model's result manager), and an
 * {@link ActivationCache} owns what it captured. No autograd graph is ever built.
 *
 * <p>Hooks: {@link #hooks} adds hooks for a try-with-resources block and removes exactly those
 * afterwards, also when the forward pass throws. The hook points TL gates behind config flags
 * ({@code attn.hook_result}, {@code hook_q_input}, {@code hook_k_input}, {@code hook_v_input},
 * {@code hook_attn_in}, {@code hook_mlp_in}) switch on for any pass that has a hook on them, so
 * they never silently fail to fire; {@link #setUseAttnResult} etc. switch them on for good.
 */
public final class HookedTransformer implements AutoCloseable {

    /** Hugging Face files a GPT-2 checkpoint directory must hold. */
    public static final List<String> CHECKPOINT_FILES =
            List.of("config.json", "model.safetensors", "tokenizer.json");

    private final GPT2Config cfg;
    private final ProcessingOptions processing;
    private final NDManager weightsManager;
    private final NDManager resultManager;
    private volatile boolean closed;
    private final GPT2Tokenizer tokenizer;
    private final Map<String, NDArray> params; // TL parameter name -> weight, owned by weightsManager
    private final HookPoint hookEmbed; // [batch, pos, d_model]
    private final HookPoint hookPosEmbed; // [batch, pos, d_model]
    private final List<TransformerBlock> blocks;
    private final LayerNorm lnFinal;
    private final NDArray wE; // [d_vocab, d_model]
    private final NDArray wPos; // [n_ctx, d_model]
    private final NDArray wU; // [d_model, d_vocab]
    private final NDArray bU; // [d_vocab]
    private final LinkedHashMap<String, HookPoint> hookDict = new LinkedHashMap<>();
    private final Set<String> flags = new HashSet<>();
    private final Set<ActivationCache> openCaches = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final Path directory;

    private HookedTransformer(GPT2Config cfg, ProcessingOptions processing, Map<String, NDArray> params,
            NDManager weightsManager, GPT2Tokenizer tokenizer, Path directory) {
        this.cfg = cfg;
        this.processing = processing;
        this.params = Collections.unmodifiableMap(params);
        this.weightsManager = weightsManager;
        this.resultManager = weightsManager.newSubManager();
        this.tokenizer = tokenizer;
        this.directory = directory;
        this.wE = param("embed.W_E");
        this.wPos = param("pos_embed.W_pos");
        this.wU = param("unembed.W_U");
        this.bU = param("unembed.b_U");
        List<String> resid = List.of("batch", "pos", "d_model");
        hookEmbed = new HookPoint("hook_embed", -1, resid, null);
        hookPosEmbed = new HookPoint("hook_pos_embed", -1, resid, null);
        register(hookEmbed);
        register(hookPosEmbed);
        List<TransformerBlock> bs = new ArrayList<>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            String p = "blocks." + l + ".";
            LayerNorm ln1 = new LayerNorm(p + "ln1", l, params.get(p + "ln1.w"), params.get(p + "ln1.b"), cfg.eps());
            Attention attn = new Attention(l, cfg, param(p + "attn.W_Q"), param(p + "attn.W_K"),
                    param(p + "attn.W_V"), param(p + "attn.W_O"), param(p + "attn.b_Q"),
                    param(p + "attn.b_K"), param(p + "attn.b_V"), param(p + "attn.b_O"));
            LayerNorm ln2 = new LayerNorm(p + "ln2", l, params.get(p + "ln2.w"), params.get(p + "ln2.b"), cfg.eps());
            Mlp mlp = new Mlp(l, param(p + "mlp.W_in"), param(p + "mlp.b_in"), param(p + "mlp.W_out"),
                    param(p + "mlp.b_out"));
            TransformerBlock block = new TransformerBlock(l, cfg, ln1, attn, ln2, mlp);
            block.hookPoints().forEach(this::register);
            bs.add(block);
        }
        this.blocks = List.copyOf(bs);
        lnFinal = new LayerNorm("ln_final", -1, params.get("ln_final.w"), params.get("ln_final.b"), cfg.eps());
        register(lnFinal.hookScale);
        register(lnFinal.hookNormalized);
    }

    /** The weights and the arrays derived from them that live as long as the model. */
    private List<NDArray> ownedArrays() {
        List<NDArray> owned = new ArrayList<>(params.values());
        for (TransformerBlock b : blocks) {
            owned.addAll(b.attn.derived());
        }
        return owned;
    }

    private NDArray param(String name) {
        NDArray p = params.get(name);
        if (p == null) {
            throw new IllegalStateException("missing parameter " + name);
        }
        return p;
    }

    private void register(HookPoint point) {
        hookDict.put(point.name(), point);
    }

    // ---------------------------------------------------------------- loading

    /** GPT-2 with TransformerLens's default processing; see {@link #fromPretrained(String, ProcessingOptions, Device)}. */
    public static HookedTransformer fromPretrained(String nameOrPath) {
        return fromPretrained(nameOrPath, ProcessingOptions.defaults());
    }

    public static HookedTransformer fromPretrained(String nameOrPath, ProcessingOptions processing) {
        return fromPretrained(nameOrPath, processing, null);
    }

    /** TL's {@code from_pretrained_no_processing}: the checkpoint's weights as they are. */
    public static HookedTransformer fromPretrainedNoProcessing(String nameOrPath) {
        return fromPretrained(nameOrPath, ProcessingOptions.none());
    }

    /**
     * Loads a GPT-2 checkpoint: {@code "gpt2"} / {@code "gpt2-small"} (Hugging Face's
     * {@code openai-community/gpt2}), another {@code org/name} repo id, or a local directory with
     * {@code config.json}, {@code model.safetensors} and {@code tokenizer.json}. Names are looked
     * up in the Hugging Face cache that Python's {@code huggingface_hub} uses, then downloaded.
     *
     * @param device null for DJL's default device (a GPU when DJL sees one)
     */
    public static HookedTransformer fromPretrained(String nameOrPath, ProcessingOptions processing, Device device) {
        return fromPretrained(nameOrPath, processing, device, ioi.lens.hub.HubConfig.fromEnvironment());
    }

    /**
     * As {@link #fromPretrained(String, ProcessingOptions, Device)} with an explicit Hub endpoint,
     * cache directory, offline flag and token instead of the environment's (HF_ENDPOINT,
     * HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN).
     */
    public static HookedTransformer fromPretrained(String nameOrPath, ProcessingOptions processing, Device device,
            ioi.lens.hub.HubConfig hub) {
        Path dir = ModelResolver.resolve(nameOrPath, CHECKPOINT_FILES,
                ioi.lens.hub.DownloadProgress.defaultReporter(), hub);
        return load(dir, processing, device);
    }

    /** Loads from a directory that holds {@link #CHECKPOINT_FILES}. */
    public static HookedTransformer load(Path dir, ProcessingOptions processing, Device device) {
        GPT2Config cfg = GPT2Config.fromHfConfig(dir.resolve("config.json"));
        GPT2Tokenizer tokenizer = GPT2Tokenizer.load(dir);
        // Ownership: the model's weights manager holds every parameter for the model's lifetime.
        NDManager manager = device == null ? NDManager.newBaseManager() : NDManager.newBaseManager(device);
        try {
            LinkedHashMap<String, NDArray> sd;
            HookedTransformer loaded;
            // Everything made while loading is freed but the arrays the model keeps.
            try (NDScope scope = new NDScope();
                    SafetensorsFile file = Safetensors.open(dir.resolve("model.safetensors"))) {
                sd = WeightConversion.fromHuggingFace(file, cfg, manager);
                WeightProcessing.process(sd, cfg, processing);
                HookedTransformer model = new HookedTransformer(cfg, processing, sd, manager, tokenizer, dir);
                for (NDArray p : model.ownedArrays()) {
                    NDScope.unregister(p); // kept: weights and their fused forms; the rest is freed
                }
                loaded = model;
            }
            NativeMemory.trim(); // the copies made while loading were freed; give their pages back
            return loaded;
        } catch (RuntimeException e) {
            manager.close();
            tokenizer.close();
            throw e;
        }
    }

    public GPT2Config cfg() {
        return cfg;
    }

    public ProcessingOptions processing() {
        return processing;
    }

    public GPT2Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The directory the checkpoint was read from. */
    public Path directory() {
        return directory;
    }

    /** The device the weights live on. */
    public Device device() {
        return weightsManager.getDevice();
    }

    /**
     * A manager for arrays this model hands out when the caller gave none (text input, weight
     * products); they live until closed or until the model is closed.
     */
    public NDManager resultManager() {
        requireOpen();
        return resultManager;
    }

    // ---------------------------------------------------------------- hook registry

    /** Every hook point name in execution order, the flag-gated ones included. */
    public List<String> hookNames() {
        return List.copyOf(hookDict.keySet());
    }

    /** The names {@link #runWithCache} captures by default: those that fire without flags (TL's 208 for GPT-2 small). */
    public List<String> defaultHookNames() {
        List<String> out = new ArrayList<>();
        for (HookPoint p : hookDict.values()) {
            if (p.flag() == null || flags.contains(p.flag())) {
                out.add(p.name());
            }
        }
        return out;
    }

    /** The hook point with this exact TL name; unknown names throw and list the valid ones. */
    public HookPoint hookPoint(String name) {
        HookPoint p = hookDict.get(name);
        if (p == null) {
            throw new IllegalArgumentException(HookNames.unknownNameMessage(name, hookDict.keySet()));
        }
        return p;
    }

    /** Adds hooks until the returned scope is closed (TL's {@code with model.hooks(fwd_hooks=...)}). */
    public HookScope hooks(List<Hook> hooks) {
        return add(hooks, false);
    }

    public HookScope hooks(Hook... hooks) {
        return add(List.of(hooks), false);
    }

    /** TL's {@code add_hook}: stays until {@link #resetHooks} or until the returned scope is closed. */
    public HookScope addHook(String name, HookFunction fn) {
        return add(List.of(Hook.of(name, fn)), false);
    }

    public HookScope addHook(Predicate<String> filter, HookFunction fn) {
        return add(List.of(Hook.matching(filter, fn)), false);
    }

    /** TL's {@code add_perma_hook}: survives {@link #resetHooks()} and scopes of other hooks. */
    public HookScope addPermanentHook(String name, HookFunction fn) {
        return add(List.of(Hook.of(name, fn)), true);
    }

    public HookScope addPermanentHook(Predicate<String> filter, HookFunction fn) {
        return add(List.of(Hook.matching(filter, fn)), true);
    }

    /** Removes every non-permanent hook. */
    public void resetHooks() {
        resetHooks(false);
    }

    public void resetHooks(boolean includingPermanent) {
        for (HookPoint p : hookDict.values()) {
            p.removeAll(includingPermanent);
        }
    }

    private HookScope add(List<Hook> hooks, boolean permanent) {
        return add(hooks, permanent, false);
    }

    private HookScope add(List<Hook> hooks, boolean permanent, boolean capture) {
        // Resolve every name first, so a bad name adds nothing.
        List<HookPoint> points = new ArrayList<>();
        List<HookFunction> fns = new ArrayList<>();
        for (Hook h : hooks) {
            if (h.name() != null) {
                points.add(hookPoint(h.name()));
                fns.add(h.fn());
            } else {
                for (HookPoint p : hookDict.values()) {
                    if (h.filter().test(p.name())) {
                        points.add(p);
                        fns.add(h.fn());
                    }
                }
            }
        }
        HookScope scope = new HookScope();
        for (int i = 0; i < points.size(); i++) {
            scope.added(points.get(i), points.get(i).add(fns.get(i), permanent, capture));
        }
        return scope;
    }

    /** TL's {@code set_use_attn_result}: {@code attn.hook_result} fires in every pass. */
    public void setUseAttnResult(boolean on) {
        setFlag("use_attn_result", on);
    }

    /** TL's {@code set_use_split_qkv_input}: {@code hook_q/k/v_input} fire; ln1 runs per head. */
    public void setUseSplitQkvInput(boolean on) {
        setFlag("use_split_qkv_input", on);
    }

    /** TL's {@code set_use_attn_in}: {@code hook_attn_in} fires. */
    public void setUseAttnIn(boolean on) {
        setFlag("use_attn_in", on);
    }

    /** TL's {@code set_use_hook_mlp_in}: {@code hook_mlp_in} fires. */
    public void setUseHookMlpIn(boolean on) {
        setFlag("use_hook_mlp_in", on);
    }

    private void setFlag(String flag, boolean on) {
        if (on) {
            flags.add(flag);
        } else {
            flags.remove(flag);
        }
    }

    // ---------------------------------------------------------------- tokens

    /** Token ids of a text, BOS first (TL's default), as [1, pos] INT64 in the result manager. */
    public NDArray toTokens(String text) {
        return toTokens(text, true);
    }

    public NDArray toTokens(String text, boolean prependBos) {
        long[] ids = tokenizer.encode(text, prependBos);
        return resultManager.create(ids, new Shape(1, ids.length)); // [batch, pos]
    }

    /** A padded batch of texts; pads are {@code <|endoftext|>}. */
    public GPT2Tokenizer.TokenBatch toTokens(List<String> texts, boolean prependBos, GPT2Tokenizer.PaddingSide side) {
        return tokenizer.encodeBatch(texts, prependBos, side);
    }

    /** One string per token, BOS included when prepended: TL's {@code to_str_tokens}. */
    public List<String> toStrTokens(String text) {
        return tokenizer.toStrTokens(tokenizer.encode(text, true));
    }

    public List<String> toStrTokens(String text, boolean prependBos) {
        return tokenizer.toStrTokens(tokenizer.encode(text, prependBos));
    }

    /** One string per token of a [pos] or [1, pos] token array. */
    public List<String> toStrTokens(NDArray tokens) {
        return tokenizer.toStrTokens(tokens.toType(DataType.INT64, false).toLongArray());
    }

    /** The tokens of {@code tokens}, one string each (TL's {@code to_str_tokens} of a list of ids). */
    public List<String> toStrTokens(long[] tokens) {
        return tokenizer.toStrTokens(tokens);
    }

    public String toString(long[] tokens) {
        return tokenizer.decode(tokens);
    }

    public String toString(NDArray tokens) {
        return tokenizer.decode(tokens.toType(DataType.INT64, false).toLongArray());
    }

    public long toSingleToken(String s) {
        return tokenizer.toSingleToken(s);
    }

    // ---------------------------------------------------------------- forward

    /** Logits [batch, pos, d_vocab] of token ids [batch, pos] (or [pos]); attached to the tokens' manager. */
    public NDArray forward(NDArray tokens) {
        return forward(tokens, RunOptions.defaults()).logits();
    }

    /** Logits of a text (BOS prepended); attached to {@link #resultManager()}. */
    public NDArray forward(String text) {
        return forward(text, RunOptions.defaults()).logits();
    }

    public Output forward(String text, RunOptions options) {
        return forward(List.of(text), options);
    }

    /** A batch of texts, padded on {@code options.paddingSide()}; left padding gets an attention mask. */
    public Output forward(List<String> texts, RunOptions options) {
        requireOpen();
        try (NDManager tmp = resultManager.newSubManager()) {
            Input in = textInput(texts, options, tmp);
            return run(in.tokens, options.attentionMask(in.mask), resultManager, null);
        }
    }

    public Output forward(NDArray input, RunOptions options) {
        return run(input, options, input.getManager(), null);
    }

    /** TL's {@code run_with_hooks}: the hooks are on for this pass only. */
    public NDArray runWithHooks(NDArray tokens, Hook... hooks) {
        return runWithHooks(tokens, RunOptions.defaults(), List.of(hooks)).logits();
    }

    public Output runWithHooks(NDArray input, RunOptions options, List<Hook> hooks) {
        requireOpen();
        try (HookScope scope = hooks(hooks)) {
            return forward(input, options);
        }
    }

    /** TL's {@code run_with_cache} on a text: every default hook point, plus logits. */
    public ActivationCache runWithCache(String text) {
        return runWithCache(List.of(text), null, RunOptions.defaults());
    }

    public ActivationCache runWithCache(List<String> texts, Predicate<String> namesFilter, RunOptions options) {
        requireOpen();
        try (NDManager tmp = resultManager.newSubManager()) {
            Input in = textInput(texts, options, tmp);
            return runWithCache(in.tokens, namesFilter, options.attentionMask(in.mask));
        }
    }

    /**
     * {@link #runWithCache(NDArray)} of token ids [batch][pos] given as Java arrays: the input array is
     * made and freed here, so the cache is all there is to close (what a notebook cell that is re-run wants).
     */
    public ActivationCache runWithCache(long[][] tokens) {
        requireOpen();
        try (NDManager tmp = resultManager.newSubManager()) {
            return runWithCache(tmp.create(tokens)); // [batch, pos]
        }
    }

    /** TL's {@code run_with_cache}: every hook point that fires by default, plus logits. */
    public ActivationCache runWithCache(NDArray tokens) {
        return runWithCache(tokens, null, RunOptions.defaults());
    }

    public ActivationCache runWithCache(NDArray tokens, Predicate<String> namesFilter) {
        return runWithCache(tokens, namesFilter, RunOptions.defaults());
    }

    /**
     * Runs once and captures activations. {@code namesFilter} null captures the hook points that
     * fire by default (TL's 208 for GPT-2 small); otherwise every hook point the filter accepts,
     * switching flag-gated ones on for this pass. The cache owns its arrays and the logits/loss.
     */
    public ActivationCache runWithCache(NDArray input, Predicate<String> namesFilter, RunOptions options) {
        requireOpen();
        ActivationCache cache = new ActivationCache(this, weightsManager.newSubManager());
        openCaches.add(cache);
        Predicate<String> filter = namesFilter != null ? namesFilter : defaultHookNames()::contains;
        HookFunction capture = (act, hook) -> {
            cache.put(hook.name(), act);
            return null;
        };
        try (HookScope scope = add(List.of(Hook.matching(filter, capture)), false, true)) {
            Output out = run(input, options, cache.manager(), cache);
            cache.setOutput(out.logits(), out.loss());
            return cache;
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
    }

    /**
     * One forward pass with gradients recorded, then {@code metric}'s backward pass (see
     * {@link GradientRun}). Each hook point {@code namesFilter} accepts (flag-gated ones are switched
     * on for this pass) gets a zero probe added to its activation, {@code act + probe}, whose gradient
     * is ∂metric/∂act; the probe leaves the values unchanged and lets gradients flow on to earlier
     * hook points, so all of them come from the one backward pass.
     *
     * @param metric maps the logits [batch, pos, d_vocab] to one number (a 0-d or one-element array)
     * @throws IllegalArgumentException if the filter accepts no hook point or the metric is not one number
     */
    public GradientRun runWithGradients(NDArray tokens, Predicate<String> namesFilter,
            java.util.function.Function<NDArray, NDArray> metric) {
        requireOpen();
        java.util.Objects.requireNonNull(namesFilter, "namesFilter");
        java.util.Objects.requireNonNull(metric, "metric");
        List<String> names = hookDict.keySet().stream().filter(namesFilter).toList();
        if (names.isEmpty()) {
            throw new IllegalArgumentException("runWithGradients: the names filter accepts no hook point of this model"
                    + " (names look like blocks.0.hook_resid_pre or blocks.9.attn.hook_z)");
        }
        ActivationCache acts = new ActivationCache(this, weightsManager.newSubManager());
        ActivationCache grads = new ActivationCache(this, weightsManager.newSubManager());
        openCaches.add(acts);
        openCaches.add(grads);
        LinkedHashMap<String, NDArray> probes = new LinkedHashMap<>();
        try (NDManager tape = weightsManager.newSubManager();
                ai.djl.training.GradientCollector collector = ai.djl.engine.Engine.getEngine("PyTorch").newGradientCollector()) {
            HookFunction probe = (act, hook) -> {
                acts.put(hook.name(), act.stopGradient()); // the value, without the graph
                NDArray zero = tape.zeros(act.getShape(), act.getDataType()); // same shape as act
                NDScope.unregister(zero); // lives to the backward pass, with the tape, not the forward's scope
                zero.setRequiresGradient(true);
                probes.put(hook.name(), zero);
                return act.add(zero); // same values; the graph now passes through the probe
            };
            double value;
            try (HookScope scope = add(List.of(Hook.matching(namesFilter, probe)), false, true)) {
                Output out = run(tokens, RunOptions.defaults(), tape, null);
                NDArray m = metric.apply(out.logits());
                if (m == null || m.size() != 1) {
                    throw new IllegalArgumentException("runWithGradients: the metric must return one number but returned "
                            + (m == null ? "null" : "shape " + m.getShape()));
                }
                NDArray scalar = m.reshape(new Shape()); // []
                value = scalar.toType(DataType.FLOAT64, false).getDouble();
                collector.backward(scalar);
            }
            for (Map.Entry<String, NDArray> e : probes.entrySet()) {
                NDArray g = e.getValue().getGradient(); // same shape as the activation
                grads.put(e.getKey(), g.duplicate());
            }
            return new GradientRun(value, acts, grads);
        } catch (RuntimeException e) {
            acts.close();
            grads.close();
            throw e;
        }
    }

    private record Input(NDArray tokens, NDArray mask) {}

    private Input textInput(List<String> texts, RunOptions options, NDManager manager) {
        GPT2Tokenizer.TokenBatch batch = tokenizer.encodeBatch(texts, options.prependBos(), options.paddingSide());
        NDArray tokens = manager.create(batch.ids()); // [batch, pos]
        NDArray mask = options.attentionMask();
        // TL computes a mask for left padding only; right pads come after every real token.
        if (mask == null && batch.padded() && batch.paddingSide() == GPT2Tokenizer.PaddingSide.LEFT) {
            mask = manager.create(batch.attentionMask()); // [batch, pos]
        }
        return new Input(tokens, mask);
    }

    /**
     * The forward pass. Every intermediate lives in an NDScope and is freed on return; the returned
     * arrays are attached to {@code out}.
     */
    private Output run(NDArray input, RunOptions options, NDManager out, ActivationCache sink) {
        requireOpen();
        int start = options.startAtLayer() == null ? 0 : normaliseLayer(options.startAtLayer(), "startAtLayer");
        int stop = options.stopAtLayer() == null ? cfg.nLayers() : normaliseLayer(options.stopAtLayer(), "stopAtLayer");
        if (stop < start) {
            throw new IllegalArgumentException("stopAtLayer " + stop + " is before startAtLayer " + start);
        }
        Flags active = new Flags(Set.copyOf(flags));
        try (NDScope scope = new NDScope()) {
            NDArray tokens = null;
            NDArray residual;
            long batch;
            long pos;
            if (options.startAtLayer() == null) {
                tokens = checkTokens(input); // [batch, pos]
                batch = tokens.getShape().get(0);
                pos = tokens.getShape().get(1);
            } else {
                Shape s = input.getShape();
                if (s.dimension() != 3 || s.get(2) != cfg.dModel()) {
                    throw new IllegalArgumentException("with startAtLayer the input is a residual stream "
                            + "[batch, pos, d_model] = [*, *, " + cfg.dModel() + "] but got " + s);
                }
                batch = s.get(0);
                pos = s.get(1);
                checkLength(pos);
            }
            NDArray mask = checkMask(options.attentionMask(), batch, pos); // [batch, pos] BOOLEAN or null
            boolean hasPadding = mask != null;
            NDArray attnMask = causalMask(input.getManager(), pos, mask); // [batch | 1, 1, query_pos, key_pos]
            if (tokens != null) {
                NDArray embed = hookEmbed.run(wE.get(new NDIndex("{}", tokens))); // [batch, pos, d_model]
                NDArray posEmbed = hookPosEmbed.run(positionEmbedding(batch, pos, mask)); // [batch, pos, d_model]
                residual = embed.add(posEmbed); // [batch, pos, d_model]
            } else {
                residual = input; // [batch, pos, d_model]
            }
            // With no user hook, no user code runs during the pass, so a block's intermediates
            // are dead once it returns (the cache's capture takes what it keeps out of the scope
            // itself): free them per block, peak memory of one block instead of all of them. A
            // user hook may keep an activation for a later hook, so then everything lives to the
            // end of the pass.
            boolean perBlockScope = hookDict.values().stream().noneMatch(HookPoint::hasUserHooks);
            for (int l = start; l < stop; l++) {
                if (!perBlockScope) {
                    residual = blocks.get(l).forward(residual, attnMask, hasPadding, active); // [batch, pos, d_model]
                    continue;
                }
                NDArray next;
                try (NDScope blockScope = new NDScope()) {
                    next = blocks.get(l).forward(residual, attnMask, hasPadding, active); // [batch, pos, d_model]
                    NDScope.unregister(next);
                }
                if (sink == null || !sink.holds(next)) {
                    NDScope.register(next); // owned by the pass's scope again, unless the cache took it
                }
                if (sink != null && sink.holds(residual)) {
                    // captured inside the block (hook_resid_pre) but registered out here
                    NDScope.unregister(residual);
                }
                residual = next;
            }
            if (options.stopAtLayer() != null) {
                return keep(out, residual == input ? input.duplicate() : residual, null);
            }
            NDArray normalized = lnFinal.forward(residual); // [batch, pos, d_model]
            if (options.returnType() == RunOptions.ReturnType.NONE) {
                return new Output(null, null);
            }
            NDArray logits = InPlace.add(normalized.matMul(wU), bU); // [batch, pos, d_vocab]; b_U in place: one d_vocab-wide buffer, not two
            NDArray loss = null;
            if (options.returnType() != RunOptions.ReturnType.LOGITS) {
                if (tokens == null) {
                    throw new IllegalArgumentException("a loss needs tokens, but the input was a residual stream");
                }
                loss = lossFn(logits, tokens, mask, options.lossPerToken());
            }
            return switch (options.returnType()) {
                case LOGITS -> keep(out, logits, null);
                case LOSS -> keep(out, null, loss);
                default -> keep(out, logits, loss);
            };
        }
    }

    private static Output keep(NDManager out, NDArray logits, NDArray loss) {
        for (NDArray a : new NDArray[] {logits, loss}) {
            if (a != null) {
                NDScope.unregister(a);
                a.attach(out);
            }
        }
        return new Output(logits, loss);
    }

    private int normaliseLayer(int layer, String what) {
        int l = layer < 0 ? cfg.nLayers() + layer : layer;
        if (l < 0 || l > cfg.nLayers()) {
            throw new IllegalArgumentException(what + " " + layer + " is out of range [-" + cfg.nLayers()
                    + ", " + cfg.nLayers() + "]");
        }
        return l;
    }

    private void checkLength(long pos) {
        if (pos > cfg.nCtx()) {
            throw new IllegalArgumentException("sequence length " + pos + " exceeds n_ctx " + cfg.nCtx());
        }
        if (pos == 0) {
            throw new IllegalArgumentException("expected at least one token but the sequence is empty");
        }
    }

    /** Tokens as INT64 [batch, pos], with ids in [0, d_vocab) and pos within n_ctx. */
    private NDArray checkTokens(NDArray input) {
        DataType t = input.getDataType();
        if (t != DataType.INT64 && t != DataType.INT32 && t != DataType.INT8 && t != DataType.UINT8) {
            throw new IllegalArgumentException("tokens must be an integer array [batch, pos] but got "
                    + t + " " + input.getShape() + " (a residual stream needs startAtLayer)");
        }
        NDArray tokens = t == DataType.INT64 ? input : input.toType(DataType.INT64, false);
        if (tokens.getShape().dimension() == 1) {
            tokens = tokens.expandDims(0); // [batch, pos]
        }
        if (tokens.getShape().dimension() != 2) {
            throw new IllegalArgumentException("tokens must be [batch, pos] or [pos] but got " + tokens.getShape());
        }
        checkLength(tokens.getShape().get(1));
        long min = tokens.min().getLong();
        long max = tokens.max().getLong();
        if (min < 0 || max >= cfg.dVocab()) {
            long bad = min < 0 ? min : max;
            long[] flat = tokens.toLongArray();
            int at = 0;
            while (flat[at] != bad) {
                at++;
            }
            long p = tokens.getShape().get(1);
            throw new IllegalArgumentException("token id " + bad + " at [" + (at / p) + ", " + (at % p)
                    + "] is out of range [0, " + cfg.dVocab() + ")");
        }
        return tokens;
    }

    private static NDArray checkMask(NDArray mask, long batch, long pos) {
        if (mask == null) {
            return null;
        }
        if (!mask.getShape().equals(new Shape(batch, pos))) {
            throw new IllegalArgumentException("attentionMask must be [batch, pos] = [" + batch + ", " + pos
                    + "] but got " + mask.getShape());
        }
        return mask.toType(DataType.BOOLEAN, false); // [batch, pos]
    }

    /** True where query q may attend to key k: k <= q, and k is not a pad. */
    private static NDArray causalMask(NDManager manager, long pos, NDArray padMask) {
        NDArray idx = manager.arange(pos); // [pos]
        NDArray causal = idx.reshape(1, pos).lte(idx.reshape(pos, 1)).reshape(1, 1, pos, pos); // [1, 1, query_pos, key_pos]
        if (padMask == null) {
            return causal;
        }
        return causal.logicalAnd(padMask.reshape(padMask.getShape().get(0), 1, 1, pos)); // [batch, 1, query_pos, key_pos]
    }

    /** W_pos rows for each position; with a mask, positions count real tokens and pads get zeros. */
    private NDArray positionEmbedding(long batch, long pos, NDArray mask) {
        if (mask == null) {
            return wPos.get("0:" + pos).expandDims(0).tile(new long[] {batch, 1, 1}); // [batch, pos, d_model]
        }
        NDArray positions = mask.toType(DataType.INT64, false).cumSum(1).sub(1); // [batch, pos]
        positions = NDArrays.maximum(positions, 0L).toType(DataType.INT64, false); // [batch, pos]
        NDArray embedded = wPos.get(new NDIndex("{}", positions)); // [batch, pos, d_model]
        return NDArrays.where(mask.expandDims(-1).broadcast(embedded.getShape()), embedded, embedded.zerosLike()); // [batch, pos, d_model]
    }

    /** Next-token cross-entropy, TL's {@code lm_cross_entropy_loss}: mean, or per token [batch, pos - 1]. */
    private static NDArray lossFn(NDArray logits, NDArray tokens, NDArray mask, boolean perToken) {
        long pos = tokens.getShape().get(1);
        if (pos < 2) {
            throw new IllegalArgumentException("a next-token loss needs at least 2 tokens but got " + pos);
        }
        NDArray logProbs = logits.get(":, :-1, :").logSoftmax(-1); // [batch, pos - 1, d_vocab]
        NDArray next = tokens.get(":, 1:").expandDims(-1); // [batch, pos - 1, 1]
        NDArray predicted = logProbs.gather(next, -1).squeeze(-1); // [batch, pos - 1]
        NDArray count;
        if (mask != null) {
            NDArray nextMask = mask.get(":, :-1").logicalAnd(mask.get(":, 1:")).toType(DataType.FLOAT32, false); // [batch, pos - 1]
            predicted = predicted.mul(nextMask);
            count = nextMask.sum();
        } else {
            count = predicted.getManager().create((float) predicted.size());
        }
        return perToken ? predicted.neg() : predicted.sum().neg().div(count);
    }

    // ---------------------------------------------------------------- parts of a block

    /**
     * TL's {@code model.blocks[layer].ln1(x)}: the attention's input LayerNorm applied to
     * residual-stream vectors x [..., d_model] (its hook points fire as in a forward pass). For
     * experiments that recompute one part of the model, such as path patching.
     */
    public NDArray ln1(int layer, NDArray x) {
        return block(layer).ln1.forward(x); // [..., d_model]
    }

    /**
     * TL's {@code model.blocks[layer].mlp(model.blocks[layer].ln2(x))}: what the block's MLP adds
     * to the residual stream x [..., d_model] (resid_mid), without the block's other hook points.
     */
    public NDArray mlpOut(int layer, NDArray residMid) {
        TransformerBlock b = block(layer);
        return b.mlp.forward(b.ln2.forward(residMid)); // [..., d_model]
    }

    /**
     * The queries, keys or values ({@code act} = q, k, v) of every head of layer {@code layer}
     * for residual-stream vectors x [..., d_model] (resid_pre): ln1 and the projection with the
     * forward pass's arithmetic and weights, no hook points. [..., head_index, d_head].
     */
    public NDArray projectHeads(int layer, String act, NDArray residPre) {
        TransformerBlock b = block(layer);
        if (residPre.getShape().dimension() < 1 || residPre.getShape().getLastDimension() != cfg.dModel()) {
            throw new IllegalArgumentException("projectHeads: x must be [..., d_model] = [..., " + cfg.dModel()
                    + "] but is " + residPre.getShape());
        }
        return b.attn.project(b.ln1.normalize(residPre), act); // [..., head_index, d_head]
    }

    /**
     * What layer {@code layer}'s attention adds to the residual stream given its heads' outputs
     * z [..., head_index, d_head] ({@code hook_z}): {@code z W_O + b_O} by the forward pass's own
     * arithmetic, [..., d_model]. No hook points fire.
     */
    public NDArray attnOutFromZ(int layer, NDArray z) {
        TransformerBlock b = block(layer);
        Shape s = z.getShape();
        if (s.dimension() < 2 || s.get(s.dimension() - 2) != cfg.nHeads() || s.getLastDimension() != cfg.dHead()) {
            throw new IllegalArgumentException("attnOutFromZ: z must be [..., head_index, d_head] = [..., " + cfg.nHeads()
                    + ", " + cfg.dHead() + "] but is " + s);
        }
        return b.attn.output(z); // [..., d_model]
    }

    /**
     * Block {@code layer} computed only at one query position per sequence, as the forward pass
     * computes it there: keys and values at every position (attention is causal, so the query
     * sees those up to its own), the query, attention output and MLP at the one position. Only the
     * MLP's hook points run, so call it with nothing hooked in the block. For experiments that
     * read the last block at one position per prompt.
     *
     * @param residPre the residual stream entering the block, [n, pos, d_model]
     * @param queryPos per sequence the position read, in [0, pos)
     * @param prefixK keys of positions before {@code residPre}'s first (the same prompts' earlier
     *     positions, e.g. from a cache), [n, from, head_index, d_head]; null when none
     * @param prefixV their values, the same shape; null when none
     * @return resid_post at the query positions, [n, d_model]
     */
    public NDArray blockAt(int layer, NDArray residPre, long[] queryPos, NDArray prefixK, NDArray prefixV) {
        TransformerBlock b = block(layer);
        Shape s = residPre.getShape();
        if (s.dimension() != 3 || s.get(2) != cfg.dModel()) {
            throw new IllegalArgumentException("blockAt: residPre must be [n, pos, d_model] = [*, *, " + cfg.dModel()
                    + "] but is " + s);
        }
        long n = s.get(0);
        long pos = s.get(1);
        if (queryPos.length != n) {
            throw new IllegalArgumentException("blockAt: " + queryPos.length + " query positions for " + n + " sequences");
        }
        long from = 0;
        if ((prefixK == null) != (prefixV == null)) {
            throw new IllegalArgumentException("blockAt: give both prefix keys and values or neither");
        }
        if (prefixK != null) {
            Shape expected = new Shape(n, prefixK.getShape().get(1), cfg.nHeads(), cfg.dHead());
            if (!prefixK.getShape().equals(expected) || !prefixV.getShape().equals(expected)) {
                throw new IllegalArgumentException("blockAt: prefix keys and values must be [n, from, head_index, d_head] = "
                        + "[" + n + ", from, " + cfg.nHeads() + ", " + cfg.dHead() + "] but are " + prefixK.getShape()
                        + " and " + prefixV.getShape());
            }
            from = expected.get(1);
        }
        long[] rows = new long[(int) n];
        boolean[] allowed = new boolean[(int) (n * (from + pos))];
        for (int i = 0; i < n; i++) {
            if (queryPos[i] < 0 || queryPos[i] >= pos) {
                throw new IllegalArgumentException("blockAt: query position " + queryPos[i] + " of sequence " + i
                        + " is out of range [0, " + pos + ")");
            }
            rows[i] = i * pos + queryPos[i];
            for (long k = 0; k <= from + queryPos[i]; k++) {
                allowed[(int) (i * (from + pos) + k)] = true;
            }
        }
        NDManager m = residPre.getManager();
        NDArray xAt = residPre.reshape(n * pos, s.get(2)).get(new NDIndex("{}", m.create(rows))); // [n, d_model]
        NDArray mask = m.create(allowed, new Shape(n, 1, 1, from + pos)); // [n, 1, 1, key_pos]
        NDArray attnOut = b.attn.forwardAt(b.ln1.normalize(residPre), b.ln1.normalize(xAt), mask, prefixK, prefixV); // [n, d_model]
        NDArray mid = xAt.add(attnOut); // [n, d_model]
        return mid.add(b.mlp.forward(b.ln2.normalize(mid))); // [n, d_model]
    }

    /** TL's {@code model.ln_final(x)} for x [..., d_model]. */
    public NDArray lnFinal(NDArray x) {
        return lnFinal.forward(x); // [..., d_model]
    }

    private TransformerBlock block(int layer) {
        if (layer < 0 || layer >= cfg.nLayers()) {
            throw new IllegalArgumentException("layer " + layer + " does not exist: layers are 0.." + (cfg.nLayers() - 1));
        }
        return blocks.get(layer);
    }

    // ---------------------------------------------------------------- weights

    /**
     * A parameter by its TransformerLens name ({@code blocks.3.attn.W_Q}, {@code embed.W_E},
     * {@code unembed.b_U}); the live weight, owned by the model: read it, do not close or modify it.
     */
    public NDArray weight(String tlName) {
        NDArray w = params.get(tlName);
        if (w == null) {
            throw new IllegalArgumentException("no parameter '" + tlName + "'; the model has "
                    + new ArrayList<>(params.keySet()).subList(0, Math.min(params.size(), 20))
                    + (params.size() > 20 ? " ... (" + params.size() + " in all)" : "")
                    + (processing.foldLn() ? "; LayerNorm weights were folded (fold_ln)" : ""));
        }
        return w;
    }

    /**
     * The model's LayerNorm {@code prefix} ({@code ln_final}, {@code blocks.3.ln1}, {@code blocks.3.ln2})
     * applied to any vectors x [..., d_model] with their own statistics, by the forward pass's own
     * arithmetic and without its hooks: centre, divide by {@code sqrt(mean(x^2) + eps)}, then the
     * affine unless {@code fold_ln} folded it into the readers (TL's LNPre). The result is in x's manager.
     */
    public NDArray applyLayerNorm(String prefix, NDArray x) {
        boolean known = prefix.equals("ln_final") || prefix.matches("blocks\\.\\d+\\.ln[12]")
                && Integer.parseInt(prefix.substring(7, prefix.indexOf(".ln"))) < cfg.nLayers();
        if (!known) {
            throw new IllegalArgumentException("no LayerNorm '" + prefix + "': expected ln_final or blocks.L.ln1 / blocks.L.ln2"
                    + " with L in 0.." + (cfg.nLayers() - 1));
        }
        if (x.getShape().dimension() < 1 || x.getShape().getLastDimension() != cfg.dModel()) {
            throw new IllegalArgumentException("applyLayerNorm(" + prefix + "): x must be [..., d_model] = [..., "
                    + cfg.dModel() + "] but got " + x.getShape());
        }
        NDArray w = params.get(prefix + ".w"); // [d_model], null when folded
        NDArray b = params.get(prefix + ".b");
        return LayerNorm.apply(x, w, b, cfg.eps()); // [..., d_model]
    }

    /** Parameter names in TL's state-dict order. */
    public List<String> weightNames() {
        return List.copyOf(params.keySet());
    }

    /** {@code W_E} [d_vocab, d_model]. */
    public NDArray W_E() {
        return wE;
    }

    /** {@code W_pos} [n_ctx, d_model]. */
    public NDArray W_pos() {
        return wPos;
    }

    /** {@code W_U} [d_model, d_vocab]. */
    public NDArray W_U() {
        return wU;
    }

    /** {@code b_U} [d_vocab]. */
    public NDArray b_U() {
        return bU;
    }

    /** {@code W_Q} of all layers, [n_layers, head_index, d_model, d_head] (a new array in the result manager). */
    public NDArray W_Q() {
        return stacked("attn.W_Q");
    }

    public NDArray W_K() {
        return stacked("attn.W_K");
    }

    public NDArray W_V() {
        return stacked("attn.W_V");
    }

    /** [n_layers, head_index, d_head, d_model]. */
    public NDArray W_O() {
        return stacked("attn.W_O");
    }

    /** [n_layers, head_index, d_head]. */
    public NDArray b_Q() {
        return stacked("attn.b_Q");
    }

    public NDArray b_K() {
        return stacked("attn.b_K");
    }

    public NDArray b_V() {
        return stacked("attn.b_V");
    }

    /** [n_layers, d_model]. */
    public NDArray b_O() {
        return stacked("attn.b_O");
    }

    /** [n_layers, d_model, d_mlp]. */
    public NDArray W_in() {
        return stacked("mlp.W_in");
    }

    /** [n_layers, d_mlp]. */
    public NDArray b_in() {
        return stacked("mlp.b_in");
    }

    /** [n_layers, d_mlp, d_model]. */
    public NDArray W_out() {
        return stacked("mlp.W_out");
    }

    /** [n_layers, d_model]. */
    public NDArray b_out() {
        return stacked("mlp.b_out");
    }

    private NDArray stacked(String suffix) {
        NDList list = new NDList();
        for (int l = 0; l < cfg.nLayers(); l++) {
            list.add(param("blocks." + l + "." + suffix));
        }
        NDArray s = NDArrays.stack(list);
        s.attach(resultManager);
        return s;
    }

    /** The OV circuit of one head, {@code W_V[h] @ W_O[h]}: [d_model, d_model], in the result manager. */
    public NDArray OV(int layer, int head) {
        checkHead(layer, head);
        String p = "blocks." + layer + ".attn.";
        NDArray ov = param(p + "W_V").get(head).matMul(param(p + "W_O").get(head)); // [d_model, d_model]
        ov.attach(resultManager);
        return ov;
    }

    /** The QK circuit of one head, {@code W_Q[h] @ W_K[h]^T}: [d_model, d_model], in the result manager. */
    public NDArray QK(int layer, int head) {
        checkHead(layer, head);
        String p = "blocks." + layer + ".attn.";
        NDArray qk = param(p + "W_Q").get(head).matMul(param(p + "W_K").get(head).transpose()); // [d_model, d_model]
        qk.attach(resultManager);
        return qk;
    }

    private void checkHead(int layer, int head) {
        if (layer < 0 || layer >= cfg.nLayers() || head < 0 || head >= cfg.nHeads()) {
            throw new IllegalArgumentException("head " + layer + "." + head + " does not exist: layers are 0.."
                    + (cfg.nLayers() - 1) + ", heads 0.." + (cfg.nHeads() - 1));
        }
    }

    /**
     * Arrays alive in the model's managers (weights, results handed out, open caches): a number
     * that stays flat across repeated runs when nothing is kept (DJL's manager accounting).
     */
    public int liveArrayCount() {
        // DJL's getManagedArrays() does not descend into sub-managers, so add them up here.
        int n = weightsManager.getManagedArrays().size() + resultManager.getManagedArrays().size();
        for (ActivationCache c : openCaches) {
            n += c.manager().getManagedArrays().size();
        }
        return n;
    }

    /** Caches from {@link #runWithCache} not yet closed. */
    public int openCacheCount() {
        return openCaches.size();
    }

    void cacheClosed(ActivationCache cache) {
        openCaches.remove(cache);
    }

    /** Whether LayerNorm weights were folded (TL's LNPre). */
    boolean lnFolded() {
        return lnFinal.folded();
    }

    /** Whether {@link #close} was called (by the user, or by a notebook cell that replaced the model). */
    public boolean isClosed() {
        return closed;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("this HookedTransformer is closed (close() was called, or a re-run notebook "
                    + "cell replaced the variable that held it, which frees its weights and results): load the model "
                    + "again and use the new one");
        }
    }

    /** Frees the weights, everything in the result manager, and the tokenizer. */
    @Override
    public void close() {
        closed = true;
        resetHooks(true);
        weightsManager.close();
        tokenizer.close();
    }

    @Override
    public String toString() {
        return "HookedTransformer(" + cfg + ", " + processing + ", device " + device() + ")";
    }
}
