package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.experiments.Circuit;
import ioi.experiments.CircuitEvaluation;
import ioi.experiments.Head;
import ioi.experiments.Minimality;
import ioi.experiments.TopHeadAblation;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import tech.tablesaw.api.Table;

/** The circuit-evaluation reference numbers and tables (no model: results built by hand). */
class CircuitReferenceTest {

    @Test
    void fig20CoversTheCircuitAndGivesThePapersScores() {
        assertEquals(Set.copyOf(Circuit.PAPER.heads()), CircuitReference.PAPER_FIG20.keySet());
        assertEquals(100 * 0.36 / 3.56, CircuitReference.paperMinimalityPercent(Head.of(9, 9)), 1e-9); // 10.1%
        assertEquals(100 * 0.04 / 3.56, CircuitReference.paperMinimalityPercent(Head.of(9, 0)), 1e-9); // 1.1%
        assertTrue(Double.isNaN(CircuitReference.paperMinimalityPercent(Head.of(1, 1))));
        // Fig 20's chain: F(C \ K) of each backup row is F(C \ (K u {v})) of the previous one, as PAPER_K encodes
        List<String> chain = List.of("9.6", "10.10", "10.6", "10.2", "10.1", "11.2", "9.7");
        for (int i = 1; i < chain.size(); i++) {
            double[] prev = CircuitReference.PAPER_FIG20.get(Head.parse(chain.get(i - 1)));
            double[] row = CircuitReference.PAPER_FIG20.get(Head.parse(chain.get(i)));
            assertEquals(prev[0], row[1], 1e-12, chain.get(i));
            assertEquals(Minimality.PAPER_K.get(Head.parse(chain.get(i - 1))).size() + 1,
                    Minimality.PAPER_K.get(Head.parse(chain.get(i))).size(), chain.get(i));
        }
    }

    @Test
    void tablesHaveARowPerQuantityAndHead() {
        var fa = new CircuitEvaluation.Faithfulness(3.5, 3.0, 0.5, 14.3, Table.create("f"));
        var naive = new CircuitEvaluation.Faithfulness(3.5, 3.4, 0.1, 2.9, Table.create("n"));
        var sets = List.of(new CircuitEvaluation.KSet("empty", "\u2205", Set.of()));
        var completeness = new CircuitEvaluation.Completeness(sets, new double[] {3.0}, new double[] {3.5},
                new double[] {0.5}, 3.5, Table.create("c"));
        List<Head> heads = Circuit.PAPER.heads();
        double[] pct = new double[heads.size()];
        Arrays.fill(pct, 2.0);
        pct[3] = 0.5;
        List<String> classes = new ArrayList<>();
        heads.forEach(h -> classes.add(Circuit.PAPER.classOf(h)));
        var min = new Minimality.Result(heads, classes, new ArrayList<>(Minimality.ARENA_K.values()), pct, pct, pct, pct,
                3.5, Table.create("m"));
        var top = new TopHeadAblation(Head.of(9, 9), 2.8, 1.7, 1.1, 2.6, 1.04, Table.create("t"));
        Table t = CircuitReference.referenceVsRun(fa, naive, completeness, min, top);
        assertEquals(12, t.rowCount());
        assertEquals(List.of("quantity", "paper", "ARENA", "this run"), t.columnNames());
        assertEquals("0.50%", t.stringColumn("this run").get(6), "smallest minimality score");
        assertEquals("2.8052", t.stringColumn("ARENA").get(0));
        Table m = CircuitReference.minimalityVsPaper(min);
        assertEquals(26, m.rowCount());
        assertEquals(100 * 0.36 / 3.56, m.doubleColumn("paper_percent").get(0), 1e-9);
    }
}
