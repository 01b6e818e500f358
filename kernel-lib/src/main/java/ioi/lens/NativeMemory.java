package ioi.lens;

import com.sun.jna.Library;
import com.sun.jna.Native;

/**
 * Gives memory freed by native code back to the operating system. Loading and processing the
 * weights allocates and frees several copies of them through glibc's malloc, which keeps the freed
 * pages: about 500 MiB of resident memory for GPT-2 small that no array uses (measured, see
 * docs/benchmarks.md). {@code malloc_trim(0)} returns them. JNA comes with DJL; on a C library
 * without {@code malloc_trim} (musl, macOS) this does nothing.
 */
final class NativeMemory {

    private interface CLibrary extends Library {
        int malloc_trim(long pad);
    }

    private static final CLibrary LIBC = loadLibc();

    private NativeMemory() {}

    private static CLibrary loadLibc() {
        try {
            CLibrary lib = Native.load("c", CLibrary.class);
            lib.malloc_trim(0); // probe: fails here, once, where the symbol is missing
            return lib;
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            return null;
        }
    }

    /** Returns free heap pages to the OS; true if the C library could do it. */
    static boolean trim() {
        if (LIBC == null) {
            return false;
        }
        LIBC.malloc_trim(0);
        return true;
    }
}
