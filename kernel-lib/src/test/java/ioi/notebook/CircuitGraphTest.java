package ioi.notebook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import ioi.display.GraphChart;
import ioi.experiments.Circuit;
import ioi.experiments.EdgeAttribution;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link CircuitGraph}: the top edges of a score matrix become nodes at their places and edges of their kind. */
class CircuitGraphTest {

    @Test
    void topEdgesBecomeNodesAtTheirPlacesColouredByClass() {
        EdgeAttribution.Graph graph = new EdgeAttribution.Graph(12, 12);
        float[] s = new float[graph.nForward() * graph.nBackward()];
        Map<String, Float> set = new HashMap<>();
        set.put("a9.h9->logits", 3f);
        set.put("a7.h3->a9.h9<q>", -2f);
        set.put("input->a0.h1<k>", 1f);
        set.put("m0->logits", 0.5f);
        set.put("a3.h4->a5.h5<v>", 0.01f); // not among the top 4
        for (var e : set.entrySet()) {
            String[] ends = e.getKey().split("->");
            s[graph.forwardIndex(ends[0]) * graph.nBackward() + graph.backwardIndex(ends[1])] = e.getValue();
        }
        GraphChart chart = CircuitGraph.of(new EdgeAttribution.Scores("EAP", graph, s, 1.0, 1), 4, Circuit.PAPER);
        assertEquals(4, chart.edgeCount());
        assertEquals(6, chart.nodeCount(), "a9.h9, logits, a7.h3, input, a0.h1, m0");
        JsonObject fig = JsonParser.parseString(new Gson().toJson(chart.figure().toMap())).getAsJsonObject();
        Map<String, double[]> at = new HashMap<>();
        Map<String, String> group = new HashMap<>();
        int segments = 0;
        for (JsonElement el : fig.getAsJsonArray("data")) {
            JsonObject t = el.getAsJsonObject();
            String mode = t.get("mode").getAsString();
            if (mode.equals("lines")) {
                segments += t.getAsJsonArray("x").size() / 3;
                String name = t.get("name").getAsString();
                assertTrue(name.matches("[+−]( [qkv])?"), name);
            }
            if (mode.equals("markers+text")) {
                for (int i = 0; i < t.getAsJsonArray("x").size(); i++) {
                    String label = t.getAsJsonArray("text").get(i).getAsString();
                    at.put(label, new double[] {t.getAsJsonArray("x").get(i).getAsDouble(), t.getAsJsonArray("y").get(i).getAsDouble()});
                    group.put(label, t.get("name").getAsString());
                }
            }
        }
        assertEquals(4, segments);
        assertEquals(9, at.get("9.9")[0]);
        assertEquals(9, at.get("9.9")[1]);
        assertEquals(-1, at.get("input")[0]);
        assertEquals(12, at.get("logits")[0]);
        assertTrue(at.get("m0")[0] > 0 && at.get("m0")[0] < 1, "MLP 0 after layer 0's heads");
        assertEquals("name mover", group.get("9.9"));
        assertEquals("s2 inhibition", group.get("7.3"));
        assertEquals("duplicate token", group.get("0.1"));
        assertEquals("MLP", group.get("m0"));
        assertTrue(!at.containsKey("3.4"), "edges beyond the top n are not drawn");
    }
}
