package ioi.display;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jdk.jshell.JShell;
import jdk.jshell.SnippetEvent;
import jdk.jshell.execution.DirectExecutionControl;
import jdk.jshell.execution.LoaderDelegate;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Re-run cells close what they replaced, on a real JShell run in this JVM the way JJava runs it
 * (direct execution, snippet classes in one class loader the kernel can name): redefinition, plain
 * reassignment, a value still held by another variable, values that are not the library's, a
 * redefinition whose initializer throws, and switching it off.
 */
public class RedefinitionsTest {   // public: the snippets name its Res

    /** A library resource (its class is in {@code ioi.*}): counts its closes. */
    public static final class Res implements AutoCloseable {
        public static final Map<Integer, Integer> CLOSES = new ConcurrentHashMap<>();
        public final int id;

        public Res(int id) {
            this.id = id;
        }

        @Override
        public void close() {
            CLOSES.merge(id, 1, Integer::sum);
        }

        public static Res boom() {
            throw new IllegalStateException("boom");
        }
    }

    /** What JJava's kernel offers by the names Redefinitions looks up. */
    public static final class FakeKernel {
        private final JShell shell;
        private final FakeEvaluator evaluator;

        FakeKernel(JShell shell, ClassLoader loader) {
            this.shell = shell;
            this.evaluator = new FakeEvaluator(loader);
        }

        public JShell getJShell() {
            return shell;
        }

        public FakeEvaluator getEvaluator() {
            return evaluator;
        }
    }

    public static final class FakeEvaluator {
        private final ClassLoader loader;

        FakeEvaluator(ClassLoader loader) {
            this.loader = loader;
        }

        public ClassLoader getClassLoader() {
            return loader;
        }
    }

    /** Defines the snippet classes in one loader whose parent sees the test classes (JJava's JJavaClassLoader). */
    static final class SnippetLoader extends ClassLoader {
        private final Map<String, byte[]> bytes = new ConcurrentHashMap<>();

        SnippetLoader() {
            super(RedefinitionsTest.class.getClassLoader());
        }

        @Override
        protected Class<?> findClass(String name) throws ClassNotFoundException {
            byte[] b = bytes.get(name);
            if (b == null) {
                throw new ClassNotFoundException(name);
            }
            return defineClass(name, b, 0, b.length);
        }

        /** JShell's side: takes the compiled snippet classes and loads them here. */
        LoaderDelegate delegate() {
            return new LoaderDelegate() {
                @Override
                public void load(ExecutionControl.ClassBytecodes[] cbcs) throws ExecutionControl.ClassInstallException {
                    for (ExecutionControl.ClassBytecodes c : cbcs) {
                        bytes.put(c.name(), c.bytecodes());
                    }
                    try {
                        for (ExecutionControl.ClassBytecodes c : cbcs) {
                            loadClass(c.name());
                        }
                    } catch (ClassNotFoundException | LinkageError e) {
                        throw new ExecutionControl.ClassInstallException(e.toString(), new boolean[cbcs.length]);
                    }
                }

                @Override
                public void classesRedefined(ExecutionControl.ClassBytecodes[] cbcs) {
                    for (ExecutionControl.ClassBytecodes c : cbcs) {
                        bytes.put(c.name(), c.bytecodes());
                    }
                }

                @Override
                public void addToClasspath(String path) {}

                @Override
                public Class<?> findClass(String name) throws ClassNotFoundException {
                    return loadClass(name);
                }
            };
        }
    }

    private JShell shell;
    private final List<String> log = new ArrayList<>();
    private Runnable stop;

    @BeforeEach
    void start() throws Exception {
        Res.CLOSES.clear();
        Redefinitions.enabled(true);
        SnippetLoader loader = new SnippetLoader();
        ExecutionControlProvider direct = new ExecutionControlProvider() {
            @Override
            public String name() {
                return "ioi-test-direct";
            }

            @Override
            public ExecutionControl generate(ExecutionEnv env, Map<String, String> parameters) {
                return new DirectExecutionControl(loader.delegate());
            }
        };
        shell = JShell.builder().executionEngine(direct, Map.of()).build();
        CodeSource src = Res.class.getProtectionDomain().getCodeSource();
        shell.addToClasspath(Path.of(src.getLocation().toURI()).toString());
        stop = Redefinitions.install(new FakeKernel(shell, loader), log::add);
    }

