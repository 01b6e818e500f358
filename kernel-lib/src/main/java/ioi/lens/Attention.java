package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * Multi-head causal self-attention with TransformerLens's hook points and per-head weights:
 * {@code W_Q, W_K, W_V [head_index, d_model, d_head]}, {@code W_O [head_index, d_head, d_model]}.
 * Scores are {@code q k^T / sqrt(d_head)} with masked entries at {@code -inf}; a fully masked
 * row's pattern is 0 (TL replaces softmax's NaN by 0).
 */
final class Attention {

    final HookPoint hookQ; // [batch, pos, head_index, d_head]
    final HookPoint hookK; // [batch, pos, head_index, d_head]
    final HookPoint hookV; // [batch, pos, head_index, d_head]
    final HookPoint hookAttnScores; // [batch, head_index, query_pos, key_pos]
    final HookPoint hookPattern; // [batch, head_index, query_pos, key_pos]
    final HookPoint hookZ; // [batch, pos, head_index, d_head]
    final HookPoint hookResult; // [batch, pos, head_index, d_model], gated by use_attn_result

    final NDArray wQ; // [head_index, d_model, d_head]
    final NDArray wK; // [head_index, d_model, d_head]
    final NDArray wV; // [head_index, d_model, d_head]
    final NDArray wO; // [head_index, d_head, d_model]
    final NDArray bQ; // [head_index, d_head]
    final NDArray bK; // [head_index, d_head]
    final NDArray bV; // [head_index, d_head]
    final NDArray bO; // [d_model]
    private final NDArray wQkv; // [d_model, 3 * head_index * d_head], Q, K, V fused for one matmul
    private final NDArray bQkv; // [3 * head_index * d_head]
    private final NDArray wOFlat; // [head_index * d_head, d_model]
    private final int nHeads;
    private final int dHead;
    private final double attnScale;

    Attention(int layer, GPT2Config cfg, NDArray wQ, NDArray wK, NDArray wV, NDArray wO,
            NDArray bQ, NDArray bK, NDArray bV, NDArray bO) {
        String p = "blocks." + layer + ".attn.";
        List<String> headDims = List.of("batch", "pos", "head_index", "d_head");
        List<String> patternDims = List.of("batch", "head_index", "query_pos", "key_pos");
        hookQ = new HookPoint(p + "hook_q", layer, headDims, null);
        hookK = new HookPoint(p + "hook_k", layer, headDims, null);
        hookV = new HookPoint(p + "hook_v", layer, headDims, null);
        hookAttnScores = new HookPoint(p + "hook_attn_scores", layer, patternDims, null);
        hookPattern = new HookPoint(p + "hook_pattern", layer, patternDims, null);
        hookZ = new HookPoint(p + "hook_z", layer, headDims, null);
        hookResult = new HookPoint(p + "hook_result", layer,
                List.of("batch", "pos", "head_index", "d_model"), "use_attn_result");
        this.wQ = wQ;
        this.wK = wK;
        this.wV = wV;
        this.wO = wO;
        this.bQ = bQ;
        this.bK = bK;
        this.bV = bV;
        this.bO = bO;
        this.nHeads = cfg.nHeads();
        this.dHead = cfg.dHead();
        this.attnScale = cfg.attnScale();
        int d = cfg.dModel();
        int he = nHeads * dHead;
        this.wQkv = NDArrays.concat(new ai.djl.ndarray.NDList(
                        wQ.transpose(1, 0, 2).reshape(d, he), // [d_model, head_index*d_head]
                        wK.transpose(1, 0, 2).reshape(d, he),
                        wV.transpose(1, 0, 2).reshape(d, he)), 1); // [d_model, 3*head_index*d_head]
        this.bQkv = NDArrays.concat(new ai.djl.ndarray.NDList(
                bQ.reshape(he), bK.reshape(he), bV.reshape(he)), 0); // [3*head_index*d_head]
        this.wOFlat = wO.reshape(he, d); // [head_index*d_head, d_model]
    }

    /** Arrays this component derived from its weights (owned by the model's weight manager). */
    List<NDArray> derived() {
        return List.of(wQkv, bQkv, wOFlat);
    }

