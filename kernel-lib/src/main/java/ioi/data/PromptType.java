package ioi.data;

import java.util.ArrayList;
import java.util.List;

/**
 * The named {@code prompt_type}s of {@code IOIDataset.__init__} ([A3] and [ET] {@code ioi_dataset.py},
 * docs/sources.md). A plain list of
 * templates is the other kind of prompt type ({@link IOIDataset.Builder#templates(List)}).
 */
public enum PromptType {
    /** The first {@code nbTemplates/2} BABA and the first {@code nbTemplates/2} ABBA templates, shuffled. */
    MIXED("mixed"),
    /** The first {@code nbTemplates} ABBA templates. */
    ABBA("ABBA"),
    /** The first {@code nbTemplates} BABA templates. */
    BABA("BABA"),
    /** The first {@code nbTemplates} ABC templates (there are 4). */
    ABC("ABC"),
    /** The first {@code nbTemplates} BAC templates (there are 4). */
    BAC("BAC"),
    /** The first {@code nbTemplates/2} ABC and the first {@code nbTemplates/2} BAC templates, shuffled. */
    ABC_MIXED("ABC mixed");

    private final String label;

    PromptType(String label) {
        this.label = label;
    }

    /** The reference's string for this type ({@code "mixed"}, {@code "ABC mixed"}, ...). */
    public String label() {
        return label;
    }

    /** Whether prompts of this type have a third name {@code [C]} (the reference's {@code abc} flag). */
    public boolean isAbc() {
        return this == ABC || this == BAC || this == ABC_MIXED;
    }

    /** Whether the template list is shuffled with {@code random.shuffle} after it is built. */
    public boolean isShuffled() {
        return this == MIXED || this == ABC_MIXED;
    }

    /**
     * The templates of this type before any shuffle ({@code IOIDataset.__init__}): Python slices {@code [:nb]}, so an
     * {@code nbTemplates} larger than a list takes all of it.
     */
    public List<String> baseTemplates(int nbTemplates) {
        return switch (this) {
            case ABBA -> head(IOITemplates.ABBA_TEMPLATES, nbTemplates);
            case BABA -> head(IOITemplates.BABA_TEMPLATES, nbTemplates);
            case ABC -> head(IOITemplates.ABC_TEMPLATES, nbTemplates);
            case BAC -> head(IOITemplates.BAC_TEMPLATES, nbTemplates);
            case MIXED -> concat(head(IOITemplates.BABA_TEMPLATES, nbTemplates / 2),
                    head(IOITemplates.ABBA_TEMPLATES, nbTemplates / 2));
            case ABC_MIXED -> concat(head(IOITemplates.ABC_TEMPLATES, nbTemplates / 2),
                    head(IOITemplates.BAC_TEMPLATES, nbTemplates / 2));
        };
    }

    /** The type named {@code label} exactly as the reference spells it. */
    public static PromptType parse(String label) {
        for (PromptType t : values()) {
            if (t.label.equals(label)) {
                return t;
            }
        }
        List<String> labels = new ArrayList<>();
        for (PromptType t : values()) {
            labels.add("'" + t.label + "'");
        }
        throw new IllegalArgumentException("unknown prompt type '" + label + "': expected one of "
                + String.join(", ", labels) + " (or a list of templates)");
    }

    private static List<String> head(List<String> list, int n) {
        return new ArrayList<>(list.subList(0, Math.min(Math.max(n, 0), list.size())));
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
