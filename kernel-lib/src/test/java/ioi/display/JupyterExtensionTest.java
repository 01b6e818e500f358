package ioi.display;

import org.dflib.jjava.jupyter.Extension;
import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.JupyterIO;
import org.dflib.jjava.jupyter.kernel.ReplacementOptions;
import org.dflib.jjava.jupyter.kernel.comm.CommManager;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.Renderer;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import org.dflib.jjava.jupyter.kernel.util.StringStyler;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import tech.tablesaw.api.Table;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

import static org.junit.jupiter.api.Assertions.*;

/** The kernel side, with JJava's own {@link Renderer} and a kernel that records what it displays. */
class JupyterExtensionTest {
    static final MIMEType PLOTLY = MIMEType.parse(Displayable.PLOTLY_JSON);

    @AfterEach
    void noNotebook() {
        Notebook.use(null);
        PlotlyJs.embed(PlotlyJs.Embed.ONCE);
    }

    static Renderer renderer() {
        Renderer r = new Renderer();
        JupyterExtension.register(r);
        return r;
    }

    @Test
    void tablesawTableRendersAsStyledHtml() {
        Table t = TablesTest.results(30);
        DisplayData d = renderer().render(t);
        String html = (String) d.getData(MIMEType.TEXT_HTML);
        assertNotNull(html, "text/html rendered");
        assertTrue(html.contains("showing 20 of 30 rows"));
        assertEquals(Tables.text(t), d.getData(MIMEType.TEXT_PLAIN), "our text, not Table.toString()");
    }

    @Test
    void chartRendersAsPlotlyJsonHtmlAndText() {
        PlotlyJs.embed(PlotlyJs.Embed.NEVER);
        Chart<?> chart = Charts.imshow(new float[][][] {{{1, 2}, {3, Float.NaN}}, {{0, 1}, {1, 0}}}).facetLabels(List.of("L9H6", "L9H9"));
        DisplayData d = renderer().render(chart);
        Object plotly = d.getData(PLOTLY);
        assertInstanceOf(Map.class, plotly, "JSON object for the Plotly MIME type");
        assertEquals(2, ((List<?>) ((Map<?, ?>) plotly).get("data")).size());
        assertTrue(((String) d.getData(MIMEType.TEXT_HTML)).contains("Plotly.newPlot"));
        assertEquals("Plotly figure (2 heatmap)", d.getData(MIMEType.TEXT_PLAIN));
    }

    @Test
    void requestedTypesOnly() {
        PlotlyJs.embed(PlotlyJs.Embed.NEVER);
        DisplayData d = renderer().renderAs(Charts.line(new double[] {1, 2}), "text/plain");
        assertNull(d.getData(PLOTLY));
        assertNull(d.getData(MIMEType.TEXT_HTML));
        assertTrue(((String) d.getData(MIMEType.TEXT_PLAIN)).startsWith("Plotly figure"));
        DisplayData h = renderer().renderAs(Charts.line(new double[] {1, 2}), "text/html");
        assertNotNull(h.getData(MIMEType.TEXT_HTML));
        assertNull(h.getData(PLOTLY));
    }

    @Test
    void aPlainTextOnlyRenderDoesNotUseUpTheLibrary() {
        PlotlyJs.embed(PlotlyJs.Embed.ONCE);
        Renderer r = renderer();
        r.renderAs(Charts.line(new double[] {1, 2}), "text/plain");
        String html = (String) r.render(Charts.line(new double[] {1, 2})).getData(MIMEType.TEXT_HTML);
        assertTrue(html.contains("if (!window.Plotly)"), "the first chart with text/html carries plotly.js");
    }

    @Test
    void attentionViewAndStyledTableRender() {
        DisplayData a = renderer().render(AttentionView.of(AttentionViewTest.pattern(1, 10), AttentionViewTest.TOKENS, List.of("L9H6")));
        assertTrue(((String) a.getData(MIMEType.TEXT_HTML)).contains("<table data-head=\"0\""));
        assertTrue(((String) a.getData(MIMEType.TEXT_PLAIN)).startsWith("Attention view"));
        DisplayData s = renderer().render(Tables.styled(TablesTest.results(3), TableStyle.defaults().title("T")));
        assertTrue(((String) s.getData(MIMEType.TEXT_HTML)).contains("<caption"));
    }

    @Test
    void serviceFileNamesTheExtension() {
        List<String> found = new ArrayList<>();
        for (Extension e : ServiceLoader.load(Extension.class)) found.add(e.getClass().getName());
        assertTrue(found.contains(JupyterExtension.class.getName()), found.toString());
    }

    @Test
    void avoidsApiThatDiffersBetweenJJavaReleases() throws Exception {
        // DisplayData.setDisplayId is void in 1.0-a6 and returns DisplayData in 1.0-a8: calling it
        // compiles here and fails in the real kernel with NoSuchMethodError (seen under nbclient).
        for (Class<?> c : List.of(JupyterExtension.class, JupyterExtension.KernelSink.class)) {
            try (var in = c.getResourceAsStream(c.getName().substring(c.getPackageName().length() + 1) + ".class")) {
                String bytes = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                assertFalse(bytes.contains("setDisplayId"), c.getName());
            }
        }
    }

    /** Enough of a kernel for install(): records display_data. */
    static final class RecordingKernel extends BaseKernel {
        final List<DisplayData> displayed = new ArrayList<>();

        RecordingKernel() {
            super("test", "0", null, List.of(), null, new JupyterIO(StandardCharsets.UTF_8), new CommManager(), new Renderer(),
                    null, null, false, new StringStyler("", "", "", i -> ""));
        }

        @Override public void display(DisplayData data) { displayed.add(data); }
        @Override public Object evalRaw(String source) { return null; }
        @Override public DisplayData inspect(String code, int at, boolean extraDetail) { return null; }
        @Override public ReplacementOptions complete(String code, int at) { return null; }
        @Override public String isComplete(String code) { return IS_COMPLETE_YES; }
    }

    @Test
    void installRegistersRenderersAndTheDisplaySink() {
        RecordingKernel kernel = new RecordingKernel();
        new JupyterExtension().install(kernel);
        assertNotNull(kernel.getRenderer().render(TablesTest.results(2)).getData(MIMEType.TEXT_HTML));
        assertTrue(Notebook.sink().isPresent());

        ProgressBar bar = ProgressBar.create("sweep");
        assertInstanceOf(NotebookProgressBar.class, bar);
        bar.start(10);
        assertEquals(1, kernel.displayed.size());
        DisplayData shown = kernel.displayed.get(0);
        assertNotNull(shown.getDisplayId(), "display_data carries a display id for later updates");
        assertTrue(((String) shown.getData(MIMEType.TEXT_HTML)).contains("<progress"));
        bar.step(10); // update_display_data: no front end attached here, must not fail
        bar.done();

        new JupyterExtension().uninstall(kernel);
        assertTrue(Notebook.sink().isEmpty());
    }
}
