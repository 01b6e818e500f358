package ioi.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import ioi.lens.GPT2Tokenizer;
import ioi.lens.TestModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Shared test inputs: GPT-2's tokenizer, the IOI fixtures and the reference vectors, as plain Java values. */
final class IOITestData {

    private static GPT2Tokenizer tokenizer;

    private IOITestData() {}

    /** GPT-2's tokenizer bundled in the library (one per test JVM). */
    static synchronized GPT2Tokenizer tokenizer() {
        if (tokenizer == null) {
            tokenizer = GPT2Tokenizer.bundled();
        }
        return tokenizer;
    }

    /** A fixture file of {@code src/test/resources/ioi-fixtures} (see its README.md). */
    static Path fixture(String name) {
        return TestModels.resource("ioi-fixtures/" + name);
    }

    /** The fixture files of {@code src/test/resources/ioi-fixtures}, sorted by name. */
    static List<Path> fixtureFiles() {
        Path dir = TestModels.resource("ioi-fixtures");
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> out = files.filter(p -> p.toString().endsWith(".json")).sorted().toList();
            if (out.isEmpty()) {
                throw new IllegalStateException("no fixtures in " + dir.toAbsolutePath());
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonObject readJson(Path file) {
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code reference_vectors.json} (written by make_reference_vectors.py from the reference code). */
    static JsonObject referenceVectors() {
        return readJson(TestModels.resource("ioi/data/reference_vectors.json"));
    }

    /** Prompts as the fixtures write them: {@code text}, {@code IO}, {@code S}, {@code TEMPLATE_IDX}. */
    static List<Map<String, Object>> promptMaps(List<IOIPrompt> prompts) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (IOIPrompt p : prompts) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("text", p.text());
            m.put("IO", p.io());
            m.put("S", p.s());
            m.put("TEMPLATE_IDX", p.templateIdx());
            out.add(m);
        }
        return out;
    }

    static List<Map<String, Object>> promptMaps(JsonArray prompts) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (JsonElement e : prompts) {
            JsonObject o = e.getAsJsonObject();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("text", o.get("text").getAsString());
            m.put("IO", o.get("IO").getAsString());
            m.put("S", o.get("S").getAsString());
            m.put("TEMPLATE_IDX", o.get("TEMPLATE_IDX").getAsInt());
            out.add(m);
        }
        return out;
    }

    static List<String> strings(JsonArray a) {
        List<String> out = new ArrayList<>();
        for (JsonElement e : a) {
            out.add(e.getAsString());
        }
        return out;
    }

    static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsInt();
        }
        return out;
    }

    static long[] longs(JsonArray a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsLong();
        }
        return out;
    }

    static long[][] longMatrix(JsonArray a) {
        long[][] out = new long[a.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = longs(a.get(i).getAsJsonArray());
        }
        return out;
    }
}
