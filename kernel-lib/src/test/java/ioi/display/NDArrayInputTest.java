package ioi.display;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The NDArray conveniences convert through toFloatArray and the shape, any dtype, without leaking. */
class NDArrayInputTest {

    @Test
    void imshowLineAndAttentionFromNDArrays() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.arange(24f).reshape(2, 3, 4); // [facet, row, col]
            Imshow im = Charts.imshow(a);
            assertEquals(List.of(2, 3, 4), List.of(im.facets(), im.rows(), im.cols()));
            List<?> z = (List<?>) im.figure().data().get(1).get("z");
            assertEquals(23f, ((List<?>) z.get(2)).get(3));

            NDArray ints = m.arange(0, 6).reshape(2, 3); // int32 -> converted copy, closed again
            long before = m.getManagedArrays().size();
            Imshow im2 = Charts.imshow(ints);
            assertEquals(before, m.getManagedArrays().size(), "temporary float copy closed");
            assertEquals(1, im2.facets());
            assertEquals(5f, ((List<?>) ((List<?>) im2.figure().data().get(0).get("z")).get(1)).get(2));

            assertEquals(3, Charts.line(m.ones(new Shape(3, 5))).figure().data().size(), "one line per row");

            NDArray pattern = m.ones(new Shape(1, 2, 3, 3), DataType.FLOAT32).div(3); // [batch=1, head, q, k]
            AttentionView v = AttentionView.of(pattern, List.of("a", "b", "c"), List.of("L0H0", "L0H1"));
            assertEquals(List.of("L0H0", "L0H1"), v.heads());
            assertTrue(v.toString().contains("'c' attends most to 'a' (0, 0.333)"), v.toString());
            Map<String, Object> bundle = v.mimeBundle();
            assertTrue(((String) bundle.get("text/html")).contains("<table data-head=\"1\""));

            var e = assertThrows(IllegalArgumentException.class, () -> Charts.imshow(m.ones(new Shape(2))));
            assertTrue(e.getMessage().contains("(2)"), e.getMessage());
        }
    }
}
