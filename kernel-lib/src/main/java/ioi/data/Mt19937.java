package ioi.data;

/**
 * The Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998) exactly as CPython's
 * {@code _randommodule.c} and NumPy's {@code mt19937.c} implement it: {@code init_genrand},
 * {@code init_by_array} and {@code genrand_uint32}. Both Python generators in this package
 * ({@link PyRandom}, {@link NumpyRandomState}) sit on it; they differ only in how they seed it and
 * how they turn its 32-bit words into numbers.
 *
 * <p>Java's {@code int} arithmetic wraps modulo 2<sup>32</sup> like C's {@code uint32_t}; the only
 * care needed is unsigned shifts ({@code >>>}) and reading a word as unsigned.
 */
final class Mt19937 {

    static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private final int[] mt = new int[N];
    private int mti = N + 1;

    /** {@code init_genrand(s)}: the state from one 32-bit word (NumPy's {@code mt19937_seed}). */
    void initGenrand(int s) {
        mt[0] = s;
        for (int i = 1; i < N; i++) {
            mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        }
        mti = N;
    }

    /** {@code init_by_array(init_key)}: the state from any number of 32-bit words (CPython's seeding). */
    void initByArray(int[] key) {
        if (key.length == 0) {
            throw new IllegalArgumentException("init_by_array needs at least one key word");
        }
        initGenrand(19650218);
        int i = 1;
        int j = 0;
        for (int k = Math.max(N, key.length); k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1664525)) + key[j] + j;
            i++;
            j++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if (j >= key.length) {
                j = 0;
            }
        }
        for (int k = N - 1; k > 0; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >>> 30)) * 1566083941)) - i;
            i++;
            if (i >= N) {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x80000000;
        mti = N;
    }

    /** {@code genrand_uint32()}: the next 32-bit output, as a Java int (read it unsigned). */
    int nextInt32() {
        if (mti >= N) {
            if (mti == N + 1) {
                throw new IllegalStateException("MT19937 used before it was seeded");
            }
            int kk;
            for (kk = 0; kk < N - M; kk++) {
                int y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
                mt[kk] = mt[kk + M] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
            }
            for (; kk < N - 1; kk++) {
                int y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
                mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
            }
            int y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
            mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
            mti = 0;
        }
        int y = mt[mti++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    /** The next output as an unsigned value in [0, 2<sup>32</sup>). */
    long nextUint32() {
        return Integer.toUnsignedLong(nextInt32());
    }

    /** 53-bit double in [0, 1): {@code genrand_res53}, shared by CPython's {@code random()} and NumPy's {@code random_sample()}. */
    double nextDouble() {
        long a = nextUint32() >>> 5;
        long b = nextUint32() >>> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }
}
