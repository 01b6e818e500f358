package ioi.lens;

import java.util.ArrayList;
import java.util.List;

/**
 * The hooks added by one {@link HookedTransformer#hooks} call. Closing it removes exactly those
 * registrations and nothing else, also when the forward pass threw; use it with
 * try-with-resources. Closing twice is harmless.
 */
public final class HookScope implements AutoCloseable {

    private final List<HookPoint> points = new ArrayList<>();
    private final List<HookPoint.Registration> registrations = new ArrayList<>();

    void added(HookPoint point, HookPoint.Registration registration) {
        points.add(point);
        registrations.add(registration);
    }

    /** How many (hook point, function) registrations this scope holds. */
    public int size() {
        return registrations.size();
    }

    @Override
    public void close() {
        for (int i = registrations.size() - 1; i >= 0; i--) {
            points.get(i).remove(registrations.get(i));
        }
        points.clear();
        registrations.clear();
    }
}
