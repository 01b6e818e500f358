package ioi.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * {@link PySetOrder} against CPython 3.11.7: each expected list is {@code list(set(xs))} printed by
 * {@code python3} for the input shown (the random cases from {@code random.seed(99)};
 * {@code n = randint(1, 30); k = randint(1, 40); xs = [randrange(k) for _ in range(n)]}).
 */
class PySetOrderTest {

    @Test
    void matchesCpythonSetIteration() {
        check(List.of(9, 2), List.of(9, 2));
        check(List.of(2, 9), List.of(9, 2));
        check(List.of(14, 6, 3, 11), List.of(11, 3, 14, 6));
        check(List.of(8, 0, 16), List.of(8, 0, 16));
        check(List.of(13, 5, 0, 8, 1), List.of(0, 1, 5, 8, 13));
        check(IntStream.rangeClosed(0, 14).map(i -> 14 - i).boxed().collect(Collectors.toList()),
                IntStream.rangeClosed(0, 14).boxed().collect(Collectors.toList()));
        check(List.of(5, 29, 33, 12, 29, 3, 22, 8, 13, 10, 28, 11), List.of(33, 3, 5, 8, 10, 11, 12, 13, 22, 28, 29));
        check(List.of(5, 31, 12, 26, 13, 23, 24, 13, 9, 29, 11, 21, 5, 33, 5, 30, 20, 25, 2, 17, 0, 27, 13),
                List.of(0, 2, 5, 9, 11, 12, 13, 17, 20, 21, 23, 24, 25, 26, 27, 29, 30, 31, 33));
        check(List.of(25, 8, 22, 30, 3, 8, 9, 26, 7), List.of(3, 7, 8, 9, 22, 25, 26, 30));
        check(List.of(2, 4, 2, 2), List.of(2, 4));
        check(List.of(3, 10), List.of(10, 3));
        check(List.of(13, 8, 5, 2), List.of(8, 5, 2, 13));
    }

    private static void check(List<Integer> input, List<Integer> expected) {
        assertEquals(expected, PySetOrder.iterationOrder(input), "list(set(" + input + "))");
    }
}
