package ioi.lens;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes the garbage collector free what it can now, then reuses freed native memory: in a test, the
 * moment between a forward and a backward pass where a constant DJL kept only on the Java heap
 * would be freed and overwritten ({@link Scalar}).
 */
public final class Collect {
    private Collect() {}

    public static void garbage() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            try {
                Thread.sleep(30); // the Cleaner thread frees direct buffers after a collection
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        List<ByteBuffer> reuse = new ArrayList<>();
        for (int i = 0; i < 2000; i++) { // small blocks: the sizes of freed 0-d constants
            ByteBuffer b = ByteBuffer.allocateDirect(8);
            b.putDouble(0, 1e30);
            reuse.add(b);
        }
        reuse.clear();
    }
}
