package ioi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Datasets against {@code reference_vectors.json}, which {@code make_reference_vectors.py} wrote by
 * running the reference code itself (ARENA 3.0's {@code IOIDataset} with GPT-2's tokenizer; the
 * paper's flip functions for tuple flips): every field a dataset has — templates, prompts,
 * {@code templates_by_prompt}, {@code toks}, all of {@code word_idx}, answer ids, {@code max_len},
 * {@code groups} (in CPython's set order), {@code tokenized_prompts} — for the prompt types, BOS on
 * and off, symmetric, {@code nb_templates}, custom template lists, the paper's names, chained ARENA
 * flips and the paper's tuple flips ([A3] and [ET] {@code ioi_dataset.py}, docs/sources.md).
 */
class IOIReferenceVectorsTest {

    static List<Named<JsonObject>> datasets() {
        List<Named<JsonObject>> out = new ArrayList<>();
        for (JsonElement e : IOITestData.referenceVectors().getAsJsonArray("datasets")) {
            JsonObject v = e.getAsJsonObject();
            out.add(Named.of(v.get("name").getAsString(), v));
        }
        return out;
    }

    @Test
    void derivedTemplateListsMatchTheReference() {
        JsonObject d = IOITestData.referenceVectors().getAsJsonObject("derived_templates");
        assertEquals(IOITestData.strings(d.getAsJsonArray("ABBA_TEMPLATES")), IOITemplates.ABBA_TEMPLATES);
        assertEquals(IOITestData.strings(d.getAsJsonArray("ABBA_LATE_IOS")), IOITemplates.ABBA_LATE_IOS);
        assertEquals(IOITestData.strings(d.getAsJsonArray("ABBA_EARLY_IOS")), IOITemplates.ABBA_EARLY_IOS);
        assertEquals(IOITestData.strings(d.getAsJsonArray("BAC_TEMPLATES")), IOITemplates.BAC_TEMPLATES);
    }

    @ParameterizedTest(name = "{index}: {0}")
    @MethodSource("datasets")
    void matchesReference(JsonObject v) {
        String name = v.get("name").getAsString();
        IOIDataset ds = build(v);

        assertEquals(v.get("seed").getAsLong(), ds.seed(), name + ": seed");
        assertEquals(IOITestData.promptMaps(v.getAsJsonArray("prompts")), IOITestData.promptMaps(ds.prompts()),
                name + ": prompts");
        if (v.getAsJsonArray("flips").isEmpty()) {
            // Derived datasets keep their parent's templates (documented difference, see IOIDataset).
            assertEquals(IOITestData.strings(v.getAsJsonArray("templates")), ds.templates(), name + ": templates");
        }
        assertEquals(IOITestData.strings(v.getAsJsonArray("templates_by_prompt")), ds.templatesByPrompt(),
                name + ": templates_by_prompt");
        assertArrayEquals(IOITestData.longMatrix(v.getAsJsonArray("toks")), ds.toks(), name + ": toks");
        JsonObject wordIdx = v.getAsJsonObject("word_idx");
        assertEquals(IOIDataset.WORD_IDX_KEYS, new ArrayList<>(wordIdx.keySet()), name + ": word_idx keys");
        for (Map.Entry<String, JsonElement> e : wordIdx.entrySet()) {
            assertArrayEquals(IOITestData.ints(e.getValue().getAsJsonArray()), ds.wordIdx(e.getKey()),
                    name + ": word_idx[" + e.getKey() + "]");
        }
        assertArrayEquals(IOITestData.longs(v.getAsJsonArray("io_tokenIDs")), ds.ioTokenIds(), name + ": io_tokenIDs");
        assertArrayEquals(IOITestData.longs(v.getAsJsonArray("s_tokenIDs")), ds.sTokenIds(), name + ": s_tokenIDs");
        assertEquals(v.get("max_len").getAsInt(), ds.maxLen(), name + ": max_len");
        JsonArray groups = v.getAsJsonArray("groups");
        assertEquals(groups.size(), ds.groups().size(), name + ": number of groups");
        for (int g = 0; g < groups.size(); g++) {
            assertArrayEquals(IOITestData.ints(groups.get(g).getAsJsonArray()), ds.groups().get(g),
                    name + ": groups[" + g + "]");
        }
        if (v.has("tokenized_prompts")) {
            assertEquals(IOITestData.strings(v.getAsJsonArray("tokenized_prompts")), ds.tokenizedPrompts(),
                    name + ": tokenized_prompts");
        }
    }

    /** The dataset the reference built: constructor arguments, then the flips in order. */
    static IOIDataset build(JsonObject v) {
        JsonObject args = v.getAsJsonObject("args");
        IOIDataset.Builder b = IOIDataset.builder(IOITestData.tokenizer())
                .n(args.get("N").getAsInt())
                .seed(args.get("seed").getAsLong());
        JsonElement type = args.get("prompt_type");
        if (type.isJsonArray()) {
            b.templates(IOITestData.strings(type.getAsJsonArray()));
        } else {
            b.promptType(type.getAsString());
        }
        if (args.has("prepend_bos")) {
            b.prependBos(args.get("prepend_bos").getAsBoolean());
        }
        if (args.has("symmetric")) {
            b.symmetric(args.get("symmetric").getAsBoolean());
        }
        if (args.has("nb_templates")) {
            b.nbTemplates(args.get("nb_templates").getAsInt());
        }
        if (args.has("names") && args.get("names").getAsString().equals("paper")) {
            b.names(IOIWords.PAPER_NAMES);
        }
        IOIDataset ds = b.build();
        for (JsonElement f : v.getAsJsonArray("flips")) {
            if (f.isJsonArray()) {
                ds = ds.genFlippedPromptsPaper(f.getAsJsonArray().get(0).getAsString(),
                        f.getAsJsonArray().get(1).getAsString());
            } else if (f.getAsString().equals("prefix")) {
                ds = ds.genFlippedPromptsPaper("prefix");
            } else {
                ds = ds.genFlippedPrompts(f.getAsString());
            }
        }
        return ds;
    }
}
