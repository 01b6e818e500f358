package ioi.lens.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ioi.lens.CheckpointException;

import com.google.gson.stream.JsonWriter;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Reads and writes <a href="https://github.com/huggingface/safetensors">safetensors</a> files.
 *
 * <p>Format: an 8-byte little-endian unsigned length {@code N}, then {@code N} bytes of UTF-8 JSON
 * (the header), then the data section. The header is an object mapping each tensor name to
 * {@code {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}}, offsets being relative
 * to the start of the data section, plus an optional {@code "__metadata__"} string-to-string map.
 * Tensor bytes are row-major and little-endian.
 *
 * <p>Only safetensors is supported, never PyTorch's pickle-based {@code .bin}/{@code .pt} files:
 * unpickling runs arbitrary code chosen by whoever made the file, whereas a safetensors file is
 * plain data. Because files come from the internet, {@link #open} validates the whole header
 * (types, shapes, offsets, sizes, overlaps) before any tensor byte is touched, and every problem is
 * reported as a {@link CheckpointException} naming the file, the tensor, what was expected and
 * what was found.
 */
public final class Safetensors {

    /** The dtypes this library reads and writes, with their element sizes in bytes. */
    static final Map<String, Integer> DTYPE_BYTES =
            Map.of("F32", 4, "F16", 2, "BF16", 2, "I64", 8, "I32", 4);

    /** The allowed dtypes, in the order listed in error messages. */
    static final List<String> DTYPES = List.of("F32", "F16", "BF16", "I64", "I32");

    private Safetensors() {}

    /**
     * One tensor's header entry, already validated.
     *
     * @param name the tensor name
     * @param dtype one of F32, F16, BF16, I64, I32 (the on-disk type)
     * @param shape the dimensions, each non-negative; empty for a scalar
     * @param begin first byte, relative to the data section
     * @param end one past the last byte, relative to the data section
     */
    public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
        public TensorInfo {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** Number of elements: the product of the shape (1 for a scalar). */
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d; // cannot overflow: validated when the header was read
            }
            return n;
        }

        @Override
        public String toString() {
            return name + " " + dtype + " " + Arrays.toString(shape) + " [" + begin + ", " + end + "]";
        }
    }

    /**
     * A float32 tensor as plain Java data, for writing checkpoints without an NDManager.
     *
     * @param shape the dimensions, each non-negative; empty for a scalar
     * @param data the elements in row-major order; its length must be the product of the shape
     */
    public record FloatTensor(long[] shape, float[] data) {
        public FloatTensor {
            long n = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException(
                            "expected non-negative dimensions but found shape " + Arrays.toString(shape));
                }
                n = Math.multiplyExact(n, d);
            }
            if (n != data.length) {
                throw new IllegalArgumentException("expected " + n + " floats for shape "
                        + Arrays.toString(shape) + " but found " + data.length);
            }
        }
    }

    /**
     * Opens and validates a safetensors file. Close the result when done; arrays already loaded
     * from it stay valid after closing.
     *
     * @throws CheckpointException if the file cannot be read or is not a valid safetensors file
     */
    public static SafetensorsFile open(Path file) {
        return SafetensorsFile.open(file);
    }

    /**
     * Writes tensors to {@code file} atomically (temp file in the same directory, then an atomic
     * rename), in the map's iteration order. Supported NDArray types: FLOAT32, FLOAT16, BFLOAT16,
     * INT64, INT32; they are stored unchanged.
     *
     * @param metadata the {@code __metadata__} map, may be empty or null
     * @throws CheckpointException for an unsupported type, a reserved name, or an I/O error
     */
    public static void write(Path file, Map<String, NDArray> tensors, Map<String, String> metadata) {
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            NDArray a = e.getValue();
            String dtype = switch (a.getDataType()) {
                case FLOAT32 -> "F32";
                case FLOAT16 -> "F16";
                case BFLOAT16 -> "BF16";
                case INT64 -> "I64";
                case INT32 -> "I32";
                default -> throw new CheckpointException(file + ": tensor '" + e.getKey()
                        + "': expected data type FLOAT32, FLOAT16, BFLOAT16, INT64 or INT32 but found "
                        + a.getDataType().name());
            };
            entries.add(new Entry(e.getKey(), dtype, a.getShape().getShape(), a.toByteBuffer()));
        }
        writeEntries(file, entries, metadata);
    }

    /** Writes float32 tensors from plain Java arrays, in the map's iteration order, with no metadata. */
    public static void writeFloats(Path file, Map<String, FloatTensor> tensors) {
        writeFloats(file, tensors, Map.of());
    }

    /** Writes float32 tensors from plain Java arrays, in the map's iteration order. */
    public static void writeFloats(
            Path file, Map<String, FloatTensor> tensors, Map<String, String> metadata) {
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, FloatTensor> e : tensors.entrySet()) {
            float[] data = e.getValue().data();
            ByteBuffer buf = ByteBuffer.allocate(Math.multiplyExact(data.length, 4))
                    .order(ByteOrder.LITTLE_ENDIAN);
            buf.asFloatBuffer().put(data);
            entries.add(new Entry(e.getKey(), "F32", e.getValue().shape(), buf));
        }
        writeEntries(file, entries, metadata);
    }

    /** A tensor to write: name, dtype, shape and its raw little-endian bytes. */
    private record Entry(String name, String dtype, long[] shape, ByteBuffer bytes) {}

    private static void writeEntries(Path file, List<Entry> entries, Map<String, String> metadata) {
        requireLittleEndianPlatform(file);
        byte[] header = header(file, entries, metadata);
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + file.getFileName() + "." + UUID.randomUUID() + ".tmp");
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(
                    tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                prefix.putLong(header.length).flip();
                writeFully(ch, prefix);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Entry e : entries) {
                    writeFully(ch, e.bytes().duplicate());
                }
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            moved = true;
        } catch (IOException e) {
            throw new CheckpointException(file + ": could not write safetensors file: " + e, e);
        } finally {
            if (!moved) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the temp file has a hidden, unique name
                }
            }
        }
    }

    /** Builds the JSON header, padded with spaces to a multiple of 8 bytes as the reference writer does. */
    private static byte[] header(Path file, List<Entry> entries, Map<String, String> metadata) {
        StringWriter out = new StringWriter();
        try (JsonWriter w = new JsonWriter(out)) {
            w.beginObject();
            if (metadata != null && !metadata.isEmpty()) {
                w.name(SafetensorsFile.METADATA).beginObject();
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    w.name(m.getKey()).value(m.getValue());
                }
                w.endObject();
            }
            long offset = 0;
            for (Entry e : entries) {
                if (e.name() == null || e.name().equals(SafetensorsFile.METADATA)) {
                    throw new CheckpointException(file + ": expected a tensor name other than "
                            + SafetensorsFile.METADATA + " or null but found " + e.name());
                }
                long numel = 1;
                for (long d : e.shape()) {
                    numel = Math.multiplyExact(numel, d);
                }
                long size = Math.multiplyExact(numel, DTYPE_BYTES.get(e.dtype()));
                if (size != e.bytes().remaining()) {
                    throw new CheckpointException(file + ": tensor '" + e.name() + "': shape "
                            + Arrays.toString(e.shape()) + " of " + e.dtype() + " needs " + size
                            + " bytes but the array holds " + e.bytes().remaining());
                }
                w.name(e.name()).beginObject();
                w.name("dtype").value(e.dtype());
                w.name("shape").beginArray();
                for (long d : e.shape()) {
                    w.value(d);
                }
                w.endArray();
                w.name("data_offsets").beginArray().value(offset).value(offset + size).endArray();
                w.endObject();
                offset += size;
            }
            w.endObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not throw
        }
        byte[] json = out.toString().getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) / 8 * 8);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return padded;
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    static void requireLittleEndianPlatform(Path file) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new CheckpointException(file + ": expected a little-endian platform but found "
                    + ByteOrder.nativeOrder());
        }
    }
}
