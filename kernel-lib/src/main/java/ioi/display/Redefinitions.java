package ioi.display;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import jdk.jshell.JShell;
import jdk.jshell.Snippet;
import jdk.jshell.VarSnippet;

/**
 * Re-running a notebook cell frees what it replaced. When a cell redefines or reassigns a variable
 * ({@code var cache = model.runWithCache(tokens);} run again), the value the variable held before is
 * closed if it is one of the library's own resources (an {@link AutoCloseable} of a class in
 * {@code ioi.*}: caches, models, patching runs and results, hook scopes) and no other variable holds
 * it. Without this a re-run cell keeps its previous cache or grid alive for the rest of the session:
 * JShell never lets go of an overwritten variable's value (the kernel's class loader keeps every
 * snippet class, and with it the old value), so neither the garbage collector nor the user can free
 * it any more.
 *
 * <p>How: a listener on the kernel's {@link JShell} ({@link JShell#onSnippetEvent}, called after each
 * snippet has run) reads every active variable's value (JJava runs snippets in the kernel's JVM; each
 * variable is a static field of its snippet's wrapper class) and closes the library resources that
 * were held by a variable at the previous event and are held by none now. JShell offers no
 * other way to see a replaced value (no API returns a variable's object, and JJava has no cell hooks),
 * so the wrapper class name is read from JShell by reflection, which JJava's launcher permits
 * ({@code --add-opens jdk.jshell/jdk.jshell}). If any of that fails, nothing is closed and the kernel
 * runs on as before; the reason is printed once.
 *
 * <p>What it cannot see: a value kept only inside a collection, a field or a lambda of the user's is
 * closed when its variable is redefined, and then says so when used ("... is closed"). To keep such a
 * value, hold it in a variable of its own, or switch this off with {@link #enabled(boolean)}.
 */
public final class Redefinitions {

    private static volatile boolean enabled = true;

    private final JShell shell;
    private final ClassLoader loader;
    private final Method classFullName;
    private final Consumer<String> log;
    /** Variable name -> the library resource it held at the last event. */
    private Map<String, Object> held = new LinkedHashMap<>();
    private boolean warned;

    Redefinitions(JShell shell, ClassLoader loader, Consumer<String> log) throws ReflectiveOperationException {
        this.shell = shell;
        this.loader = loader;
        this.log = log;
        this.classFullName = Snippet.class.getDeclaredMethod("classFullName");
        this.classFullName.setAccessible(true);
    }

    /**
     * Turns the closing of replaced values on (the default) or off for this kernel. Values replaced
     * while it is off are never closed by it, also not after it is switched on again.
     */
    public static void enabled(boolean on) {
        enabled = on;
    }

    /**
     * Listens on the kernel's JShell (JJava's {@code JavaKernel.getJShell()}, found by reflection: the
     * kernel's own artifact is not published for compiling against). Returns what stops listening;
     * when this kernel has no JShell to listen on, the reason is logged and nothing is closed.
     */
    static Runnable install(Object kernel, Consumer<String> log) {
        try {
            JShell shell = (JShell) kernel.getClass().getMethod("getJShell").invoke(kernel);
            Object evaluator = kernel.getClass().getMethod("getEvaluator").invoke(kernel);
            ClassLoader loader = (ClassLoader) evaluator.getClass().getMethod("getClassLoader").invoke(evaluator);
            Redefinitions r = new Redefinitions(shell, loader, log);
            JShell.Subscription s = shell.onSnippetEvent(e -> r.reconcile());
            return () -> shell.unsubscribe(s);
        } catch (ReflectiveOperationException | RuntimeException e) {
            log.accept("ioi: re-run cells will not free the values they replace (" + e + ")");
            return () -> {};
        }
    }

    /** Closes the library resources no variable holds any more; remembers the ones held now. */
    synchronized void reconcile() {
        Map<String, Object> now = values();
        if (!enabled) { // switched off: follow the variables, close nothing (not later either)
            held = tracked(now);
            return;
        }
        Set<Object> live = Collections.newSetFromMap(new IdentityHashMap<>());
        live.addAll(now.values());
        Set<Object> closed = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Map.Entry<String, Object> e : held.entrySet()) {
            Object old = e.getValue();
            if (!live.contains(old) && closed.add(old)) {
                close(e.getKey(), old);
            }
        }
        held = tracked(now);
    }

    private static Map<String, Object> tracked(Map<String, Object> values) {
        Map<String, Object> out = new LinkedHashMap<>();
        values.forEach((name, value) -> {
            if (isLibraryResource(value)) {
                out.put(name, value);
            }
        });
        return out;
    }

    /**
     * Every active variable's current value, by name. A variable whose value cannot be read (not yet
     * defined, or its class not found) keeps the value it held, so that it is never closed by mistake.
     */
    private Map<String, Object> values() {
        Map<String, Object> out = new LinkedHashMap<>();
        List<VarSnippet> vars = new ArrayList<>(shell.variables().toList());
        for (VarSnippet v : vars) {
            if (!shell.status(v).isActive()) {
                continue;
            }
            try {
                if (shell.status(v) != Snippet.Status.VALID) {
                    throw new IllegalStateException("status " + shell.status(v));
                }
                Class<?> wrapper = Class.forName((String) classFullName.invoke(v), false, loader);
                Field f = wrapper.getDeclaredField(v.name());
                f.setAccessible(true);
                Object value = f.get(null);
                if (value != null) {
                    out.put(v.name(), value);
                }
            } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
                Object before = held.get(v.name());
                if (before != null) {
                    out.put(v.name(), before);
                }
                if (!warned) {
                    warned = true;
                    log.accept("ioi: could not read variable '" + v.name() + "' (" + e + "); its value is kept");
                }
            }
        }
        return out;
    }

    static boolean isLibraryResource(Object value) {
        return value instanceof AutoCloseable && value.getClass().getName().startsWith("ioi.");
    }

    private void close(String name, Object old) {
        try {
            ((AutoCloseable) old).close();
            log.accept("ioi: closed the previous " + old.getClass().getSimpleName() + " of '" + name
                    + "' (the cell replaced it)");
        } catch (Exception e) {
            log.accept("ioi: could not close the previous value of '" + name + "': " + e);
        }
    }
}
