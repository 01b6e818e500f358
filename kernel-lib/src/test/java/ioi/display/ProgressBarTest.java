package ioi.display;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

class ProgressBarTest {

    /** Records displays and updates like a notebook front end would show them. */
    static final class FakeSink implements DisplaySink {
        final List<String> ids = new ArrayList<>();
        final List<String> events = new ArrayList<>(); // "display <id>" / "update <id>"
        final List<Map<String, Object>> bundles = new ArrayList<>();

        @Override
        public String display(Map<String, Object> bundle) {
            String id = "d" + ids.size();
            ids.add(id);
            events.add("display " + id);
            bundles.add(bundle);
            return id;
        }

        @Override
        public void update(String displayId, Map<String, Object> bundle) {
            events.add("update " + displayId);
            bundles.add(bundle);
        }

        String lastText() {
            return (String) bundles.get(bundles.size() - 1).get("text/plain");
        }

        String lastHtml() {
            return (String) bundles.get(bundles.size() - 1).get("text/html");
        }
    }

    @AfterEach
    void noNotebook() {
        Notebook.use(null);
    }

    @Test
    void notebookBarDisplaysOnceThenUpdatesInPlaceThrottled() {
        FakeSink sink = new FakeSink();
        AtomicLong now = new AtomicLong(0);
        NotebookProgressBar bar = new NotebookProgressBar(sink, "heads <L9>", now::get);
        bar.start(144);
        assertEquals(List.of("display d0"), sink.events);
        assertTrue(sink.lastHtml().contains("<progress value=\"0\" max=\"144\""), sink.lastHtml());

        for (int i = 0; i < 10; i++) { now.addAndGet(1_000_000); bar.step(1); } // 10 steps in 10 ms
        assertEquals(1, sink.events.size(), "no redraw within 100 ms");
        now.addAndGet(200_000_000);
        bar.step(2); // 12 done at 0.21 s
        assertEquals(List.of("display d0", "update d0"), sink.events, "same output updated");
        String html = sink.lastHtml();
        assertTrue(html.contains("<progress value=\"12\" max=\"144\""), html);
        assertTrue(html.contains("12/144 (8%)"), html);
        assertTrue(html.contains("it/s"), html);
        assertTrue(html.contains("ETA 0:02"), "132 left at ~57 it/s: " + html);
        assertTrue(html.contains("heads &lt;L9&gt;"), "label escaped");
        assertTrue(sink.lastText().startsWith("heads <L9> 12/144 (8%)"), sink.lastText());

        now.addAndGet(10_000_000);
        bar.done();
        assertEquals("update d0", sink.events.get(sink.events.size() - 1));
        assertTrue(sink.lastText().contains("total"), sink.lastText());
        assertFalse(sink.lastText().contains("ETA"));
        assertFalse(sink.lastHtml().contains("<style") || sink.lastHtml().contains("<script"));
        assertEquals(java.util.Set.of(), InlineStyles.dropped(sink.lastHtml()));
    }

    @Test
    void reachingTheTotalRedrawsImmediately() {
        FakeSink sink = new FakeSink();
        AtomicLong now = new AtomicLong(0);
        NotebookProgressBar bar = new NotebookProgressBar(sink, "x", now::get);
        bar.start(3);
        bar.step(1);
        bar.step(2);
        assertEquals(2, sink.events.size());
        assertTrue(sink.lastText().contains("3/3 (100%)"), sink.lastText());
    }

    @Test
    void unknownTotalShowsCountAndRate() {
        FakeSink sink = new FakeSink();
        AtomicLong now = new AtomicLong(0);
        NotebookProgressBar bar = new NotebookProgressBar(sink, "", now::get);
        bar.step(5); // no start: starts with an unknown total
        now.addAndGet(1_000_000_000);
        bar.done();
        assertTrue(sink.lastText().startsWith("5 · 5.00 it/s · 0:01 total"), sink.lastText());
        assertTrue(sink.lastHtml().contains("<progress value=\"1\" max=\"1\""));
    }

    @Test
    void textBarRewritesOneLineWithCarriageReturns() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        AtomicLong now = new AtomicLong(0);
        TextProgressBar bar = new TextProgressBar(out, "sweep", now::get);
        bar.start(4);
        for (int i = 0; i < 4; i++) {
            now.addAndGet(500_000_000);
            bar.step(1);
        }
        bar.done();
        String s = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(s.startsWith("\rsweep [........................] 0/4 (0%)"), s);
        assertTrue(s.contains("\rsweep [######..................] 1/4 (25%) · 2.00 it/s · 0:01 elapsed · ETA 0:02"), s);
        assertTrue(s.endsWith("\n"), s);
        assertTrue(s.stripTrailing().endsWith("\rsweep [########################] 4/4 (100%) · 2.00 it/s · 0:02 total"), s);
        assertEquals(1, s.chars().filter(c -> c == '\n').count(), "one line");
    }

    @Test
    void isTheExperimentsProgressCallback() {
        FakeSink sink = new FakeSink();
        ioi.experiments.Progress p = new NotebookProgressBar(sink, "grid", () -> 0L);
        p.start(2);
        p.step(2);
        p.done();
        assertTrue(sink.lastText().contains("2/2 (100%)"), sink.lastText());
    }

    @Test
    void createPicksTheNotebookWhenAKernelIsThere() {
        assertInstanceOf(TextProgressBar.class, ProgressBar.create("x"));
        FakeSink sink = new FakeSink();
        Notebook.use(sink);
        ProgressBar bar = ProgressBar.create("x");
        assertInstanceOf(NotebookProgressBar.class, bar);
        bar.start(1);
        bar.step();
        bar.done();
        assertEquals("display d0", sink.events.get(0));
    }
}
