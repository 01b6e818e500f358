package ioi.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every fixture of {@code src/test/resources/ioi-fixtures} reproduced exactly: the templates after the
 * shuffle, every prompt, and for every flip its seed and prompts ([A3] {@code ioi_dataset.py}:
 * {@code IOIDataset.__init__}, {@code gen_prompt_uniform}, {@code gen_flipped_prompts}; docs/sources.md).
 */
class IOIFixturesTest {

    static List<Path> fixtures() {
        return IOITestData.fixtureFiles();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void reproducesFixture(Path file) {
        JsonObject f = IOITestData.readJson(file);
        IOIDataset ds = IOIDataset.builder(IOITestData.tokenizer())
                .promptType(f.get("prompt_type").getAsString())
                .n(f.get("N").getAsInt())
                .seed(f.get("seed").getAsLong())
                .build();

        assertEquals(IOITestData.strings(f.getAsJsonArray("templates_after_shuffle")), ds.templates(),
                "templates_after_shuffle");
        assertEquals(IOITestData.promptMaps(f.getAsJsonArray("prompts")), IOITestData.promptMaps(ds.prompts()),
                "prompts");

        JsonObject flips = f.getAsJsonObject("flips");
        assertEquals(6, flips.size());
        for (Map.Entry<String, com.google.gson.JsonElement> e : flips.entrySet()) {
            JsonObject expected = e.getValue().getAsJsonObject();
            IOIDataset flipped = ds.genFlippedPrompts(e.getKey());
            assertEquals(expected.get("seed").getAsLong(), flipped.seed(), "seed of flip " + e.getKey());
            assertEquals(IOITestData.promptMaps(expected.getAsJsonArray("prompts")),
                    IOITestData.promptMaps(flipped.prompts()), "prompts of flip " + e.getKey());
        }
    }
}
