package ioi.display;

import org.junit.jupiter.api.Test;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

class TablesTest {

    static Table results(int rows) {
        StringColumn prompt = StringColumn.create("prompt");
        DoubleColumn diff = DoubleColumn.create("logit_diff");
        IntColumn layer = IntColumn.create("layer");
        for (int i = 0; i < rows; i++) {
            prompt.append("prompt " + i);
            diff.append(i % 2 == 0 ? 1.0 + i / 10.0 : -0.5 - i / 100.0);
            layer.append(i % 12);
        }
        return Table.create("results", prompt, diff, layer);
    }

    @Test
    void escapesColumnNamesCellsAndTitle() {
        Table t = Table.create("x",
                StringColumn.create("<b>name</b>", "<script>alert(1)</script>", "Tom & \"Jerry\" 'x'"),
                DoubleColumn.create("a<b", 1.5, 2.5));
        String html = Tables.html(t, TableStyle.defaults().title("<i>title</i>"));
        assertFalse(html.contains("<script"), html);
        assertFalse(html.contains("<b>name"), html);
        assertFalse(html.contains("<i>title"), html);
        assertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), html);
        assertTrue(html.contains("&lt;b&gt;name&lt;/b&gt;"), html);
        assertTrue(html.contains("Tom &amp; &quot;Jerry&quot; &#39;x&#39;"), html);
        assertTrue(html.contains("a&lt;b"), html);
        assertTrue(html.contains("&lt;i&gt;title&lt;/i&gt;"), html);
    }

    @Test
    void inlineStylesOnlyAndAllKeptBySanitizer() {
        Table t = results(30);
        TableStyle style = TableStyle.defaults().diverging("logit_diff").highlightRows(1, 3).highlightCell(2, "prompt")
                .title("IOI").rowNumbers(true);
        String html = Tables.html(t, style);
        assertFalse(html.contains("<style"), "no <style> element");
        assertFalse(html.contains("<script"), "no script");
        assertFalse(html.contains("class="), "no classes (no stylesheet to define them)");
        assertFalse(html.contains(" id="), "no ids (stripped untrusted)");
        assertTrue(InlineStyles.declarations(html).size() > 50);
        assertEquals(java.util.Set.of(), InlineStyles.dropped(html), "every declaration survives JupyterLab's sanitizer");
    }

    @Test
    void truncatesWithNotice() {
        Table t = results(144);
        String html = Tables.html(t);
        assertEquals(20, count(html, "<tr>") - 1, "header + 20 rows");
        assertTrue(html.contains("showing 20 of 144 rows"), html);
        String text = Tables.text(t);
        assertTrue(text.contains("showing 20 of 144 rows"));
        assertEquals(2 + 20 + 1, text.split("\n").length, "header, rule, 20 rows, notice");

        String all = Tables.html(t, TableStyle.defaults().maxRows(0));
        assertFalse(all.contains("showing"));
        assertEquals(144, count(all, "<tr>") - 1);
        assertFalse(Tables.html(results(20)).contains("showing"), "no notice when nothing is cut");
    }

    @Test
    void formatsNumbers() {
        Table t = Table.create("n",
                DoubleColumn.create("d", 3.14159, -0.00001234, 0.0, Double.NaN, 2.5e7, -1.0),
                IntColumn.create("i", 1, 2, 3, 4, 5, 6));
        String text = Tables.text(t, TableStyle.defaults().digits(2));
        assertTrue(text.contains("3.14"), text);
        assertTrue(text.contains("-1.2e-05"), text);
        assertTrue(text.contains("0.00"), text);
        assertTrue(text.contains("NaN"), text);
        assertTrue(text.contains("2.5e+07"), text);
        for (String line : text.split("\n"))
            assertFalse(line.substring(line.lastIndexOf(' ') + 1).contains("."), "integers print whole: " + text);
        assertTrue(Tables.text(t, TableStyle.defaults().digits("d", 4)).contains("3.1416"));
        assertEquals("0.532", Numbers.format(0.5321, 3));
        assertEquals("-inf", Numbers.format(Double.NEGATIVE_INFINITY, 3));
        assertEquals("0.000", Numbers.format(-0.0, 3));
    }

    @Test
    void colorsSignsAndDivergingScale() {
        Table t = results(4); // logit_diff 1.0, -0.51, 1.2, -0.53
        String signs = Tables.html(t);
        assertTrue(signs.contains("color:" + Colors.NEGATIVE), "negative in red");
        assertTrue(signs.contains("color:" + Colors.POSITIVE), "positive in blue");
        assertFalse(Tables.html(t, TableStyle.defaults().signColors(false)).contains(Colors.NEGATIVE));

        String div = Tables.html(t, TableStyle.defaults().diverging("logit_diff"));
        // the largest |value| (1.2) gets the darkest blue; negatives get reds
        assertTrue(div.contains("background-color:" + Colors.diverging(1.0)), div);
        assertTrue(div.contains("background-color:" + Colors.diverging(-0.51 / 1.2)), div);
        assertEquals("#f7f7f7", Colors.diverging(0));
        assertEquals("#053061", Colors.diverging(1));
        assertEquals("#67001f", Colors.diverging(-1));

        String fixed = Tables.html(t, TableStyle.defaults().diverging("logit_diff").divergingLimit(2.4));
        assertTrue(fixed.contains("background-color:" + Colors.diverging(0.5)), fixed);
    }

    @Test
    void highlightsRowsAndCells() {
        Table t = results(5);
        String html = Tables.html(t, TableStyle.defaults().highlightRows(i -> i == 2).highlightCell(4, "layer"));
        String[] rows = html.split("<tr>"); // [before, header, row 0, row 1, ...]
        assertTrue(rows[4].contains("background-color:#fff2a8"), "row 2 highlighted");
        assertFalse(rows[3].contains("#fff2a8"));
        assertTrue(rows[6].contains("outline:2px solid"), "cell (4, layer) outlined");
        assertFalse(rows[5].contains("outline"));
    }

    @Test
    void bundleHasHtmlAndPlainText() {
        Map<String, Object> bundle = Tables.render(results(3));
        assertEquals(java.util.List.of("text/html", "text/plain"), java.util.List.copyOf(bundle.keySet()));
        String text = (String) bundle.get("text/plain");
        String[] lines = text.split("\n");
        assertTrue(lines[0].startsWith("prompt"));
        assertTrue(lines[1].startsWith("--------"));
        assertEquals(lines[0].indexOf("logit_diff") + "logit_diff".length(), lines[2].indexOf("1.000") + 5, "numbers right-aligned under their header");
        assertEquals(Tables.styled(results(3), TableStyle.defaults()).mimeBundle(), Tables.render(results(3)));
    }

    @Test
    void unknownColumnsFailWithTheColumnList() {
        Table t = results(2);
        var e = assertThrows(IllegalArgumentException.class, () -> Tables.html(t, TableStyle.defaults().diverging("nope")));
        assertTrue(e.getMessage().contains("[prompt, logit_diff, layer]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tables.html(t, TableStyle.defaults().diverging("prompt")));
        assertThrows(IllegalArgumentException.class, () -> Tables.html(t, TableStyle.defaults().highlightCell(0, "nope")));
        assertThrows(IllegalArgumentException.class, () -> TableStyle.defaults().digits(-1));
    }

    static int count(String s, String sub) {
        Matcher m = Pattern.compile(Pattern.quote(sub)).matcher(s);
        int n = 0;
        while (m.find()) n++;
        return n;
    }

}
