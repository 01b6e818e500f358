package ioi.display;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ChartsTest {
    static final List<String> TOKENS = List.of("<|endoftext|>", "When", " Mary", " and", " John", " went", " John", " gave");

    static float[][][] patterns(int heads, int n) {
        float[][][] p = new float[heads][n][n];
        for (int h = 0; h < heads; h++)
            for (int q = 0; q < n; q++)
                for (int k = 0; k < n; k++)
                    p[h][q][k] = k > q ? Float.NEGATIVE_INFINITY : (float) (h + 1) / (10 * (q + 1)) * (k % 2 == 0 ? 1 : -1);
        return p;
    }

    /** What the kernel does with a bundle: Gson (the kernel's is a relocated copy, with default settings). */
    static JsonObject viaKernelGson(Object value) {
        return JsonParser.parseString(new Gson().toJson(value)).getAsJsonObject();
    }

    @Test
    void facetedImshowHasOnePanelPerFacetOnASharedColourAxis() {
        int heads = 5, n = TOKENS.size();
        List<String> labels = List.of("L9H6", "L9H9", "L10H0", "L10H7", "L11H10");
        Figure fig = Charts.imshow(patterns(heads, n)).x(TOKENS).y(TOKENS).facetLabels(labels)
                .facetColWrap(3).labels("key", "query").colorLabel("score").title("Scores").figure();
        JsonObject json = JsonParser.parseString(fig.toJson()).getAsJsonObject();
        JsonArray data = json.getAsJsonArray("data");
        JsonObject layout = json.getAsJsonObject("layout");
        assertEquals(heads, data.size());
        for (int f = 0; f < heads; f++) {
            JsonObject t = data.get(f).getAsJsonObject();
            String k = f == 0 ? "" : Integer.toString(f + 1);
            assertEquals("heatmap", t.get("type").getAsString());
            assertEquals("x" + k, t.get("xaxis").getAsString());
            assertEquals("y" + k, t.get("yaxis").getAsString());
            assertEquals("coloraxis", t.get("coloraxis").getAsString(), "one shared colour scale");
            assertTrue(layout.has("xaxis" + k) && layout.has("yaxis" + k), "axes for facet " + f);
            assertEquals("reversed", layout.getAsJsonObject("yaxis" + k).get("autorange").getAsString());
            assertTrue(t.get("hovertemplate").getAsString().contains(labels.get(f)), "head name in hover");
            assertTrue(t.get("hovertemplate").getAsString().contains("query: %{y}"));
        }
        assertFalse(layout.has("xaxis6"));
        assertEquals("x", layout.getAsJsonObject("xaxis2").get("matches").getAsString());
        // grid of 3 columns: facet 3 starts the second row, so facets 0..1 have no x tick labels
        assertFalse(layout.getAsJsonObject("xaxis").get("showticklabels").getAsBoolean());
        assertFalse(layout.getAsJsonObject("xaxis3").has("showticklabels"), "facet 2 is lowest in its column");
        assertTrue(layout.getAsJsonObject("xaxis4").getAsJsonObject("title").get("text").getAsString().equals("key"));
        assertFalse(layout.getAsJsonObject("yaxis2").get("showticklabels").getAsBoolean());

        JsonObject coloraxis = layout.getAsJsonObject("coloraxis");
        assertEquals(0.0, coloraxis.get("cmid").getAsDouble(), "diverging around 0");
        JsonArray scale = coloraxis.getAsJsonArray("colorscale");
        assertEquals("#67001f", scale.get(0).getAsJsonArray().get(1).getAsString(), "RdBu: red low");
        assertEquals("#053061", scale.get(scale.size() - 1).getAsJsonArray().get(1).getAsString(), "blue high");
        assertEquals("score", coloraxis.getAsJsonObject("colorbar").getAsJsonObject("title").get("text").getAsString());

        JsonArray annotations = layout.getAsJsonArray("annotations");
        assertEquals(heads, annotations.size());
        assertEquals("L10H0", annotations.get(2).getAsJsonObject().get("text").getAsString());
        assertEquals("Scores", layout.getAsJsonObject("title").get("text").getAsString(), "title.text form (plotly.js >= 2)");
    }

    @Test
    void nanAndInfinityBecomeNull() {
        float[][] z = {{1f, Float.NaN}, {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY}};
        Figure fig = Charts.imshow(z).figure();
        JsonArray rows = JsonParser.parseString(fig.toJson()).getAsJsonObject().getAsJsonArray("data")
                .get(0).getAsJsonObject().getAsJsonArray("z");
        assertEquals(1.0, rows.get(0).getAsJsonArray().get(0).getAsDouble());
        assertTrue(rows.get(0).getAsJsonArray().get(1).isJsonNull());
        assertTrue(rows.get(1).getAsJsonArray().get(0).isJsonNull());
        assertTrue(rows.get(1).getAsJsonArray().get(1).isJsonNull());

        double[] y = {1, Double.NaN, Double.POSITIVE_INFINITY};
        JsonObject line = viaKernelGson(Charts.line(y).figure().toMap());
        JsonArray ys = line.getAsJsonArray("data").get(0).getAsJsonObject().getAsJsonArray("y");
        assertEquals(3, ys.size());
        assertTrue(ys.get(1).isJsonNull() && ys.get(2).isJsonNull());
    }

    @Test
    void bundleSerialisesWithDefaultGsonAndParsesBack() {
        Figure fig = Charts.imshow(patterns(3, TOKENS.size())).x(TOKENS).y(TOKENS).figure();
        Map<String, Object> bundle = fig.mimeBundle();
        assertEquals(List.of("application/vnd.plotly.v1+json", "text/html", "text/plain"), List.copyOf(bundle.keySet()));
        assertInstanceOf(Map.class, bundle.get("application/vnd.plotly.v1+json"), "a JSON object, not a string");
        JsonObject all = viaKernelGson(bundle); // would throw on NaN / Infinity
        JsonObject plotly = all.getAsJsonObject("application/vnd.plotly.v1+json");
        assertEquals(3, plotly.getAsJsonArray("data").size());
        assertTrue(plotly.has("layout") && plotly.has("config"));
        assertEquals(JsonParser.parseString(fig.toJson()), plotly, "same figure in the JSON MIME type and in toJson()");
        assertTrue(((String) bundle.get("text/plain")).contains("3 heatmap"));
    }

    @Test
    void repeatedTokensStayDistinctAndLabelsAreEscaped() {
        Figure fig = Charts.imshow(patterns(1, TOKENS.size())).x(TOKENS).y(TOKENS).figure();
        JsonArray x = JsonParser.parseString(fig.toJson()).getAsJsonObject().getAsJsonArray("data")
                .get(0).getAsJsonObject().getAsJsonArray("x");
        assertEquals("&lt;|endoftext|&gt;", x.get(0).getAsString(), "Plotly's label markup would eat <...>");
        assertEquals(" John", x.get(4).getAsString());
        assertEquals(" John\u200b", x.get(6).getAsString(), "the second ' John' is a separate category");
        assertEquals(TOKENS.size(), x.asList().stream().map(JsonElement::getAsString).distinct().count());
        assertEquals("category", fig.layout().get("xaxis") instanceof Map<?, ?> m ? m.get("type") : null);
    }

    @Test
    void scatterColourGroupsAreTraces() {
        double[] x = {0.1, 0.5, 0.9, 0.3}, y = {1, 2, 3, 4};
        Figure fig = Charts.scatter(x, y).color("class", List.of("name mover", "other", "name mover", "backup"))
                .hover(List.of("L9H6", "L0H1", "L9H9", "L10H10")).labels("attention to IO", "dot with IO").figure();
        JsonObject json = viaKernelGson(fig.toMap());
        JsonArray data = json.getAsJsonArray("data");
        assertEquals(3, data.size(), "one trace per group");
        JsonObject movers = data.get(0).getAsJsonObject();
        assertEquals("name mover", movers.get("name").getAsString());
        assertEquals(List.of(0.1, 0.9), movers.getAsJsonArray("x").asList().stream().map(JsonElement::getAsDouble).toList());
        assertEquals(List.of("L9H6", "L9H9"), movers.getAsJsonArray("text").asList().stream().map(JsonElement::getAsString).toList());
        assertTrue(movers.get("hovertemplate").getAsString().startsWith("%{text}"));
        assertEquals("class", json.getAsJsonObject("layout").getAsJsonObject("legend").getAsJsonObject("title").get("text").getAsString());
    }

    @Test
    void lineAndBar() {
        JsonObject line = viaKernelGson(Charts.line().add("IO", new double[] {1, 2, 3}).add("S", new double[] {3, 2, 1})
                .x(List.of("a", "b", "a")).markers(true).labels("position", "logit").figure().toMap());
        JsonArray data = line.getAsJsonArray("data");
        assertEquals(2, data.size());
        assertEquals("lines+markers", data.get(0).getAsJsonObject().get("mode").getAsString());
        assertEquals("position", line.getAsJsonObject("layout").getAsJsonObject("xaxis").getAsJsonObject("title").get("text").getAsString());

        JsonObject bar = viaKernelGson(Charts.bar(List.of("L9H6", "L9H9", "L10H0"), new double[] {0.5, -0.2, 0.1})
                .add("ablated", new double[] {0.1, 0.1, 0.1}).barmode("group").figure().toMap());
        assertEquals(2, bar.getAsJsonArray("data").size());
        assertEquals("bar", bar.getAsJsonArray("data").get(0).getAsJsonObject().get("type").getAsString());
        assertEquals("group", bar.getAsJsonObject("layout").get("barmode").getAsString());
        JsonObject hovered = viaKernelGson(Charts.bar(List.of("0", "1"), new double[] {1, 2})
                .add("IOI", new double[] {1, 2}, List.of("When Mary and John", "Then, Tom and Ann")).figure().toMap())
                .getAsJsonArray("data").get(1).getAsJsonObject();
        assertEquals("none", hovered.get("textposition").getAsString(), "hover text must not be drawn on the bars");
        assertFalse(bar.getAsJsonArray("data").get(0).getAsJsonObject().has("textposition"));

        JsonObject h = viaKernelGson(Charts.bar(List.of("a", "b"), new float[] {1, 2}).horizontal().figure().toMap());
        JsonObject t = h.getAsJsonArray("data").get(0).getAsJsonObject();
        assertEquals("h", t.get("orientation").getAsString());
        assertEquals("a", t.getAsJsonArray("y").get(0).getAsString());
    }

    @Test
    void graphDrawsEdgesBySignKindAndWidthWithNullGaps() {
        GraphChart g = Charts.graph()
                .node("input", -1, 5.5, "input", "input", "the token embedding")
                .node("a0.h1", 0, 1, "0.1", "duplicate token", "head 0.1")
                .node("a9.h9", 9, 9, "9.9", "name mover", "head 9.9")
                .node("logits", 12, 5.5, "logits", "logits", "logits")
                .edge("a9.h9", "logits", 2.0, null, "a9.h9->logits 2.0")
                .edge("input", "a9.h9", -0.4, "q", "input->a9.h9<q> -0.4")
                .edge("a0.h1", "a9.h9", 0.3, "q", "a0.h1->a9.h9<q> 0.3")
                .edge("input", "a0.h1", 0.1, "k", "input->a0.h1<k> 0.1")
                .xTicks(new double[] {-1, 0, 9, 12}, List.of("input", "0", "9", "logits"));
        assertEquals(4, g.nodeCount());
        assertEquals(4, g.edgeCount());
        JsonObject fig = viaKernelGson(g.figure().toMap());
        JsonArray data = fig.getAsJsonArray("data");
        int segments = 0;
        java.util.Set<String> legend = new java.util.HashSet<>();
        for (JsonElement el : data) {
            JsonObject t = el.getAsJsonObject();
            if (!t.get("mode").getAsString().equals("lines")) continue;
            JsonArray x = t.getAsJsonArray("x");
            assertEquals(0, x.size() % 3, "segments of (from, to, null)");
            for (int i = 2; i < x.size(); i += 3) assertTrue(x.get(i).isJsonNull(), "a gap after every segment");
            segments += x.size() / 3;
            String colour = t.getAsJsonObject("line").get("color").getAsString();
            String name = t.get("name").getAsString();
            assertEquals(name.startsWith("+") ? Colors.POSITIVE : Colors.NEGATIVE, colour, name);
            if (t.get("showlegend").getAsBoolean()) assertTrue(legend.add(name), "one legend entry per sign and kind: " + name);
        }
        assertEquals(4, segments, "every edge drawn once");
        assertEquals(java.util.Set.of("+", "− q", "+ q", "+ k"), legend);
        // the widest line is the largest |weight|; the smallest the thinnest
        double widest = 0, thinnest = 99;
        for (JsonElement el : data) {
            JsonObject t = el.getAsJsonObject();
            if (!t.get("mode").getAsString().equals("lines")) continue;
            double w = t.getAsJsonObject("line").get("width").getAsDouble();
            JsonArray x = t.getAsJsonArray("x");
            if (x.get(1).getAsDouble() == 12) widest = w; // the edge into logits
            if (x.get(0).getAsDouble() == -1 && x.get(1).getAsDouble() == 0) thinnest = w;
        }
        assertTrue(widest > thinnest, "width grows with |weight|: " + widest + " vs " + thinnest);
        // nodes: one trace per group, labels beside them, hover text escaped
        long groups = data.asList().stream().filter(e -> e.getAsJsonObject().get("mode").getAsString().equals("markers+text")).count();
        assertEquals(4, groups);
        assertEquals("array", fig.getAsJsonObject("layout").getAsJsonObject("xaxis").get("tickmode").getAsString());
    }

    @Test
    void graphRefusesUnknownNodesAndBadWeights() {
        GraphChart g = Charts.graph().node("a", 0, 0, null, null, null);
        var dup = assertThrows(IllegalArgumentException.class, () -> g.node("a", 1, 1, null, null, null));
        assertTrue(dup.getMessage().contains("'a' is already used"), dup.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> g.edge("a", "b", 1, null, null));
        assertTrue(missing.getMessage().contains("names node 'b'"), missing.getMessage());
        var nan = assertThrows(IllegalArgumentException.class, () -> g.edge("a", "a", Double.NaN, null, null));
        assertTrue(nan.getMessage().contains("weight NaN"), nan.getMessage());
        var where = assertThrows(IllegalArgumentException.class, () -> g.node("c", Double.NaN, 0, null, null, null));
        assertTrue(where.getMessage().contains("finite"), where.getMessage());
        assertEquals(0, g.edgeCount());
    }

    @Test
    void shapeErrorsNameTheShapes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Charts.imshow(new float[][] {{1, 2}, {3}}));
        assertTrue(e.getMessage().contains("row 1 has 1 columns, expected 2"), e.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> Charts.imshow(patterns(2, 3)).x(List.of("a", "b")));
        assertTrue(e2.getMessage().contains("2 entries, expected 3"), e2.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Charts.scatter(new double[2], new double[3]));
        assertThrows(IllegalArgumentException.class, () -> Charts.line(new double[] {1, 2}).add("b", new double[] {1}));
    }

    @Test
    void figureWithSetsNestedLayoutOnACopy() {
        Figure fig = Charts.line(new double[] {1, 2}).figure();
        Figure g = fig.with("yaxis.title.text", "logit diff").with("height", 600).title("<b>T</b>");
        assertNotSame(fig.layout(), g.layout());
        assertEquals(600, g.layout().get("height"));
        assertEquals("logit diff", ((Map<?, ?>) ((Map<?, ?>) g.layout().get("yaxis")).get("title")).get("text"));
        assertEquals("&lt;b&gt;T&lt;/b&gt;", ((Map<?, ?>) g.layout().get("title")).get("text"));
        assertFalse(((Map<?, ?>) fig.layout().get("yaxis")).containsKey("title"), "original unchanged");
        assertTrue(g.toString().contains("\"<b>T</b>\""), g.toString());
    }
}
