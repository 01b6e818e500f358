package ioi.lens;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * One named place in the forward pass where hooks can read or replace an activation, as
 * TransformerLens's {@code HookPoint}. It knows its full name ({@code blocks.3.attn.hook_z}), its
 * layer (-1 outside the blocks) and the names of its dimensions
 * ({@code [batch, pos, head_index, d_head]}), which are used to check what hooks return.
 */
public final class HookPoint {

    /** A registered hook function; identity is what {@link HookScope} removes. */
    static final class Registration {
        final HookFunction fn;
        final boolean permanent;
        /** The library's own capture hook: it takes what it keeps out of the pass's scope itself. */
        final boolean capture;

        Registration(HookFunction fn, boolean permanent, boolean capture) {
            this.fn = fn;
            this.permanent = permanent;
            this.capture = capture;
        }
    }

    private final String name;
    private final int layer;
    private final List<String> dims;
    private final String flag;
    private final List<Registration> hooks = new ArrayList<>();

    HookPoint(String name, int layer, List<String> dims, String flag) {
        this.name = name;
        this.layer = layer;
        this.dims = List.copyOf(dims);
        this.flag = flag;
    }

    /** The full TransformerLens name, e.g. {@code blocks.9.attn.hook_pattern}. */
    public String name() {
        return name;
    }

    /** The block index, or -1 for {@code hook_embed}, {@code hook_pos_embed} and {@code ln_final.*}. */
    public int layer() {
        return layer;
    }

    /** Dimension names in TransformerLens's vocabulary, e.g. {@code [batch, pos, d_model]}. */
    public List<String> dims() {
        return dims;
    }

    /**
     * The TransformerLens config flag that gates this hook point ({@code use_attn_result},
     * {@code use_split_qkv_input}, {@code use_attn_in}, {@code use_hook_mlp_in}), or null if it
     * always fires. Gated points are switched on for any forward pass that has a hook on them.
     */
    public String flag() {
        return flag;
    }

    /** Whether any hook function is registered here. */
    public boolean hasHooks() {
        return !hooks.isEmpty();
    }

    /** Whether a user hook (not only the cache's capture) is registered here. */
    boolean hasUserHooks() {
        for (Registration r : hooks) {
            if (!r.capture) {
                return true;
            }
        }
        return false;
    }

    Registration add(HookFunction fn, boolean permanent) {
        return add(fn, permanent, false);
    }

    Registration add(HookFunction fn, boolean permanent, boolean capture) {
        Registration r = new Registration(fn, permanent, capture);
        hooks.add(r);
        return r;
    }

    boolean remove(Registration r) {
        return hooks.remove(r);
    }

    void removeAll(boolean includingPermanent) {
        hooks.removeIf(r -> includingPermanent || !r.permanent);
    }

    /**
     * Runs the hooks in the order they were added, each on the previous one's output. A hook's
     * replacement must have the activation's shape; otherwise this throws naming the hook point,
     * its dimensions and both shapes.
     */
    NDArray run(NDArray activation) {
        if (hooks.isEmpty()) {
            return activation;
        }
        NDArray current = activation;
        // Copy: a hook may add or remove hooks while running.
        for (Registration r : List.copyOf(hooks)) {
            NDArray replaced = r.fn.apply(current, this);
            if (replaced != null && replaced != current) {
                Shape expected = current.getShape();
                if (!replaced.getShape().equals(expected)) {
                    throw new IllegalStateException(name + ": a hook returned shape "
                            + replaced.getShape() + " but expected " + dims + " = " + expected);
                }
                if (replaced.getDataType() != current.getDataType()) {
                    throw new IllegalStateException(name + ": a hook returned dtype "
                            + replaced.getDataType() + " but expected " + current.getDataType());
                }
                current = replaced;
            }
        }
        return current;
    }

    @Override
    public String toString() {
        return "HookPoint(" + name + " " + dims + ")";
    }
}
