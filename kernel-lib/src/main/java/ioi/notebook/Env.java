package ioi.notebook;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.StandardCapabilities;
import ioi.lens.HookedTransformer;
import ioi.lens.ProcessingOptions;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What a notebook runs on, from the kernel's environment: the model ({@code IOI_MODEL}) and the device
 * ({@code IOI_DEVICE}). {@code ./ioi run --model DIR} and {@code ./ioi lab} pass them to the kernel, so
 * the same notebook runs GPT-2 small in JupyterLab and the tiny test checkpoint in the tests.
 *
 * <pre>{@code
 * var model = Env.loadModel();   // IOI_MODEL (default gpt2) on IOI_DEVICE (default: a GPU if DJL sees one)
 * }</pre>
 */
public final class Env {
    /** A model name ({@code gpt2}, an {@code org/name} Hugging Face repo id) or a checkpoint directory. */
    public static final String MODEL_VAR = "IOI_MODEL";
    /** {@code cpu}, {@code gpu} or {@code gpu:N}; unset or {@code auto}: a GPU when DJL sees one, else the CPU. */
    public static final String DEVICE_VAR = "IOI_DEVICE";
    public static final String DEFAULT_MODEL = "gpt2";

    private Env() {
    }

    /** {@code IOI_MODEL}, or {@value #DEFAULT_MODEL}. */
    public static String model() {
        return model(System.getenv());
    }

    static String model(Map<String, String> env) {
        String value = env.get(MODEL_VAR);
        return value == null || value.isBlank() ? DEFAULT_MODEL : value.trim();
    }

    /**
     * {@code IOI_DEVICE}, else {@code Engine.getInstance().getGpuCount() > 0 ? gpu : cpu}; a GPU only if
     * the libtorch DJL loaded is a CUDA build (the library jar bundles the CPU build: see
     * docs/environment.md for the CUDA one), else the CPU with a warning.
     *
     * @throws IllegalStateException if a GPU is asked for and there is none DJL can use (rather than
     *     failing later inside libtorch)
     */
    public static Device device() {
        return device(System.getenv(DEVICE_VAR), Env::gpus);
    }

    /** What DJL sees: CUDA devices (through libcudart) and whether the loaded libtorch can use them. */
    record Gpus(int count, boolean cudaBuild) {
    }

    private static Gpus gpus() {
        Engine engine = Engine.getInstance();
        int count = engine.getGpuCount();
        return new Gpus(count, count > 0 && engine.hasCapability(StandardCapabilities.CUDA));
    }

    /** Parses a device setting; {@code gpus} is asked only when needed. */
    static Device device(String setting, Supplier<Gpus> gpus) {
        String s = setting == null ? "" : setting.trim().toLowerCase(Locale.ROOT);
        if (s.isEmpty() || s.equals("auto")) {
            Gpus g = gpus.get();
            if (g.count() > 0 && !g.cudaBuild()) {
                System.err.println("ioi: DJL sees " + g.count() + " GPU(s) but the loaded libtorch is a CPU build;"
                        + " running on the CPU (docs/environment.md: GPU)");
            }
            return g.count() > 0 && g.cudaBuild() ? Device.gpu() : Device.cpu();
        }
        if (s.equals("cpu")) {
            return Device.cpu();
        }
        String index = null;
        for (String prefix : new String[] {"gpu", "cuda"}) {
            if (s.equals(prefix)) {
                index = "0";
            } else if (s.startsWith(prefix + ":")) {
                index = s.substring(prefix.length() + 1);
            }
        }
        if (index == null || !index.matches("\\d{1,3}")) {
            throw new IllegalArgumentException(DEVICE_VAR + "='" + setting
                    + "' is not a device: use cpu, gpu, gpu:N or auto");
        }
        int id = Integer.parseInt(index);
        Gpus g = gpus.get();
        if (id >= g.count()) {
            throw new IllegalStateException(DEVICE_VAR + "='" + setting + "' but DJL sees " + g.count()
                    + " GPU(s) (it needs the NVIDIA driver and libcudart 12.8+); use cpu or unset it");
        }
        if (!g.cudaBuild()) {
            throw new IllegalStateException(DEVICE_VAR + "='" + setting + "' but the libtorch DJL loaded is a"
                    + " CPU build (set PYTORCH_LIBRARY_PATH to DJL's cu128 libtorch: docs/environment.md, GPU)");
        }
        return Device.gpu(id);
    }

    /**
     * {@code HookedTransformer.fromPretrained(model(), ProcessingOptions.withRefactoring(), device())}:
     * GPT-2 as the paper's notebooks load it (TransformerLens's default processing plus
     * {@code refactor_factored_attn_matrices}).
     */
    public static HookedTransformer loadModel() {
        return HookedTransformer.fromPretrained(model(), ProcessingOptions.withRefactoring(), device());
    }

    /** One line for a notebook's first output: {@code model gpt2 on gpu(0)}. */
    public static String describe() {
        return "model " + model() + " on " + device();
    }
}
