package ioi.display;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class PlotlyJsTest {
    private static final String MARK = "plotly.js v" + PlotlyJs.VERSION; // the library's banner comment

    @BeforeEach
    @AfterEach
    void reset() {
        PlotlyJs.embed(PlotlyJs.Embed.ONCE);
    }

    static String html(Displayable d) {
        return (String) d.mimeBundle().get("text/html");
    }

    @Test
    void libraryIsInTheJarAndVerified() {
        assertTrue(PlotlyJs.available(), "the build puts plotly.min.js into target/classes/ioi/display");
        String src = PlotlyJs.source();
        assertTrue(src.length() > 3_000_000, "minified plotly.js is ~4.5 MB, got " + src.length());
        assertTrue(src.contains(MARK), "version " + PlotlyJs.VERSION);
        assertFalse(src.contains("</script"), "would end the script element early");
    }

    @Test
    void firstChartCarriesTheLibraryOnceGuardedLaterOnesDoNot() {
        Chart<?> chart = Charts.line(new double[] {1, 2, 3}).title("loss");
        String first = html(chart);
        assertEquals(1, TablesTest.count(first, MARK), "plotly.js exactly once");
        assertTrue(first.contains("if (!window.Plotly) { (function (define, module, exports) {"), "guarded, UMD sees no AMD loader");
        assertTrue(first.indexOf(MARK) < first.indexOf("Plotly.newPlot("), "library before the drawing code");
        assertFalse(first.contains("<script src"), "no external script (no CDN)");
        assertTrue(first.contains("if (window.Plotly) draw();"), "draws only once Plotly is there");

        String second = html(chart);
        assertEquals(0, TablesTest.count(second, MARK), "later charts rely on window.Plotly");
        assertTrue(second.contains("setTimeout(wait, 100)"), "and wait for it");
        assertTrue(second.length() < 10_000, "small: " + second.length());
    }

    @Test
    void initTakesTheLibraryAndModesEveryAndNever() {
        String init = html(PlotlyJs.init());
        assertEquals(1, TablesTest.count(init, MARK));
        assertEquals(0, TablesTest.count(html(Charts.line(new double[] {1})), MARK), "init() already loaded it");

        PlotlyJs.embed(PlotlyJs.Embed.EVERY);
        assertEquals(1, TablesTest.count(html(Charts.line(new double[] {1})), MARK));
        assertEquals(1, TablesTest.count(html(Charts.line(new double[] {1})), MARK));

        PlotlyJs.embed(PlotlyJs.Embed.NEVER);
        assertEquals(0, TablesTest.count(html(Charts.line(new double[] {1})), MARK));
    }

    @Test
    void fallbackEmbedsHtmlSafeJsonAndTellsUntrustedReadersWhy() {
        PlotlyJs.embed(PlotlyJs.Embed.NEVER);
        String h = html(Charts.bar(java.util.List.of("</script><script>alert(1)</script>"), new double[] {1}).title("x</script>"));
        assertEquals(1, TablesTest.count(h, "</script>"), "user text cannot close the script: " + h);
        assertTrue(h.contains("\\u0026lt;/script\\u0026gt;"), "label escaped for Plotly, then written HTML-safe");
        assertEquals("[\"\\u003c/script\\u003e\"]", Json.toJson(java.util.List.of("</script>")));
        assertTrue(h.contains("once the notebook is trusted"), "placeholder text shown when scripts are stripped");
        assertFalse(h.contains("<style"));
    }
}
