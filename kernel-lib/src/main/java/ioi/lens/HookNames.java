package ioi.lens;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * TransformerLens's {@code utils.get_act_name} as a strict helper: short names with a layer
 * ({@code ("pattern", 9)} to {@code blocks.9.attn.hook_pattern}) and TL's aliases
 * ({@code attn -> pattern}, {@code attn_logits -> attn_scores}, {@code mlp_post -> post},
 * layer types {@code a -> attn}, {@code m -> mlp}). Unlike TL it refuses names that could not
 * exist and lists the valid ones; the regex shorthand {@code "k6"} is not supported.
 */
public final class HookNames {

    private HookNames() {}

    private static final Map<String, String> NAME_ALIASES = Map.of(
            "attn", "pattern", "attn_logits", "attn_scores", "key", "k", "query", "q", "value", "v",
            "mlp_pre", "pre", "mlp_mid", "mid", "mlp_post", "post");
    private static final Map<String, String> LAYER_TYPE_ALIASES = Map.of(
            "a", "attn", "m", "mlp", "b", "", "block", "", "blocks", "", "attention", "attn");
    private static final Set<String> ATTN_NAMES =
            Set.of("k", "v", "q", "z", "result", "pattern", "attn_scores");
    private static final Set<String> MLP_NAMES = Set.of("pre", "post");
    private static final Set<String> BLOCK_NAMES = Set.of("resid_pre", "resid_mid", "resid_post",
            "attn_out", "mlp_out", "q_input", "k_input", "v_input", "attn_in", "mlp_in");
    private static final Set<String> LN_NAMES = Set.of("scale", "normalized");

    /** TL's {@code get_act_name(name)}: a full name is returned as is; {@code embed -> hook_embed}, {@code scale -> ln_final.hook_scale}. */
    public static String getActName(String name) {
        return getActName(name, null, null);
    }

    public static String getActName(String name, Integer layer) {
        return getActName(name, layer, null);
    }

    /**
     * @param name a short name ({@code "z"}, {@code "resid_pre"}, {@code "scale"}) or a full one
     * @param layer the block, or null for names outside the blocks; must be non-negative here
     *     (the cache turns negative layers into positive ones)
     * @param layerType {@code ln1}, {@code ln2}, {@code attn}, {@code mlp} or an alias; needed only
     *     for {@code scale}/{@code normalized} inside a block
     */
    public static String getActName(String name, Integer layer, String layerType) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("expected an activation name but got '" + name + "'");
        }
        if ((name.contains(".") || name.startsWith("hook_")) && layer == null && layerType == null) {
            return name;
        }
        String n = NAME_ALIASES.getOrDefault(name, name);
        String type = layerType == null ? null : LAYER_TYPE_ALIASES.getOrDefault(layerType, layerType);
        if (ATTN_NAMES.contains(n)) {
            type = "attn";
        } else if (MLP_NAMES.contains(n)) {
            type = "mlp";
        }
        if (layer == null) {
            if (LN_NAMES.contains(n)) {
                return "ln_final.hook_" + n;
            }
            if (n.equals("embed") || n.equals("pos_embed")) {
                return "hook_" + n;
            }
            throw new IllegalArgumentException("'" + name + "' needs a layer: e.g. (\"" + name
                    + "\", 0); only embed, pos_embed, scale and normalized (ln_final) have none");
        }
        if (layer < 0) {
            throw new IllegalArgumentException("layer " + layer + " must be >= 0 here");
        }
        if (LN_NAMES.contains(n)) {
            if (!"ln1".equals(type) && !"ln2".equals(type)) {
                throw new IllegalArgumentException("'" + name + "' in a block needs layerType \"ln1\" or \"ln2\""
                        + " (e.g. (\"scale\", " + layer + ", \"ln1\")) but got " + layerType);
            }
        } else if (!ATTN_NAMES.contains(n) && !MLP_NAMES.contains(n) && !BLOCK_NAMES.contains(n)) {
            throw new IllegalArgumentException("unknown activation name '" + name + "'; block activations are "
                    + List.of("resid_pre", "ln1 scale/normalized", "q", "k", "v", "attn_scores", "pattern", "z",
                            "result", "attn_out", "resid_mid", "ln2 scale/normalized", "pre", "post",
                            "mlp_out", "resid_post", "q_input", "k_input", "v_input", "attn_in", "mlp_in"));
        } else if (BLOCK_NAMES.contains(n)) {
            type = ""; // block-level hooks have no sub-module
        }
        return "blocks." + layer + "." + (type == null || type.isEmpty() ? "" : type + ".") + "hook_" + n;
    }

    /**
     * The message for a name that is not a hook point: the name, the closest valid names (by edit
     * distance, so typos like {@code hook_patern} find {@code hook_pattern}) and the valid names.
     */
    static String unknownNameMessage(String name, Collection<String> valid) {
        List<String> close = new ArrayList<>(valid);
        close.sort(java.util.Comparator.comparingInt((String v) -> editDistance(name, v)).thenComparing(v -> v));
        close = close.subList(0, Math.min(3, close.size()));
        close.removeIf(v -> editDistance(name, v) > Math.max(3, name.length() / 3));
        List<String> all = new ArrayList<>(valid);
        String listing = all.size() <= 30 ? all.toString()
                : all.subList(0, 27) + " ... " + all.subList(all.size() - 2, all.size()) + " (" + all.size() + " in all)";
        return "unknown hook point '" + name + "'" + (close.isEmpty() ? "" : "; did you mean one of " + close + "?")
                + " Valid names: " + listing;
    }

    /** Levenshtein distance, for suggestions. */
    static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
