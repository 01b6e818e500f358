package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The two descriptions of the notebook environment agree: {@code tools/env/requirements.txt} (what
 * {@code tools/env/setup.sh} installs into .venv/, for {@code ./ioi} and the Dockerfile) and
 * {@code environment.yml} (conda). Every requirement is pinned with {@code ==} and appears in
 * environment.yml (as a conda-forge package or under {@code pip:}) with the same version; environment.yml
 * has nothing else but Python, a JDK 17+, Maven and pip.
 */
class EnvironmentFilesTest {
    /** What environment.yml may add: the runtimes that requirements.txt cannot install. */
    private static final Set<String> CONDA_ONLY = Set.of("python", "openjdk", "maven", "pip");

    private static final Path ROOT = findRoot();

    private static Path findRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("tools/env/requirements.txt"))) {
                return p;
            }
        }
        throw new IllegalStateException("no tools/env/requirements.txt above " + Path.of("").toAbsolutePath());
    }

    /** PEP 503 normalisation: {@code Jupyter_Lab} and {@code jupyter-lab} are one package. */
    static String normalize(String name) {
        return name.trim().toLowerCase(Locale.ROOT).replaceAll("[-_.]+", "-");
    }

    /** {@code name==version} lines of a requirements file; anything else fails the test. */
    static Map<String, String> parseRequirements(List<String> lines) {
        Map<String, String> pins = new LinkedHashMap<>();
        Pattern pin = Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*)\\s*==\\s*([A-Za-z0-9.+!-]+)");
        for (String raw : lines) {
            String line = raw.replaceFirst("(^|\\s)#.*$", "").trim();
            if (line.isEmpty()) {
                continue;
            }
            Matcher m = pin.matcher(line);
            if (!m.matches()) {
                fail("requirements.txt: '" + raw + "' is not pinned as name==version");
            }
            assertNull(pins.put(normalize(m.group(1)), m.group(2)), "requirements.txt lists " + m.group(1) + " twice");
        }
        return pins;
    }

    /** The conda and pip dependencies of an environment.yml: name to version ("" when unpinned). */
    record CondaEnv(List<String> channels, Map<String, String> conda, Map<String, String> pip) {
    }

    /**
     * Reads the subset of YAML an environment.yml uses: top-level keys, {@code - item} lists, and one
     * nested {@code - pip:} list. Comments are dropped.
     */
    static CondaEnv parseEnvironment(List<String> lines) {
        List<String> channels = new ArrayList<>();
        Map<String, String> conda = new LinkedHashMap<>();
        Map<String, String> pip = new LinkedHashMap<>();
        String section = "";
        int pipIndent = -1;
        for (String raw : lines) {
            String line = raw.replaceFirst("(^|\\s)#.*$", "");
            if (line.isBlank()) {
                continue;
            }
            int indent = line.length() - line.stripLeading().length();
            String text = line.trim();
            if (indent == 0) {
                section = text.endsWith(":") ? text.substring(0, text.length() - 1) : text.replaceFirst(":.*", "");
                pipIndent = -1;
                continue;
            }
            if (!text.startsWith("- ")) {
                fail("environment.yml: unexpected line '" + raw + "'");
            }
            String item = text.substring(2).trim();
            if (section.equals("channels")) {
                channels.add(item);
            } else if (section.equals("dependencies")) {
                if (pipIndent >= 0 && indent > pipIndent) {
                    Matcher m = Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*)\\s*==\\s*(\\S+)").matcher(item);
                    if (!m.matches()) {
                        fail("environment.yml: pip dependency '" + item + "' is not pinned as name==version");
                    }
                    pip.put(normalize(m.group(1)), m.group(2));
                } else if (item.equals("pip:")) {
                    pipIndent = indent;
                } else {
                    pipIndent = -1;
                    Matcher m = Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*)\\s*(?:={1,2}\\s*(\\S+))?").matcher(item);
                    if (!m.matches()) {
                        fail("environment.yml: conda dependency '" + item + "' is not name[=version]");
                    }
                    conda.put(normalize(m.group(1)), m.group(2) == null ? "" : m.group(2));
                }
            }
        }
        return new CondaEnv(channels, conda, pip);
    }

    private static List<String> read(String relative) throws IOException {
        return Files.readAllLines(ROOT.resolve(relative));
    }

    @Test
    void requirementsAndEnvironmentYmlPinTheSamePackages() throws IOException {
        Map<String, String> req = parseRequirements(read("tools/env/requirements.txt"));
        CondaEnv env = parseEnvironment(read("environment.yml"));

        for (String must : List.of("jupyterlab", "jjava", "nbclient", "nbconvert", "nbformat", "plotly")) {
            assertTrue(req.containsKey(must), "requirements.txt lacks " + must);
        }
        assertTrue(req.get("jupyterlab").startsWith("4."), "JupyterLab 4.x: " + req.get("jupyterlab"));

        Set<String> mismatches = new TreeSet<>();
        req.forEach((name, version) -> {
            String conda = env.conda().get(name);
            String pip = env.pip().get(name);
            if (conda != null && pip != null) {
                mismatches.add(name + ": both a conda and a pip dependency in environment.yml");
            } else if (conda == null && pip == null) {
                mismatches.add(name + "==" + version + ": missing from environment.yml");
            } else if (!version.equals(conda != null ? conda : pip)) {
                mismatches.add(name + ": requirements.txt pins " + version + ", environment.yml "
                        + (conda != null ? "'" + conda + "'" : "pip " + pip));
            }
        });
        env.conda().keySet().stream()
                .filter(name -> !req.containsKey(name) && !CONDA_ONLY.contains(name))
                .forEach(name -> mismatches.add(name + ": in environment.yml but not in requirements.txt"));
        env.pip().keySet().stream()
                .filter(name -> !req.containsKey(name))
                .forEach(name -> mismatches.add(name + ": a pip dependency of environment.yml not in requirements.txt"));
        assertEquals(Set.of(), mismatches, "keep tools/env/requirements.txt and environment.yml in sync");
    }

    @Test
    void environmentYmlHasTheRuntimes() throws IOException {
        CondaEnv env = parseEnvironment(read("environment.yml"));
        assertEquals(List.of("conda-forge"), env.channels());
        for (String name : CONDA_ONLY) {
            assertTrue(env.conda().containsKey(name), "environment.yml lacks " + name);
        }
        String python = env.conda().get("python");
        assertTrue(python.matches("3\\.(1[0-9]|[2-9][0-9])(\\..*)?"), "JupyterLab 4.6 needs Python 3.10+: " + python);
        String jdk = env.conda().get("openjdk");
        assertFalse(jdk.isEmpty(), "pin openjdk's major version");
        assertTrue(Integer.parseInt(jdk.replaceFirst("\\..*", "")) >= 17, "the library needs Java 17+: " + jdk);
    }

    @Test
    void dockerfileUsesTheSameSetUpScript() throws IOException {
        String dockerfile = Files.readString(ROOT.resolve("Dockerfile"));
        assertTrue(dockerfile.contains("tools/env/setup.sh"), "the Dockerfile must run tools/env/setup.sh");
        assertTrue(dockerfile.contains("ARG BASE=nvidia/cuda:12.8"), "DJL 0.36's GPU build needs CUDA 12.8 (the default base)");
        assertTrue(dockerfile.contains("FROM ${BASE}"), "the runtime stage must be built on the BASE argument");
    }

    @Test
    void parsersRejectWhatTheyCannotCompare() {
        assertEquals(Map.of("jupyter-lab", "4.6.6"), parseRequirements(List.of("# c", "Jupyter_Lab == 4.6.6  # x")));
        assertThrows(AssertionError.class, () -> parseRequirements(List.of("plotly>=6")));
        assertThrows(AssertionError.class, () -> parseRequirements(List.of("plotly==6.0", "plotly==6.1")));
        CondaEnv env = parseEnvironment(List.of("name: x", "channels:", "  - conda-forge", "dependencies:",
                "  - python=3.11", "  - maven", "  - pip:", "      - jjava==1.0a8", "  - plotly==7.1.0"));
        assertEquals(Map.of("python", "3.11", "maven", "", "plotly", "7.1.0"), env.conda());
        assertEquals(Map.of("jjava", "1.0a8"), env.pip());
        assertThrows(AssertionError.class, () -> parseEnvironment(List.of("dependencies:", "  - pip:", "    - jjava")));
    }
}
