package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * The forward pass's in-place arithmetic, in one place. Outside a gradient scope each op writes
 * into {@code target} (a fresh temporary of the pass, so one buffer fewer per op and the same
 * values); while gradients are being recorded (inside {@link GradientRun} or any DJL
 * {@code GradientCollector}) it is out of place, because autograd keeps the operands it will
 * differentiate through and an in-place write would overwrite them ("modified by an inplace
 * operation"), and a constant operand goes through {@link Scalar} so that what autograd keeps of it
 * stays valid. Same values either way: the ops and their order do not change.
 */
final class InPlace {
    private InPlace() {}

    /** Whether PyTorch is recording operations for a backward pass (DJL's grad mode). */
    static boolean recording() {
        return JniUtils.isGradMode();
    }

    static NDArray add(NDArray target, NDArray other) {
        return recording() ? target.add(other) : target.addi(other);
    }

    static NDArray add(NDArray target, Number other) {
        return recording() ? Scalar.add(target, other) : target.addi(other);
    }

    static NDArray mul(NDArray target, NDArray other) {
        return recording() ? target.mul(other) : target.muli(other);
    }

    static NDArray mul(NDArray target, Number other) {
        return recording() ? Scalar.mul(target, other) : target.muli(other);
    }

    static NDArray div(NDArray target, Number other) {
        return recording() ? Scalar.div(target, other) : target.divi(other);
    }

    /**
     * A copy of {@code x} (TL's {@code .clone()} of the per-head and MLP inputs), through which
     * gradients flow while recording: DJL's {@code duplicate()} detaches from the autograd graph,
     * which would cut every path through a split input; {@code toType(same, copy)} does not.
     */
    static NDArray copy(NDArray x) {
        return recording() ? x.toType(x.getDataType(), true) : x.duplicate();
    }
}
