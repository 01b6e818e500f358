package ioi.data;

import ioi.lens.GPT2Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * The IOI dataset of the paper's experiments, bit-exact with ARENA 3.0's {@code ioi_dataset.py}
 * ({@code IOIDataset}; [A3] in docs/sources.md): for the same prompt type, N, seed and names it generates the same
 * prompts, the same template order, the same flipped prompts, and (with GPT-2's tokenizer) the
 * same tokens, word indices and answer ids.
 *
 * <pre>{@code
 * IOIDataset ds = IOIDataset.builder(tokenizer).promptType("mixed").n(50).seed(0).build();
 * IOIDataset abc = ds.genFlippedPrompts("ABB->XYZ, BAB->XYZ");      // ARENA's p_ABC
 * int[] end = ds.wordIdx("end");                                      // where the model predicts IO
 * }</pre>
 *
 * <p>The dataset is immutable; {@link #slice}, {@link #copy} and the flips return new datasets. It
 * uses but does not own its tokenizer.
 *
 * <p>Where this deliberately differs from the reference (none of it changes prompts, tokens or
 * answer ids):
 * <ul>
 *   <li>Derived datasets (flips, slices, copies) keep this dataset's {@link #templates()}, so
 *       {@code templates().get(TEMPLATE_IDX)} stays the prompt's template. The reference rebuilds
 *       them, re-shuffling "mixed" templates with the derived dataset's seed.</li>
 *   <li>{@link #copy()} keeps everything; the reference's {@code copy()} drops {@code prepend_bos}
 *       and the seed.</li>
 *   <li>{@link #slice} keeps the rows of the word indices; the reference recomputes them from the
 *       sliced prompts, which gives the same values except on a flipped dataset (whose indices were
 *       carried over from the unflipped one).</li>
 *   <li>Symmetric generation is refused for every ABC type (the reference refuses only "ABC"; for
 *       "BAC" and "ABC mixed" its mirrored prompts keep a literal {@code [C]}).</li>
 * </ul>
 */
public final class IOIDataset {

    /** Number of BABA templates: the default {@code nb_templates} ({@code IOIDataset.__init__}). */
    public static final int DEFAULT_NB_TEMPLATES = IOITemplates.BABA_TEMPLATES.size();

    /** The keys of {@link #wordIdx()}, in the reference's order ({@code get_idx_dict}). */
    public static final List<String> WORD_IDX_KEYS =
            List.of("IO", "IO-1", "IO+1", "S1", "S1-1", "S1+1", "S2", "end", "starts", "punct");

    private static final long MAX_SEED = 0xffffffffL;

    private final GPT2Tokenizer tokenizer;
    private final String promptType;
    private final List<String> templates;
    private final List<String> names;
    private final long seed;
    private final boolean prependBos;
    private final boolean hasBeenFlipped;
    private final List<IOIPrompt> prompts;
    private final List<String> sentences;
    private final List<String> templatesByPrompt;
    private final long[] ioTokenIds;
    private final long[] sTokenIds;
    private final long[][] toks;
    private final int maxLen;
    private final Map<String, int[]> wordIdx;
    private final List<int[]> groups;
    private volatile List<String> tokenizedPrompts;

    /** Starts a dataset that tokenizes with {@code tokenizer} (GPT-2's, for the reference's ids). */
    public static Builder builder(GPT2Tokenizer tokenizer) {
        return new Builder(tokenizer);
    }

    /**
     * The reference's {@code IOIDataset(prompt_type, N, tokenizer, prompts, symmetric, prefixes=None,
     * nb_templates, prepend_bos, seed)}. Defaults as the reference's: N = 500, seed 0,
     * {@code nbTemplates} 15, not symmetric, no BOS, ARENA's 109 {@link IOIWords#NAMES}.
     */
    public static final class Builder {
        private final GPT2Tokenizer tokenizer;
        private PromptType type;
        private List<String> customTemplates;
        private int n = 500;
        private boolean nSet;
        private long seed = 0;
        private Integer nbTemplates;
        private boolean symmetric;
        private boolean prependBos;
        private List<String> names = IOIWords.NAMES;
        private List<IOIPrompt> prompts;

        private Builder(GPT2Tokenizer tokenizer) {
            this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        }

        /** A named prompt type ({@code IOIDataset.__init__}). */
        public Builder promptType(PromptType type) {
            this.type = Objects.requireNonNull(type, "prompt type");
            this.customTemplates = null;
            return this;
        }

        /** A prompt type by the reference's name: {@code mixed}, {@code ABBA}, {@code BABA}, {@code ABC}, {@code BAC}, {@code ABC mixed}. */
        public Builder promptType(String label) {
            return promptType(PromptType.parse(label));
        }

        /** A list of templates used as they are (the reference's {@code prompt_type=[...]}; not shuffled, no {@code [C]}). */
        public Builder templates(List<String> templates) {
            if (templates == null || templates.isEmpty()) {
                throw new IllegalArgumentException("templates must be a non-empty list of template strings but is "
                        + templates);
            }
            this.customTemplates = List.copyOf(templates);
            this.type = null;
            return this;
        }

        /** Number of prompts N (default 500). */
        public Builder n(int n) {
            this.n = n;
            this.nSet = true;
            return this;
        }

        /** The seed of both of the reference's generators (default 0); must be in [0, 2^32 − 1]. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** {@code nb_templates} (default 15): how many templates of each list the type takes ({@code __init__}). */
        public Builder nbTemplates(int nbTemplates) {
            this.nbTemplates = nbTemplates;
            return this;
        }

        /**
         * Each generated prompt is followed by its mirror with IO and S swapped ({@code gen_prompt_uniform});
         * N must be even.
         */
        public Builder symmetric(boolean symmetric) {
            this.symmetric = symmetric;
            return this;
        }

        /** Whether token rows start with BOS (shifting every word index but {@code punct}, {@code get_idx_dict}). */
        public Builder prependBos(boolean prependBos) {
            this.prependBos = prependBos;
            return this;
        }

        /** The names to draw from, in order (default {@link IOIWords#NAMES}; the paper's are {@link IOIWords#PAPER_NAMES}). */
        public Builder names(List<String> names) {
            this.names = List.copyOf(Objects.requireNonNull(names, "names"));
            return this;
        }

        /** Use these prompts instead of generating any (the reference's {@code prompts=}); N is their number. */
        public Builder prompts(List<IOIPrompt> prompts) {
            this.prompts = List.copyOf(Objects.requireNonNull(prompts, "prompts"));
            return this;
        }

        /** Builds the dataset; bad arguments raise {@link IllegalArgumentException} naming the value. */
        public IOIDataset build() {
            if (type == null && customTemplates == null) {
                throw new IllegalArgumentException("no prompt type: call promptType(...) with one of mixed, ABBA, "
                        + "BABA, ABC, BAC, ABC mixed, or templates(...) with a list of templates");
            }
            if (prompts != null) {
                if (nSet && n != prompts.size()) {
                    throw new IllegalArgumentException("N = " + n + " but " + prompts.size() + " prompts were given");
                }
                n = prompts.size();
            }
            if (n < 1) {
                throw new IllegalArgumentException("N must be at least 1 but is " + n);
            }
            if (seed < 0 || seed > MAX_SEED) {
                throw new IllegalArgumentException("seed must be in [0, 2^32 - 1] (the reference also seeds "
                        + "np.random with it) but is " + seed);
            }
            int nb = nbTemplates == null ? DEFAULT_NB_TEMPLATES : nbTemplates;
            if (nb < 1) {
                throw new IllegalArgumentException("nbTemplates must be at least 1 but is " + nb);
            }
            if (symmetric && type != null && type.isAbc()) {
                throw new IllegalArgumentException("symmetric is not available for prompt type '" + type.label()
                        + "': a mirrored ABC prompt has no third name (the reference forbids symmetric with ABC)");
            }
            if (symmetric && prompts == null && n % 2 != 0) {
                throw new IllegalArgumentException("symmetric needs an even N of at least 2 (every prompt is "
                        + "followed by its mirror) but N = " + n);
            }
            checkNames(tokenizer, names);

            // IOIDataset.__init__ seeds random and np.random first.
            PyRandom py = new PyRandom(seed);
            List<String> templates;
            if (type == null) {
                templates = customTemplates;
            } else {
                List<String> base = type.baseTemplates(nb);
                if (base.isEmpty()) {
                    throw new IllegalArgumentException("nbTemplates = " + nb + " selects no template for prompt type '"
                            + type.label() + "' (it takes nbTemplates/2 of each list); use at least 2");
                }
                if (type.isShuffled()) {
                    py.shuffle(base);
                }
                templates = List.copyOf(base);
            }
            List<IOIPrompt> ps = prompts != null ? prompts
                    : genPromptUniform(py, templates, names, n, symmetric, type != null && type.isAbc());
            String label = type != null ? type.label() : "custom";
            return new IOIDataset(tokenizer, label, templates, names, seed, prependBos, false, ps, null);
        }
    }

    private IOIDataset(GPT2Tokenizer tokenizer, String promptType, List<String> templates, List<String> names,
            long seed, boolean prependBos, boolean hasBeenFlipped, List<IOIPrompt> prompts,
            Map<String, int[]> manualWordIdx) {
        this.tokenizer = tokenizer;
        this.promptType = promptType;
        this.templates = templates;
        this.names = names;
        this.seed = seed;
        this.prependBos = prependBos;
        this.hasBeenFlipped = hasBeenFlipped;
        this.prompts = List.copyOf(prompts);
        int n = prompts.size();

        List<String> texts = new ArrayList<>(n);
        List<String> byPrompt = new ArrayList<>(n);
        ioTokenIds = new long[n];
        sTokenIds = new long[n];
        for (int i = 0; i < n; i++) {
            IOIPrompt p = prompts.get(i);
            texts.add(p.text());
            byPrompt.add(abbaOrBaba(i, p));
            ioTokenIds[i] = nameToken(tokenizer, p.io(), "IO of prompt " + i);
            sTokenIds[i] = nameToken(tokenizer, p.s(), "S of prompt " + i);
        }
        this.sentences = List.copyOf(texts);
        this.templatesByPrompt = List.copyOf(byPrompt);

        // toks: right-padded with <|endoftext|>, BOS first when prependBos; max_len without BOS.
        this.toks = tokenizer.encodeBatch(texts, prependBos, GPT2Tokenizer.PaddingSide.RIGHT).ids();
        int longest = 0;
        for (String t : texts) {
            longest = Math.max(longest, tokenizer.encode(t, false).length);
        }
        this.maxLen = longest;
        this.wordIdx = manualWordIdx != null ? manualWordIdx : computeWordIdx();
        this.groups = computeGroups();
    }

    // ---------------------------------------------------------------- generation (gen_prompt_uniform)

    /**
     * {@code gen_prompt_uniform}, without prefixes: per prompt a template by
     * {@code random.choice} (its index is the first equal template), three names by
     * {@code random.choice} redrawn together until distinct, a place and an object; {@code [A]} = IO,
     * {@code [B]} = S, {@code [C]} = the third name for ABC types. When symmetric, each prompt is
     * followed (if N allows) by its mirror with the same template, place and object.
     */
    static List<IOIPrompt> genPromptUniform(PyRandom py, List<String> templates, List<String> names, int n,
            boolean symmetric, boolean abc) {
        List<IOIPrompt> out = new ArrayList<>(n);
        while (out.size() < n) {
            String template = py.choice(templates);
            int templateIdx = templates.indexOf(template);
            String name1 = "";
            String name2 = "";
            String name3 = "";
            while (new HashSet<>(List.of(name1, name2, name3)).size() < 3) {
                name1 = py.choice(names);
                name2 = py.choice(names);
                name3 = py.choice(names);
            }
            String place = py.choice(IOIWords.PLACES);
            String object = py.choice(IOIWords.OBJECTS);
            String prompt = template.replace("[PLACE]", place).replace("[OBJECT]", object);
            String text = prompt.replace("[A]", name1).replace("[B]", name2);
            if (abc) {
                text = text.replace("[C]", name3);
            }
            out.add(new IOIPrompt(text, name1, name2, templateIdx, place, object, abc ? name3 : null));
            if (symmetric && out.size() < n) {
                String mirrored = prompt.replace("[A]", name2).replace("[B]", name1);
                out.add(new IOIPrompt(mirrored, name2, name1, templateIdx, place, object, null));
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- flips ([A3] strings, [ET] tuples)

    /**
     * ARENA's {@code gen_flipped_prompts(flip)} ([A3]): parses {@code flip} ({@link ArenaFlip}), seeds
     * with {@code seed + sum of the flip's character codes}, flips every prompt by its ABBA/BABA label,
     * and returns a new dataset with that seed whose word indices are this dataset's (copied, not
     * recomputed). The reference warns when a flipped dataset is flipped again; this does not.
     */
    public IOIDataset genFlippedPrompts(String flip) {
        ArenaFlip parsed = ArenaFlip.parse(flip);
        long newSeed = flippedSeed(parsed.seedOffset(), flip);
        NumpyRandomState np = new NumpyRandomState(newSeed);
        List<IOIPrompt> flipped = parsed.apply(prompts, templatesByPrompt, names, np);
        return new IOIDataset(tokenizer, promptType, templates, names, newSeed, prependBos, true, flipped, wordIdx);
    }

    /**
     * The paper's {@code gen_flipped_prompts(flip)} ([ET]) for a tuple flip such as
     * {@code ("IO","RAND")}: see {@link PaperFlip} for what each does and how it is seeded. Word
     * indices are carried over, as in the paper's code, also by the flips that change the text's
     * length ({@code "prefix"}, {@code ("S+1","RAND")}), for which they no longer point at the names.
     */
    public IOIDataset genFlippedPromptsPaper(String first, String second) {
        return genFlippedPromptsPaper(PaperFlip.of(first, second));
    }

    /** The paper's single-string flip {@code "prefix"} ([ET] {@code flip_prefixes}). */
    public IOIDataset genFlippedPromptsPaper(String single) {
        return genFlippedPromptsPaper(PaperFlip.of(single));
    }

    /** The paper's flip {@code flip} ([ET]); see {@link #genFlippedPromptsPaper(String, String)}. */
    public IOIDataset genFlippedPromptsPaper(PaperFlip flip) {
        long newSeed = flippedSeed(flip.seedOffset(), flip.toString());
        PyRandom py = new PyRandom(newSeed);
        NumpyRandomState np = new NumpyRandomState(newSeed);
        List<IOIPrompt> flipped = flip.apply(prompts, names, py, np);
        return new IOIDataset(tokenizer, promptType, templates, names, newSeed, prependBos, true, flipped, wordIdx);
    }

    private long flippedSeed(long offset, String flip) {
        long s = seed + offset;
        if (s > MAX_SEED) {
            throw new IllegalArgumentException("flip " + flip + " gives seed " + seed + " + " + offset + " = " + s
                    + ", beyond NumPy's seed range [0, 2^32 - 1]; use a smaller dataset seed");
        }
        return s;
    }

    // ---------------------------------------------------------------- slicing and copying (__getitem__, copy)

    /** Prompts {@code [from, to)} as a new dataset (the reference's {@code dataset[from:to]}). */
    public IOIDataset slice(int from, int to) {
        if (from < 0 || to > prompts.size() || from >= to) {
            throw new IllegalArgumentException("slice [" + from + ", " + to + ") is not a non-empty range of the "
                    + prompts.size() + " prompts");
        }
        Map<String, int[]> rows = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : wordIdx.entrySet()) {
            rows.put(e.getKey(), Arrays.copyOfRange(e.getValue(), from, to));
        }
        return new IOIDataset(tokenizer, promptType, templates, names, seed, prependBos, hasBeenFlipped,
                prompts.subList(from, to), rows);
    }

    /** An equal, independent dataset. */
    public IOIDataset copy() {
        Map<String, int[]> rows = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : wordIdx.entrySet()) {
            rows.put(e.getKey(), e.getValue().clone());
        }
        return new IOIDataset(tokenizer, promptType, templates, names, seed, prependBos, hasBeenFlipped,
                prompts, rows);
    }

    // ---------------------------------------------------------------- derived fields

    /** {@code templates_by_prompt}: "ABBA" if the IO name's first substring match comes before S's. */
    private static String abbaOrBaba(int i, IOIPrompt p) {
        int io = p.text().indexOf(p.io());
        int s = p.text().indexOf(p.s());
        if (io < 0 || s < 0) {
            throw new IllegalArgumentException("prompt " + i + " ('" + p.text() + "'): its " + (io < 0 ? "IO '"
                    + p.io() : "S '" + p.s()) + "' does not occur in its text");
        }
        return io < s ? "ABBA" : "BABA";
    }

    /** {@code word_idx}: {@code get_idx_dict}. */
    private Map<String, int[]> computeWordIdx() {
        int n = prompts.size();
        int bos = prependBos ? 1 : 0;
        int[] io = new int[n];
        int[] s1 = new int[n];
        int[] s2 = new int[n];
        int[] punct = new int[n];
        long comma = tokenizer.encode(",", false)[0];
        long period = tokenizer.encode(".", false)[0];
        for (int i = 0; i < n; i++) {
            IOIPrompt p = prompts.get(i);
            // get_name_idxs: the text without its last word, tokenized without BOS.
            String text = p.text();
            int lastSpace = text.lastIndexOf(' ');
            long[] ids = tokenizer.encode(lastSpace < 0 ? "" : text.substring(0, lastSpace), false);
            io[i] = bos + indexOf(ids, ioTokenIds[i], i, "IO", p.io());
            s1[i] = bos + indexOf(ids, sTokenIds[i], i, "S", p.s());
            s2[i] = bos + lastIndexOf(ids, sTokenIds[i]);
            punct[i] = punctIdx(i, text, comma, period);
        }
        int[] end = endIdxs();
        Map<String, int[]> m = new LinkedHashMap<>();
        m.put("IO", io);
        m.put("IO-1", plus(io, -1));
        m.put("IO+1", plus(io, 1));
        m.put("S1", s1);
        m.put("S1-1", plus(s1, -1));
        m.put("S1+1", plus(s1, 1));
        m.put("S2", s2);
        m.put("end", end);
        m.put("starts", new int[n]);
        m.put("punct", punct);
        return m;
    }

    /**
     * {@code get_word_idxs(prompts, [",", "."])} (in {@code get_idx_dict}): in the tokens of the full text without BOS,
     * the last "," token if the text has a ","; then, if the text has a ".", the last "." token instead.
     */
    private int punctIdx(int i, String text, long comma, long period) {
        long[] ids = tokenizer.encode(text, false);
        Integer idx = null;
        String[] words = {",", "."};
        long[] tokens = {comma, period};
        for (int w = 0; w < 2; w++) {
            if (text.contains(words[w])) {
                int last = lastIndexOf(ids, tokens[w]);
                if (last < 0) {
                    throw new IllegalArgumentException("prompt " + i + " ('" + text + "') contains '" + words[w]
                            + "' but no token is exactly '" + words[w] + "', so its punct index is undefined");
                }
                idx = last;
            }
        }
        if (idx == null) {
            throw new IllegalArgumentException("prompt " + i + " ('" + text + "') has neither ',' nor '.': its punct "
                    + "index is undefined");
        }
        return idx;
    }

    /**
     * {@code get_end_idxs}: the first pad after position 0 (the {@code int(prependBos)}-th pad
     * of the row, BOS being a pad) or the row length, minus 2: the token before the final IO name.
     */
    private int[] endIdxs() {
        long pad = tokenizer.bosTokenId();
        int relevant = prependBos ? 1 : 0;
        int seqLen = toks[0].length;
        int[] end = new int[toks.length];
        for (int i = 0; i < toks.length; i++) {
            long[] row = toks[i];
            int raw;
            if (lastIndexOf(Arrays.copyOfRange(row, 1, row.length), pad) < 0) {
                raw = seqLen;
            } else {
                List<Integer> pads = new ArrayList<>();
                for (int j = 0; j < row.length; j++) {
                    if (row[j] == pad) {
                        pads.add(j);
                    }
                }
                if (relevant >= pads.size()) {
                    throw new IllegalStateException("prompt " + i + ": cannot find where its tokens end");
                }
                raw = pads.get(relevant);
            }
            end[i] = raw - 2;
            int e = end[i];
            boolean ok = e + 1 >= 0 && e + 1 < seqLen && row[e + 1] != 0
                    && (seqLen == e + 2 || (e + 2 < seqLen && row[e + 2] == pad));
            if (!ok) {
                throw new IllegalStateException("prompt " + i + " ('" + sentences.get(i) + "'): the end index " + e
                        + " is not followed by one name token and then the end of the row (is the final IO name one token?)");
            }
        }
        return end;
    }

    /** {@code groups}: prompt indices per template id, ids in CPython's {@code list(set(ids))} order. */
    private List<int[]> computeGroups() {
        List<Integer> ids = new ArrayList<>(prompts.size());
        for (IOIPrompt p : prompts) {
            ids.add(p.templateIdx());
        }
        List<int[]> out = new ArrayList<>();
        for (int id : PySetOrder.iterationOrder(ids)) {
            out.add(IntStream.range(0, ids.size()).filter(i -> ids.get(i) == id).toArray());
        }
        return Collections.unmodifiableList(out);
    }

    /** Checks the names list: ≥ 3 distinct names, each a single token with a leading space. */
    private static void checkNames(GPT2Tokenizer tokenizer, List<String> names) {
        if (new HashSet<>(names).size() < 3) {
            throw new IllegalArgumentException("names must hold at least 3 distinct names (a prompt needs three) but is "
                    + names);
        }
        for (String name : names) {
            nameToken(tokenizer, name, "name");
        }
    }

    /** {@code io_tokenIDs} / {@code s_tokenIDs}: the token of {@code " " + name}, which must be exactly one token. */
    private static long nameToken(GPT2Tokenizer tokenizer, String name, String role) {
        long[] ids = tokenizer.encode(" " + name, false);
        if (ids.length != 1) {
            throw new IllegalArgumentException(role + " '" + name + "' is not a single token for this tokenizer: ' "
                    + name + "' is " + ids.length + " tokens " + tokenizer.toStrTokens(ids)
                    + "; the IOI dataset needs names that are one token each");
        }
        return ids[0];
    }

    private static int indexOf(long[] ids, long token, int prompt, String role, String name) {
        for (int j = 0; j < ids.length; j++) {
            if (ids[j] == token) {
                return j;
            }
        }
        throw new IllegalArgumentException("prompt " + prompt + ": the token of ' " + name + "' (" + role
                + ") does not occur in its text before the last word");
    }

    private static int lastIndexOf(long[] ids, long token) {
        for (int j = ids.length - 1; j >= 0; j--) {
            if (ids[j] == token) {
                return j;
            }
        }
        return -1;
    }

    private static int[] plus(int[] a, int d) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] + d;
        }
        return out;
    }

    // ---------------------------------------------------------------- accessors

    /** N, the number of prompts. */
    public int n() {
        return prompts.size();
    }

    /** The prompt type's reference name ({@code "mixed"}, {@code "ABC mixed"}, ...) or {@code "custom"} for a template list. */
    public String promptType() {
        return promptType;
    }

    /** The seed (for a flipped dataset, the original seed plus the flip's offset). */
    public long seed() {
        return seed;
    }

    /** Whether token rows start with BOS. */
    public boolean prependBos() {
        return prependBos;
    }

    /** Whether this dataset came from a flip. */
    public boolean hasBeenFlipped() {
        return hasBeenFlipped;
    }

    /** {@code self.templates}: the templates after the shuffle; {@code TEMPLATE_IDX} indexes this list. */
    public List<String> templates() {
        return templates;
    }

    /** The names prompts and flips draw from. */
    public List<String> names() {
        return names;
    }

    /** {@code ioi_prompts}. */
    public List<IOIPrompt> prompts() {
        return prompts;
    }

    /** One prompt. */
    public IOIPrompt prompt(int i) {
        return prompts.get(i);
    }

    /** {@code sentences}: the prompt texts (including the final IO name). */
    public List<String> sentences() {
        return sentences;
    }

    /** {@code templates_by_prompt}: "ABBA" or "BABA" per prompt, from the text. */
    public List<String> templatesByPrompt() {
        return templatesByPrompt;
    }

    /** {@code toks}: {@code [N, seq]} token ids, right-padded with {@code <|endoftext|>} (a copy). */
    public long[][] toks() {
        long[][] out = new long[toks.length][];
        for (int i = 0; i < toks.length; i++) {
            out[i] = toks[i].clone();
        }
        return out;
    }

    /** {@code max_len}: the longest prompt in tokens, without BOS. */
    public int maxLen() {
        return maxLen;
    }

    /** {@code io_tokenIDs}: the token of {@code " " + IO} per prompt (a copy). */
    public long[] ioTokenIds() {
        return ioTokenIds.clone();
    }

    /** {@code s_tokenIDs}: the token of {@code " " + S} per prompt (a copy). */
    public long[] sTokenIds() {
        return sTokenIds.clone();
    }

    /** {@code word_idx[key]} for a key of {@link #WORD_IDX_KEYS} (a copy). */
    public int[] wordIdx(String key) {
        int[] v = wordIdx.get(key);
        if (v == null) {
            throw new IllegalArgumentException("unknown word_idx key '" + key + "': expected one of " + WORD_IDX_KEYS);
        }
        return v.clone();
    }

    /** {@code word_idx}: every key of {@link #WORD_IDX_KEYS} in order (copies). */
    public Map<String, int[]> wordIdx() {
        Map<String, int[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : wordIdx.entrySet()) {
            out.put(e.getKey(), e.getValue().clone());
        }
        return Collections.unmodifiableMap(out);
    }

    /** {@code groups}: prompt indices sharing a {@code TEMPLATE_IDX}, in the reference's order (copies). */
    public List<int[]> groups() {
        List<int[]> out = new ArrayList<>(groups.size());
        for (int[] g : groups) {
            out.add(g.clone());
        }
        return out;
    }

    /** {@code tokenized_prompts}: each row of {@link #toks()} decoded token by token and joined with "|". */
    public List<String> tokenizedPrompts() {
        List<String> t = tokenizedPrompts;
        if (t == null) {
            List<String> rows = new ArrayList<>(toks.length);
            for (long[] row : toks) {
                rows.add(String.join("|", tokenizer.toStrTokens(row)));
            }
            t = List.copyOf(rows);
            tokenizedPrompts = t;
        }
        return t;
    }

    @Override
    public String toString() {
        return "IOIDataset(" + promptType + ", N=" + prompts.size() + ", seed=" + seed
                + (prependBos ? ", prependBos" : "") + (hasBeenFlipped ? ", flipped" : "") + ")";
    }
}