    @AfterEach
    void end() {
        Redefinitions.enabled(true);
        stop.run();
        shell.close();
    }

    private void eval(String code) {
        for (SnippetEvent e : shell.eval(code)) {
            if (e.exception() != null && !code.contains("boom")) {
                throw new AssertionError(code + ": " + e.exception());
            }
            if (e.status() == jdk.jshell.Snippet.Status.REJECTED) {
                throw new AssertionError(code + " was rejected: "
                        + shell.diagnostics(e.snippet()).map(d -> d.getMessage(null)).toList());
            }
        }
    }

    private int closes(int id) {
        return Res.CLOSES.getOrDefault(id, 0);
    }

    @Test
    void aRedefinedVariableClosesItsPreviousValueOnce() {
        eval("var cache = new ioi.display.RedefinitionsTest.Res(1);");
        assertEquals(0, closes(1), "nothing is replaced on a first run: " + log);
        eval("var cache = new ioi.display.RedefinitionsTest.Res(2);");
        assertEquals(1, closes(1), "the re-run cell's previous value is closed: " + log);
        assertEquals(0, closes(2), "the new value stays open");
        eval("int unrelated = 3;");
        assertEquals(1, closes(1), "closed once, not at every later snippet");
        assertTrue(log.stream().anyMatch(l -> l.contains("'cache'")), "the closing is said: " + log);
    }

    @Test
    void aPlainReassignmentClosesTheValueNoVariableHolds() {
        eval("ioi.display.RedefinitionsTest.Res r = new ioi.display.RedefinitionsTest.Res(1);");
        eval("r = new ioi.display.RedefinitionsTest.Res(2);");
        assertEquals(1, closes(1), log.toString());
        assertEquals(0, closes(2));
    }

    @Test
    void aValueAnotherVariableStillHoldsIsNotClosed() {
        eval("ioi.display.RedefinitionsTest.Res a = new ioi.display.RedefinitionsTest.Res(1);");
        eval("ioi.display.RedefinitionsTest.Res keep = null;");
        eval("keep = a;");
        eval("a = new ioi.display.RedefinitionsTest.Res(2);");
        assertEquals(0, closes(1), "'keep' still holds it: " + log);
        eval("keep = null;");
        assertEquals(1, closes(1), "once no variable holds it, it is closed: " + log);
    }

    @Test
    void valuesThatAreNotTheLibrarysAreLeftAlone() {
        eval("var sb = new java.io.StringWriter();");
        eval("var sb = new java.io.StringWriter();");
        assertFalse(Redefinitions.isLibraryResource(new java.io.StringWriter()));
        assertTrue(Redefinitions.isLibraryResource(new Res(9)));
        assertTrue(log.stream().noneMatch(l -> l.contains("'sb'")), log.toString());
    }

    @Test
    void aRedefinitionWhoseInitializerThrowsStillFreesTheOldValue() {
        eval("var cache = new ioi.display.RedefinitionsTest.Res(1);");
        eval("var cache = ioi.display.RedefinitionsTest.Res.boom();");
        assertEquals(1, closes(1), "the variable no longer holds it (JShell set it to null): " + log);
    }

    @Test
    void switchedOffNothingIsClosed() {
        Redefinitions.enabled(false);
        eval("var cache = new ioi.display.RedefinitionsTest.Res(1);");
        eval("var cache = new ioi.display.RedefinitionsTest.Res(2);");
        assertEquals(0, closes(1), log.toString());
        Redefinitions.enabled(true);
        eval("int later = 1;");
        assertEquals(0, closes(1), "a value replaced while it was off stays open: " + log);
        eval("var cache = new ioi.display.RedefinitionsTest.Res(3);");
        assertEquals(1, closes(2), "switched on again, it frees what is replaced from then on: " + log);
    }
}
