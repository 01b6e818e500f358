package ioi.display;

import org.dflib.jjava.jupyter.Extension;
import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.RenderContext;
import org.dflib.jjava.jupyter.kernel.display.Renderer;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import tech.tablesaw.api.Table;

import java.util.Map;
import java.util.UUID;

/**
 * The library's hook into the JJava kernel, and the only class of {@code ioi.display} that uses the
 * kernel's API (compiled against {@code org.dflib.jjava:jjava-jupyter}, which the kernel supplies).
 *
 * <p>Only calls that exist with the same signature in jjava-jupyter 1.0-a6 (compiled against) and
 * 1.0-a8 (the kernel on PyPI) are used; a test checks the bytecode for the one known difference.
 *
 * <p>JJava finds it through {@code META-INF/services/org.dflib.jjava.jupyter.Extension} when the
 * library's jar enters the kernel's classpath ({@code JJAVA_CLASSPATH}, {@code %classpath},
 * {@code %maven}) and calls {@link #install}, which
 * <ul>
 *   <li>registers renderers: a Tablesaw {@link Table} renders with {@link Tables} (default style), and
 *       every {@link Displayable} (charts, styled tables, attention views) as its own MIME bundle; so
 *       {@code display(x)} and a cell ending in {@code x} both show them;</li>
 *   <li>installs the kernel's display sink in {@link Notebook}, for {@link ProgressBar#create};</li>
 *   <li>closes the library resources a re-run cell replaced ({@link Redefinitions}).</li>
 * </ul>
 */
public final class JupyterExtension implements Extension {

    private Runnable stopClosingRedefined = () -> {};

    @Override
    public void install(BaseKernel kernel) {
        register(kernel.getRenderer());
        Notebook.use(new KernelSink(kernel));
        stopClosingRedefined = Redefinitions.install(kernel, System.err::println);
    }

    @Override
    public void uninstall(BaseKernel kernel) {
        stopClosingRedefined.run();
        Notebook.use(null);
    }

    /** Registers the renderers of this package on a JJava {@link Renderer}. */
    public static void register(Renderer renderer) {
        renderer.createRegistration(Table.class)
                .preferring(Displayable.TEXT_HTML)
                .supporting(Displayable.TEXT_PLAIN)
                .register((table, context) -> put(Tables.styled(table, TableStyle.defaults()), context));
        renderer.createRegistration(Displayable.class)
                .preferring(Displayable.PLOTLY_JSON, Displayable.TEXT_HTML)
                .supporting(Displayable.TEXT_PLAIN)
                .register(JupyterExtension::put);
    }

    /** Puts the requested entries of the bundle into the kernel's output (text/plain is always requested). */
    private static void put(Displayable d, RenderContext context) {
        d.mimeBundle(mime -> context.wantsDataRenderedAs(MIMEType.parse(mime)))
                .forEach(context.getOutputContainer()::putData);
    }

    /** Jupyter's transient key for outputs that are updated in place. */
    static final String DISPLAY_ID = "display_id";

    static DisplayData toDisplayData(Map<String, Object> bundle) {
        DisplayData data = new DisplayData();
        bundle.forEach(data::putData);
        return data;
    }

    /** Displays through the kernel: {@code display_data} with a fresh display id, then {@code update_display_data}. */
    static final class KernelSink implements DisplaySink {
        private final BaseKernel kernel;

        KernelSink(BaseKernel kernel) {
            this.kernel = kernel;
        }

        @Override
        public String display(Map<String, Object> bundle) {
            DisplayData data = toDisplayData(bundle);
            String id = UUID.randomUUID().toString();
            // not data.setDisplayId(id): it returns void in jjava-jupyter 1.0-a6 (compiled against)
            // but DisplayData in 1.0-a8 (the kernel on PyPI), so the call fails with NoSuchMethodError
            data.putTransientData(DISPLAY_ID, id);
            kernel.display(data);
            return id;
        }

        @Override
        public void update(String displayId, Map<String, Object> bundle) {
            kernel.getIO().display.updateDisplay(displayId, toDisplayData(bundle));
        }
    }
}
