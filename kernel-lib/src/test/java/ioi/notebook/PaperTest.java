package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.data.IOIDataset;
import ioi.experiments.Grid;
import ioi.experiments.IoiBatch;
import ioi.experiments.Metrics;
import ioi.lens.GPT2Config;
import ioi.lens.GPT2Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tech.tablesaw.api.Table;

/** The notebooks' glue: IOIDataset to IoiBatch, the prompt and reference tables, the head fallback. */
class PaperTest {
    private static GPT2Tokenizer tok;

    @BeforeAll
    static void tokenizer() {
        tok = GPT2Tokenizer.bundled();
    }

    private static IOIDataset arena(boolean bos) {
        return IOIDataset.builder(tok).promptType(Paper.ARENA_PROMPT_TYPE).n(Paper.ARENA_N).seed(Paper.ARENA_SEED)
                .prependBos(bos).build();
    }

    /** The first sentences of ARENA's printed table "Sentences from IOI vs ABC distribution". */
    @Test
    void datasetsAreTheOnesArenaPrints() {
        IOIDataset ds = arena(false);
        IOIDataset abc = ds.genFlippedPrompts(Paper.ABC_FLIP);
        List<String> ioi = List.of(
                "When Victoria and Jane got a snack at the store, Jane decided to give it to Victoria",
                "When Sullivan and Rose got a necklace at the garden, Sullivan decided to give it to Rose",
                "When Alan and Alex got a drink at the store, Alex decided to give it to Alan",
                "Then, Jessica and Crystal had a long argument, and afterwards Jessica said to Crystal",
                "Then, Jonathan and Kevin were working at the school. Kevin decided to give a necklace to Jonathan");
        List<String> abcs = List.of(
                "When Alan and Sullivan got a snack at the store, Adam decided to give it to Victoria",
                "When Marcus and Max got a necklace at the garden, Jeremy decided to give it to Rose",
                "When Jay and Jason got a drink at the store, Jacob decided to give it to Alan",
                "Then, Joshua and Jack had a long argument, and afterwards Grant said to Crystal",
                "Then, Alice and Mark were working at the school. Carter decided to give a necklace to Jonathan");
        assertEquals(ioi, ds.sentences().subList(0, 5), "ARENA's IOI prompts 0-4");
        assertEquals(abcs, abc.sentences().subList(0, 5), "ARENA's ABC prompts 0-4");
        assertEquals(5, Paper.ARENA_FIRST_ROWS.length);
    }

    @Test
    void batchCarriesTheDatasetsTokensPositionsAndAnswers() {
        for (boolean bos : new boolean[] {false, true}) {
            IOIDataset ds = arena(bos);
            IOIDataset abc = ds.genFlippedPrompts(Paper.ABC_FLIP);
            IoiBatch b = Paper.batch(ds, abc);
            assertEquals(25, b.size());
            assertTrue(Arrays.deepEquals(ds.toks(), b.tokens()));
            assertTrue(Arrays.deepEquals(abc.toks(), b.abcTokens()));
            assertArrayEquals(ds.ioTokenIds(), b.ioTokenIds());
            assertArrayEquals(ds.sTokenIds(), b.sTokenIds());
            for (String key : List.of("IO", "S1", "S2", "end")) {
                assertArrayEquals(Arrays.stream(ds.wordIdx(key)).asLongStream().toArray(), b.wordIdx(key), key);
            }
            for (int i = 0; i < b.size(); i++) {
                long[] row = b.tokens()[i];
                // the answer follows end, IO and S sit at their positions
                assertEquals(b.ioTokenIds()[i], row[(int) b.end()[i] + 1], "IO answer after end, prompt " + i);
                assertEquals(b.ioTokenIds()[i], row[(int) b.io()[i]]);
                assertEquals(b.sTokenIds()[i], row[(int) b.s1()[i]]);
                assertEquals(b.sTokenIds()[i], row[(int) b.s2()[i]]);
                String label = b.label(i);
                assertEquals(ds.sentences().get(i), label + " " + ds.prompt(i).io());
                assertEquals(b.end()[i] + 1, Paper.upToEnd(b, i).length);
            }
            assertEquals(bos, b.tokens()[0][0] == 50256 && b.io()[0] == Paper.batch(arena(false),
                    arena(false).genFlippedPrompts(Paper.ABC_FLIP)).io()[0] + 1);
        }
    }

    @Test
    void batchRefusesMismatchedDatasets() {
        IOIDataset ds = arena(false);
        IOIDataset other = IOIDataset.builder(tok).promptType("mixed").n(10).seed(1).build();
        var e = assertThrows(IllegalArgumentException.class, () -> Paper.batch(ds, other));
        assertTrue(e.getMessage().contains("10 prompts"), e.getMessage());
    }

    @Test
    void promptTableShowsCleanAndAbcSideBySide() {
        IOIDataset ds = arena(false);
        IOIDataset abc = ds.genFlippedPrompts(Paper.ABC_FLIP);
        Table t = Paper.prompts(ds, abc, 5);
        assertEquals(5, t.rowCount());
        assertEquals(List.of("index", "template", "IO", "S", "prompt", "abc_prompt"), t.columnNames());
        assertEquals(ds.prompt(2).io(), t.stringColumn("IO").get(2));
        assertTrue(t.stringColumn("prompt").get(2).contains(ds.prompt(2).s()));
        assertEquals(25, Paper.prompts(ds, abc, 100).rowCount());
    }

