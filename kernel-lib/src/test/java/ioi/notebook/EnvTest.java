package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** IOI_MODEL / IOI_DEVICE parsing, without asking DJL about GPUs. */
class EnvTest {
    private static final Supplier<Env.Gpus> NONE = () -> new Env.Gpus(0, false);
    private static final Supplier<Env.Gpus> TWO = () -> new Env.Gpus(2, true);
    private static final Supplier<Env.Gpus> CPU_LIBTORCH = () -> new Env.Gpus(1, false);
    private static final Supplier<Env.Gpus> UNASKED = () -> {
        throw new AssertionError("GPUs need not be looked up for cpu");
    };

    @Test
    void modelDefaultsToGpt2() {
        assertEquals("gpt2", Env.model(Map.of()));
        assertEquals("gpt2", Env.model(Map.of("IOI_MODEL", "  ")));
        assertEquals("/tmp/tiny", Env.model(Map.of("IOI_MODEL", " /tmp/tiny ")));
    }

    @Test
    void autoPicksAGpuOnlyWithACudaLibtorch() {
        assertEquals(Device.cpu(), Env.device(null, NONE));
        assertEquals(Device.cpu(), Env.device("", NONE));
        assertEquals(Device.gpu(), Env.device(null, TWO));
        assertEquals(Device.gpu(), Env.device("AUTO", TWO));
        assertEquals(Device.cpu(), Env.device(null, CPU_LIBTORCH));
    }

    @Test
    void explicitDevices() {
        assertEquals(Device.cpu(), Env.device("cpu", UNASKED));
        assertEquals(Device.cpu(), Env.device(" CPU ", UNASKED));
        assertEquals(Device.gpu(0), Env.device("gpu", TWO));
        assertEquals(Device.gpu(1), Env.device("gpu:1", TWO));
        assertEquals(Device.gpu(1), Env.device("cuda:1", TWO));
    }

    @Test
    void badOrUnavailableDevicesFailWithTheReason() {
        var bad = assertThrows(IllegalArgumentException.class, () -> Env.device("tpu", NONE));
        assertTrue(bad.getMessage().contains("cpu, gpu, gpu:N or auto"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Env.device("gpu:x", TWO));
        var none = assertThrows(IllegalStateException.class, () -> Env.device("gpu", NONE));
        assertTrue(none.getMessage().contains("sees 0 GPU"), none.getMessage());
        assertThrows(IllegalStateException.class, () -> Env.device("gpu:2", TWO));
        var cpuBuild = assertThrows(IllegalStateException.class, () -> Env.device("gpu", CPU_LIBTORCH));
        assertTrue(cpuBuild.getMessage().contains("CPU build"), cpuBuild.getMessage());
    }
}
