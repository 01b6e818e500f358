package ioi.lens;

import java.util.Set;

/**
 * Which flag-gated hook points fire in a forward pass: those whose TransformerLens flag is on for
 * the model, and those that have a hook registered (so a hook is never silently skipped).
 */
record Flags(Set<String> enabled) {

    boolean on(HookPoint point) {
        return point.flag() == null || enabled.contains(point.flag()) || point.hasHooks();
    }
}
