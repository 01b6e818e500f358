package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The project is self-contained: no text file of the repository names the developers' reference
 * folder beside the project or a path of the machines it was written on, and none cites the
 * developers' private notes by name. A user's clone and CI on a clean machine have neither, so such
 * a path is either a broken link or a read that fails there, and such a citation points nowhere;
 * public sources are cited with the tags of docs/sources.md. Needles are built from pieces so that
 * this file does not match itself.
 */
class SelfContainedTest {

    /** The parent-relative reference folder, and the developers' machine root. */
    private static final List<String> NEEDLES = List.of(".." + "/shared", "/" + "work" + "/");

    /** The developers' private reference notes, which users of the project do not have. */
    private static final List<String> PRIVATE_NOTES =
            List.of("IOI" + ".md", "TRANSFORMERLENS" + ".md", "ECOSYSTEM" + ".md");

    /** Build output, dependencies and environments: not the project's files. */
    private static final Set<String> SKIPPED_DIRS = Set.of(".git", "target", "node_modules", ".venv", "out");

    /** Bytes read to tell text from binary (as git does: a NUL byte means binary). */
    private static final int SNIFF = 8000;

    @Test
    void noFileNamesPathsOutsideTheProject() throws IOException {
        List<String> hits = linesContaining(NEEDLES);
        if (!hits.isEmpty()) {
            fail(hits.size() + " line(s) name " + NEEDLES + ", which a clone of the project does not have"
                    + " (copy what is needed into the project and refer to it there):\n  " + String.join("\n  ", hits));
        }
    }

    @Test
    void noFileCitesThePrivateNotes() throws IOException {
        List<String> hits = linesContaining(PRIVATE_NOTES);
        if (!hits.isEmpty()) {
            fail(hits.size() + " line(s) cite " + PRIVATE_NOTES + ", developer notes that users of the project do"
                    + " not have: cite the public source itself instead (paper section, repository file and"
                    + " function), with the tags of docs/sources.md:\n  " + String.join("\n  ", hits));
        }
    }

    /** Every line of the repository's text files that contains one of {@code needles}, as "file:line: text". */
    private static List<String> linesContaining(List<String> needles) throws IOException {
        Path root = projectRoot();
        List<String> hits = new ArrayList<>();
        int[] textFiles = {0};
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                return !dir.equals(root) && SKIPPED_DIRS.contains(dir.getFileName().toString())
                        ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                // a git worktree's .git is a file naming where the repository lives: skipped like the directory
                if (attrs.isRegularFile() && !file.getFileName().toString().equals(".git")) {
                    scan(root, file, needles, hits, textFiles);
                }
                return FileVisitResult.CONTINUE;
            }
        });
        assertTrue(textFiles[0] > 50, "expected the repository's text files under " + root + " but read only "
                + textFiles[0]);
        return hits;
    }

    private static void scan(Path root, Path file, List<String> needles, List<String> hits, int[] textFiles) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
        for (int i = 0; i < Math.min(bytes.length, SNIFF); i++) {
            if (bytes[i] == 0) {
                return; // binary
            }
        }
        textFiles[0]++;
        String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            for (String needle : needles) {
                if (lines[i].contains(needle)) {
                    String line = lines[i].strip();
                    hits.add(root.relativize(file) + ":" + (i + 1) + ": " + (line.length() > 160
                            ? line.substring(0, 160) + "..." : line));
                }
            }
        }
    }

    /** The directory holding the {@code ioi} launcher and {@code pom.xml}, from the test's working directory up. */
    private static Path projectRoot() {
        Path start = Paths.get("").toAbsolutePath();
        for (Path p = start; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("ioi")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new IllegalStateException("no project root (a directory holding ioi and pom.xml) at or above " + start);
    }
}
