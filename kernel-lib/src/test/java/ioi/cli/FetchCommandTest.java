package ioi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import ioi.lens.TestModels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ./ioi fetch}'s Java half: what it reports (read by tools/env/kit.py) and how it fails. */
class FetchCommandTest {

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void reportsEachFilesSizeAndSha256AndAForwardPass() throws Exception {
        Path dir = TestModels.tinyGpt2();
        Run r = run("fetch", "--check", "--model", dir.toString());
        assertEquals(0, r.code(), r.err());
        JsonObject json = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(dir.toAbsolutePath().toString(), json.get("dir").getAsString());
        assertTrue(json.get("repo_folder").isJsonNull(), "a local directory is not in the Hub cache");
        JsonArray files = json.getAsJsonArray("files");
        assertEquals(3, files.size());
        for (var f : files) {
            JsonObject file = f.getAsJsonObject();
            byte[] bytes = Files.readAllBytes(dir.resolve(file.get("name").getAsString()));
            assertEquals(bytes.length, file.get("bytes").getAsLong(), file.get("name").getAsString());
            assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)),
                    file.get("sha256").getAsString(), file.get("name").getAsString());
        }
        JsonObject forward = json.getAsJsonObject("forward");
        assertTrue(forward.get("logits_finite").getAsBoolean());
        assertEquals(3, forward.getAsJsonArray("logits_shape").size());
    }

    @Test
    void aDamagedCheckpointFailsAndSaysWhich(@TempDir Path tmp) throws Exception {
        Path dir = TestModels.tinyGpt2();
        for (String name : new String[] {"config.json", "tokenizer.json"}) {
            Files.copy(dir.resolve(name), tmp.resolve(name));
        }
        byte[] weights = Files.readAllBytes(dir.resolve("model.safetensors"));
        Files.write(tmp.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));
        Run r = run("fetch", "--check", "--model", tmp.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("model.safetensors"), r.err());
        assertTrue(r.out().isEmpty(), "no JSON for a model that does not load: " + r.out());
    }

    @Test
    void aMissingFileIsNamed(@TempDir Path tmp) throws Exception {
        Files.copy(TestModels.tinyGpt2().resolve("config.json"), tmp.resolve("config.json"));
        Run r = run("fetch", "--model", tmp.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("model.safetensors") && r.err().contains("tokenizer.json"), r.err());
    }
}
