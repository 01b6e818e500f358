package ioi.lens;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * GPT-2's byte-level BPE through DJL's {@link HuggingFaceTokenizer}, read from the checkpoint's
 * {@code tokenizer.json} (no network), with TransformerLens's conventions: BOS = EOS = PAD =
 * {@code <|endoftext|>}, BOS prepended by default, right padding by default, decoding without
 * clean-up of spaces.
 *
 * <p>GPT-2's own {@code tokenizer.json} is bundled in the library ({@link #bundled()},
 * {@link #bundledFile()}; provenance and licence in {@code ioi/lens/gpt2-tokenizer/README.md}), for
 * what needs GPT-2's tokens without a checkpoint: {@code ./ioi dataset}, tests, test checkpoints.
 */
public final class GPT2Tokenizer implements AutoCloseable {

    /** Which side of a batch shorter sequences are padded on. */
    public enum PaddingSide { LEFT, RIGHT }

    /** Token ids of a batch, right- or left-padded, and 1 where a token is real (BOS included). */
    public record TokenBatch(long[][] ids, long[][] attentionMask, PaddingSide paddingSide) {
        public int batch() {
            return ids.length;
        }

        public int pos() {
            return ids.length == 0 ? 0 : ids[0].length;
        }

        /** Whether any row is padded. */
        public boolean padded() {
            for (long[] row : attentionMask) {
                for (long m : row) {
                    if (m == 0) {
                        return true;
                    }
                }
            }
            return false;
        }
    }

    public static final String END_OF_TEXT = "<|endoftext|>";

    /** Classpath resource of the bundled GPT-2 {@code tokenizer.json}. */
    public static final String BUNDLED_RESOURCE = "/ioi/lens/gpt2-tokenizer/tokenizer.json";

    private static final Map<String, String> OPTIONS =
            Map.of("addSpecialTokens", "false", "padding", "false", "truncation", "false");

    private static Path bundledFile; // extracted on first use, deleted on exit

    private final HuggingFaceTokenizer tokenizer;
    private final long bosTokenId;

    private GPT2Tokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
        long[] ids = tokenizer.encode(END_OF_TEXT, false, false).getIds();
        if (ids.length != 1) {
            throw new CheckpointException("tokenizer.json does not know GPT-2's special token "
                    + END_OF_TEXT + " as a single token (it gave " + ids.length + " tokens)");
        }
        this.bosTokenId = ids[0];
    }

    /** Loads {@code tokenizer.json} from a file or from a directory holding one. */
    public static GPT2Tokenizer load(Path tokenizerJsonOrDir) {
        Path file = Files.isDirectory(tokenizerJsonOrDir)
                ? tokenizerJsonOrDir.resolve("tokenizer.json") : tokenizerJsonOrDir;
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException("no tokenizer at " + file
                    + ": expected a Hugging Face tokenizer.json (GPT-2's is in openai-community/gpt2)");
        }
        try {
            return new GPT2Tokenizer(HuggingFaceTokenizer.newInstance(file, OPTIONS));
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(file + ": not a readable Hugging Face tokenizer.json: "
                    + e.getMessage(), e);
        }
    }

    /** GPT-2's tokenizer as bundled in the library (the classpath resource {@value #BUNDLED_RESOURCE}). */
    public static GPT2Tokenizer bundled() {
        try (InputStream in = openBundled()) {
            return new GPT2Tokenizer(HuggingFaceTokenizer.newInstance(in, OPTIONS));
        } catch (IOException e) {
            throw new UncheckedIOException("reading the bundled GPT-2 tokenizer " + BUNDLED_RESOURCE, e);
        }
    }

    /**
     * The bundled {@code tokenizer.json} as a file, for what needs a path (a checkpoint directory
     * with {@code tokenizer.json}, a Python tool): extracted on the first call into a temporary
     * directory of its own, where it is the only file, and deleted when the JVM exits.
     */
    public static synchronized Path bundledFile() {
        if (bundledFile == null || !Files.isRegularFile(bundledFile)) {
            try (InputStream in = openBundled()) {
                Path dir = Files.createTempDirectory("gpt2-tokenizer");
                Path file = dir.resolve("tokenizer.json");
                dir.toFile().deleteOnExit(); // registered first, deleted last (after its file)
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                file.toFile().deleteOnExit();
                bundledFile = file;
            } catch (IOException e) {
                throw new UncheckedIOException("extracting the bundled GPT-2 tokenizer " + BUNDLED_RESOURCE
                        + " to a temporary file", e);
            }
        }
        return bundledFile;
    }

    private static InputStream openBundled() {
        InputStream in = GPT2Tokenizer.class.getResourceAsStream(BUNDLED_RESOURCE);
        if (in == null) {
            throw new IllegalStateException("GPT-2's tokenizer is missing from the library: no classpath resource "
                    + BUNDLED_RESOURCE + " (it is kernel-lib/src/main/resources" + BUNDLED_RESOURCE
                    + " in the sources; rebuild the jar with its resources)");
        }
        return in;
    }

    /** {@code <|endoftext|>}'s id: GPT-2's BOS, EOS and PAD (50256). */
    public long bosTokenId() {
        return bosTokenId;
    }

    /** Token ids of one text, with BOS first when {@code prependBos}. */
    public long[] encode(String text, boolean prependBos) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        if (!prependBos) {
            return ids;
        }
        long[] withBos = new long[ids.length + 1];
        withBos[0] = bosTokenId;
        System.arraycopy(ids, 0, withBos, 1, ids.length);
        return withBos;
    }

    /** A padded batch, as TL's {@code to_tokens(list_of_strings)}; pads are {@code <|endoftext|>}. */
    public TokenBatch encodeBatch(List<String> texts, boolean prependBos, PaddingSide side) {
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("expected at least one text but the list is empty");
        }
        List<long[]> rows = new ArrayList<>();
        int max = 0;
        for (String t : texts) {
            long[] ids = encode(t, prependBos);
            rows.add(ids);
            max = Math.max(max, ids.length);
        }
        long[][] ids = new long[rows.size()][max];
        long[][] mask = new long[rows.size()][max];
        for (int i = 0; i < rows.size(); i++) {
            long[] row = rows.get(i);
            int offset = side == PaddingSide.LEFT ? max - row.length : 0;
            java.util.Arrays.fill(ids[i], bosTokenId);
            System.arraycopy(row, 0, ids[i], offset, row.length);
            java.util.Arrays.fill(mask[i], offset, offset + row.length, 1L);
        }
        return new TokenBatch(ids, mask, side);
    }

    /** Decodes ids to text as TL's {@code to_string} (special tokens kept, spaces not cleaned). */
    public String decode(long[] ids) {
        return tokenizer.decode(ids, false);
    }

    /** One string per token, as TL's {@code to_str_tokens}. */
    public List<String> toStrTokens(long[] ids) {
        List<String> out = new ArrayList<>(ids.length);
        for (long id : ids) {
            out.add(tokenizer.decode(new long[] {id}, false));
        }
        return out;
    }

    /** The id of a string that must be exactly one token (no BOS), as TL's {@code to_single_token}. */
    public long toSingleToken(String s) {
        long[] ids = encode(s, false);
        if (ids.length != 1) {
            throw new IllegalArgumentException("'" + s + "' is " + ids.length + " tokens "
                    + toStrTokens(ids) + " but expected exactly one");
        }
        return ids[0];
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
