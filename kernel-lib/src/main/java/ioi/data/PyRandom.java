package ioi.data;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * CPython 3.11's {@code random.Random} as the reference {@code ioi_dataset.py} uses it ([A3]
 * {@code IOIDataset.__init__} and {@code gen_prompt_uniform}: the "mixed" template shuffle, every
 * template/name/place/object draw; [ET] {@code flip_prefixes}: {@code "prefix"}; docs/sources.md):
 * same seed, same numbers, bit for bit.
 *
 * <ul>
 *   <li>{@link #seed(BigInteger)}: {@code random.seed(int)} — {@code init_by_array} on the 32-bit
 *       words (least significant first) of the seed's absolute value; 0 gives the key {@code [0]}.</li>
 *   <li>{@link #random()}: {@code random.random()} ({@code genrand_res53}).</li>
 *   <li>{@link #getrandbits(int)}: {@code random.getrandbits(k)}.</li>
 *   <li>{@link #randbelow(long)}: {@code Random._randbelow_with_getrandbits(n)} — rejection sampling
 *       with {@code getrandbits(n.bit_length())}.</li>
 *   <li>{@link #choice(List)}, {@link #shuffle(List)}, {@link #randrange(long, long)},
 *       {@link #randint(long, long)}: the pure-Python methods built on {@code _randbelow}.</li>
 * </ul>
 *
 * <p>{@code random.sample} is not provided: the reference does not call it.
 */
public final class PyRandom {

    private static final BigInteger WORD_MASK = BigInteger.valueOf(0xffffffffL);

    private final Mt19937 mt = new Mt19937();

    /** A generator seeded as {@code random.Random(seed)}. */
    public PyRandom(long seed) {
        seed(seed);
    }

    /** A generator seeded as {@code random.Random(seed)} for an int of any size. */
    public PyRandom(BigInteger seed) {
        seed(seed);
    }

    /** {@code random.seed(seed)} for an int seed. */
    public void seed(long seed) {
        seed(BigInteger.valueOf(seed));
    }

    /**
     * {@code random.seed(seed)} for an int seed (CPython {@code random_seed}): the absolute value is
     * split into 32-bit words, least significant first, and fed to {@code init_by_array}.
     */
    public void seed(BigInteger seed) {
        BigInteger n = seed.abs();
        int words = Math.max(1, (n.bitLength() + 31) / 32);
        int[] key = new int[words];
        for (int i = 0; i < words; i++) {
            key[i] = n.shiftRight(32 * i).and(WORD_MASK).intValue();
        }
        mt.initByArray(key);
    }

    /** {@code random.random()}: a double in [0, 1) with 53 random bits. */
    public double random() {
        return mt.nextDouble();
    }

    /**
     * {@code random.getrandbits(k)}: a non-negative int with {@code k} random bits. Words are drawn
     * least significant first; the last (most significant) word keeps its top {@code k mod 32} bits.
     */
    public BigInteger getrandbits(int k) {
        if (k < 0) {
            throw new IllegalArgumentException("getrandbits: number of bits must be non-negative but was " + k);
        }
        if (k <= 63) {
            return BigInteger.valueOf(getrandbitsLong(k));
        }
        BigInteger r = BigInteger.ZERO;
        int shift = 0;
        for (int left = k; left > 0; left -= 32, shift += 32) {
            long word = mt.nextUint32();
            if (left < 32) {
                word >>>= 32 - left;
            }
            r = r.or(BigInteger.valueOf(word).shiftLeft(shift));
        }
        return r;
    }

    /** {@link #getrandbits(int)} for {@code 0 <= k <= 63}, as a long. */
    public long getrandbitsLong(int k) {
        if (k < 0 || k > 63) {
            throw new IllegalArgumentException("getrandbitsLong: k must be in [0, 63] but was " + k);
        }
        if (k == 0) {
            return 0;
        }
        if (k <= 32) {
            return mt.nextUint32() >>> (32 - k);
        }
        long low = mt.nextUint32();
        long high = mt.nextUint32() >>> (64 - k);
        return (high << 32) | low;
    }

    /**
     * {@code Random._randbelow(n)} ({@code _randbelow_with_getrandbits}): a uniform int in
     * {@code [0, n)}, drawing {@code getrandbits(n.bit_length())} until the value is below {@code n}.
     * Returns 0 for {@code n == 0}, as CPython 3.11 does.
     */
    public long randbelow(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("randbelow: n must be non-negative but was " + n);
        }
        if (n == 0) {
            return 0;
        }
        int k = 64 - Long.numberOfLeadingZeros(n);
        long r = getrandbitsLong(k);
        while (r >= n) {
            r = getrandbitsLong(k);
        }
        return r;
    }

    /** {@code random.randrange(start, stop)}: {@code start + _randbelow(stop - start)}. */
    public long randrange(long start, long stop) {
        long width = stop - start;
        if (width <= 0) {
            throw new IllegalArgumentException("empty range for randrange(" + start + ", " + stop + ")");
        }
        return start + randbelow(width);
    }

    /** {@code random.randint(a, b)}: a uniform int in {@code [a, b]}, both ends included. */
    public long randint(long a, long b) {
        return randrange(a, b + 1);
    }

    /** {@code random.choice(seq)}: {@code seq[_randbelow(len(seq))]}. */
    public <T> T choice(List<T> seq) {
        if (seq.isEmpty()) {
            throw new IllegalArgumentException("cannot choose from an empty sequence");
        }
        return seq.get((int) randbelow(seq.size()));
    }

    /**
     * {@code random.shuffle(x)} in place (CPython 3.11): for {@code i} from {@code len-1} down to 1,
     * swap {@code x[i]} with {@code x[_randbelow(i + 1)]}.
     */
    public <T> void shuffle(List<T> x) {
        for (int i = x.size() - 1; i >= 1; i--) {
            int j = (int) randbelow(i + 1);
            Collections.swap(x, i, j);
        }
    }

    /**
     * {@code random.sample(population, k)} (CPython 3.11, no {@code counts}): k distinct elements in
     * selection order. For a population no larger than the set-size bound (21, plus
     * {@code 4 ** ceil(log(3k, 4))} when k &gt; 5) a pool: the i-th pick is {@code pool[_randbelow(n - i)]}
     * and the last unpicked element fills its slot; otherwise indices {@code _randbelow(n)} drawn
     * again while already selected.
     */
    public <T> List<T> sample(List<T> population, int k) {
        int n = population.size();
        if (k < 0 || k > n) {
            throw new IllegalArgumentException("sample larger than population or is negative: k = " + k
                    + " for a population of " + n);
        }
        List<T> result = new ArrayList<>(k);
        long setsize = 21;
        if (k > 5) {
            setsize += (long) Math.pow(4, Math.ceil(Math.log(k * 3.0) / Math.log(4)));
        }
        if (n <= setsize) {
            List<T> pool = new ArrayList<>(population);
            for (int i = 0; i < k; i++) {
                int j = (int) randbelow(n - i);
                result.add(pool.get(j));
                pool.set(j, pool.get(n - i - 1)); // move the non-selected item into the vacancy
            }
        } else {
            Set<Integer> selected = new HashSet<>();
            for (int i = 0; i < k; i++) {
                int j = (int) randbelow(n);
                while (selected.contains(j)) {
                    j = (int) randbelow(n);
                }
                selected.add(j);
                result.add(population.get(j));
            }
        }
        return result;
    }
}
