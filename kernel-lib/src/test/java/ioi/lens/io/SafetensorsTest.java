package ioi.lens.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ioi.lens.CheckpointException;
import ioi.lens.io.Safetensors.FloatTensor;
import ioi.lens.io.Safetensors.TensorInfo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

class SafetensorsTest {

    @TempDir Path dir;

    // ---------------------------------------------------------------- round trips and known values

    @Test
    void roundTripF32F16I64I32WithMetadata() {
        Path file = dir.resolve("model.safetensors");
        float[] f32 = {1.5f, -2.25f, 3e-8f, Float.MAX_VALUE, -0.0f, 42f};
        // Each value is exactly representable in float16, so the round trip is exact.
        float[] f16 = {1f, -2f, 0.5f, 65504f, 0.333251953125f, 0x1p-24f};
        long[] i64 = {Long.MIN_VALUE, -1, 0, Long.MAX_VALUE};
        int[] i32 = {Integer.MIN_VALUE, 7, Integer.MAX_VALUE};
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            tensors.put("z.f32", m.create(f32, new Shape(2, 3)));
            tensors.put("a.f16", m.create(f16, new Shape(3, 2)).toType(DataType.FLOAT16, false));
            tensors.put("m.i64", m.create(i64, new Shape(2, 2)));
            tensors.put("b.i32", m.create(i32, new Shape(3)));
            Safetensors.write(file, tensors, Map.of("format", "pt"));

            try (SafetensorsFile st = Safetensors.open(file)) {
                assertEquals(List.of("z.f32", "a.f16", "m.i64", "b.i32"), List.copyOf(st.names()));
                assertEquals(Map.of("format", "pt"), st.metadata());
                assertTrue(st.contains("m.i64"));
                assertFalse(st.contains("nope"));
                TensorInfo info = st.info("a.f16");
                assertEquals("F16", info.dtype());
                assertArrayEquals(new long[] {3, 2}, info.shape());
                assertEquals(24, info.begin());
                assertEquals(36, info.end());

                NDArray a = st.load("z.f32", m);
                assertEquals(DataType.FLOAT32, a.getDataType());
                assertEquals(new Shape(2, 3), a.getShape());
                assertArrayEquals(f32, a.toFloatArray());

                NDArray h = st.load("a.f16", m);
                assertEquals(DataType.FLOAT32, h.getDataType());
                assertEquals(new Shape(3, 2), h.getShape());
                assertArrayEquals(f16, h.toFloatArray());

                NDArray l = st.load("m.i64", m);
                assertEquals(DataType.INT64, l.getDataType());
                assertArrayEquals(i64, l.toLongArray());

                NDArray i = st.load("b.i32", m);
                assertEquals(DataType.INT32, i.getDataType());
                assertArrayEquals(i32, i.toIntArray());
            }
        }
    }

    @Test
    void writeFloatsRoundTripIncludingScalarAndEmpty() {
        Path file = dir.resolve("floats.safetensors");
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("w", new FloatTensor(new long[] {2, 2}, new float[] {1, 2, 3, 4}));
        tensors.put("scalar", new FloatTensor(new long[0], new float[] {-7.5f}));
        tensors.put("empty", new FloatTensor(new long[] {0, 3}, new float[0]));
        Safetensors.writeFloats(file, tensors);
        try (SafetensorsFile st = Safetensors.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertEquals(List.of("w", "scalar", "empty"), List.copyOf(st.names()));
            assertTrue(st.metadata().isEmpty());
            assertArrayEquals(new float[] {1, 2, 3, 4}, st.load("w", m).toFloatArray());
            NDArray s = st.load("scalar", m);
            assertEquals(new Shape(), s.getShape());
            assertEquals(-7.5f, s.getFloat());
            NDArray e = st.load("empty", m);
            assertEquals(new Shape(0, 3), e.getShape());
            assertEquals(0, e.size());
            assertEquals(0, st.info("empty").numel());
        }
        // The reference writer pads the header to a multiple of 8 bytes.
        assertEquals(0, headerLength(file) % 8);
    }

    @Test
    void floatTensorRejectsWrongLength() {
        assertThrows(IllegalArgumentException.class,
                () -> new FloatTensor(new long[] {2, 3}, new float[5]));
    }

    @Test
    void bf16KnownValues() throws IOException {
        short[] bits = {0x3F80, (short) 0xC000, 0x4049, 0x7F80, 0x0001, (short) 0x8000};
        float[] expected = {1f, -2f, 3.140625f, Float.POSITIVE_INFINITY,
            Float.intBitsToFloat(0x00010000), -0.0f};
        Path file = raw("bf16.safetensors",
                "{\"x\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", shorts(bits));
        try (SafetensorsFile st = Safetensors.open(file);
                NDManager m = NDManager.newBaseManager()) {
            NDArray x = st.load("x", m);
            assertEquals(DataType.FLOAT32, x.getDataType());
            assertEquals(new Shape(2, 3), x.getShape());
            assertArrayEquals(expected, x.toFloatArray()); // compares bits: -0.0 != 0.0
        }
    }

    @Test
    void f16KnownValues() throws IOException {
        short[] bits = {0x3C00, (short) 0xC000, 0x7BFF, 0x0001, 0x3555, (short) 0xFC00};
        float[] expected = {1f, -2f, 65504f, 0x1p-24f, 0.333251953125f, Float.NEGATIVE_INFINITY};
        Path file = raw("f16.safetensors",
                "{\"x\":{\"dtype\":\"F16\",\"shape\":[6],\"data_offsets\":[0,12]}}", shorts(bits));
        try (SafetensorsFile st = Safetensors.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertArrayEquals(expected, st.load("x", m).toFloatArray());
        }
    }

    @Test
    void misalignedF32IsCopiedAndCorrect() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(9).order(ByteOrder.LITTLE_ENDIAN);
        data.put((byte) 0).putFloat(3.5f).putFloat(-1f);
        // 8 + 60 header bytes + 1: the tensor starts at an address that is not 4-aligned.
        Path file = raw("odd.safetensors",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}      ", data.array());
        try (SafetensorsFile st = Safetensors.open(file);
                NDManager m = NDManager.newBaseManager()) {
            assertArrayEquals(new float[] {3.5f, -1f}, st.load("x", m).toFloatArray());
        }
    }

    @Test
    void inPlaceOpDoesNotWriteThroughToFile() throws IOException {
        Path file = dir.resolve("cow.safetensors");
        Safetensors.writeFloats(file, Map.of("w", new FloatTensor(new long[] {4}, new float[] {1, 2, 3, 4})));
        byte[] before = Files.readAllBytes(file);
        try (NDManager m = NDManager.newBaseManager()) {
            try (SafetensorsFile st = Safetensors.open(file)) {
                NDArray w = st.load("w", m);
                w.addi(100f);
                assertArrayEquals(new float[] {101, 102, 103, 104}, w.toFloatArray());
            }
            assertArrayEquals(before, Files.readAllBytes(file));
            try (SafetensorsFile st = Safetensors.open(file)) {
                assertArrayEquals(new float[] {1, 2, 3, 4}, st.load("w", m).toFloatArray());
            }
        }
    }

    @Test
    void loadedArraysStayValidAfterClose() {
        Path file = dir.resolve("after.safetensors");
        Safetensors.writeFloats(file, Map.of("w", new FloatTensor(new long[] {2}, new float[] {5, 6})));
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w;
            try (SafetensorsFile st = Safetensors.open(file)) {
                w = st.load("w", m);
            }
            assertArrayEquals(new float[] {10, 12}, w.mul(2).toFloatArray());
        }
    }

    @Test
    void writeReplacesExistingFileAndLeavesNoTempFiles() throws IOException {
        Path file = dir.resolve("w.safetensors");
        Safetensors.writeFloats(file, Map.of("a", new FloatTensor(new long[] {1}, new float[] {1})));
        Safetensors.writeFloats(file, Map.of("b", new FloatTensor(new long[] {1}, new float[] {2})));
        try (SafetensorsFile st = Safetensors.open(file)) {
            assertEquals(List.of("b"), List.copyOf(st.names()));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    @Test
    void writeRejectsUnsupportedTypeAndReservedName() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.write(
                    file, Map.of("d", m.create(new double[] {1})), Map.of()));
            assertTrue(e.getMessage().contains("'d'") && e.getMessage().contains("FLOAT64"), e.getMessage());
            e = assertThrows(CheckpointException.class, () -> Safetensors.write(
                    file, Map.of("__metadata__", m.create(new float[] {1})), Map.of()));
            assertTrue(e.getMessage().contains("__metadata__"), e.getMessage());
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void loadOfMissingNameListsAvailableNames() {
        Path file = dir.resolve("names.safetensors");
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("wte.weight", new FloatTensor(new long[] {1}, new float[] {1}));
        tensors.put("wpe.weight", new FloatTensor(new long[] {1}, new float[] {2}));
        Safetensors.writeFloats(file, tensors);
        try (SafetensorsFile st = Safetensors.open(file);
                NDManager m = NDManager.newBaseManager()) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> st.load("lm_head.weight", m));
            assertContains(e, "names.safetensors", "'lm_head.weight'", "wte.weight", "wpe.weight");
        }
    }

    @Test
    void missingFile() {
        assertContains(rejected(dir.resolve("absent.safetensors")), "absent.safetensors", "no file");
    }

    // ---------------------------------------------------------------- validation errors

    @Test
    void fileShorterThan8Bytes() throws IOException {
        Path file = dir.resolve("short.safetensors");
        Files.write(file, new byte[] {1, 2, 3, 4, 5});
        assertContains(rejected(file), "short.safetensors", "at least 8 bytes", "found 5 bytes");
    }

    @Test
    void headerLengthPastEndOfFile() throws IOException {
        Path file = dir.resolve("past.safetensors");
        Files.write(file, concat(le(1000), "{}".getBytes(StandardCharsets.UTF_8)));
        assertContains(rejected(file), "header length 1000", "at least 1008 bytes", "found 10");
    }

    @Test
    void headerLengthOutOfRange() throws IOException {
        Path file = dir.resolve("range.safetensors");
        Files.write(file, concat(le(1), "{}".getBytes(StandardCharsets.UTF_8)));
        assertContains(rejected(file), "between 2 and", "found 1");
        Files.write(file, concat(le(-1), "{}".getBytes(StandardCharsets.UTF_8)));
        assertContains(rejected(file), "found 18446744073709551615");
    }

    @Test
    void headerNotJson() throws IOException {
        assertContains(rejected(raw("a.safetensors", "{not json", new byte[0])), "invalid JSON");
        assertContains(rejected(raw("b.safetensors", "[1, 2]", new byte[0])), "JSON object", "BEGIN_ARRAY");
        assertContains(rejected(raw("c.safetensors", "{} {}", new byte[0])), "invalid JSON");
        Path file = dir.resolve("utf8.safetensors");
        Files.write(file, concat(le(3), new byte[] {'{', (byte) 0xFF, '}'}));
        assertContains(rejected(file), "UTF-8");
    }

    @ParameterizedTest
    @ValueSource(strings = {"F8_E4M3", "U16", "F64", "f32"})
    void unknownDtype(String dtype) throws IOException {
        Path file = raw("dtype.safetensors",
                "{\"h.0.mlp.c_fc.weight\":{\"dtype\":\"" + dtype + "\",\"shape\":[2],\"data_offsets\":[0,4]}}",
                new byte[4]);
        assertContains(rejected(file), "'h.0.mlp.c_fc.weight'", "'" + dtype + "'",
                "[F32, F16, BF16, I64, I32]");
    }

    @Test
    void shapeAndOffsetsSizeMismatch() throws IOException {
        Path file = raw("model.safetensors",
                "{\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[768,2304],\"data_offsets\":[0,100]}}",
                new byte[100]);
        assertContains(rejected(file), "model.safetensors: tensor 'h.0.attn.c_attn.weight' data_offsets"
                + " [0, 100] hold 100 bytes but shape [768, 2304] of F32 needs 7077888 bytes");
    }

    @Test
    void offsetsPastEndOfData() throws IOException {
        Path file = raw("end.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]);
        assertContains(rejected(file), "tensor 'w'", "expected end <= 8 but found 16");
    }

    @Test
    void beginAfterEndAndWrongOffsetCount() throws IOException {
        assertContains(rejected(raw("a.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", new byte[8])),
                "tensor 'w'", "begin <= end", "[8, 4]");
        assertContains(rejected(raw("b.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0]}}", new byte[8])),
                "tensor 'w'", "[begin, end]", "found [0]");
    }

    @Test
    void overlappingTensors() throws IOException {
        Path file = raw("overlap.safetensors", "{"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", new byte[24]);
        assertContains(rejected(file), "'a' [0, 16]", "'b' [8, 24]", "overlap");
    }

    @Test
    void emptyTensorsDoNotOverlap() throws IOException {
        Path file = raw("empty.safetensors", "{"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", new byte[8]);
        try (SafetensorsFile st = Safetensors.open(file)) {
            assertEquals(2, st.names().size());
        }
    }

    @Test
    void negativeOrFractionalShape() throws IOException {
        assertContains(rejected(raw("neg.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,0]}}", new byte[0])),
                "tensor 'w' shape", "non-negative", "found -1");
        assertContains(rejected(raw("frac.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,0]}}", new byte[0])),
                "tensor 'w' shape", "found 2.5");
        assertContains(rejected(raw("str.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,16]}}", new byte[16])),
                "tensor 'w' shape", "found STRING");
    }

    @Test
    void shapeWhoseSizeOverflows() throws IOException {
        Path file = raw("huge.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
                new byte[0]);
        assertContains(rejected(file), "tensor 'w'", "overflow");
    }

    @Test
    void truncatedFile() throws IOException {
        Path file = dir.resolve("trunc.safetensors");
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("first", new FloatTensor(new long[] {4}, new float[4]));
        tensors.put("last", new FloatTensor(new long[] {4}, new float[4]));
        Safetensors.writeFloats(file, tensors);
        long size = Files.size(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size - 4);
        }
        assertContains(rejected(file), "tensor 'last'", "truncated", "at least " + size,
                "found " + (size - 4));
    }

    @Test
    void malformedEntries() throws IOException {
        assertContains(rejected(raw("dup.safetensors", "{"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", new byte[0])),
                "'w' twice");
        assertContains(rejected(raw("meta.safetensors",
                "{\"__metadata__\":{\"n\":1}}", new byte[0])), "__metadata__ 'n'", "NUMBER");
        assertContains(rejected(raw("missing.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[0]}}", new byte[0])), "tensor 'w'", "no data_offsets");
        assertContains(rejected(raw("type.safetensors",
                "{\"w\":{\"dtype\":5,\"shape\":[0],\"data_offsets\":[0,0]}}", new byte[0])),
                "tensor 'w' dtype to be a string", "NUMBER");
    }

    // ---------------------------------------------------------------- helpers

    private static CheckpointException rejected(Path file) {
        return assertThrows(CheckpointException.class, () -> Safetensors.open(file).close());
    }

    private static void assertContains(Exception e, String... fragments) {
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), () -> "expected '" + f + "' in: " + e.getMessage());
        }
    }

    /** Writes prefix + header (as given) + data. */
    private Path raw(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path file = dir.resolve(name);
        Files.write(file, concat(concat(le(h.length), h), data));
        return file;
    }

    private static long headerLength(Path file) {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0);
            return b.getLong(0);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static byte[] le(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    private static byte[] shorts(short[] values) {
        ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (short v : values) {
            b.putShort(v);
        }
        return b.array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
