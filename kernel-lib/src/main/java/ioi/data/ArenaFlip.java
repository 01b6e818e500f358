package ioi.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A parsed ARENA flip string such as {@code "ABB->XYZ, BAB->XYZ"} and the flip it describes
 * (ARENA 3.0's module function {@code gen_flipped_prompts}, [A3] {@code ioi_dataset.py}; docs/sources.md).
 *
 * <p>Syntax: {@code "<ABBA rule>, <BABA rule>"}, each rule {@code "<orig>-><new>"} with whitespace
 * around either side ignored. The first rule applies to prompts labelled ABBA, the second to those
 * labelled BABA ({@code templates_by_prompt}), by position. Each side is three letters. The
 * left side names the prompt's first three names (IO, S1, S2 in text order), so it must follow
 * their pattern: {@code xyy} (canonically {@code ABB}) for the ABBA rule and {@code xyx}
 * ({@code BAB}) for the BABA rule. The right side may use any letters: a letter also on the left
 * keeps that name, a new letter is a fresh random name.
 *
 * @param flip the string as given (its characters seed the flip)
 * @param abbaOrig left side of the ABBA rule
 * @param abbaNew right side of the ABBA rule
 * @param babaOrig left side of the BABA rule
 * @param babaNew right side of the BABA rule
 */
public record ArenaFlip(String flip, String abbaOrig, String abbaNew, String babaOrig, String babaNew) {

    private static final Pattern THREE_LETTERS = Pattern.compile("[A-Za-z]{3}");
    private static final String EXPECTED = "expected '<ABBA rule>, <BABA rule>' with each rule '<orig>-><new>' "
            + "of three letters each, such as 'ABB->XYZ, BAB->XYZ'";

    /** Parses and checks a flip string; a malformed one raises {@link IllegalArgumentException}. */
    public static ArenaFlip parse(String flip) {
        if (flip == null) {
            throw new IllegalArgumentException("flip is null: " + EXPECTED);
        }
        String[] rules = flip.split(",", -1);
        if (rules.length != 2) {
            throw new IllegalArgumentException("malformed flip '" + flip + "': it has " + (rules.length - 1)
                    + " commas but " + EXPECTED);
        }
        String[] abba = rule(flip, rules[0]);
        String[] baba = rule(flip, rules[1]);
        checkPattern(flip, abba[0], true);
        checkPattern(flip, baba[0], false);
        return new ArenaFlip(flip, abba[0], abba[1], baba[0], baba[1]);
    }

    /**
     * The reference's seed offset ({@code IOIDataset.gen_flipped_prompts}):
     * {@code sum(ord(c) for c in flip)}, over the string as
     * given (spaces included). The flipped dataset's seed is the original seed plus this.
     */
    public long seedOffset() {
        return flip.codePoints().asLongStream().sum();
    }

    /**
     * Flips every prompt (the module function {@code gen_flipped_prompts}), drawing new names with
     * {@code np.random.choice} from {@code rng}, which the caller has seeded with the flipped seed.
     * Per prompt: the first three words of {@code text.split(" ")} that are exactly in {@code names}
     * are matched to the rule's left letters; each new letter (in order of first appearance) gets
     * {@code np.random.choice(names not among the prompt's names, in list order)}, independently;
     * the three positions get the right side's names in order (the final IO word is never touched);
     * S becomes the name of the right side's last letter and IO the name of the one letter among its
     * first two that occurs once in it, else of its second letter.
     */
    List<IOIPrompt> apply(List<IOIPrompt> prompts, List<String> templatesByPrompt, List<String> names,
            NumpyRandomState rng) {
        Set<String> nameSet = new LinkedHashSet<>(names);
        List<IOIPrompt> out = new ArrayList<>(prompts.size());
        for (int p = 0; p < prompts.size(); p++) {
            IOIPrompt prompt = prompts.get(p);
            boolean abbaPrompt = templatesByPrompt.get(p).startsWith("ABB");
            String orig = abbaPrompt ? abbaOrig : babaOrig;
            String fresh = abbaPrompt ? abbaNew : babaNew;

            String[] words = prompt.text().split(" ", -1);
            List<Integer> positions = new ArrayList<>();
            for (int i = 0; i < words.length && positions.size() < 3; i++) {
                if (nameSet.contains(words[i])) {
                    positions.add(i);
                }
            }
            List<String> origNames = new ArrayList<>();
            for (int i : positions) {
                origNames.add(words[i]);
            }
            Map<Character, String> origKey = new LinkedHashMap<>();
            for (int i = 0; i < Math.min(origNames.size(), orig.length()); i++) {
                origKey.put(orig.charAt(i), origNames.get(i));
            }
            if (origKey.size() != distinctLetters(orig).size()) {
                throw new IllegalArgumentException("flip '" + flip + "' cannot apply to prompt " + p + " ('"
                        + prompt.text() + "'): '" + orig + "' needs " + distinctLetters(orig).size()
                        + " names but the text's first three names from the names list are " + origNames);
            }
            Map<Character, String> replacement = new LinkedHashMap<>();
            for (Map.Entry<Character, String> e : origKey.entrySet()) {
                if (fresh.indexOf(e.getKey()) >= 0) {
                    replacement.put(e.getKey(), e.getValue());
                }
            }
            List<String> candidates = new ArrayList<>(nameSet);
            candidates.removeAll(origNames);
            for (char letter : distinctLetters(fresh)) {
                if (orig.indexOf(letter) < 0) {
                    replacement.put(letter, rng.choice(candidates));
                }
            }
            for (int k = 0; k < Math.min(positions.size(), fresh.length()); k++) {
                words[positions.get(k)] = replacement.get(fresh.charAt(k));
            }
            String newS = replacement.get(fresh.charAt(fresh.length() - 1));
            List<String> possibleIos = new ArrayList<>();
            for (int k = 0; k < Math.min(2, fresh.length()); k++) {
                char letter = fresh.charAt(k);
                if (fresh.indexOf(letter) == fresh.lastIndexOf(letter)) {
                    possibleIos.add(replacement.get(letter));
                }
            }
            String newIo = possibleIos.size() == 1 ? possibleIos.get(0) : replacement.get(fresh.charAt(1));
            out.add(prompt.withTextAndLabels(String.join(" ", words), newIo, newS));
        }
        return out;
    }

    private static String[] rule(String flip, String rule) {
        String[] sides = rule.split("->", -1);
        if (sides.length != 2) {
            throw new IllegalArgumentException("malformed flip '" + flip + "': rule '" + rule.strip()
                    + "' must contain '->' exactly once; " + EXPECTED);
        }
        String orig = sides[0].strip();
        String fresh = sides[1].strip();
        for (String side : new String[] {orig, fresh}) {
            if (!THREE_LETTERS.matcher(side).matches()) {
                throw new IllegalArgumentException("malformed flip '" + flip + "': '" + side + "' in rule '"
                        + rule.strip() + "' is not three letters; " + EXPECTED);
            }
        }
        return new String[] {orig, fresh};
    }

    private static void checkPattern(String flip, String orig, boolean abba) {
        char a = orig.charAt(0);
        char b = orig.charAt(1);
        char c = orig.charAt(2);
        boolean ok = abba ? (a != b && b == c) : (a != b && a == c);
        if (!ok) {
            throw new IllegalArgumentException("malformed flip '" + flip + "': the " + (abba ? "first" : "second")
                    + " rule applies to " + (abba ? "ABBA" : "BABA") + " prompts, whose first three names are "
                    + (abba ? "IO, S, S" : "S, IO, S") + ", so its left side must be " + (abba ? "ABB" : "BAB")
                    + " (or the same pattern in other letters) but is '" + orig + "'");
        }
    }

    private static List<Character> distinctLetters(String s) {
        LinkedHashSet<Character> out = new LinkedHashSet<>();
        for (char ch : s.toCharArray()) {
            out.add(ch);
        }
        return new ArrayList<>(out);
    }

    @Override
    public String toString() {
        return flip;
    }
}
