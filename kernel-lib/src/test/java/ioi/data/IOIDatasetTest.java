package ioi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ioi.lens.GPT2Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Word indices ([A3] {@code get_idx_dict}), answer ids ({@code io_tokenIDs}, {@code s_tokenIDs}), tokens
 * ({@code toks}, {@code max_len}, {@code groups}), slicing/copying, flips' structure, and bad input
 * (tags: docs/sources.md).
 */
class IOIDatasetTest {

    private static final String TEMPLATE_0 = "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]";
    private static final String TEMPLATE_1 =
            "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]";

    private static GPT2Tokenizer tok() {
        return IOITestData.tokenizer();
    }

    /**
     * Two prompts whose indices can be read off their tokens:
     * <pre>
     *  0: Then , ␣Mary ␣and ␣John ␣went ␣to ␣the ␣store . ␣John ␣gave ␣a ␣drink ␣to ␣Mary      (16 tokens)
     *     0    1 2     3    4     5     6   7    8      9 10    11    12 13     14  15
     *  1: When ␣John ␣and ␣Mary ␣got ␣a ␣drink ␣at ␣the ␣store , ␣John ␣decided ␣to ␣give ␣it ␣to ␣Mary (18)
     *     0    1     2    3     4    5  6      7   8    9      10 11   12       13  14    15  16  17
     * </pre>
     */
    private static IOIDataset handChecked(boolean prependBos) {
        return IOIDataset.builder(tok())
                .templates(List.of(TEMPLATE_0, TEMPLATE_1))
                .prependBos(prependBos)
                .prompts(List.of(
                        new IOIPrompt("Then, Mary and John went to the store. John gave a drink to Mary", "Mary", "John", 0),
                        new IOIPrompt("When John and Mary got a drink at the store, John decided to give it to Mary",
                                "Mary", "John", 1)))
                .build();
    }

    @Test
    void handCheckedWordIndices() {
        IOIDataset ds = handChecked(false);
        assertArrayEquals(new int[] {2, 3}, ds.wordIdx("IO"));
        assertArrayEquals(new int[] {1, 2}, ds.wordIdx("IO-1"));
        assertArrayEquals(new int[] {3, 4}, ds.wordIdx("IO+1"));
        assertArrayEquals(new int[] {4, 1}, ds.wordIdx("S1"));
        assertArrayEquals(new int[] {3, 0}, ds.wordIdx("S1-1"));
        assertArrayEquals(new int[] {5, 2}, ds.wordIdx("S1+1"));
        assertArrayEquals(new int[] {10, 11}, ds.wordIdx("S2"));
        assertArrayEquals(new int[] {14, 16}, ds.wordIdx("end"), "' to' before the final name");
        assertArrayEquals(new int[] {0, 0}, ds.wordIdx("starts"));
        assertArrayEquals(new int[] {9, 10}, ds.wordIdx("punct"), "the '.' when there is one, else the last ','");
        assertEquals(List.of("ABBA", "BABA"), ds.templatesByPrompt());
        assertArrayEquals(new long[] {5335, 5335}, ds.ioTokenIds(), "' Mary'");
        assertArrayEquals(new long[] {1757, 1757}, ds.sTokenIds(), "' John'");
        assertEquals(18, ds.maxLen());
        long[][] toks = ds.toks();
        assertEquals(18, toks[0].length);
        assertArrayEquals(new long[] {5335, 50256, 50256}, Arrays.copyOfRange(toks[0], 15, 18), "right-padded with EOS");

        IOIDataset bos = handChecked(true);
        assertArrayEquals(new int[] {3, 4}, bos.wordIdx("IO"));
        assertArrayEquals(new int[] {5, 2}, bos.wordIdx("S1"));
        assertArrayEquals(new int[] {11, 12}, bos.wordIdx("S2"));
        assertArrayEquals(new int[] {15, 17}, bos.wordIdx("end"));
        assertArrayEquals(new int[] {9, 10}, bos.wordIdx("punct"), "punct is not shifted by BOS (as the reference)");
        assertEquals(18, bos.maxLen(), "max_len is counted without BOS");
        assertEquals(19, bos.toks()[0].length);
        assertEquals(50256, bos.toks()[1][0]);
    }