    /**
     * @param x residual input after ln1, [batch, pos, d_model]
     * @param mask true where a query may attend to a key, [batch | 1, 1, query_pos, key_pos]
     * @param hasPadding whether the mask can leave a row fully masked (then NaN becomes 0)
     * @param result whether {@code hook_result} is on
     */
    NDArray forward(NDArray x, NDArray mask, boolean hasPadding, boolean result) {
        Shape s = x.getShape();
        long batch = s.get(0);
        long pos = s.get(1);
        long he = (long) nHeads * dHead;
        NDArray qkv = InPlace.add(x.matMul(wQkv), bQkv); // [batch, pos, 3*head_index*d_head], bias in place
        NDArray q = hookQ.run(qkv.get(":, :, 0:" + he).reshape(batch, pos, nHeads, dHead)); // [batch, pos, head_index, d_head]
        NDArray k = hookK.run(qkv.get(":, :, " + he + ":" + 2 * he).reshape(batch, pos, nHeads, dHead));
        NDArray v = hookV.run(qkv.get(":, :, " + 2 * he + ":").reshape(batch, pos, nHeads, dHead));
        return attend(q, k, v, mask, hasPadding, result);
    }

    /**
     * Per-head inputs (TL's {@code use_split_qkv_input} / {@code use_attn_in}): each head reads its
     * own copy of the normalised residual.
     *
     * @param qIn query input after ln1, [batch, pos, head_index, d_model]
     */
    NDArray forwardPerHead(NDArray qIn, NDArray kIn, NDArray vIn, NDArray mask,
            boolean hasPadding, boolean result) {
        NDArray q = hookQ.run(perHead(qIn, wQ).add(bQ)); // [batch, pos, head_index, d_head]
        NDArray k = hookK.run(perHead(kIn, wK).add(bK));
        NDArray v = hookV.run(perHead(vIn, wV).add(bV));
        return attend(q, k, v, mask, hasPadding, result);
    }

    /**
     * Queries, keys or values ({@code act} = q, k, v) of every head from a normalised residual,
     * by the forward pass's fused weights, without hook points: [..., d_model] -> [..., head_index, d_head].
     */
    NDArray project(NDArray normed, String act) {
        int part = switch (act) {
            case "q" -> 0;
            case "k" -> 1;
            case "v" -> 2;
            default -> throw new IllegalArgumentException("act must be q, k or v but is '" + act + "'");
        };
        long he = (long) nHeads * dHead;
        String cols = part * he + ":" + (part + 1) * he;
        NDArray out = InPlace.add(normed.matMul(wQkv.get(":, " + cols)), bQkv.get(cols)); // [..., head_index*d_head]
        Shape s = normed.getShape();
        return out.reshape(s.slice(0, s.dimension() - 1).addAll(new Shape(nHeads, dHead))); // [..., head_index, d_head]
    }

    /**
     * The attention output at one query per sequence, keys and values at every position, without
     * hook points: the forward pass's arithmetic for the rows a reader needs (attention is causal).
     *
     * @param normed ln1 of the residual at the positions run, [n, pos, d_model]
     * @param query ln1 of the residual at each sequence's query position, [n, d_model]
     * @param allowed BOOLEAN [n, 1, 1, key_pos]: the keys each query sees (key_pos = prefix + pos)
     * @param prefixK keys of positions before {@code normed}'s first, [n, from, head_index, d_head], or null
     * @param prefixV their values, or null
     * @return attn_out at the queries, [n, d_model]
     */
    NDArray forwardAt(NDArray normed, NDArray query, NDArray allowed, NDArray prefixK, NDArray prefixV) {
        long n = query.getShape().get(0);
        NDArray k = project(normed, "k"); // [n, pos, head_index, d_head]
        NDArray v = project(normed, "v"); // [n, pos, head_index, d_head]
        if (prefixK != null) {
            k = prefixK.concat(k, 1); // [n, key_pos, head_index, d_head]
            v = prefixV.concat(v, 1); // [n, key_pos, head_index, d_head]
        }
        NDArray q = project(query, "q").expandDims(2); // [n, head_index, 1, d_head]
        NDArray raw = InPlace.div(q.matMul(k.transpose(0, 2, 3, 1)), attnScale); // [n, head_index, 1, key_pos]
        NDArray minusInf = Scalar.of(raw, Float.NEGATIVE_INFINITY); // []
        NDArray scores = NDArrays.where(allowed.broadcast(raw.getShape()), raw, minusInf.broadcast(raw.getShape()));
        NDArray z = scores.softmax(-1).matMul(v.transpose(0, 2, 1, 3)); // [n, head_index, 1, d_head]
        return output(z.reshape(n, nHeads, dHead)); // [n, d_model]
    }

