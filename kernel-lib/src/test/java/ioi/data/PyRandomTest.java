package ioi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * {@link PyRandom} against CPython 3.11.7. Every expected value below is CPython's own output,
 * produced with {@code python3 -c 'import random; random.seed(S); print(...)'} for the call
 * shown in each test (not hand-picked).
 */
class PyRandomTest {

    @Test
    void randomMatchesCpython() {
        // random.seed(1); [random.random() for _ in range(5)]
        PyRandom r = new PyRandom(1);
        double[] expected = {0.13436424411240122, 0.8474337369372327, 0.763774618976614, 0.2550690257394217,
                0.49543508709194095};
        for (double e : expected) {
            assertEquals(e, r.random(), 0.0);
        }
        // random.seed(0); random.getrandbits(0), random.random()
        r = new PyRandom(0);
        assertEquals(BigInteger.ZERO, r.getrandbits(0));
        assertEquals(0.8444218515250481, r.random(), 0.0);
    }

    @Test
    void getrandbitsMatchesCpython() {
        // random.seed(0); [getrandbits(32) x3], getrandbits(1), getrandbits(7), getrandbits(64), getrandbits(100)
        PyRandom r = new PyRandom(0);
        assertEquals(3626764237L, r.getrandbitsLong(32));
        assertEquals(1654615998L, r.getrandbitsLong(32));
        assertEquals(3255389356L, r.getrandbitsLong(32));
        assertEquals(1L, r.getrandbitsLong(1));
        assertEquals(53L, r.getrandbitsLong(7));
        assertEquals(new BigInteger("4776171008201404212"), r.getrandbits(64));
        assertEquals(new BigInteger("513868133461680832233190503674"), r.getrandbits(100));
        // random.seed(3); [getrandbits(40), getrandbits(63), getrandbits(33)]
        r = new PyRandom(3);
        assertEquals(649562111997L, r.getrandbitsLong(40));
        assertEquals(1202937964474309450L, r.getrandbitsLong(63));
        assertEquals(BigInteger.valueOf(5883912612L), r.getrandbits(33));
    }

    @Test
    void seedUsesAbsoluteValueAndAllWords() {
        // random.seed(5) and random.seed(-5): [getrandbits(32) x2]
        for (long s : new long[] {5, -5}) {
            PyRandom r = new PyRandom(s);
            assertEquals(2675342405L, r.getrandbitsLong(32));
            assertEquals(1097127993L, r.getrandbitsLong(32));
        }
        // random.seed(2**32): two key words [0, 1]
        PyRandom r = new PyRandom(1L << 32);
        assertEquals(485306839L, r.getrandbitsLong(32));
        assertEquals(1508871100L, r.getrandbitsLong(32));
        // random.seed(2**40 + 7); [random() x2]
        r = new PyRandom((1L << 40) + 7);
        assertEquals(0.6137037779936511, r.random(), 0.0);
        assertEquals(0.8149162973309487, r.random(), 0.0);
        // random.seed(2**64 + 3): three key words
        r = new PyRandom(BigInteger.TWO.pow(64).add(BigInteger.valueOf(3)));
        assertEquals(3921169615L, r.getrandbitsLong(32));
        assertEquals(2134766284L, r.getrandbitsLong(32));
    }

    @Test
    void randbelowChoiceRandintShuffleMatchCpython() {
        // random.seed(42); [random.randrange(109) for _ in range(10)]
        PyRandom r = new PyRandom(42);
        long[] got = new long[10];
        for (int i = 0; i < 10; i++) {
            got[i] = r.randrange(0, 109);
        }
        assertArrayEquals(new long[] {81, 14, 3, 94, 35, 31, 28, 17, 94, 13}, got);

        // random.seed(7); [random.choice("abcdefghij") for _ in range(10)]
        r = new PyRandom(7);
        List<String> letters = Arrays.asList("abcdefghij".split(""));
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            chosen.add(r.choice(letters));
        }
        assertEquals(List.of("f", "c", "g", "a", "b", "i", "b", "f", "j", "a"), chosen);

        // random.seed(7); [random.randint(30, 40) for _ in range(10)]
        r = new PyRandom(7);
        for (long e : new long[] {35, 32, 36, 40, 30, 31, 38, 31, 35, 39}) {
            assertEquals(e, r.randint(30, 40));
        }

        // random.seed(123); x = list(range(14)); random.shuffle(x)
        r = new PyRandom(123);
        List<Integer> x = IntStream.range(0, 14).boxed().collect(Collectors.toCollection(ArrayList::new));
        r.shuffle(x);
        assertEquals(List.of(10, 7, 8, 2, 5, 9, 3, 13, 11, 12, 6, 1, 4, 0), x);

        // random.sample(list(range(n)), k): the pool branch (n <= setsize) and the set branch
        List<Integer> r26 = IntStream.range(0, 26).boxed().toList();
        assertEquals(List.of(1, 8, 2, 13, 24, 3, 25, 12, 17, 10), new PyRandom(123).sample(r26, 10), "seed 123, 26 choose 10");
        assertEquals(List.of(10, 4, 12, 20, 1), new PyRandom(7).sample(r26, 5), "seed 7, 26 choose 5 (set branch)");
        assertEquals(List.of(5, 2, 6, 0, 1), new PyRandom(7).sample(IntStream.range(0, 13).boxed().toList(), 5),
                "seed 7, 13 choose 5 (pool branch)");
        assertEquals(List.of(51, 48, 25, 76, 22, 29, 31, 17, 11, 32, 49, 67, 87, 68, 91, 79, 62, 97, 53, 78, 75, 27, 47, 89, 80, 19, 59, 95, 43, 10), new PyRandom(99).sample(IntStream.range(0, 100).boxed().toList(), 30),
                "seed 99, 100 choose 30 (set branch, k > 5)");
    }

    @Test
    void badArguments() {
        PyRandom r = new PyRandom(0);
        assertThrows(IllegalArgumentException.class, () -> r.getrandbits(-1));
        assertThrows(IllegalArgumentException.class, () -> r.choice(List.of()));
        assertThrows(IllegalArgumentException.class, () -> r.randrange(3, 3));
        assertThrows(IllegalArgumentException.class, () -> r.sample(List.of(1, 2), 3));
    }
}
