package ioi.data;

import java.util.ArrayList;
import java.util.List;

/**
 * The template lists of the reference {@code ioi_dataset.py} (the same in [A3] and [ET]; docs/sources.md),
 * with the derived lists built by the reference's own rules rather than typed in: {@link #ABBA_TEMPLATES},
 * {@link #ABBA_LATE_IOS}, {@link #ABBA_EARLY_IOS} by {@link #swapFirstClause(String)} and
 * {@link #BAC_TEMPLATES} by {@link #abcToBac(String)}.
 *
 * <p>Placeholders ({@code gen_prompt_uniform}): {@code [A]} = IO, {@code [B]} = S, {@code [C]} = the third name (ABC
 * types only), {@code [PLACE]}, {@code [OBJECT]}.
 */
public final class IOITemplates {

    private IOITemplates() {}

    /**
     * The 15 BABA templates (word for word the paper's Fig 14, App E): {@code [B]} is S
     * (S1 and S2), {@code [A]} is IO (first-clause IO and the final word).
     */
    public static final List<String> BABA_TEMPLATES = List.of(
            "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
            "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
            "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
            "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
            "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
            "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
            "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
            "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
            "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
            "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
            "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]");

    /**
     * The 4 ABC templates: three distinct names, {@code [C]} being the third.
     */
    public static final List<String> ABC_TEMPLATES = List.of(
            "Then, [A], [B] and [C] went to the [PLACE]. [B] and [C] gave a [OBJECT] to [A]",
            "Afterwards [A], [B] and [C] went to the [PLACE]. [B] and [C] gave a [OBJECT] to [A]",
            "When [A], [B] and [C] arrived at the [PLACE], [B] and [C] gave a [OBJECT] to [A]",
            "Friends [A], [B] and [C] went to the [PLACE]. [B] and [C] gave a [OBJECT] to [A]");

    /**
     * {@code BABA_LONG_TEMPLATES}.
     */
    public static final List<String> BABA_LONG_TEMPLATES = List.of(
            "Then in the morning, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then in the morning, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then in the morning, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
            "Then in the morning, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
            "Then in the morning, [B] and [A] had a long argument, and afterwards [B] said to [A]",
            "After taking a long break [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
            "When soon afterwards [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
            "When soon afterwards [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
            "While spending time together [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
            "While spending time together [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
            "After the lunch in the afternoon, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Afterwards, while spending time together [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then in the morning afterwards, [B] and [A] had a long argument. Afterwards [B] said to [A]",
            "The local big [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
            "Friends separated at birth [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]");

    /**
     * {@code BABA_LATE_IOS}.
     */
    public static final List<String> BABA_LATE_IOS = List.of(
            "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
            "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
            "Then, [B] and [A] had a long argument and after that [B] said to [A]",
            "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
            "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]");

    /**
     * {@code BABA_EARLY_IOS}.
     */
    public static final List<String> BABA_EARLY_IOS = List.of(
            "Then [B] and [A] went to the [PLACE], and [B] gave a [OBJECT] to [A]",
            "Then [B] and [A] had a lot of fun at the [PLACE], and [B] gave a [OBJECT] to [A]",
            "Then [B] and [A] were working at the [PLACE], and [B] decided to give a [OBJECT] to [A]",
            "Then [B] and [A] were thinking about going to the [PLACE], and [B] wanted to give a [OBJECT] to [A]",
            "Then [B] and [A] had a long argument, and after that [B] said to [A]",
            "After the lunch [B] and [A] went to the [PLACE], and [B] gave a [OBJECT] to [A]",
            "Afterwards [B] and [A] went to the [PLACE], and [B] gave a [OBJECT] to [A]",
            "Then [B] and [A] had a long argument, and afterwards [B] said to [A]");

    /** {@link #BABA_TEMPLATES} with the first clause's names swapped: "[A] and [B] … [B] … [A]". */
    public static final List<String> ABBA_TEMPLATES = map(BABA_TEMPLATES, true);

    /** {@link #BABA_LATE_IOS} with the first clause's names swapped. */
    public static final List<String> ABBA_LATE_IOS = map(BABA_LATE_IOS, true);

    /** {@link #BABA_EARLY_IOS} with the first clause's names swapped. */
    public static final List<String> ABBA_EARLY_IOS = map(BABA_EARLY_IOS, true);

    /** {@link #ABC_TEMPLATES} with the first {@code [A]} and {@code [B]} swapped: "[B], [A] and [C] …". */
    public static final List<String> BAC_TEMPLATES = map(ABC_TEMPLATES, false);

    /**
     * The reference's ABBA-from-BABA rule: scan the template left to right; while still in the
     * first clause every {@code [B]} becomes {@code [A]}, and the first {@code [A]} met becomes
     * {@code [B]} and ends the first clause. Later placeholders are left alone.
     */
    public static String swapFirstClause(String template) {
        char[] t = template.toCharArray();
        boolean firstClause = true;
        for (int j = 1; j < t.length - 1; j++) {
            if (!firstClause) {
                break;
            }
            if (t[j - 1] == '[' && t[j + 1] == ']') {
                if (t[j] == 'B') {
                    t[j] = 'A';
                } else if (t[j] == 'A') {
                    t[j] = 'B';
                    firstClause = false;
                }
            }
        }
        return new String(t);
    }

    /**
     * The reference's BAC-from-ABC rule: {@code .replace("[B]", "[A]", 1).replace("[A]", "[B]", 1)},
     * i.e. the first {@code [B]} becomes {@code [A]}, then the first {@code [A]} becomes {@code [B]}.
     */
    public static String abcToBac(String template) {
        return replaceFirst(replaceFirst(template, "[B]", "[A]"), "[A]", "[B]");
    }

    private static String replaceFirst(String s, String target, String replacement) {
        int i = s.indexOf(target);
        return i < 0 ? s : s.substring(0, i) + replacement + s.substring(i + target.length());
    }

    private static List<String> map(List<String> templates, boolean swapFirstClause) {
        List<String> out = new ArrayList<>(templates.size());
        for (String t : templates) {
            out.add(swapFirstClause ? swapFirstClause(t) : abcToBac(t));
        }
        return List.copyOf(out);
    }
}
