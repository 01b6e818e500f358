package ioi.cli;

import com.google.gson.GsonBuilder;
import ioi.data.IOIDataset;
import ioi.data.IOIPrompt;
import ioi.data.IOIWords;
import ioi.lens.GPT2Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./ioi dataset}: builds an IOI dataset ({@link IOIDataset}, bit-exact with ARENA 3.0's
 * {@code ioi_dataset.py}), applies the flips in order, and prints it as JSON with the fields of the
 * test fixtures ({@code prompt_type}, {@code N}, {@code seed}, {@code templates_after_shuffle},
 * {@code prompts}) plus {@code word_idx}, {@code io_tokenIDs}, {@code s_tokenIDs} and {@code max_len}.
 */
@Command(name = "dataset", mixinStandardHelpOptions = true,
        description = "Generate an IOI dataset (ARENA 3.0's ioi_dataset.py, bit-exact), apply flips, print it as JSON.")
final class DatasetCommand implements Callable<Integer> {

    private static final Pattern PAPER_TUPLE =
            Pattern.compile("\\(?\\s*[\"']?([A-Za-z0-9+]+)[\"']?\\s*,\\s*[\"']?([A-Za-z0-9+]+)[\"']?\\s*\\)?");

    @Spec
    CommandSpec spec;

    @Option(names = "--prompt-type", required = true,
            description = "mixed, ABBA, BABA, ABC, BAC or 'ABC mixed'")
    String promptType;

    @Option(names = "--n", defaultValue = "500", description = "number of prompts (default: ${DEFAULT-VALUE})")
    int n;

    @Option(names = "--seed", defaultValue = "0", description = "seed of random and np.random (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--nb-templates", description = "nb_templates (default: 15)")
    Integer nbTemplates;

    @Option(names = "--symmetric", description = "follow each prompt by its mirror (N must be even)")
    boolean symmetric;

    @Option(names = "--prepend-bos", description = "start token rows with BOS (shifts word_idx)")
    boolean prependBos;

    @Option(names = "--names", defaultValue = "arena",
            description = "arena (ARENA's 109 names) or paper (the paper's 99) (default: ${DEFAULT-VALUE})")
    String names;

    @Option(names = "--flip", description = "a flip, applied in the order given: ARENA's 'ABB->XYZ, BAB->XYZ' syntax, "
            + "or one of the paper's: 'IO,RAND' / '(\"S2\",\"IO\")' / prefix")
    List<String> flips = new ArrayList<>();

    @Option(names = "--tokenizer", description = "tokenizer.json or a directory holding one (default: "
            + "GPT-2's tokenizer, bundled in the library)")
    Path tokenizer;

    @Override
    public Integer call() {
        List<String> nameList = switch (names) {
            case "arena" -> IOIWords.NAMES;
            case "paper" -> IOIWords.PAPER_NAMES;
            default -> throw new IllegalArgumentException("--names must be arena or paper but is '" + names + "'");
        };
        try (GPT2Tokenizer tok = openTokenizer()) {
            IOIDataset.Builder b = IOIDataset.builder(tok).promptType(promptType).n(n).seed(seed)
                    .symmetric(symmetric).prependBos(prependBos).names(nameList);
            if (nbTemplates != null) {
                b.nbTemplates(nbTemplates);
            }
            IOIDataset ds = b.build();
            for (String flip : flips) {
                ds = applyFlip(ds, flip);
            }
            spec.commandLine().getOut().println(toJson(ds, flips));
            spec.commandLine().getOut().flush();
        }
        return 0;
    }

    /** An ARENA flip string (it has "->"), or the paper's {@code prefix} / {@code (A, B)} tuple. */
    static IOIDataset applyFlip(IOIDataset ds, String flip) {
        if (flip.contains("->")) {
            return ds.genFlippedPrompts(flip);
        }
        if (flip.strip().equals("prefix")) {
            return ds.genFlippedPromptsPaper("prefix");
        }
        Matcher m = PAPER_TUPLE.matcher(flip.strip());
        if (m.matches()) {
            return ds.genFlippedPromptsPaper(m.group(1), m.group(2));
        }
        throw new IllegalArgumentException("--flip '" + flip + "' is neither an ARENA flip such as 'ABB->XYZ, BAB->XYZ' "
                + "nor one of the paper's flips such as 'IO,RAND' or prefix");
    }

    static String toJson(IOIDataset ds, List<String> flips) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("prompt_type", ds.promptType());
        out.put("N", ds.n());
        out.put("seed", ds.seed());
        out.put("prepend_bos", ds.prependBos());
        out.put("applied_flips", flips);
        out.put("templates_after_shuffle", ds.templates());
        List<Map<String, Object>> prompts = new ArrayList<>();
        for (IOIPrompt p : ds.prompts()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("text", p.text());
            m.put("IO", p.io());
            m.put("S", p.s());
            m.put("TEMPLATE_IDX", p.templateIdx());
            prompts.add(m);
        }
        out.put("prompts", prompts);
        out.put("word_idx", ds.wordIdx());
        out.put("io_tokenIDs", ds.ioTokenIds());
        out.put("s_tokenIDs", ds.sTokenIds());
        out.put("max_len", ds.maxLen());
        return new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(out);
    }

    /** {@code --tokenizer} if given, else GPT-2's tokenizer bundled in the library. */
    GPT2Tokenizer openTokenizer() {
        return tokenizer != null ? GPT2Tokenizer.load(tokenizer) : GPT2Tokenizer.bundled();
    }
}
