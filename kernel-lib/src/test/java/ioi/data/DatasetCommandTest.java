package ioi.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import ioi.cli.Main;
import ioi.lens.GPT2Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import org.junit.jupiter.api.Test;

/** {@code ./ioi dataset} prints what the fixtures hold for the same arguments. */
class DatasetCommandTest {

    private static final String FLIP = "ABB->XYZ, BAB->XYZ";

    @Test
    void printsTheFixture() {
        JsonObject fixture = IOITestData.readJson(IOITestData.fixture("mixed_N8_seed123.json"));

        // no --tokenizer: the one bundled in the library
        JsonObject out = run("dataset", "--prompt-type", "mixed", "--n", "8", "--seed", "123");
        assertEquals("mixed", out.get("prompt_type").getAsString());
        assertEquals(8, out.get("N").getAsInt());
        assertEquals(123, out.get("seed").getAsLong());
        assertEquals(fixture.get("templates_after_shuffle"), out.get("templates_after_shuffle"));
        assertEquals(fixture.get("prompts"), out.get("prompts"));
        assertEquals(IOIDataset.WORD_IDX_KEYS, new ArrayList<>(out.getAsJsonObject("word_idx").keySet()));
        assertEquals(8, out.getAsJsonArray("io_tokenIDs").size());
        assertEquals(8, out.getAsJsonArray("s_tokenIDs").size());

        JsonObject flipped = run("dataset", "--prompt-type", "mixed", "--n", "8", "--seed", "123", "--flip", FLIP,
                "--tokenizer", tokenizer());
        JsonObject expected = fixture.getAsJsonObject("flips").getAsJsonObject(FLIP);
        assertEquals(expected.get("seed"), flipped.get("seed"));
        assertEquals(expected.get("prompts"), flipped.get("prompts"));
        assertEquals(out.get("word_idx"), flipped.get("word_idx"), "a flip carries word_idx over");
    }

    @Test
    void appliesFlipsInOrderIncludingThePapers() {
        IOIDataset ds = IOIDataset.builder(IOITestData.tokenizer()).promptType("BABA").n(6).seed(3).prependBos(true)
                .build().genFlippedPromptsPaper("IO", "RAND").genFlippedPrompts("ABB->CDD, BAB->DCD");
        JsonObject out = run("dataset", "--prompt-type", "BABA", "--n", "6", "--seed", "3", "--prepend-bos",
                "--flip", "(\"IO\",\"RAND\")", "--flip", "ABB->CDD, BAB->DCD", "--tokenizer", tokenizer());
        assertEquals(ds.seed(), out.get("seed").getAsLong());
        assertEquals(IOITestData.promptMaps(ds.prompts()), IOITestData.promptMaps(out.getAsJsonArray("prompts")));
        assertTrue(out.get("prepend_bos").getAsBoolean());
    }

    @Test
    void badFlipExitsWithTheMessage() {
        PrintStream err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run("dataset", "--prompt-type", "mixed", "--n", "4", "--flip", "ABB->XYZ", "--tokenizer",
                    tokenizer());
        } finally {
            System.setErr(err);
        }
        assertEquals(1, code);
        String msg = buf.toString(StandardCharsets.UTF_8);
        assertTrue(msg.contains("malformed flip 'ABB->XYZ'"), msg);
    }

    /** A directory holding tokenizer.json, as {@code --tokenizer} takes it. */
    private static String tokenizer() {
        return GPT2Tokenizer.bundledFile().getParent().toString();
    }

    private static JsonObject run(String... args) {
        PrintStream out = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run(args);
        } finally {
            System.setOut(out);
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, text);
        return JsonParser.parseString(text).getAsJsonObject();
    }
}
