package ioi.lens;

import ai.djl.ndarray.NDArray;
import java.util.List;

/** GPT-2's MLP: {@code post = gelu_new(x @ W_in + b_in)}, output {@code post @ W_out + b_out}. */
final class Mlp {

    final HookPoint hookPre; // [batch, pos, d_mlp]
    final HookPoint hookPost; // [batch, pos, d_mlp]
    final NDArray wIn; // [d_model, d_mlp]
    final NDArray bIn; // [d_mlp]
    final NDArray wOut; // [d_mlp, d_model]
    final NDArray bOut; // [d_model]

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    Mlp(int layer, NDArray wIn, NDArray bIn, NDArray wOut, NDArray bOut) {
        String p = "blocks." + layer + ".mlp.";
        hookPre = new HookPoint(p + "hook_pre", layer, List.of("batch", "pos", "d_mlp"), null);
        hookPost = new HookPoint(p + "hook_post", layer, List.of("batch", "pos", "d_mlp"), null);
        this.wIn = wIn;
        this.bIn = bIn;
        this.wOut = wOut;
        this.bOut = bOut;
    }

    NDArray forward(NDArray x) { // [batch, pos, d_model]
        // Biases are added in place to the fresh matmul outputs: same values, one buffer fewer.
        NDArray pre = hookPre.run(InPlace.add(x.matMul(wIn), bIn)); // [batch, pos, d_mlp]
        NDArray post = hookPost.run(geluNew(pre)); // [batch, pos, d_mlp]
        return InPlace.add(post.matMul(wOut), bOut); // [batch, pos, d_model]
    }

    /** GPT-2's tanh approximation: {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}. */
    static NDArray geluNew(NDArray x) {
        // The same element-wise ops in the same order as
        //   x.mul(0.5).mul(x.add(x.pow(3).mul(0.044715)).mul(GELU_C).tanh().add(1.0))
        // (bit-identical: only the operands of + and * swap), but in place on two buffers that are
        // freed here, instead of eight [batch, pos, d_mlp] temporaries held to the end of the pass.
        NDArray inner = InPlace.mul(InPlace.add(InPlace.mul(Scalar.pow(x, 3), 0.044715), x), GELU_C); // [batch, pos, d_mlp]
        NDArray t = inner.tanh(); // [batch, pos, d_mlp]
        inner.close();
        NDArray out = InPlace.mul(Scalar.mul(x, 0.5), InPlace.add(t, 1.0)); // [batch, pos, d_mlp]
        t.close();
        return out;
    }
}
