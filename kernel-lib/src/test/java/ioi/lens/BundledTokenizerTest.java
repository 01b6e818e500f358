package ioi.lens;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * GPT-2's tokenizer bundled in the library: it is GPT-2's (known ids), the file is the one its
 * README.md describes (sha256), and the classpath and extracted-file forms tokenize alike.
 */
class BundledTokenizerTest {

    @Test
    void isGpt2sTokenizer() {
        try (GPT2Tokenizer tok = GPT2Tokenizer.bundled()) {
            assertArrayEquals(new long[] {15496, 11, 995, 0}, tok.encode("Hello, world!", false));
            assertEquals(1757, tok.toSingleToken(" John"));
            assertEquals(5335, tok.toSingleToken(" Mary"));
            assertEquals(50256, tok.bosTokenId());
        }
    }

    @Test
    void fileIsTheOneItsReadmeDescribes() throws IOException, NoSuchAlgorithmException {
        Path file = GPT2Tokenizer.bundledFile();
        assertEquals("tokenizer.json", file.getFileName().toString());
        assertEquals(file, GPT2Tokenizer.bundledFile(), "extracted once");
        String sha256 = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));

        String readme;
        try (InputStream in = GPT2Tokenizer.class.getResourceAsStream("/ioi/lens/gpt2-tokenizer/README.md")) {
            assertTrue(in != null, "README.md beside the bundled tokenizer.json");
            readme = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Matcher m = Pattern.compile("\\| sha256 \\| `([0-9a-f]{64})`").matcher(readme);
        assertTrue(m.find(), "README.md states the sha256");
        assertEquals(m.group(1), sha256, "sha256 of " + GPT2Tokenizer.BUNDLED_RESOURCE);
        Matcher size = Pattern.compile("`tokenizer.json`, ([0-9,]+) bytes").matcher(readme);
        assertTrue(size.find(), "README.md states the size");
        assertEquals(Long.parseLong(size.group(1).replace(",", "")), Files.size(file), "size of tokenizer.json");
    }

    @Test
    void extractedFileLoadsAsTheSameTokenizer() {
        String text = "When Mary and John went to the store, John gave a drink to";
        try (GPT2Tokenizer fromClasspath = GPT2Tokenizer.bundled();
             GPT2Tokenizer fromFile = GPT2Tokenizer.load(GPT2Tokenizer.bundledFile().getParent())) {
            assertArrayEquals(fromClasspath.encode(text, true), fromFile.encode(text, true));
        }
    }
}