    @ParameterizedTest(name = "prependBos={0}")
    @ValueSource(booleans = {false, true})
    void wordIndicesPointAtTheNames(boolean prependBos) {
        IOIDataset ds = IOIDataset.builder(tok()).promptType("mixed").n(50).seed(0).prependBos(prependBos).build();
        check(ds, prependBos);
        IOIDataset abc = IOIDataset.builder(tok()).promptType("ABC mixed").n(12).seed(11).prependBos(prependBos).build();
        check(abc, prependBos);
    }

    private static void check(IOIDataset ds, boolean prependBos) {
        long[][] toks = ds.toks();
        long comma = tok().toSingleToken(",");
        long period = tok().toSingleToken(".");
        for (int i = 0; i < ds.n(); i++) {
            String where = "prompt " + i + ": " + ds.sentences().get(i);
            long io = ds.ioTokenIds()[i];
            long s = ds.sTokenIds()[i];
            assertEquals(io, toks[i][ds.wordIdx("IO")[i]], where);
            assertEquals(s, toks[i][ds.wordIdx("S1")[i]], where);
            assertEquals(s, toks[i][ds.wordIdx("S2")[i]], where);
            assertTrue(ds.wordIdx("S1")[i] < ds.wordIdx("S2")[i], where);
            int end = ds.wordIdx("end")[i];
            assertEquals(io, toks[i][end + 1], "the final name follows end: " + where);
            int realLength = tok().encode(ds.sentences().get(i), prependBos).length;
            assertEquals(realLength - 2, end, "end + 1 is the last real token: " + where);
            long p = tok().encode(ds.sentences().get(i), false)[ds.wordIdx("punct")[i]];
            assertTrue(p == comma || p == period, where);
            assertEquals(tok().toSingleToken(" " + ds.prompt(i).io()), io, where);
        }
    }

    @Test
    void sliceAndCopyKeepEverything() {
        IOIDataset ds = IOIDataset.builder(tok()).promptType("mixed").n(20).seed(5).prependBos(true).build();
        IOIDataset part = ds.slice(3, 9);
        assertEquals(6, part.n());
        assertEquals(ds.prompts().subList(3, 9), part.prompts());
        assertEquals(ds.templates(), part.templates());
        assertTrue(part.prependBos());
        // The same rows as a dataset built from the sliced prompts (what the reference does).
        IOIDataset rebuilt = IOIDataset.builder(tok()).templates(ds.templates()).prependBos(true)
                .prompts(ds.prompts().subList(3, 9)).build();
        for (String key : IOIDataset.WORD_IDX_KEYS) {
            assertArrayEquals(Arrays.copyOfRange(ds.wordIdx(key), 3, 9), part.wordIdx(key), key);
            assertArrayEquals(rebuilt.wordIdx(key), part.wordIdx(key), key);
        }
        assertArrayEquals(rebuilt.toks(), part.toks());
        assertArrayEquals(Arrays.copyOfRange(ds.ioTokenIds(), 3, 9), part.ioTokenIds());
        List<Integer> seen = new ArrayList<>();
        for (int[] group : part.groups()) {
            for (int i : group) {
                assertEquals(part.prompt(group[0]).templateIdx(), part.prompt(i).templateIdx());
                seen.add(i);
            }
        }
        seen.sort(null);
        assertEquals(List.of(0, 1, 2, 3, 4, 5), seen, "groups partition the prompts");

        IOIDataset copy = ds.copy();
        assertEquals(ds.prompts(), copy.prompts());
        assertEquals(ds.templates(), copy.templates());
        assertEquals(ds.seed(), copy.seed());
        assertArrayEquals(ds.toks(), copy.toks());
        for (String key : IOIDataset.WORD_IDX_KEYS) {
            assertArrayEquals(ds.wordIdx(key), copy.wordIdx(key), key);
        }
        assertThrows(IllegalArgumentException.class, () -> ds.slice(5, 5));
        assertThrows(IllegalArgumentException.class, () -> ds.slice(-1, 3));
        assertThrows(IllegalArgumentException.class, () -> ds.slice(0, 21));
    }

