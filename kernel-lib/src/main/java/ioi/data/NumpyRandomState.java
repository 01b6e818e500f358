package ioi.data;

import java.util.ArrayList;
import java.util.List;

/**
 * NumPy 1.26's legacy {@code numpy.random.RandomState} (what {@code np.random.seed(int)} and the
 * module-level {@code np.random.*} functions use), restricted to what the IOI reference draws with
 * it: {@code np.random.choice} for the random names of ARENA's string flips ([A3] {@code gen_flipped_prompts})
 * and {@code np.random.randint} for the paper's tuple flips ([ET] {@code gen_flipped_prompts}; docs/sources.md).
 *
 * <ul>
 *   <li>Seeding: {@code _legacy_seeding(int)} is {@code mt19937_seed}, i.e. MT19937's
 *       {@code init_genrand} on the seed, which must lie in [0, 2<sup>32</sup> − 1].</li>
 *   <li>{@link #randint(long, long)}: {@code _bounded_integers._rand_int64} with
 *       {@code use_masked=True}: for {@code rng = high − 1 − low}, draw 32-bit words (64-bit words
 *       when {@code rng} does not fit in 32 bits), AND them with the smallest all-ones mask
 *       ≥ {@code rng}, and reject values above {@code rng}.</li>
 *   <li>{@link #choice(int, int, boolean)}: {@code RandomState.choice} without {@code p}: with
 *       replacement it is {@code randint(0, n, size)}; without, {@code permutation(n)[:size]}.</li>
 *   <li>{@link #permutation(int)}: the legacy Fisher–Yates shuffle of {@code arange(n)} with
 *       {@code random_interval} (masked rejection on 32-bit words for bounds below 2<sup>32</sup>).</li>
 * </ul>
 */
public final class NumpyRandomState {

    private static final long MAX_SEED = 0xffffffffL;

    private final Mt19937 mt = new Mt19937();

    /** {@code np.random.RandomState(seed)}. */
    public NumpyRandomState(long seed) {
        seed(seed);
    }

    /** {@code np.random.seed(seed)} for an int seed: {@code init_genrand(seed)}. */
    public void seed(long seed) {
        if (seed < 0 || seed > MAX_SEED) {
            throw new IllegalArgumentException("numpy seed must be between 0 and 2**32 - 1 but was " + seed);
        }
        mt.initGenrand((int) seed);
    }

    /** {@code random_sample()}: a double in [0, 1) with 53 random bits. */
    public double randomSample() {
        return mt.nextDouble();
    }

    /** {@code randint(high)}: a uniform int in {@code [0, high)}. */
    public long randint(long high) {
        return randint(0, high);
    }

    /** {@code randint(low, high)}: a uniform int in {@code [low, high)} (legacy masked rejection). */
    public long randint(long low, long high) {
        if (low >= high) {
            throw new IllegalArgumentException("randint: low >= high (" + low + " >= " + high + ")");
        }
        return low + boundedMasked(high - 1 - low);
    }

    /** {@code randint(low, high, size)}: {@code size} independent draws, in order. */
    public long[] randint(long low, long high, int size) {
        if (low >= high) {
            throw new IllegalArgumentException("randint: low >= high (" + low + " >= " + high + ")");
        }
        long[] out = new long[size];
        for (int i = 0; i < size; i++) {
            out[i] = low + boundedMasked(high - 1 - low);
        }
        return out;
    }

    /** {@code np.random.choice(n)}: one uniform index in {@code [0, n)}. */
    public int choice(int n) {
        checkPopulation(n);
        return (int) randint(0, n);
    }

    /** {@code np.random.choice(n, size, replace)} (uniform, no {@code p}). */
    public int[] choice(int n, int size, boolean replace) {
        checkPopulation(n);
        if (size < 0) {
            throw new IllegalArgumentException("choice: negative size " + size);
        }
        int[] out = new int[size];
        if (replace) {
            for (int i = 0; i < size; i++) {
                out[i] = (int) randint(0, n);
            }
        } else {
            if (size > n) {
                throw new IllegalArgumentException("cannot take a larger sample (" + size
                        + ") than the population (" + n + ") when replace=false");
            }
            System.arraycopy(permutation(n), 0, out, 0, size);
        }
        return out;
    }

    /** {@code np.random.choice(a)} for a sequence: {@code a[randint(0, len(a))]}. */
    public <T> T choice(List<T> a) {
        return a.get(choice(a.size()));
    }

    /** {@code np.random.choice(a, size, replace)} for a sequence. */
    public <T> List<T> choice(List<T> a, int size, boolean replace) {
        List<T> out = new ArrayList<>(size);
        for (int idx : choice(a.size(), size, replace)) {
            out.add(a.get(idx));
        }
        return out;
    }

    /** {@code np.random.permutation(n)}: {@code arange(n)} shuffled by the legacy {@code shuffle}. */
    public int[] permutation(int n) {
        int[] x = new int[n];
        for (int i = 0; i < n; i++) {
            x[i] = i;
        }
        for (int i = n - 1; i >= 1; i--) {
            int j = (int) randomInterval(i);
            int t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
        return x;
    }

    /** {@code random_interval(max)}: a uniform int in {@code [0, max]} by masked rejection. */
    long randomInterval(long max) {
        if (max == 0) {
            return 0;
        }
        long mask = smallestMask(max);
        long value;
        if (Long.compareUnsigned(max, MAX_SEED) <= 0) {
            do {
                value = mt.nextUint32() & mask;
            } while (value > max);
        } else {
            do {
                value = nextUint64() & mask;
            } while (Long.compareUnsigned(value, max) > 0);
        }
        return value;
    }

    /**
     * {@code random_bounded_uint64_fill} for one value with {@code use_masked}: uniform in
     * {@code [0, rng]}. {@code rng == 0xFFFFFFFF} takes one raw 32-bit word.
     */
    private long boundedMasked(long rng) {
        if (rng == 0) {
            return 0;
        }
        if (Long.compareUnsigned(rng, MAX_SEED) <= 0) {
            if (rng == MAX_SEED) {
                return mt.nextUint32();
            }
            long mask = smallestMask(rng);
            long value;
            do {
                value = mt.nextUint32() & mask;
            } while (value > rng);
            return value;
        }
        long mask = smallestMask(rng);
        long value;
        do {
            value = nextUint64() & mask;
        } while (Long.compareUnsigned(value, rng) > 0);
        return value;
    }

    /** MT19937's {@code next_uint64}: the first word high, the second low. */
    private long nextUint64() {
        long high = mt.nextUint32();
        long low = mt.nextUint32();
        return (high << 32) | low;
    }

    private static long smallestMask(long max) {
        long mask = max;
        mask |= mask >>> 1;
        mask |= mask >>> 2;
        mask |= mask >>> 4;
        mask |= mask >>> 8;
        mask |= mask >>> 16;
        mask |= mask >>> 32;
        return mask;
    }

    private static void checkPopulation(int n) {
        if (n <= 0) {
            throw new IllegalArgumentException("choice: population must be non-empty but has size " + n);
        }
    }
}
