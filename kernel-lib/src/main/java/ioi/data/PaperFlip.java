package ioi.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The flips the paper's own {@code IOIDataset.gen_flipped_prompts(flip)} accepts ([ET]
 * {@code ioi_dataset.py}, tuple syntax; docs/sources.md), each a word-level edit of {@code text.split(" ")}.
 *
 * <p>Randomness: [ET] draws random names with {@code np.random.randint(len(names))} (legacy NumPy)
 * and the {@code "prefix"} flip's prefix with {@code random.choice}, from whatever global state the
 * process is in (it never seeds). Here both generators are seeded, as ARENA seeds its string
 * flips ([A3] {@code IOIDataset.gen_flipped_prompts}): with the dataset's seed plus
 * {@code sum(ord(c) for c in "".join(flip))}, e.g.
 * {@code "IORAND"} for {@code ("IO","RAND")} (ARENA's wrapper computes exactly this for a tuple).
 * Random names come from the dataset's names list ([ET] uses its module {@code NAMES}).
 *
 * <p>Not supported, each with an error saying why: {@code ("S","IO")} (accepted by [ET]'s wrapper
 * but it has no branch in [ET]'s function, so it fails there), {@code ("RAND","RAND")} (likewise), and
 * the options [ET]'s wrapper rejects ({@code ANIMAL}, {@code ("END","S")}, {@code ("PUNC","NONE")},
 * {@code ("C2","A")}).
 */
public enum PaperFlip {
    /** {@code ("IO","RAND")}: the first two IO words (first-clause IO and the final word) become one random name ≠ IO, S; IO label updated. */
    IO_RAND("IO", "RAND"),
    /** {@code ("S","RAND")}: S1 and S2 become one random name (no exclusion); S label updated. */
    S_RAND("S", "RAND"),
    /** {@code ("S1","RAND")}: only the first S word becomes a random name (no exclusion); labels unchanged. */
    S1_RAND("S1", "RAND"),
    /** {@code ("S2","RAND")}: the last S word becomes a random name ≠ IO, S; labels unchanged. */
    S2_RAND("S2", "RAND"),
    /** {@code ("S+1","RAND")}: "and" after S1 becomes "with one friend named"/"accompanied by", else ", after a great day, " is inserted after S1. */
    S_PLUS_1_RAND("S+1", "RAND"),
    /** {@code ("S2","IO")}: the last S word becomes IO, then the IO and S labels are swapped. */
    S2_IO("S2", "IO"),
    /** {@code ("IO","S1")}: the first IO and first S words trade places; labels unchanged. */
    IO_S1("IO", "S1"),
    /** {@code "prefix"}: texts starting "The " get "After the lunch, the"; others have the text before the first name replaced by a random {@link IOIWords#PREFIXES} entry. */
    PREFIX("prefix", null);

    private static final List<String> S_PLUS_1_REPLACEMENTS = List.of("with one friend named", "accompanied by");

    private final String first;
    private final String second;

    PaperFlip(String first, String second) {
        this.first = first;
        this.second = second;
    }

    /** The tuple's parts joined, as {@code "".join(flip)}: {@code "IORAND"}, {@code "prefix"}, ... */
    public String joined() {
        return second == null ? first : first + second;
    }

    /** The seed offset {@code sum(ord(c) for c in "".join(flip))}. */
    public long seedOffset() {
        return joined().chars().asLongStream().sum();
    }

    @Override
    public String toString() {
        return second == null ? '"' + first + '"' : "(\"" + first + "\",\"" + second + "\")";
    }

    /** The flip {@code ("a","b")}. */
    public static PaperFlip of(String a, String b) {
        for (PaperFlip f : values()) {
            if (f.second != null && f.first.equals(a) && f.second.equals(b)) {
                return f;
            }
        }
        if ("S".equals(a) && "IO".equals(b) || "RAND".equals(a) && "RAND".equals(b)) {
            throw new IllegalArgumentException("paper flip (\"" + a + "\",\"" + b + "\") is accepted by the paper's "
                    + "IOIDataset.gen_flipped_prompts but its gen_flipped_prompts has no branch for it (it fails "
                    + "there too): expected one of " + Arrays.toString(values()));
        }
        throw new IllegalArgumentException("unknown paper flip (\"" + a + "\",\"" + b + "\"): expected one of "
                + Arrays.toString(values()));
    }

    /** The single-string flip; only {@code "prefix"} exists. */
    public static PaperFlip of(String single) {
        if ("prefix".equals(single)) {
            return PREFIX;
        }
        throw new IllegalArgumentException("unknown paper flip '" + single + "': the only single-string flip is "
                + "\"prefix\"; the others are pairs such as (\"IO\",\"RAND\"): " + Arrays.toString(values()));
    }

    /**
     * Applies this flip to every prompt ([ET] {@code gen_flipped_prompts} / {@code flip_prefixes}),
     * with {@code np} for random names and {@code py} for the prefix, both already seeded.
     */
    List<IOIPrompt> apply(List<IOIPrompt> prompts, List<String> names, PyRandom py, NumpyRandomState np) {
        List<IOIPrompt> out = new ArrayList<>(prompts.size());
        for (int p = 0; p < prompts.size(); p++) {
            out.add(applyOne(p, prompts.get(p), names, py, np));
        }
        return out;
    }

    private IOIPrompt applyOne(int p, IOIPrompt prompt, List<String> names, PyRandom py, NumpyRandomState np) {
        String text = prompt.text();
        String io = prompt.io();
        String s = prompt.s();
        if (this == PREFIX) {
            if (text.startsWith("The ")) {
                return prompt.withText("After the lunch, the" + text.substring(4));
            }
            int first = Math.min(find(p, text, io, "IO"), find(p, text, s, "S"));
            return prompt.withText(py.choice(IOIWords.PREFIXES) + " " + text.substring(first));
        }
        List<String> t = new ArrayList<>(Arrays.asList(text.split(" ", -1)));
        switch (this) {
            case S2_IO -> {
                t.set(lastIndex(p, t, s, "S"), io);
                String oldIo = io;
                io = s;
                s = oldIo;
            }
            case S2_RAND -> t.set(lastIndex(p, t, s, "S"), randomNameExcept(names, io, s, np));
            case IO_RAND -> {
                String r = randomNameExcept(names, io, s, np);
                t.set(firstIndex(p, t, io, "IO"), r);
                t.set(firstIndex(p, t, io, "IO (second occurrence)"), r);
                io = r;
            }
            case IO_S1 -> {
                int i = firstIndex(p, t, io, "IO");
                int j = firstIndex(p, t, s, "S");
                String wi = t.get(i);
                t.set(i, t.get(j));
                t.set(j, wi);
            }
            case S_RAND, S1_RAND -> {
                String newS = names.get((int) np.randint(names.size()));
                t.set(firstIndex(p, t, s, "S"), newS);
                if (this == S_RAND) {
                    t.set(lastIndex(p, t, s, "S (second occurrence)"), newS);
                    s = newS;
                }
            }
            case S_PLUS_1_RAND -> {
                int i = firstIndex(p, t, s, "S");
                if (i + 1 >= t.size()) {
                    throw new IllegalArgumentException("paper flip " + this + ": prompt " + p + " ('" + text
                            + "') has no word after S");
                }
                if (t.get(i + 1).equals("and")) {
                    t.set(i + 1, S_PLUS_1_REPLACEMENTS.get((int) np.randint(2)));
                } else {
                    t.set(i + 1, t.get(i) + ", after a great day, " + t.get(i + 1));
                    t.remove(i);
                }
            }
            default -> throw new IllegalStateException("unhandled flip " + this);
        }
        return prompt.withTextAndLabels(String.join(" ", t), io, s);
    }

    /** {@code names[np.random.randint(len(names))]}, redrawn while it equals IO or S. */
    private static String randomNameExcept(List<String> names, String io, String s, NumpyRandomState np) {
        String r;
        do {
            r = names.get((int) np.randint(names.size()));
        } while (r.equals(io) || r.equals(s));
        return r;
    }

    private int firstIndex(int p, List<String> words, String word, String role) {
        int i = words.indexOf(word);
        if (i < 0) {
            throw missing(p, words, word, role);
        }
        return i;
    }

    private int lastIndex(int p, List<String> words, String word, String role) {
        int i = words.lastIndexOf(word);
        if (i < 0) {
            throw missing(p, words, word, role);
        }
        return i;
    }

    private IllegalArgumentException missing(int p, List<String> words, String word, String role) {
        return new IllegalArgumentException("paper flip " + this + ": prompt " + p + " ('" + String.join(" ", words)
                + "') has no word exactly equal to " + role + " '" + word + "'");
    }

    private int find(int p, String text, String name, String role) {
        int i = text.indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException("paper flip " + this + ": " + role + " '" + name
                    + "' does not occur in prompt " + p + " ('" + text + "')");
        }
        return i;
    }
}
