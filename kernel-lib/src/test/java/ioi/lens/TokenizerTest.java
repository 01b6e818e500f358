package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GPT-2's real tokenizer with TransformerLens's conventions (BOS prepended, {@code <|endoftext|>}
 * pads), and padded batches through the model: every real token of a padded row must see the same
 * logits as the text run alone. Tolerance {@code 1e-4} absolute (+{@code 1e-5} relative): the
 * batched pass multiplies different-shaped matrices, so only fp32 rounding may differ.
 */
class TokenizerTest {

    static final long EOT = 50256;
    static HookedTransformer model;

    @BeforeAll
    static void load() {
        model = HookedTransformer.load(TestModels.tinyGpt2(), ProcessingOptions.defaults(), null);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void helloWorld() {
        assertEquals(List.of("<|endoftext|>", "Hello", " world", "!"), model.toStrTokens("Hello world!"));
        assertEquals(List.of("Hello", " world", "!"), model.toStrTokens("Hello world!", false));
        NDArray tokens = model.toTokens("Hello world!");
        assertEquals(new Shape(1, 4), tokens.getShape());
        assertArrayEquals(new long[] {EOT, 15496, 995, 0}, tokens.toLongArray());
        assertArrayEquals(new long[] {15496, 995, 0}, model.toTokens("Hello world!", false).toLongArray());
        assertEquals(List.of("<|endoftext|>", "Hello", " world", "!"), model.toStrTokens(tokens));
        assertEquals(EOT, model.tokenizer().bosTokenId());
    }

    @Test
    void singleTokens() {
        assertEquals(5335, model.toSingleToken(" Mary"));
        assertEquals(1757, model.toSingleToken(" John"));
        assertEquals(List.of(" Mary"), model.toStrTokens(" Mary", false));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.toSingleToken(" Mary Smith"));
        assertTrue(e.getMessage().contains("' Mary Smith'"), e.getMessage());
        assertTrue(e.getMessage().contains("2 tokens"), e.getMessage());
        assertTrue(e.getMessage().contains("[ Mary,  Smith]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> model.toSingleToken(""));
    }

    @Test
    void toStringRoundTrips() {
        for (String text : List.of("Hello world!", "When Mary and John went to the store, John gave a drink to",
                "  two spaces, a tab\tand a newline\n", "café naïve — “quotes” 日本語 🙂", "<|endoftext|> inside")) {
            assertEquals("<|endoftext|>" + text, model.toString(model.toTokens(text)), text);
            assertEquals(text, model.toString(model.toTokens(text, false)), text);
            assertEquals(text, model.toString(model.tokenizer().encode(text, false)), text);
        }
        // the special token is one token, as in TL (HF's tokenizer treats it as special)
        assertArrayEquals(new long[] {EOT}, model.toTokens("<|endoftext|>", false).toLongArray());
    }

    @Test
    void batchesArePaddedWithEndOfText() {
        List<String> texts = List.of("Hello world!", "When Mary and John went to the store");
        long[] a = model.tokenizer().encode(texts.get(0), true);
        long[] b = model.tokenizer().encode(texts.get(1), true);
        assertTrue(a.length < b.length);
        int pos = b.length;

        GPT2Tokenizer.TokenBatch right = model.toTokens(texts, true, GPT2Tokenizer.PaddingSide.RIGHT);
        assertEquals(2, right.batch());
        assertEquals(pos, right.pos());
        assertTrue(right.padded());
        assertArrayEquals(b, right.ids()[1]);
        for (int i = 0; i < pos; i++) {
            assertEquals(i < a.length ? a[i] : EOT, right.ids()[0][i], "right-padded ids at " + i);
            assertEquals(i < a.length ? 1 : 0, right.attentionMask()[0][i], "right-padded mask at " + i);
            assertEquals(1, right.attentionMask()[1][i]);
        }

        GPT2Tokenizer.TokenBatch left = model.toTokens(texts, true, GPT2Tokenizer.PaddingSide.LEFT);
        int off = pos - a.length;
        for (int i = 0; i < pos; i++) {
            assertEquals(i < off ? EOT : a[i - off], left.ids()[0][i], "left-padded ids at " + i);
            assertEquals(i < off ? 0 : 1, left.attentionMask()[0][i], "left-padded mask at " + i);
        }
        assertEquals(1, left.attentionMask()[0][off], "the BOS of a left-padded row is a real token");

        GPT2Tokenizer.TokenBatch same = model.toTokens(List.of("Hello world!", "Hello world?"), false,
                GPT2Tokenizer.PaddingSide.RIGHT);
        assertTrue(!same.padded(), "equal lengths need no padding");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.toTokens(List.of(), true, GPT2Tokenizer.PaddingSide.RIGHT));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
    }

    /** Each row's real positions in a padded batch vs the row run alone. */
    private static void compareRows(Compare cmp, String label, NDArray batchLogits, List<String> texts, boolean left) {
        long pos = batchLogits.getShape().get(1);
        for (int i = 0; i < texts.size(); i++) {
            NDArray alone = model.forward(texts.get(i)); // [1, len, d_vocab]
            long len = alone.getShape().get(1);
            long off = left ? pos - len : 0;
            NDArray real = batchLogits.get(i + ", " + off + ":" + (off + len)); // [len, d_vocab]
            cmp.close(label + " row " + i + " real positions", real, alone.get(0), 1e-4, 1e-5);
            cmp.close(label + " row " + i + " last position", batchLogits.get(i + ", " + (off + len - 1)),
                    alone.get("0, -1"), 1e-4, 1e-5);
            alone.close();
        }
    }

    @Test
    void paddedBatchesMatchEachTextAlone() {
        List<String> texts = List.of("Hello world!", "When Mary and John went to the store, John gave a drink to",
                "The cat");
        Compare cmp = new Compare("padded batch vs each text alone");
        try (Output left = model.forward(texts, RunOptions.defaults().paddingSide(GPT2Tokenizer.PaddingSide.LEFT))) {
            assertEquals(3, left.logits().getShape().get(0));
            compareRows(cmp, "LEFT", left.logits(), texts, true);
        }
        try (Output right = model.forward(texts, RunOptions.defaults())) {
            compareRows(cmp, "RIGHT", right.logits(), texts, false);
        }
        cmp.check();

        // Sensitivity: the same left-padded ids without the mask (positions not taken from it) do differ.
        GPT2Tokenizer.TokenBatch batch = model.toTokens(texts, true, GPT2Tokenizer.PaddingSide.LEFT);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray unmasked = model.forward(m.create(batch.ids()));
            NDArray alone = model.forward(texts.get(0));
            double diff = unmasked.get("0, -1").sub(alone.get("0, -1")).abs().max().getFloat();
            System.out.printf(Locale.ROOT, "left padding without a mask moves the last logits by %.3e%n", diff);
            assertTrue(diff > 1e-3, "left padding without a mask should change the logits, diff " + diff);
            alone.close();
        }
    }
}
