package ioi.lens;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * One GPT-2 block, two residual additions:
 * {@code resid_mid = resid_pre + attn(ln1(resid_pre))}, {@code resid_post = resid_mid + mlp(ln2(resid_mid))}.
 * The flag-gated hook points ({@code hook_q_input}, {@code hook_k_input}, {@code hook_v_input},
 * {@code hook_attn_in}, {@code hook_mlp_in}, {@code attn.hook_result}) fire when their flag is on
 * in {@link Flags} or when a hook is registered on them.
 */
final class TransformerBlock {

    final int layer;
    final HookPoint hookResidPre; // [batch, pos, d_model]
    final HookPoint hookAttnIn; // [batch, pos, head_index, d_model], use_attn_in
    final HookPoint hookQInput; // [batch, pos, head_index, d_model], use_split_qkv_input
    final HookPoint hookKInput; // [batch, pos, head_index, d_model], use_split_qkv_input
    final HookPoint hookVInput; // [batch, pos, head_index, d_model], use_split_qkv_input
    final LayerNorm ln1;
    final Attention attn;
    final HookPoint hookAttnOut; // [batch, pos, d_model]
    final HookPoint hookResidMid; // [batch, pos, d_model]
    final HookPoint hookMlpIn; // [batch, pos, d_model], use_hook_mlp_in
    final LayerNorm ln2;
    final Mlp mlp;
    final HookPoint hookMlpOut; // [batch, pos, d_model]
    final HookPoint hookResidPost; // [batch, pos, d_model]
    private final int nHeads;

    TransformerBlock(int layer, GPT2Config cfg, LayerNorm ln1, Attention attn, LayerNorm ln2, Mlp mlp) {
        this.layer = layer;
        this.nHeads = cfg.nHeads();
        String p = "blocks." + layer + ".";
        List<String> resid = List.of("batch", "pos", "d_model");
        List<String> perHead = List.of("batch", "pos", "head_index", "d_model");
        hookResidPre = new HookPoint(p + "hook_resid_pre", layer, resid, null);
        hookAttnIn = new HookPoint(p + "hook_attn_in", layer, perHead, "use_attn_in");
        hookQInput = new HookPoint(p + "hook_q_input", layer, perHead, "use_split_qkv_input");
        hookKInput = new HookPoint(p + "hook_k_input", layer, perHead, "use_split_qkv_input");
        hookVInput = new HookPoint(p + "hook_v_input", layer, perHead, "use_split_qkv_input");
        this.ln1 = ln1;
        this.attn = attn;
        hookAttnOut = new HookPoint(p + "hook_attn_out", layer, resid, null);
        hookResidMid = new HookPoint(p + "hook_resid_mid", layer, resid, null);
        hookMlpIn = new HookPoint(p + "hook_mlp_in", layer, resid, "use_hook_mlp_in");
        this.ln2 = ln2;
        this.mlp = mlp;
        hookMlpOut = new HookPoint(p + "hook_mlp_out", layer, resid, null);
        hookResidPost = new HookPoint(p + "hook_resid_post", layer, resid, null);
    }

    /** Hook points in the order they fire (gated ones where they would fire). */
    List<HookPoint> hookPoints() {
        return List.of(hookResidPre, hookAttnIn, hookQInput, hookKInput, hookVInput,
                ln1.hookScale, ln1.hookNormalized,
                attn.hookQ, attn.hookK, attn.hookV, attn.hookAttnScores, attn.hookPattern,
                attn.hookZ, attn.hookResult, hookAttnOut, hookResidMid, hookMlpIn,
                ln2.hookScale, ln2.hookNormalized, mlp.hookPre, mlp.hookPost,
                hookMlpOut, hookResidPost);
    }

    NDArray forward(NDArray x, NDArray mask, boolean hasPadding, Flags flags) { // x: [batch, pos, d_model]
        NDArray residPre = hookResidPre.run(x); // [batch, pos, d_model]
        boolean attnIn = flags.on(hookAttnIn);
        boolean split = flags.on(hookQInput) || flags.on(hookKInput) || flags.on(hookVInput);
        boolean result = flags.on(attn.hookResult);
        NDArray attnOut;
        if (attnIn || split) {
            NDArray repeated = residPre.expandDims(2).repeat(2, nHeads); // [batch, pos, head_index, d_model]
            NDArray in = attnIn ? hookAttnIn.run(InPlace.copy(repeated)) : repeated; // [batch, pos, head_index, d_model]
            NDArray qIn = split ? hookQInput.run(InPlace.copy(in)) : in; // [batch, pos, head_index, d_model]
            NDArray kIn = split ? hookKInput.run(InPlace.copy(in)) : in;
            NDArray vIn = split ? hookVInput.run(InPlace.copy(in)) : in;
            attnOut = attn.forwardPerHead(ln1.forward(qIn), ln1.forward(kIn), ln1.forward(vIn),
                    mask, hasPadding, result); // [batch, pos, d_model]
        } else {
            attnOut = attn.forward(ln1.forward(residPre), mask, hasPadding, result); // [batch, pos, d_model]
        }
        attnOut = hookAttnOut.run(attnOut); // [batch, pos, d_model]
        NDArray residMid = hookResidMid.run(residPre.add(attnOut)); // [batch, pos, d_model]
        NDArray mlpIn = flags.on(hookMlpIn) ? hookMlpIn.run(InPlace.copy(residMid)) : residMid; // [batch, pos, d_model]
        NDArray mlpOut = hookMlpOut.run(mlp.forward(ln2.forward(mlpIn))); // [batch, pos, d_model]
        return hookResidPost.run(residMid.add(mlpOut)); // [batch, pos, d_model]
    }
}
