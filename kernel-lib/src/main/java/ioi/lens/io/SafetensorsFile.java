package ioi.lens.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.CheckpointException;
import ioi.lens.io.Safetensors.TensorInfo;

import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;

import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An open, fully validated safetensors file (see {@link Safetensors} for the format). Tensor data is
 * memory-mapped copy-on-write ({@link FileChannel.MapMode#PRIVATE}) when the file can be opened
 * for writing, so float32 and integer tensors are wrapped without copying and an in-place op on a
 * loaded array can neither change the file nor fault; otherwise (a read-only file) the bytes are
 * copied. Loaded arrays stay valid after {@link #close()}. As with any mapping, another process
 * truncating the file while it is in use is not supported.
 */
public final class SafetensorsFile implements AutoCloseable {

    static final String METADATA = "__metadata__";

    /** Upper bound on the JSON header; real headers are kilobytes. */
    static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path file;
    private final FileChannel channel;
    private final boolean copyOnWrite;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path file, FileChannel channel, boolean copyOnWrite, long dataStart,
            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.copyOnWrite = copyOnWrite;
        this.dataStart = dataStart;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    static SafetensorsFile open(Path file) {
        FileChannel ch;
        boolean copyOnWrite = true;
        try {
            // MapMode.PRIVATE requires a channel opened for writing; nothing is ever written.
            ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": expected a safetensors file but found no file", e);
        } catch (IOException | UnsupportedOperationException e) {
            copyOnWrite = false;
            try {
                ch = FileChannel.open(file, StandardOpenOption.READ);
            } catch (IOException e2) {
                throw new CheckpointException(file + ": could not open safetensors file: " + e2, e2);
            }
        }
        try {
            return parse(file, ch, copyOnWrite);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        } catch (IOException e) {
            closeQuietly(ch);
            throw new CheckpointException(file + ": could not read safetensors file: " + e, e);
        }
    }

    private static SafetensorsFile parse(Path file, FileChannel ch, boolean copyOnWrite)
            throws IOException {
        long fileSize = ch.size();
        if (fileSize < 8) {
            throw fail(file, "expected a safetensors file of at least 8 bytes but found "
                    + fileSize + " bytes");
        }
        long n = readFully(file, ch, 0, ByteBuffer.allocate(8))
                .order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        if (n < 2 || n > MAX_HEADER_BYTES) {
            throw fail(file, "expected a header length between 2 and " + MAX_HEADER_BYTES
                    + " bytes but found " + Long.toUnsignedString(n) + " (not a safetensors file?)");
        }
        if (8 + n > fileSize) {
            throw fail(file, "header length " + n + " runs past the end of the file: expected a file"
                    + " of at least " + (8 + n) + " bytes but found " + fileSize
                    + " bytes (file truncated or not safetensors?)");
        }
        String json;
        try {
            json = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(readFully(file, ch, 8, ByteBuffer.allocate((int) n)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw fail(file, "expected a UTF-8 JSON header but found invalid UTF-8", e);
        }
        long dataSize = fileSize - 8 - n;
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        Set<String> seen = new HashSet<>();
        JsonReader r = new JsonReader(new StringReader(json));
        r.setStrictness(Strictness.STRICT);
        try {
            expect(file, r, JsonToken.BEGIN_OBJECT, "the header to be a JSON object");
            r.beginObject();
            while (r.hasNext()) {
                String name = r.nextName();
                if (!seen.add(name)) {
                    throw fail(file, "expected unique keys in the header but found '" + name
                            + "' twice");
                }
                if (name.equals(METADATA)) {
                    readMetadata(file, r, metadata);
                } else {
                    tensors.put(name, readTensor(file, r, name, dataSize, fileSize, n));
                }
            }
            r.endObject();
            if (r.peek() != JsonToken.END_DOCUMENT) {
                throw fail(file, "expected the header to end after its JSON object but found "
                        + r.peek());
            }
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw fail(file, "expected a JSON header but found invalid JSON: " + e.getMessage(), e);
        }
        checkOverlaps(file, tensors);
        return new SafetensorsFile(file, ch, copyOnWrite, 8 + n, tensors, metadata);
    }

    private static void readMetadata(Path file, JsonReader r, Map<String, String> metadata)
            throws IOException {
        expect(file, r, JsonToken.BEGIN_OBJECT, METADATA + " to be an object of strings");
        r.beginObject();
        while (r.hasNext()) {
            String key = r.nextName();
            expect(file, r, JsonToken.STRING, METADATA + " '" + key + "' to be a string");
            metadata.put(key, r.nextString());
        }
        r.endObject();
    }

    private static TensorInfo readTensor(Path file, JsonReader r, String name, long dataSize,
            long fileSize, long headerSize) throws IOException {
        String where = "tensor '" + name + "'";
        expect(file, r, JsonToken.BEGIN_OBJECT, where + " to be an object");
        String dtype = null;
        long[] shape = null;
        long[] offsets = null;
        r.beginObject();
        while (r.hasNext()) {
            switch (r.nextName()) {
                case "dtype" -> {
                    expect(file, r, JsonToken.STRING, where + " dtype to be a string");
                    dtype = r.nextString();
                }
                case "shape" -> shape = readLongs(file, r, where + " shape");
                case "data_offsets" -> offsets = readLongs(file, r, where + " data_offsets");
                default -> r.skipValue(); // unknown keys are ignored, as by the reference reader
            }
        }
        r.endObject();
        if (dtype == null || shape == null || offsets == null) {
            throw fail(file, where + ": expected keys dtype, shape and data_offsets but found "
                    + (dtype == null ? "no dtype" : shape == null ? "no shape" : "no data_offsets"));
        }
        Integer elemBytes = Safetensors.DTYPE_BYTES.get(dtype);
        if (elemBytes == null) {
            throw fail(file, where + ": expected dtype one of " + Safetensors.DTYPES
                    + " but found '" + dtype + "'");
        }
        if (offsets.length != 2 || offsets[0] > offsets[1]) {
            throw fail(file, where + ": expected data_offsets [begin, end] with begin <= end but"
                    + " found " + Arrays.toString(offsets));
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (end > dataSize) {
            throw fail(file, where + ": data_offsets [" + begin + ", " + end + "] run past the end"
                    + " of the data section: expected end <= " + dataSize + " but found " + end
                    + "; expected a file of at least " + (8 + headerSize + end) + " bytes but found "
                    + fileSize + " (file truncated?)");
        }
        long needed;
        try {
            long numel = 1;
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            needed = Math.multiplyExact(numel, (long) elemBytes);
        } catch (ArithmeticException e) {
            throw fail(file, where + ": shape " + Arrays.toString(shape) + " of " + dtype
                    + " is too large: expected a byte size that fits in 64 bits but found an overflow");
        }
        if (end - begin != needed) {
            throw fail(file, where + " data_offsets [" + begin + ", " + end + "] hold "
                    + (end - begin) + " bytes but shape " + Arrays.toString(shape) + " of " + dtype
                    + " needs " + needed + " bytes");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** Reads a JSON array of non-negative integer literals (no fractions, exponents or signs). */
    private static long[] readLongs(Path file, JsonReader r, String what) throws IOException {
        expect(file, r, JsonToken.BEGIN_ARRAY, what + " to be a list of non-negative integers");
        List<Long> values = new ArrayList<>();
        r.beginArray();
        while (r.hasNext()) {
            expect(file, r, JsonToken.NUMBER, what + " to be a list of non-negative integers");
            String literal = r.nextString();
            long v;
            try {
                v = Long.parseLong(literal);
            } catch (NumberFormatException e) {
                v = -1;
            }
            if (v < 0 || literal.startsWith("-")) {
                throw fail(file, what + ": expected non-negative integers but found " + literal);
            }
            values.add(v);
        }
        r.endArray();
        return values.stream().mapToLong(Long::longValue).toArray();
    }

    private static void expect(Path file, JsonReader r, JsonToken token, String expected)
            throws IOException {
        JsonToken found = r.peek();
        if (found != token) {
            throw fail(file, "expected " + expected + " but found " + found);
        }
    }

    /** Sorts the non-empty tensors by begin and checks that none starts before the previous ends. */
    private static void checkOverlaps(Path file, Map<String, TensorInfo> tensors) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : tensors.values()) {
            if (t.end() > t.begin()) {
                sorted.add(t);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo prev = sorted.get(i - 1);
            TensorInfo cur = sorted.get(i);
            if (cur.begin() < prev.end()) {
                throw fail(file, "tensors '" + prev.name() + "' [" + prev.begin() + ", "
                        + prev.end() + "] and '" + cur.name() + "' [" + cur.begin() + ", "
                        + cur.end() + "] overlap: expected disjoint data_offsets");
            }
        }
    }

    /** The file this was opened from. */
    public Path path() {
        return file;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The {@code __metadata__} map, empty if the file has none. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The validated header entry of a tensor. */
    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            List<String> some = tensors.keySet().stream().limit(5).toList();
            throw fail(file, "expected a tensor named '" + name + "' but found none; the file has "
                    + tensors.size() + " tensors" + (some.isEmpty() ? "" : ", e.g. " + some));
        }
        return t;
    }

    /**
     * Loads a tensor: F32, F16 and BF16 become FLOAT32 (exact upcast), I64 and I32 keep their type.
     * The array belongs to {@code manager}.
     */
    public NDArray load(String name, NDManager manager) {
        TensorInfo t = info(name);
        Shape shape = new Shape(t.shape());
        long numel = t.numel();
        long bytes = t.end() - t.begin();
        DataType out = switch (t.dtype()) {
            case "I64" -> DataType.INT64;
            case "I32" -> DataType.INT32;
            default -> DataType.FLOAT32;
        };
        if (numel == 0) {
            return manager.zeros(shape, out);
        }
        long outBytes = t.dtype().equals("BF16") ? 2 * bytes : bytes;
        if (outBytes > Integer.MAX_VALUE) {
            throw fail(file, "tensor '" + name + "': expected at most " + Integer.MAX_VALUE
                    + " bytes per tensor but found " + outBytes);
        }
        Safetensors.requireLittleEndianPlatform(file);
        if (!channel.isOpen()) {
            throw fail(file, "expected an open file to load tensor '" + name + "' but it was closed");
        }
        try {
            if (t.dtype().equals("F16")) {
                try (NDArray half = manager.create(data(t, 2), shape, DataType.FLOAT16)) {
                    return half.toType(DataType.FLOAT32, true); // exact: every half is a float
                }
            }
            if (t.dtype().equals("BF16")) {
                // bfloat16 is the top half of a float32: shifting the bits up is exact.
                ByteBuffer src = data(t, 1).order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer dst = aligned((int) outBytes);
                for (int i = 0; i < numel; i++) {
                    dst.putInt(4 * i, (src.getShort(2 * i) & 0xFFFF) << 16);
                }
                return manager.create(dst, shape, out);
            }
            return manager.create(data(t, out.getNumOfBytes()), shape, out); // F32, I64, I32
        } catch (IOException e) {
            throw new CheckpointException(file + ": could not read tensor '" + name + "': " + e, e);
        }
    }

    /**
     * The tensor's bytes as a direct, position-0, native-order buffer aligned to {@code align}: a
     * private mapping when possible, else a copy.
     */
    private ByteBuffer data(TensorInfo t, int align) throws IOException {
        long pos = dataStart + t.begin();
        int len = (int) (t.end() - t.begin());
        if (copyOnWrite) {
            ByteBuffer mapped = channel.map(FileChannel.MapMode.PRIVATE, pos, len);
            if (mapped.alignmentOffset(0, align) == 0) {
                return mapped.order(ByteOrder.nativeOrder());
            }
        }
        return readFully(file, channel, pos, aligned(len));
    }

    /** A zeroed direct native-order buffer of {@code len} bytes whose address is 8-aligned. */
    private static ByteBuffer aligned(int len) {
        return ByteBuffer.allocateDirect(len + 16).alignedSlice(8).slice(0, len)
                .order(ByteOrder.nativeOrder());
    }

    /** Fills {@code buf} (position 0) from {@code pos} on and returns it rewound. */
    private static ByteBuffer readFully(Path file, FileChannel ch, long pos, ByteBuffer buf)
            throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf, pos + buf.position()) < 0) {
                throw fail(file, "expected " + buf.capacity() + " bytes at offset " + pos
                        + " but the file ended after " + buf.position() + " (file truncated?)");
            }
        }
        return buf.flip();
    }

    /** Closes the file. Arrays loaded from it remain valid. */
    @Override
    public void close() {
        closeQuietly(channel);
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + file + ", " + tensors.size() + " tensors]";
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing useful to do: the channel was only read
        }
    }

    private static CheckpointException fail(Path file, String message) {
        return new CheckpointException(file + ": " + message);
    }

    private static CheckpointException fail(Path file, String message, Throwable cause) {
        return new CheckpointException(file + ": " + message, cause);
    }
}
