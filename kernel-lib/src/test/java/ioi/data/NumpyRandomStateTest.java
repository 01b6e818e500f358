package ioi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link NumpyRandomState} against NumPy 1.26.4's legacy generator. Every expected value is NumPy's
 * own output, produced with {@code python -c 'import numpy as np; np.random.seed(S); print(...)'}
 * for the calls shown in each test (not hand-picked).
 */
class NumpyRandomStateTest {

    @Test
    void randintMatchesNumpy() {
        // np.random.seed(0); [np.random.randint(109) for _ in range(10)]
        NumpyRandomState r = new NumpyRandomState(0);
        long[] expected = {44, 47, 64, 67, 67, 103, 9, 83, 21, 36};
        for (long e : expected) {
            assertEquals(e, r.randint(109));
        }
        // np.random.seed(0); np.random.randint(1, 2), np.random.randint(5, 6, size=3)
        r = new NumpyRandomState(0);
        assertEquals(1, r.randint(1, 2));
        assertArrayEquals(new long[] {5, 5, 5}, r.randint(5, 6, 3));
    }

    @Test
    void wideRangesMatchNumpy() {
        // np.random.seed(2**32 - 1); [randint(2) x8], [randint(2**33) x3], [randint(2**32) x2]
        NumpyRandomState r = new NumpyRandomState(0xffffffffL);
        for (long e : new long[] {1, 0, 0, 1, 0, 0, 0, 0}) {
            assertEquals(e, r.randint(2));
        }
        for (long e : new long[] {5512855328L, 6461289083L, 2987145323L}) {
            assertEquals(e, r.randint(1L << 33));
        }
        for (long e : new long[] {627568395L, 3003590858L}) {
            assertEquals(e, r.randint(1L << 32));
        }
    }

    @Test
    void randomSampleMatchesNumpy() {
        // np.random.seed(1341); np.random.random_sample(3)
        NumpyRandomState r = new NumpyRandomState(1341);
        for (double e : new double[] {0.5020140823907447, 0.8840712826204833, 0.8564214355526542}) {
            assertEquals(e, r.randomSample(), 0.0);
        }
    }

    @Test
    void choiceAndPermutationMatchNumpy() {
        // np.random.seed(5); choice(10, 5, replace=False), choice(7, 4), choice(109)
        NumpyRandomState r = new NumpyRandomState(5);
        assertArrayEquals(new int[] {9, 5, 2, 4, 7}, r.choice(10, 5, false));
        assertArrayEquals(new int[] {0, 6, 0, 4}, r.choice(7, 4, true));
        assertEquals(15, r.choice(109));

        // np.random.seed(3); choice(["a".."e"], 6), choice(["x", "y", "z"])
        r = new NumpyRandomState(3);
        assertEquals(List.of("c", "a", "b", "d", "a", "a"), r.choice(List.of("a", "b", "c", "d", "e"), 6, true));
        assertEquals("x", r.choice(List.of("x", "y", "z")));

        // np.random.seed(7); np.random.permutation(12)
        r = new NumpyRandomState(7);
        assertArrayEquals(new int[] {7, 10, 2, 5, 0, 1, 11, 8, 3, 6, 9, 4}, r.permutation(12));
    }

    @Test
    void seedOutsideNumpysRangeIsRefused() {
        // np.random.seed(-1) / np.random.seed(2**32): ValueError: Seed must be between 0 and 2**32 - 1
        for (long bad : new long[] {-1, 1L << 32}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new NumpyRandomState(bad));
            assertTrue(e.getMessage().contains(Long.toString(bad)), e.getMessage());
        }
        NumpyRandomState r = new NumpyRandomState(0);
        assertThrows(IllegalArgumentException.class, () -> r.choice(List.of()));
        assertThrows(IllegalArgumentException.class, () -> r.choice(3, 4, false));
    }
}