    @Test
    void referenceTableFormatsPaperArenaAndRun() {
        Table t = Paper.referenceVsRun(2.5, -0.5, 0.96, 0.4512);
        assertEquals(List.of("quantity", "paper", "ARENA", "this run"), t.columnNames());
        assertEquals(List.of("3.56", "", "99.3%", "49%"), t.stringColumn("paper").asList());
        assertEquals(List.of("2.8052", "-0.7699", "", ""), t.stringColumn("ARENA").asList());
        assertEquals(List.of("2.5000", "-0.5000", "96.0%", "45.1%"), t.stringColumn("this run").asList());
    }

    /** Two prompts with logit differences 1.5 and -2 (IOI), 0.25 and 0 (ABC). */
    private static Metrics.Performance twoPrompts() {
        long[][] t = {{1, 2, 3}, {4, 5, 6}};
        long[] two = {1, 1};
        IoiBatch b = new IoiBatch(t, t, two, two, two, two, two, two, List.of("first prompt", "second prompt"));
        return Metrics.Performance.of(b, Grid.of(new float[] {1.5f, -2f}, 2), Grid.of(new float[] {0.25f, 0f}, 2),
                Grid.of(new float[] {0.5f, 0.1f}, 2), Grid.of(new float[] {0.2f, 0.3f}, 2));
    }

    @Test
    void logitDiffBarsShowIoiAndAbcPerPrompt() {
        var perf = twoPrompts();
        List<Map<String, Object>> data = Paper.logitDiffBars(perf).figure().data();
        assertEquals(2, data.size());
        assertEquals("IOI", data.get(0).get("name"));
        assertEquals("ABC", data.get(1).get("name"));
        assertEquals(List.of(1.5, -2.0), data.get(0).get("y"));
        assertEquals(List.of(0.25, 0.0), data.get(1).get("y"));
        assertTrue(data.get(0).toString().contains("second prompt"), data.get(0).toString());
    }

    @Test
    void arenasTableHasOneRowPerPromptAndTheReferenceItsFirstRows() {
        IOIDataset ds = IOIDataset.builder(tok).promptType("mixed").n(2).seed(1).build();
        IOIDataset abc = ds.genFlippedPrompts(Paper.ABC_FLIP);
        var perf = twoPrompts();
        Table table = Paper.ioiVsAbc(perf, ds, abc);
        assertEquals(List.of("IOI prompt", "IOI logit diff", "ABC prompt", "ABC logit diff"), table.columnNames());
        assertEquals(ds.sentences(), table.stringColumn("IOI prompt").asList());
        assertEquals(abc.sentences(), table.stringColumn("ABC prompt").asList());
        assertEquals(-2.0, table.doubleColumn("IOI logit diff").get(1), 1e-6);
        assertEquals(0.25, table.doubleColumn("ABC logit diff").get(0), 1e-6);
        Table ref = Paper.referenceVsRun(perf);
        assertEquals(4 + 2, ref.rowCount(), "the means, then prompts 0 and 1 (the run has two)");
        assertEquals("logit diff of prompt 1 (IOI / ABC)", ref.stringColumn("quantity").get(5));
        assertEquals("6.5408 / 6.1583", ref.stringColumn("ARENA").get(5));
        assertEquals("-2.0000 / 0.0000", ref.stringColumn("this run").get(5));
        var e = assertThrows(IllegalArgumentException.class, () -> Paper.ioiVsAbc(perf, arena(false), arena(false)));
        assertTrue(e.getMessage().contains("2 rows for 25 IOI"), e.getMessage());
    }

    @Test
    void fractionIoOverSCountsPositiveDifferences() {
        assertEquals(0.75, Paper.fractionIoOverS(new double[] {1, 2, -1, 0.1}));
        assertEquals(0.5, Paper.fractionIoOverS(new double[] {0, 1}));
        assertTrue(Double.isNaN(Paper.fractionIoOverS(new double[0])));
    }

    @Test
    void headFallsBackToTheLastLayerOnSmallModels() {
        GPT2Config small = GPT2Config.gpt2Small();
        assertArrayEquals(new int[] {9, 9}, Paper.headOrLast(small, 9, 9));
        GPT2Config tiny = new GPT2Config(3, 32, 4, 8, 128, 50257, 64, 1e-5);
        assertArrayEquals(new int[] {2, 0}, Paper.headOrLast(tiny, 9, 9));
        assertArrayEquals(new int[] {2, 0}, Paper.headOrLast(tiny, 1, 4));
        assertArrayEquals(new int[] {1, 3}, Paper.headOrLast(tiny, 1, 3));
    }

    @Test
    void withoutLastWordDropsTheAnswer() {
        assertEquals("When Mary and John went to the store, John gave a drink to",
                Paper.withoutLastWord("When Mary and John went to the store, John gave a drink to Mary"));
        assertEquals("single", Paper.withoutLastWord("single"));
    }
}
