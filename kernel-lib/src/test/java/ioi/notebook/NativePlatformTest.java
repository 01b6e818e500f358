package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * The platform profiles of {@code kernel-lib/pom.xml}, asked of Maven itself ({@code mvn} as a
 * subprocess, the one that runs this test when surefire passes {@code ioi.maven.home}).
 *
 * <p>{@link #profilesPickDjlsClassifier()}: for each platform, {@code mvn validate help:effective-pom}
 * with the JVM's {@code os.name}/{@code os.arch} set as on that machine (the os activation reads them),
 * then the effective model's {@code pytorch-native-cpu} classifier and the shaded jar's classifier are
 * read. Platforms DJL does not publish must stop in validate with the enforcer's message, even when
 * the same run resolves dependencies ({@code validate dependency:resolve}). Windows can
 * only be forced ({@code -Dioi.platform=win-x86_64}): under {@code os.name=Windows} Maven's own console
 * library (jansi) loads Windows DLLs and the JVM dies before reading the pom. The faked runs are offline
 * ({@code -o}) because a JVM told it is on macOS cannot open sockets; the first, real run has fetched
 * the plugins they need.
 *
 * <p>{@link #everyPublishedClassifierResolves()}: whether each platform's jar is on the configured
 * repositories, asked through Maven's own resolution (settings.xml, mirrors, proxies, the local
 * repository), but without downloading 4 x 40-110 MB in every CI run: Maven resolves the
 * {@code pytorch-native-cpu-2.7.1-PLATFORM.jar.sha1} artifact, the 40-byte checksum file every
 * repository deploys beside the jar and that Maven itself fetches to verify it. A jar in the local
 * repository (this machine's platform, after a build) is checked against it. A classifier DJL does
 * not publish ({@code osx-x86_64}) must fail to resolve, which shows the check can fail. Once
 * resolved the checksums stay in the local repository like any dependency.
 */
class NativePlatformTest {
    private static final Path ROOT = findRoot();
    private static final Path POM = ROOT.resolve("kernel-lib/pom.xml");
    /** What DJL publishes for pytorch-native-cpu 2.7.1 on Maven Central (kernel-lib/pom.xml, ioi.platforms.published). */
    private static final List<String> PUBLISHED = List.of("linux-x86_64", "linux-aarch64", "osx-aarch64", "win-x86_64");
    private static final Pattern SHA1 = Pattern.compile("[0-9a-f]{40}");
    private static final long TIMEOUT_MINUTES = 5;
    /** Pinned, so that runs are reproducible and the offline runs find what the first one fetched; help 3.6 needs Maven 3.9, the README asks for 3.8+. */
    private static final String DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1";
    private static final String HELP_PLUGIN = "org.apache.maven.plugins:maven-help-plugin:3.5.2";

    @TempDir
    Path tmp;

    /** A platform as one Maven run sees it, and what the effective model must say. */
    private record Case(String label, String osName, String osArch, String forced, String classifier,
            String jarClassifier, String error) {}

    @Test
    void profilesPickDjlsClassifier() throws Exception {
        String host = hostPlatform();
        List<Case> cases = new ArrayList<>();
        // First, unfaked and online: also fetches the enforcer, help and dependency plugins for the
        // offline runs below.
        cases.add(host == null
                ? new Case("this machine", null, null, null, null, null, "No bundled libtorch for ioi.platform=unknown")
                : new Case("this machine", null, null, null, host, "all", null));
        cases.add(new Case("Linux on ARM", "Linux", "aarch64", null, "linux-aarch64", "all", null));
        cases.add(new Case("Apple silicon", "Mac OS X", "aarch64", null, "osx-aarch64", "all", null));
        cases.add(new Case("Intel Mac", "Mac OS X", "x86_64", null, null, null,
                "DJL publishes no pytorch-native-cpu 2.7.1 for osx-x86_64 (Intel Macs)"));
        cases.add(new Case("FreeBSD", "FreeBSD", "amd64", null, null, null,
                "No bundled libtorch for ioi.platform=unknown (this JVM: os.name=FreeBSD, os.arch=amd64)"));
        cases.add(new Case("forced Windows", null, null, "win-x86_64", "win-x86_64", "all-win-x86_64", null));
        cases.add(new Case("forced Intel Mac", null, null, "osx-x86_64", null, null,
                "DJL publishes no pytorch-native-cpu 2.7.1 for osx-x86_64 (Intel Macs)"));
        cases.add(new Case("forced Apple silicon", null, null, "osx-aarch64", "osx-aarch64", "all-osx-aarch64", null));

        for (Case c : cases) {
            Path out = tmp.resolve("effective-" + cases.indexOf(c) + ".xml");
            List<String> args = new ArrayList<>(List.of("-f", POM.toString(), "validate"));
            if (c.error() == null) {
                args.addAll(List.of(HELP_PLUGIN + ":effective-pom", "-Doutput=" + out));
            }
            if (c.error() != null || c.osName() == null && c.forced() == null) {
                // Resolving dependencies in the same run proves the enforcer rule runs first: Maven resolves
                // the dependencies of every goal of the run at the first mojo that needs any, so an
                // unresolvable classifier would fail there with a bare "could not find artifact". On this
                // machine it also resolves what the real build resolves (cached: this test was compiled).
                args.add(DEPENDENCY_PLUGIN + ":resolve");
            }
            if (c.forced() != null) {
                args.add("-Dioi.platform=" + c.forced());
            }
            Map<String, String> env = new LinkedHashMap<>();
            if (c.osName() != null) {
                // JDK_JAVA_OPTIONS, unlike MAVEN_OPTS, keeps the quoted space in "Mac OS X"
                env.put("JDK_JAVA_OPTIONS", "-Dos.name=\"" + c.osName() + "\" -Dos.arch=" + c.osArch());
                args.add(0, "-o");
            }
            Result r = mvn(args, env);
            String what = c.label() + " (" + String.join(" ", args) + (env.isEmpty() ? "" : ", " + env) + ")";
            if (c.error() != null) {
                assertNotEquals(0, r.exit(), what + " must fail in validate, but Maven succeeded:\n" + r.output());
                assertTrue(r.output().contains(c.error()), what + " must fail with '" + c.error() + "', got:\n" + r.output());
                assertTrue(r.output().contains("maven-enforcer-plugin"), what + " must be stopped by the enforcer"
                        + " rule (before any jar is resolved), got:\n" + r.output());
                System.out.println(c.label() + ": build stops with the enforcer's message, as expected");
                continue;
            }
            assertEquals(0, r.exit(), what + " failed:\n" + r.output());
            Document pom = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(out.toFile());
            assertEquals(c.classifier(), nativeClassifier(pom), what + ": pytorch-native-cpu classifier");
            assertEquals(c.jarClassifier(), shadedClassifier(pom), what + ": shaded jar classifier");
            System.out.println(c.label() + ": pytorch-native-cpu:" + c.classifier() + ", kernel-lib-*-" + c.jarClassifier()
                    + ".jar");
        }
    }

    @Test
    void everyPublishedClassifierResolves() throws Exception {
        Path ok = tmp.resolve("published");
        Result r = resolveChecksums(ok, PUBLISHED);
        assertEquals(0, r.exit(), "Maven could not resolve the checksum of every published pytorch-native-cpu 2.7.1"
                + " classifier " + PUBLISHED + " from the configured repositories:\n" + r.output());
        for (String platform : PUBLISHED) {
            String name = "pytorch-native-cpu-2.7.1-" + platform + ".jar.sha1";
            Path sha1File = ok.resolve("out").resolve(name);
            assertTrue(Files.isRegularFile(sha1File), name + " was not resolved into " + sha1File.getParent() + ":\n"
                    + r.output());
            String sha1 = Files.readString(sha1File).strip().split("\\s+")[0].toLowerCase(Locale.ROOT);
            assertTrue(SHA1.matcher(sha1).matches(), name + " holds '" + sha1 + "', not a SHA-1");
            Path jar = localRepository().resolve("ai/djl/pytorch/pytorch-native-cpu/2.7.1/pytorch-native-cpu-2.7.1-"
                    + platform + ".jar");
            if (Files.isRegularFile(jar)) {
                assertEquals(sha1, sha1(jar), jar + " does not match the repository's " + name);
                System.out.println(platform + ": jar.sha1 " + sha1 + " resolved; matches the jar in the local repository");
            } else {
                System.out.println(platform + ": jar.sha1 " + sha1 + " resolved (jar not downloaded)");
            }
        }
        Result missing = resolveChecksums(tmp.resolve("unpublished"), List.of("osx-x86_64"));
        assertNotEquals(0, missing.exit(), "pytorch-native-cpu 2.7.1:osx-x86_64 resolved, but DJL does not publish it:"
                + " update the Intel-Mac message of kernel-lib/pom.xml and the README's platform table\n" + missing.output());
        assertTrue(missing.output().contains("pytorch-native-cpu") && missing.output().contains("osx-x86_64"),
                "the failed resolution must name the artifact:\n" + missing.output());
        System.out.println("osx-x86_64: not on the repositories, as the build's message says");
    }

    /** Resolves {@code pytorch-native-cpu-2.7.1-P.jar.sha1} for each platform P via a generated pom. */
    private Result resolveChecksums(Path dir, List<String> platforms) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        StringBuilder deps = new StringBuilder();
        for (String p : platforms) {
            deps.append("    <dependency><groupId>ai.djl.pytorch</groupId><artifactId>pytorch-native-cpu</artifactId>")
                    .append("<version>2.7.1</version><classifier>").append(p)
                    .append("</classifier><type>jar.sha1</type></dependency>\n");
        }
        Files.writeString(dir.resolve("pom.xml"), """
                <project xmlns="http://maven.apache.org/POM/4.0.0">
                  <modelVersion>4.0.0</modelVersion>
                  <groupId>ioi.check</groupId><artifactId>natives</artifactId><version>1</version>
                  <packaging>pom</packaging>
                  <dependencies>
                %s  </dependencies>
                </project>
                """.formatted(deps));
        return mvn(List.of("-f", dir.resolve("pom.xml").toString(),
                DEPENDENCY_PLUGIN + ":copy-dependencies",
                "-DoutputDirectory=" + dir.resolve("out")), Map.of());
    }

    private record Result(int exit, String output) {}

    /** Runs Maven (the one running this test when known) with the same local repository and offline flag. */
    private Result mvn(List<String> args, Map<String, String> env) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        String home = System.getProperty("ioi.maven.home", "");
        boolean windows = System.getProperty("os.name").toLowerCase(Locale.ROOT).startsWith("windows");
        Path exe = home.isBlank() ? null : Path.of(home, "bin", windows ? "mvn.cmd" : "mvn");
        cmd.add(exe != null && Files.isRegularFile(exe) ? exe.toString() : (windows ? "mvn.cmd" : "mvn"));
        cmd.addAll(List.of("-B", "-Dstyle.color=never"));
        String repo = System.getProperty("ioi.maven.repo.local", "");
        if (!repo.isBlank()) {
            cmd.add("-Dmaven.repo.local=" + repo);
        }
        if (System.getProperty("ioi.maven.offline", "").equals("offline=true") && !args.contains("-o")) {
            cmd.add("-o");
        }
        cmd.addAll(args);
        Path log = Files.createTempFile(tmp, "mvn", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove("MAVEN_OPTS");
        pb.environment().remove("JDK_JAVA_OPTIONS");
        pb.environment().putAll(env);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new IllegalStateException("Cannot start " + cmd.get(0) + " (" + e.getMessage() + "): this test asks"
                    + " Maven about the platform profiles; run it through Maven or put mvn on PATH", e);
        }
        if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail(String.join(" ", cmd) + " did not finish within " + TIMEOUT_MINUTES + " minutes:\n" + Files.readString(log));
        }
        return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    }

    /** DJL's name for this JVM's platform, or null where DJL publishes no libtorch 2.7.1. */
    static String hostPlatform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        boolean x64 = arch.equals("amd64") || arch.equals("x86_64");
        boolean arm = arch.equals("aarch64");
        if (os.startsWith("linux")) {
            return x64 ? "linux-x86_64" : arm ? "linux-aarch64" : null;
        }
        if (os.startsWith("mac")) {
            return arm ? "osx-aarch64" : null;
        }
        if (os.startsWith("windows")) {
            return x64 ? "win-x86_64" : null;
        }
        return null;
    }

    /** The classifier of the pytorch-native-cpu dependency in an effective pom. */
    private static String nativeClassifier(Document pom) {
        NodeList deps = pom.getElementsByTagName("dependency");
        List<String> found = new ArrayList<>();
        for (int i = 0; i < deps.getLength(); i++) {
            Element d = (Element) deps.item(i);
            if ("pytorch-native-cpu".equals(child(d, "artifactId")) && d.getParentNode().getParentNode() == pom.getDocumentElement()) {
                found.add(child(d, "classifier"));
            }
        }
        assertEquals(1, found.size(), "expected one pytorch-native-cpu dependency in the effective pom, found " + found);
        return found.get(0);
    }

    /** {@code shadedClassifierName} of the maven-shade-plugin in an effective pom. */
    private static String shadedClassifier(Document pom) {
        NodeList names = pom.getElementsByTagName("shadedClassifierName");
        assertEquals(1, names.getLength(), "expected one shadedClassifierName in the effective pom");
        return names.item(0).getTextContent().strip();
    }

    private static String child(Element e, String name) {
        for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element c && c.getTagName().equals(name)) {
                return c.getTextContent().strip();
            }
        }
        return null;
    }

    private static Path localRepository() {
        String repo = System.getProperty("ioi.maven.repo.local", "");
        return repo.isBlank() ? Path.of(System.getProperty("user.home"), ".m2", "repository") : Path.of(repo);
    }

    private static String sha1(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-1");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path findRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("kernel-lib/pom.xml"))) {
                return p;
            }
        }
        throw new IllegalStateException("no kernel-lib/pom.xml above " + Path.of("").toAbsolutePath());
    }
}
