package ioi;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The library's packages depend on each other in one direction: the model ({@code lens}) on
 * nothing, the dataset on the model, the experiments on both, and never the computation on the
 * display ("computation never imports display"): the paper's figures are drawn from results by
 * {@code ioi.notebook.Plots}. {@code display} may name the experiments' progress callback and
 * patching grid. Every reference counts, imports and fully qualified names alike; comments do not.
 */
class LayeringTest {

    /** Package -> the other {@code ioi} packages its code may refer to. */
    private static final Map<String, Set<String>> ALLOWED = Map.of(
            "lens", Set.of(),
            "data", Set.of("lens"),
            "experiments", Set.of("lens", "data"),
            "display", Set.of("experiments"),
            "notebook", Set.of("lens", "data", "experiments", "display"),
            "cli", Set.of("lens", "data", "experiments", "display", "notebook"));

    private static final Pattern REFERENCE = Pattern.compile("\\bioi\\.(\\w+)\\.[A-Za-z]");
    private static final Pattern COMMENTS = Pattern.compile("/\\*.*?\\*/|//[^\n]*", Pattern.DOTALL);

    @Test
    void packagesReferOnlyToTheLayersBelow() throws IOException {
        Path root = Path.of("src/main/java/ioi");
        assertTrue(Files.isDirectory(root), "run from kernel-lib/: no " + root.toAbsolutePath());
        List<String> wrong = new ArrayList<>();
        int files = 0;
        for (Map.Entry<String, Set<String>> e : ALLOWED.entrySet()) {
            try (Stream<Path> walk = Files.walk(root.resolve(e.getKey()))) {
                for (Path f : walk.filter(p -> p.toString().endsWith(".java")).toList()) {
                    files++;
                    String code = COMMENTS.matcher(Files.readString(f)).replaceAll("");
                    Matcher m = REFERENCE.matcher(code);
                    while (m.find()) {
                        String target = m.group(1);
                        if (ALLOWED.containsKey(target) && !target.equals(e.getKey())
                                && !e.getValue().contains(target)) {
                            wrong.add(root.relativize(f) + " refers to ioi." + target + " (" + e.getKey()
                                    + " may refer to " + e.getValue() + ")");
                        }
                    }
                }
            }
        }
        assertTrue(files > 50, "expected the library's sources, found " + files + " files");
        if (!wrong.isEmpty()) {
            fail(wrong.size() + " reference(s) against the layering:\n  " + String.join("\n  ", wrong));
        }
    }
}