    /** {@code einsum("batch pos head_index d_model, head_index d_model d_head -> batch pos head_index d_head")}. */
    private static NDArray perHead(NDArray in, NDArray w) {
        Shape s = in.getShape();
        long batch = s.get(0);
        long pos = s.get(1);
        long heads = s.get(2);
        NDArray byHead = in.transpose(2, 0, 1, 3).reshape(heads, batch * pos, s.get(3)); // [head_index, batch*pos, d_model]
        NDArray out = byHead.matMul(w); // [head_index, batch*pos, d_head]
        return out.reshape(heads, batch, pos, -1).transpose(1, 2, 0, 3); // [batch, pos, head_index, d_head]
    }

    private NDArray attend(NDArray q, NDArray k, NDArray v, NDArray mask, boolean hasPadding,
            boolean result) {
        Shape s = q.getShape();
        long batch = s.get(0);
        long pos = s.get(1);
        NDArray qT = q.transpose(0, 2, 1, 3); // [batch, head_index, query_pos, d_head]
        NDArray kT = k.transpose(0, 2, 3, 1); // [batch, head_index, d_head, key_pos]
        NDArray raw = InPlace.div(qT.matMul(kT), attnScale); // [batch, head_index, query_pos, key_pos], scaled in place (InPlace)
        NDArray minusInf = Scalar.of(raw, Float.NEGATIVE_INFINITY); // []
        NDArray scores = hookAttnScores.run( // [batch, head_index, query_pos, key_pos]
                NDArrays.where(mask.broadcast(raw.getShape()), raw, minusInf.broadcast(raw.getShape())));
        raw.close(); // no hook sees it: free it now rather than at the end of the pass
        NDArray softmax = scores.softmax(-1); // [batch, head_index, query_pos, key_pos]
        if (hasPadding) {
            softmax = NDArrays.where(softmax.isNaN(), softmax.zerosLike(), softmax);
        }
        NDArray pattern = hookPattern.run(softmax); // [batch, head_index, query_pos, key_pos]
        NDArray zT = pattern.matMul(v.transpose(0, 2, 1, 3)); // [batch, head_index, query_pos, d_head]
        NDArray z = hookZ.run(zT.transpose(0, 2, 1, 3)); // [batch, pos, head_index, d_head]
        if (result) {
            NDArray byHead = z.transpose(2, 0, 1, 3).reshape(nHeads, batch * pos, dHead); // [head_index, batch*pos, d_head]
            NDArray perHead = byHead.matMul(wO) // [head_index, batch*pos, d_model]
                    .reshape(nHeads, batch, pos, -1).transpose(1, 2, 0, 3); // [batch, pos, head_index, d_model]
            NDArray res = hookResult.run(perHead); // [batch, pos, head_index, d_model]
            return InPlace.add(res.sum(new int[] {2}), bO); // [batch, pos, d_model]
        }
        return output(z); // [batch, pos, d_model]
    }

    /** The attention output from the heads' outputs: {@code z W_O + b_O}, [..., head_index, d_head] -> [..., d_model]. */
    NDArray output(NDArray z) {
        Shape s = z.getShape();
        Shape flat = s.slice(0, s.dimension() - 2).add((long) nHeads * dHead); // [..., head_index*d_head]
        return InPlace.add(z.reshape(flat).matMul(wOFlat), bO); // [..., d_model]
    }
}
