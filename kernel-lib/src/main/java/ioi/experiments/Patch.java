package ioi.experiments;

import ai.djl.ndarray.NDArray;
import ioi.lens.ActivationCache;
import java.util.Objects;

/**
 * One edit of the corrupted run: at hook point {@code hookName}, the entries {@code region}
 * selects take their values from {@code source}. A cell of a patching experiment is a list of
 * patches (TL's patch setters are one-patch cells: {@code act[:, pos] = clean[:, pos]}).
 *
 * @param hookName a TransformerLens hook name, e.g. {@code blocks.9.attn.hook_z}
 * @param region what to replace
 * @param source the values, the activation of that hook on another run of the same batch
 *     ([batch, ...] over the full sequence, e.g. the clean cache's); borrowed, not copied: keep it
 *     open while the patching runs
 */
public record Patch(String hookName, Region region, NDArray source) {

    public Patch {
        Objects.requireNonNull(hookName, "hookName");
        Objects.requireNonNull(region, "region");
        Objects.requireNonNull(source, "source");
    }

    /** Patch {@code region} of {@code hookName} with that hook's activation in {@code cache}. */
    public static Patch fromCache(ActivationCache cache, String hookName, Region region) {
        return new Patch(hookName, region, cache.get(hookName));
    }
}
