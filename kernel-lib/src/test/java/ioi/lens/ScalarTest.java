package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import java.util.Arrays;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@link Scalar}: constants that autograd keeps for the backward pass are still there after the
 * garbage collector has run between the forward and the backward pass. With DJL's own
 * {@code mul(Number)}, {@code div(Number)} and {@code pow(Number)} these gradients came out NaN or
 * infinite.
 */
class ScalarTest {

    private static float[] gradientAfterCollection(Function<NDArray, NDArray> f) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1, 2, 3}); // [3]
            x.setRequiresGradient(true);
            try (GradientCollector c = ai.djl.engine.Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray y = f.apply(x).sum(); // []
                Collect.garbage();
                c.backward(y);
            }
            return x.getGradient().toFloatArray();
        }
    }

    @Test
    void constantsSurviveACollectionBeforeTheBackwardPass() {
        // d/dx sum((2x)^2 / 4 - 1) = 2x; exact in float32 for these x (tolerance 0).
        float[] expected = {2, 4, 6};
        for (int trial = 0; trial < 3; trial++) {
            float[] got = gradientAfterCollection(
                    x -> Scalar.sub(Scalar.div(Scalar.pow(Scalar.mul(x, 2.0), 2), 4.0f), 1));
            assertArrayEquals(expected, got, 0f, "trial " + trial + ": gradient " + Arrays.toString(got));
        }
    }

    @Test
    void sameValuesAndTypesAsDjlsOwnConstants() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {0.1f, -2.5f, 3e-3f, 7f}); // [4]
            for (Number n : new Number[] {0.044715, Math.sqrt(2 / Math.PI), 1e-5, 3, 2.0f}) {
                assertArrayEquals(x.mul(n).toFloatArray(), Scalar.mul(x, n).toFloatArray(), 0f, "mul " + n);
                assertArrayEquals(x.div(n).toFloatArray(), Scalar.div(x, n).toFloatArray(), 0f, "div " + n);
                assertArrayEquals(x.add(n).toFloatArray(), Scalar.add(x, n).toFloatArray(), 0f, "add " + n);
                assertArrayEquals(x.sub(n).toFloatArray(), Scalar.sub(x, n).toFloatArray(), 0f, "sub " + n);
                assertArrayEquals(x.abs().pow(n).toFloatArray(), Scalar.pow(x.abs(), n).toFloatArray(), 0f, "pow " + n);
                org.junit.jupiter.api.Assertions.assertEquals(DataType.FLOAT32, Scalar.mul(x, n).getDataType(), "type " + n);
            }
        }
    }
}
