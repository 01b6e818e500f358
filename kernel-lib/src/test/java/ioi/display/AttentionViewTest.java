package ioi.display;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

class AttentionViewTest {
    static final List<String> TOKENS = List.of("<|endoftext|>", "When", " Mary", " and", " John", " went", ",", " John", " gave", " to");
    static final List<String> HEADS = List.of("L9H6", "L9H9", "L10H0");

    /** Causal softmax-like rows: query q spreads over keys 0..q, favouring key 2 (" Mary"). */
    static float[][][] pattern(int heads, int n) {
        float[][][] p = new float[heads][n][n];
        for (int h = 0; h < heads; h++)
            for (int q = 0; q < n; q++) {
                float sum = 0;
                for (int k = 0; k <= q; k++) sum += p[h][q][k] = k == 2 ? 4 + h : 1;
                for (int k = 0; k <= q; k++) p[h][q][k] /= sum;
            }
        return p;
    }

    @Test
    void oneGridPerHeadWithTokensOnBothAxes() {
        int n = TOKENS.size();
        String html = AttentionView.of(pattern(3, n), TOKENS, HEADS).title("Name movers").html();
        assertEquals(3, TablesTest.count(html, "<table data-head="));
        for (String h : HEADS) assertTrue(html.contains(">" + h + "</div>"), h);
        assertEquals(3 * n * n, TablesTest.count(html, "<td "), "query x key cells per head");
        assertEquals(3 * n * (n - 1) / 2, TablesTest.count(html, "<td style=\"padding:0;width:14px\"></td>"),
                "upper triangle left blank (causal)");
        assertTrue(html.contains("&lt;|endoftext|&gt;"), "tokens escaped");
        assertFalse(html.contains("<|endoftext|>"));
        assertEquals(3 * 2 + 1, countLabel(html, "When"), "a row and a column label per grid, and the strip");
        assertEquals(2 * (3 * 2 + 1), countLabel(html, " John"), "a repeated token keeps its own row and column");
        assertTrue(html.contains("title=\"0.667  (2  Mary \u2192 2  Mary)\""), "cell tooltip: value, query -> key");
    }

    private static int countLabel(String html, String token) {
        return TablesTest.count(html, ">" + Html.escape(token) + "</");
    }

    @Test
    void selfContainedOfflineAndStaticPartSurvivesSanitizer() {
        String html = AttentionView.of(pattern(2, TOKENS.size()), TOKENS, HEADS.subList(0, 2)).html();
        assertEquals(1, TablesTest.count(html, "<script"), "one inline script");
        assertFalse(html.contains("<script src"), "no CDN");
        assertFalse(html.contains("http://") || html.contains("https://"), "nothing fetched");
        assertFalse(html.contains("<style"));
        // without its script (untrusted) the grid keeps colours and tooltips; only the rotated
        // column labels fall back to clipped horizontal text
        assertEquals(java.util.Set.of("transform", "writing-mode"), InlineStyles.droppedProperties(html), InlineStyles.dropped(html).toString());
    }

    @Test
    void scriptDataIsValidJsonWithTheValues() {
        float[][][] p = pattern(2, TOKENS.size());
        p[1][3][1] = Float.NaN;
        String html = AttentionView.of(p, TOKENS, HEADS.subList(0, 2)).html();
        Matcher m = Pattern.compile("\\}\\)\\(document\\.getElementById\\(\"(ioi-attn-[0-9a-f]+)\"\\), (\\{.*\\})\\);\\n</script>", Pattern.DOTALL).matcher(html);
        assertTrue(m.find(), "script call with the data");
        assertTrue(html.startsWith("<div id=\"" + m.group(1) + "\""), "script addresses its own view");
        JsonObject d = JsonParser.parseString(m.group(2)).getAsJsonObject();
        assertEquals(TOKENS.size(), d.getAsJsonArray("tokens").size());
        assertEquals("<|endoftext|>", d.getAsJsonArray("tokens").get(0).getAsString());
        JsonArray values = d.getAsJsonArray("values");
        assertEquals(2, values.size());
        assertEquals(p[0][9][2], values.get(0).getAsJsonArray().get(9).getAsJsonArray().get(2).getAsDouble(), 1e-4);
        assertTrue(values.get(1).getAsJsonArray().get(3).getAsJsonArray().get(1).isJsonNull(), "NaN -> null");
    }

    @Test
    void plotlyAlternativeIsFacetedWithMaskedCellsAsGaps() {
        AttentionView v = AttentionView.of(pattern(3, TOKENS.size()), TOKENS, HEADS);
        JsonObject fig = JsonParser.parseString(v.plotly().figure().toJson()).getAsJsonObject();
        JsonArray data = fig.getAsJsonArray("data");
        assertEquals(3, data.size());
        JsonArray z = data.get(0).getAsJsonObject().getAsJsonArray("z");
        assertTrue(z.get(0).getAsJsonArray().get(1).isJsonNull(), "future keys are gaps");
        assertFalse(z.get(1).getAsJsonArray().get(1).isJsonNull());
        JsonObject coloraxis = fig.getAsJsonObject("layout").getAsJsonObject("coloraxis");
        assertEquals(0.0, coloraxis.get("cmin").getAsDouble());
        assertEquals(1.0, coloraxis.get("cmax").getAsDouble());
        assertTrue(fig.getAsJsonObject("layout").has("xaxis3"));
        assertTrue(data.get(2).getAsJsonObject().get("hovertemplate").getAsString().contains("L10H0"));
    }

    @Test
    void plainTextSaysWhereTheLastTokenAttends() {
        String text = AttentionView.of(pattern(2, TOKENS.size()), TOKENS, HEADS.subList(0, 2)).toString();
        assertTrue(text.startsWith("Attention view: 2 heads over 10 tokens"), text);
        assertTrue(text.contains("L9H6: ' to' attends most to ' Mary' (2, "), text);
    }

    @Test
    void builderAndValidation() {
        float[][][] p = pattern(2, TOKENS.size());
        AttentionView v = AttentionView.forTokens(TOKENS).head(AttentionView.headLabel(9, 6), p[0]).head("L9H9", p[1]);
        assertEquals(List.of("L9H6", "L9H9"), v.heads());
        var e = assertThrows(IllegalArgumentException.class, () -> AttentionView.forTokens(TOKENS).head("L0H0", new float[3][3]));
        assertTrue(e.getMessage().contains("expected [query_pos, key_pos] = [10, 10]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AttentionView.of(p, TOKENS, List.of("only one")));
        assertThrows(IllegalStateException.class, () -> AttentionView.forTokens(TOKENS).html());
    }

    @Test
    void cellCapDropsHeadsWithNotice() {
        String html = AttentionView.of(pattern(3, TOKENS.size()), TOKENS, HEADS).maxCells(250).html();
        assertEquals(2, TablesTest.count(html, "<table data-head="));
        assertTrue(html.contains("showing 2 of 3 heads"), html);
    }
}
