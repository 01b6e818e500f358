package ioi.data;

import java.util.Objects;

/**
 * One IOI prompt as the reference stores it ([A3] {@code gen_prompt_uniform}'s dicts): the full text (including
 * the final IO name), the IO and S names, the index of its template in the dataset's
 * {@code templates} after the shuffle, and, for generated prompts, the place, object and third
 * name ({@code C}, ABC types only). {@code place}, {@code object} and {@code c} may be null ({@code c} is null
 * except for ABC types, and all three are for prompts built from text alone).
 */
public record IOIPrompt(String text, String io, String s, int templateIdx, String place, String object, String c) {

    public IOIPrompt {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(io, "IO");
        Objects.requireNonNull(s, "S");
    }

    /** A prompt with only the four fields the fixtures have. */
    public IOIPrompt(String text, String io, String s, int templateIdx) {
        this(text, io, s, templateIdx, null, null, null);
    }

    /** This prompt with another text (labels and the rest kept). */
    public IOIPrompt withText(String newText) {
        return new IOIPrompt(newText, io, s, templateIdx, place, object, c);
    }

    /** This prompt with another text and IO/S labels (as a flip produces). */
    public IOIPrompt withTextAndLabels(String newText, String newIo, String newS) {
        return new IOIPrompt(newText, newIo, newS, templateIdx, place, object, c);
    }
}
