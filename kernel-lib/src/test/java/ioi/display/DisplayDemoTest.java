package ioi.display;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Writes what the renderers produce as pages under {@code target/display-demo/}, for people (and a
 * browser) to look at: {@code trusted.html} (outputs as a live session shows them) and
 * {@code untrusted.html} (scripts, ids, data attributes and the CSS JupyterLab's sanitizer drops
 * removed, as in a notebook opened untrusted).
 */
class DisplayDemoTest {

    static List<Map<String, Object>> outputs() {
        PlotlyJs.embed(PlotlyJs.Embed.ONCE);
        List<Map<String, Object>> out = new ArrayList<>();
        out.add(Tables.render(TablesTest.results(30), TableStyle.defaults().title("Logit differences").diverging("logit_diff")
                .highlightRows(1).highlightCell(2, "prompt")));
        List<String> tokens = ChartsTest.TOKENS;
        out.add(Charts.imshow(ChartsTest.patterns(4, tokens.size())).x(tokens).y(tokens)
                .facetLabels(List.of("L9H6", "L9H9", "L10H0", "L10H7")).labels("key", "query").colorLabel("score")
                .title("Attention scores (masked: gaps)").mimeBundle());
        out.add(Charts.scatter(new double[] {0.1, 0.5, 0.9, 0.3, 0.7}, new double[] {1, 2, 3, 4, 2.5})
                .color("class", List.of("name mover", "other", "name mover", "backup", "backup"))
                .hover(List.of("L9H6", "L0H1", "L9H9", "L10H10", "L10H6")).labels("attention to IO", "dot with IO")
                .title("Scatter with colour groups").mimeBundle());
        out.add(Charts.bar(List.of("L9H6", "L9H9", "L10H0"), new double[] {0.5, -0.2, 0.1}).add("ablated", new double[] {0.1, 0.2, -0.1})
                .labels("head", "effect").title("Bars").mimeBundle());
        out.add(AttentionView.of(AttentionViewTest.pattern(3, AttentionViewTest.TOKENS.size()), AttentionViewTest.TOKENS,
                List.of("L9H6", "L9H9", "L10H0")).title("Name mover heads").mimeBundle());
        ProgressBarTest.FakeSink sink = new ProgressBarTest.FakeSink();
        java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong();
        NotebookProgressBar bar = new NotebookProgressBar(sink, "path patching", now::get);
        bar.start(144);
        now.addAndGet(3_000_000_000L);
        bar.step(45);
        out.add(sink.bundles.get(sink.bundles.size() - 1));
        return out;
    }

    static String page(List<String> bodies) {
        StringBuilder s = new StringBuilder("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ioi.display</title></head>"
                + "<body style=\"font-family:sans-serif;max-width:1100px;margin:16px\">");
        for (String b : bodies) s.append("<div style=\"margin:18px 0;padding-top:8px;border-top:1px solid #ccc\">").append(b).append("</div>");
        return s.append("</body></html>").toString();
    }

    /** What JupyterLab's sanitizer leaves of an untrusted output, as far as these outputs use HTML. */
    static String untrusted(String html) {
        String s = html.replaceAll("(?s)<script.*?</script>", "");
        s = s.replaceAll(" (id|data-[a-z]+)=\"[^\"]*\"", "");
        Matcher m = Pattern.compile("style=\"([^\"]*)\"").matcher(s);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            List<String> kept = new ArrayList<>();
            for (String decl : m.group(1).split(";")) {
                if (decl.isBlank()) continue;
                String prop = decl.substring(0, decl.indexOf(':')).trim();
                if (InlineStyles.dropped("style=\"" + decl + "\"").isEmpty() && InlineStyles.ALLOWED.containsKey(prop)) kept.add(decl);
            }
            m.appendReplacement(out, Matcher.quoteReplacement("style=\"" + String.join(";", kept) + "\""));
        }
        m.appendTail(out);
        return out.toString();
    }

    @Test
    void writesDemoPages() throws IOException {
        Path dir = Path.of("target", "display-demo");
        Files.createDirectories(dir);
        List<String> trusted = new ArrayList<>(), untrusted = new ArrayList<>();
        for (Map<String, Object> b : outputs()) {
            String html = (String) b.get("text/html");
            trusted.add(html);
            untrusted.add(untrusted(html));
        }
        Files.writeString(dir.resolve("trusted.html"), page(trusted), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("plotly.min.js"), PlotlyJs.source(), StandardCharsets.UTF_8);
        for (int i = 0; i < trusted.size(); i++) // one page per output, plotly.js from the file beside it
            Files.writeString(dir.resolve("output-" + i + ".html"),
                    page(List.of("<script src=\"plotly.min.js\"></script>" + trusted.get(i))), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("untrusted.html"), page(untrusted), StandardCharsets.UTF_8);
        // the attention view with a hovered cell (the browser cannot hover in a screenshot)
        String hover = trusted.get(4) + "<script>var c = document.querySelectorAll('table[data-head=\"1\"] tr')[10].cells[3];"
                + "c.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));</script>";
        Files.writeString(dir.resolve("attention-hover.html"), page(List.of(hover)), StandardCharsets.UTF_8);
        assertTrue(Files.size(dir.resolve("trusted.html")) > 4_000_000, "plotly.js inlined once");
        assertFalse(Files.readString(dir.resolve("untrusted.html")).contains("<script"));
    }
}