    @Test
    void flipsCarryWordIndicesOverAndRelabel() {
        IOIDataset ds = IOIDataset.builder(tok()).promptType("mixed").n(30).seed(1).build();
        IOIDataset xyz = ds.genFlippedPrompts("ABB->XYZ, BAB->XYZ");
        assertTrue(xyz.hasBeenFlipped());
        assertFalse(ds.hasBeenFlipped());
        assertEquals(ds.seed() + "ABB->XYZ, BAB->XYZ".chars().sum(), xyz.seed());
        for (String key : IOIDataset.WORD_IDX_KEYS) {
            assertArrayEquals(ds.wordIdx(key), xyz.wordIdx(key), key);
        }
        for (int i = 0; i < ds.n(); i++) {
            String[] before = ds.sentences().get(i).split(" ");
            String[] after = xyz.sentences().get(i).split(" ");
            assertEquals(before[before.length - 1], after[after.length - 1], "the final IO word is kept");
            assertEquals(ds.prompt(i).templateIdx(), xyz.prompt(i).templateIdx());
        }
        // ABB->BAB swaps the first two names and keeps the labels' names (IO is still the unique one).
        IOIDataset swapped = ds.genFlippedPrompts("ABB->BAB, BAB->ABB");
        for (int i = 0; i < ds.n(); i++) {
            assertEquals(ds.prompt(i).io(), swapped.prompt(i).io());
            assertEquals(ds.prompt(i).s(), swapped.prompt(i).s());
            assertNotEquals(ds.templatesByPrompt().get(i), swapped.templatesByPrompt().get(i));
        }
        // The paper's p_ABC: three random names at IO, S1, S2 (final word replaced too).
        IOIDataset pAbc = ds.genFlippedPromptsPaper("IO", "RAND").genFlippedPromptsPaper("S", "RAND")
                .genFlippedPromptsPaper("S1", "RAND");
        for (int i = 0; i < ds.n(); i++) {
            String[] words = pAbc.sentences().get(i).split(" ");
            assertEquals(pAbc.prompt(i).io(), words[words.length - 1]);
            assertNotEquals(ds.prompt(i).io(), pAbc.prompt(i).io());
        }
        assertEquals(PaperFlip.S2_IO, PaperFlip.of("S2", "IO"));
        assertEquals(PaperFlip.PREFIX, PaperFlip.of("prefix"));
    }

    @Test
    void paperNamesAndCustomTemplates() {
        IOIDataset ds = IOIDataset.builder(tok()).promptType("BABA").n(40).seed(2).names(IOIWords.PAPER_NAMES).build();
        for (IOIPrompt p : ds.prompts()) {
            assertTrue(IOIWords.PAPER_NAMES.contains(p.io()) && IOIWords.PAPER_NAMES.contains(p.s()), p.text());
        }
        assertEquals(109, IOIWords.NAMES.size());
        assertEquals(99, IOIWords.PAPER_NAMES.size());
        assertEquals(IOITemplates.BABA_TEMPLATES, ds.templates());
        IOIDataset abba = IOIDataset.builder(tok()).promptType(PromptType.ABBA).n(4).seed(0).nbTemplates(3).build();
        assertEquals(IOITemplates.ABBA_TEMPLATES.subList(0, 3), abba.templates());
        assertEquals("ABBA", abba.promptType());
    }

    // ------------------------------------------------------------------ bad input

