package ioi.data;

import java.util.ArrayList;
import java.util.List;

/**
 * The iteration order of CPython 3.11's {@code list(set(xs))} for small non-negative ints, which
 * the reference uses to order {@code groups} ([A3] {@code ioi_dataset.py}: {@code for id in list(set(all_ids))}).
 * For five or more distinct ids below 32 this is ascending order, but not in general: {@code set([9, 2])}
 * iterates 9 first. This replays {@code setobject.c}: open addressing on a table of 8 slots
 * (growing to the smallest power of two above {@code 4 * used} once {@code 5 * fill >= 3 * mask}),
 * probing 9 linear slots then {@code i = (5 i + 1 + perturb) & mask} with {@code perturb >>= 5}.
 * A non-negative int below 2<sup>61</sup> − 1 hashes to itself.
 */
final class PySetOrder {

    private static final int MIN_SIZE = 8;
    private static final int LINEAR_PROBES = 9;
    private static final int PERTURB_SHIFT = 5;

    private PySetOrder() {}

    /** {@code list(set(values))}: the distinct values in CPython's iteration order. */
    static List<Integer> iterationOrder(List<Integer> values) {
        Integer[] table = new Integer[MIN_SIZE];
        int used = 0;
        for (Integer v : values) {
            if (v < 0) {
                throw new IllegalArgumentException("only non-negative ints are supported but got " + v);
            }
            if (!insert(table, v, true)) {
                continue;
            }
            used++;
            int mask = table.length - 1;
            if ((long) used * 5 >= (long) mask * 3) {
                table = resize(table, used > 50000 ? used * 2 : used * 4);
            }
        }
        List<Integer> out = new ArrayList<>(used);
        for (Integer e : table) {
            if (e != null) {
                out.add(e);
            }
        }
        return out;
    }

    /** Inserts {@code v} unless present; returns whether it was added. */
    private static boolean insert(Integer[] table, int v, boolean checkEqual) {
        int mask = table.length - 1;
        long perturb = v;
        int i = v & mask;
        while (true) {
            int probes = (i + LINEAR_PROBES <= mask) ? LINEAR_PROBES : 0;
            int j = i;
            for (int p = 0; p <= probes; p++, j++) {
                if (table[j] == null) {
                    table[j] = v;
                    return true;
                }
                if (checkEqual && table[j] == v) {
                    return false;
                }
            }
            perturb >>>= PERTURB_SHIFT;
            i = (int) ((i * 5L + 1 + perturb) & mask);
        }
    }

    private static Integer[] resize(Integer[] old, int minUsed) {
        int size = MIN_SIZE;
        while (size <= minUsed) {
            size <<= 1;
        }
        Integer[] table = new Integer[size];
        for (Integer e : old) {
            if (e != null) {
                insert(table, e, false);
            }
        }
        return table;
    }
}
