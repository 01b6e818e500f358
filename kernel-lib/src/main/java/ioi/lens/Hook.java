package ioi.lens;

import java.util.Objects;
import java.util.function.Predicate;

/**
 * A hook function and the hook points it goes on: one exact TransformerLens name
 * ({@code "blocks.9.attn.hook_pattern"}) or a predicate over names, as TL's
 * {@code fwd_hooks=[(name_or_filter, fn)]}.
 */
public record Hook(String name, Predicate<String> filter, HookFunction fn) {

    public Hook {
        Objects.requireNonNull(fn, "fn");
        if ((name == null) == (filter == null)) {
            throw new IllegalArgumentException("a Hook needs exactly one of a name or a filter");
        }
    }

    /** A hook on the hook point with this exact name; unknown names fail when the hook is added. */
    public static Hook of(String name, HookFunction fn) {
        return new Hook(Objects.requireNonNull(name, "name"), null, fn);
    }

    /** A hook on every hook point whose name the filter accepts. */
    public static Hook matching(Predicate<String> filter, HookFunction fn) {
        return new Hook(null, Objects.requireNonNull(filter, "filter"), fn);
    }
}