    @ParameterizedTest(name = "[{index}] flip ''{0}''")
    @ValueSource(strings = {"ABB->XYZ", "ABB->XYZ, BAB->XYZ, ABB->XYZ", "ABB-XYZ, BAB->XYZ", "ABB->XY, BAB->XYZ",
        "ABB->XYZ, BAB->->XYZ", "BAB->XYZ, ABB->XYZ", "AB1->XYZ, BAB->XYZ", "ABB->XYZ, BAB->XY Z", "ABC->XYZ, BAB->XYZ",
        ""})
    void malformedFlipsNameTheFlipAndTheSyntax(String flip) {
        IOIDataset ds = IOIDataset.builder(tok()).promptType("mixed").n(4).seed(0).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ds.genFlippedPrompts(flip));
        assertTrue(e.getMessage().contains("'" + flip + "'"), e.getMessage());
        assertTrue(e.getMessage().contains("ABB"), e.getMessage());
    }

    @Test
    void unknownPromptTypeNamesItAndTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> IOIDataset.builder(tok()).promptType("ABCD"));
        assertTrue(e.getMessage().contains("'ABCD'") && e.getMessage().contains("'mixed'")
                && e.getMessage().contains("'ABC mixed'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> IOIDataset.builder(tok()).n(3).build());
        assertTrue(e.getMessage().contains("prompt type"), e.getMessage());
    }

    @Test
    void symmetricNeedsAnEvenNAndNoThirdName() {
        for (int n : new int[] {1, 7}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> IOIDataset.builder(tok()).promptType("mixed").n(n).symmetric(true).build());
            assertTrue(e.getMessage().contains("N = " + n) && e.getMessage().contains("even"), e.getMessage());
        }
        for (String type : new String[] {"ABC", "BAC", "ABC mixed"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> IOIDataset.builder(tok()).promptType(type).n(4).symmetric(true).build());
            assertTrue(e.getMessage().contains("'" + type + "'"), e.getMessage());
        }
        IOIDataset ok = IOIDataset.builder(tok()).promptType("mixed").n(2).symmetric(true).build();
        assertEquals(ok.prompt(0).io(), ok.prompt(1).s());
        assertEquals(ok.prompt(0).s(), ok.prompt(1).io());
    }

    @Test
    void namesThatAreNotOneTokenAreRefusedByName() {
        List<String> names = new ArrayList<>(IOIWords.NAMES);
        names.add("Zxqvbnmw");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> IOIDataset.builder(tok()).promptType("ABBA").n(3).names(names).build());
        assertTrue(e.getMessage().contains("'Zxqvbnmw'") && e.getMessage().contains("single token"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> IOIDataset.builder(tok()).templates(List.of(TEMPLATE_0))
                .prompts(List.of(new IOIPrompt("Then, Zxqvbnmw and John went to the store. John gave a drink to Zxqvbnmw",
                        "Zxqvbnmw", "John", 0))).build());
        assertTrue(e.getMessage().contains("'Zxqvbnmw'"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> IOIDataset.builder(tok()).promptType("ABBA").n(3).names(List.of("Mary", "John")).build());
        assertTrue(e.getMessage().contains("at least 3"), e.getMessage());
    }

    @Test
    void otherBadArguments() {
        assertBad(() -> IOIDataset.builder(tok()).promptType("mixed").n(0).build(), "N must be at least 1");
        assertBad(() -> IOIDataset.builder(tok()).promptType("mixed").n(4).seed(-1).build(), "-1");
        assertBad(() -> IOIDataset.builder(tok()).promptType("mixed").n(4).seed(1L << 32).build(), "4294967296");
        assertBad(() -> IOIDataset.builder(tok()).promptType("mixed").n(4).nbTemplates(1).build(), "nbTemplates = 1");
        assertBad(() -> IOIDataset.builder(tok()).promptType("mixed").n(4).nbTemplates(0).build(), "nbTemplates");
        assertBad(() -> IOIDataset.builder(tok()).templates(List.of()), "templates");
        IOIDataset ds = IOIDataset.builder(tok()).promptType("mixed").n(4).build();
        assertBad(() -> ds.genFlippedPromptsPaper("S", "IO"), "no branch");
        assertBad(() -> ds.genFlippedPromptsPaper("IO", "ANIMAL"), "(\"IO\",\"ANIMAL\")");
        assertBad(() -> ds.genFlippedPromptsPaper("suffix"), "'suffix'");
        assertBad(() -> ds.wordIdx("S"), "'S'");
        IOIDataset high = IOIDataset.builder(tok()).promptType("mixed").n(2).seed(0xffffffffL).build();
        assertBad(() -> high.genFlippedPrompts("ABB->XYZ, BAB->XYZ"), "2^32");
    }

    private static void assertBad(Executable call, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' not in: " + e.getMessage());
    }
}
