package ioi.display;

import ai.djl.ndarray.NDArray;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Attention patterns of chosen heads with their tokens, like circuitsvis's {@code attention_heads}:
 * per head a query x key grid (queries down, keys across, tokens on both axes), coloured from white
 * (0) to dark blue ({@link #maxValue}).
 *
 * <p>Offline and in two layers. The grid is plain HTML with inline styles and a {@code title} per
 * cell, so it renders even in an untrusted notebook or nbconvert's HTML. In trusted output a small
 * script (inline, no CDN) adds the interaction: hovering a cell or a token highlights that query's
 * row in every head and its key's column, colours the token strip by the attention from that query
 * and prints the value; a click pins the selection. For untrusted contexts with JupyterLab's Plotly
 * extension, {@link #plotly()} gives the same patterns as faceted heatmaps.
 *
 * <pre>{@code
 * AttentionView.of(pattern, tokens, List.of("L9H6", "L9H9"))          // float[head][query_pos][key_pos]
 * AttentionView.forTokens(tokens).head("L9H6", p96).head("L10H0", p100) // float[query_pos][key_pos] each
 * }</pre>
 */
public final class AttentionView implements Displayable {
    private final List<String> tokens;
    private final List<String> heads = new ArrayList<>();
    private final List<float[][]> patterns = new ArrayList<>(); // each [query_pos, key_pos]
    private String title;
    private boolean maskUpperTri = true;
    private double maxValue = 1;
    private int maxCells = 40_000;

    private AttentionView(List<String> tokens) {
        if (tokens.isEmpty()) throw new IllegalArgumentException("attention view: no tokens");
        this.tokens = List.copyOf(tokens);
    }

    /** An empty view over these tokens; add heads with {@link #head}. */
    public static AttentionView forTokens(List<String> tokens) {
        return new AttentionView(tokens);
    }

    /** {@code pattern[head_index][query_pos][key_pos]} with one label per head. */
    public static AttentionView of(float[][][] pattern, List<String> tokens, List<String> headLabels) {
        if (pattern.length != headLabels.size())
            throw new IllegalArgumentException("attention view: " + pattern.length + " heads in the pattern but "
                    + headLabels.size() + " head labels");
        AttentionView v = new AttentionView(tokens);
        for (int h = 0; h < pattern.length; h++) v.head(headLabels.get(h), pattern[h]);
        return v;
    }

    /** A pattern {@code [head_index, query_pos, key_pos]} or {@code [1, head_index, query_pos, key_pos]}. */
    public static AttentionView of(NDArray pattern, List<String> tokens, List<String> headLabels) {
        long[] s = pattern.getShape().getShape();
        if (s.length == 4 && s[0] == 1) {
            try (NDArray squeezed = pattern.squeeze(0)) {
                return of(Charts.toFloat3(squeezed), tokens, headLabels);
            }
        }
        if (s.length != 3)
            throw new IllegalArgumentException("attention view: expected [head_index, query_pos, key_pos] (or batch 1 in front), got shape "
                    + pattern.getShape());
        return of(Charts.toFloat3(pattern), tokens, headLabels);
    }

    /** Adds a head: {@code pattern[query_pos][key_pos]}. */
    public AttentionView head(String label, float[][] pattern) {
        int n = tokens.size();
        int cols = pattern.length == 0 ? 0 : pattern[0].length;
        boolean ok = pattern.length == n;
        for (float[] row : pattern) ok &= row.length == n;
        if (!ok)
            throw new IllegalArgumentException("attention view: pattern for " + label + ": expected [query_pos, key_pos] = ["
                    + n + ", " + n + "] (one per token), got [" + pattern.length + ", " + cols + "]");
        heads.add(label);
        patterns.add(pattern);
        return this;
    }

    /** Adds a head from a {@code [query_pos, key_pos]} array. */
    public AttentionView head(String label, NDArray pattern) {
        return head(label, Charts.toFloat2(pattern));
    }

    /** {@code "L9H6"}: the head naming of the paper and of the charts' hover text. */
    public static String headLabel(int layer, int head) {
        return "L" + layer + "H" + head;
    }

    public AttentionView title(String title) {
        this.title = title;
        return this;
    }

    /** Leaves keys after the query blank (default on: GPT-2 attends causally). */
    public AttentionView maskUpperTri(boolean on) {
        this.maskUpperTri = on;
        return this;
    }

    /** The value drawn darkest (default 1). */
    public AttentionView maxValue(double max) {
        if (!(max > 0) || Double.isInfinite(max)) throw new IllegalArgumentException("maxValue must be finite and > 0, got " + max);
        this.maxValue = max;
        return this;
    }

    /** Cap on the grid cells in the HTML (default 40,000 ≈ 3 MB); heads past it are left out with a notice. */
    public AttentionView maxCells(int cells) {
        if (cells <= 0) throw new IllegalArgumentException("maxCells must be > 0, got " + cells);
        this.maxCells = cells;
        return this;
    }

    public List<String> tokens() { return tokens; }
    public List<String> heads() { return List.copyOf(heads); }

    /** The same patterns as Plotly heatmap panels (renders untrusted through JupyterLab's Plotly extension). */
    public Imshow plotly() {
        if (heads.isEmpty()) throw new IllegalStateException("attention view: no heads; add one with head(label, pattern)");
        int n = tokens.size();
        float[][][] z = new float[heads.size()][n][n];
        for (int h = 0; h < heads.size(); h++)
            for (int q = 0; q < n; q++)
                for (int k = 0; k < n; k++)
                    z[h][q][k] = maskUpperTri && k > q ? Float.NaN : patterns.get(h)[q][k];
        Imshow chart = Charts.imshow(z).x(tokens).y(tokens).facetLabels(heads).labels("key", "query")
                .colorLabel("attention").range(0, maxValue).colorscale(Colors.BLUES);
        return title == null ? chart : chart.title(title);
    }

    @Override
    public Map<String, Object> mimeBundle() {
        Map<String, Object> bundle = new LinkedHashMap<>();
        bundle.put(TEXT_HTML, html());
        bundle.put(TEXT_PLAIN, toString());
        return bundle;
    }

    /** Heads that fit in {@link #maxCells}. */
    private int shownHeads() {
        long perHead = (long) tokens.size() * tokens.size();
        return (int) Math.min(heads.size(), maxCells / perHead);
    }

    public String html() {
        if (heads.isEmpty()) throw new IllegalStateException("attention view: no heads; add one with head(label, pattern)");
        int n = tokens.size(), shown = shownHeads();
        int cell = n <= 30 ? 14 : n <= 60 ? 10 : 7;
        String id = Html.newId("ioi-attn");
        StringBuilder s = new StringBuilder(4096 + shown * n * n * 80);
        s.append("<div id=\"").append(id).append("\" style=\"font-family:sans-serif;font-size:12px;line-height:1.3\">");
        if (title != null) s.append("<div style=\"font-weight:bold;font-size:13px;margin-bottom:4px\">").append(Html.escape(title)).append("</div>");

        s.append("<div style=\"margin:2px 0 6px 0;line-height:22px\">");
        for (int i = 0; i < n; i++)
            s.append("<span data-tok=\"").append(i).append("\" title=\"").append(i).append("\" style=\"display:inline-block;white-space:pre;")
                    .append("padding:0 3px;margin:0 1px;border:1px solid #dddddd;border-radius:3px;line-height:18px;cursor:default\">")
                    .append(Html.escape(show(tokens.get(i)))).append("</span>");
        s.append("</div>");
        s.append("<div data-info=\"1\" style=\"color:#555555;min-height:16px;margin-bottom:6px\">")
                .append("Rows are queries, columns keys; a cell's tooltip gives its value. Highlighting needs trusted output.</div>");

        s.append("<div style=\"display:flex;flex-wrap:wrap;align-items:flex-start\">");
        for (int h = 0; h < shown; h++) grid(s, h, cell);
        s.append("</div>");

        s.append("<div style=\"color:#666666;font-size:11px;margin-top:2px\">0 ");
        for (int i = 0; i <= 8; i++)
            s.append("<span style=\"display:inline-block;width:12px;height:10px;background-color:").append(Colors.sequential(i / 8.0)).append("\"></span>");
        s.append(" ").append(Html.escape(Numbers.format(maxValue, 2)));
        if (shown < heads.size())
            s.append(" · showing ").append(shown).append(" of ").append(heads.size())
                    .append(" heads (maxCells ").append(maxCells).append("); AttentionView.plotly() draws all");
        s.append("</div>");
        s.append(script(id, shown));
        s.append("</div>");
        return s.toString();
    }

    private void grid(StringBuilder s, int h, int cell) {
        int n = tokens.size();
        float[][] p = patterns.get(h);
        s.append("<div style=\"margin:0 18px 14px 0\">");
        s.append("<div style=\"font-weight:bold;text-align:center;margin-bottom:2px\">").append(Html.escape(heads.get(h))).append("</div>");
        s.append("<table data-head=\"").append(h).append("\" style=\"border-collapse:collapse;font-size:")
                .append(cell >= 14 ? 11 : 9).append("px;line-height:").append(cell).append("px\">");
        s.append("<tr><th style=\"padding:0\"></th>");
        for (int k = 0; k < n; k++)
            s.append("<th style=\"padding:0;vertical-align:bottom;font-weight:normal\"><div title=\"").append(Html.escape(k + ": " + tokens.get(k)))
                    .append("\" style=\"writing-mode:vertical-rl;transform:rotate(180deg);white-space:pre;width:").append(cell)
                    .append("px;max-height:110px;overflow:hidden\">").append(Html.escape(show(tokens.get(k)))).append("</div></th>");
        s.append("</tr>");
        for (int q = 0; q < n; q++) {
            s.append("<tr><th title=\"").append(Html.escape(q + ": " + tokens.get(q)))
                    .append("\" style=\"padding:0 4px 0 0;height:").append(cell).append("px;text-align:right;font-weight:normal;white-space:pre;max-width:110px;overflow:hidden\">")
                    .append(Html.escape(show(tokens.get(q)))).append("</th>");
            for (int k = 0; k < n; k++) {
                s.append("<td style=\"padding:0;width:").append(cell).append("px");
                if (!(maskUpperTri && k > q)) {
                    float v = p[q][k];
                    s.append(";background-color:").append(Float.isFinite(v) ? Colors.sequential(v / maxValue) : "#e0e0e0")
                            .append("\" title=\"").append(Html.escape(Numbers.format(v, 3) + "  (" + q + " " + tokens.get(q) + " \u2192 " + k + " " + tokens.get(k) + ")"));
                }
                s.append("\"></td>");
            }
            s.append("</tr>");
        }
        s.append("</table></div>");
    }

    /** Newlines and tabs made visible in labels. */
    private static String show(String token) {
        return token.replace("\n", "\u21b5").replace("\t", "\u21e5");
    }

    private String script(String id, int shown) {
        Map<String, Object> d = new LinkedHashMap<>();
        List<Object> values = new ArrayList<>();
        for (int h = 0; h < shown; h++) {
            List<Object> rows = new ArrayList<>();
            for (float[] row : patterns.get(h)) {
                List<Object> r = new ArrayList<>(row.length);
                for (float v : row) r.add(Float.isFinite(v) ? (Object) (Math.round(v * 1e4) / 1e4) : null);
                rows.add(r);
            }
            values.add(rows);
        }
        d.put("tokens", tokens);
        d.put("heads", heads.subList(0, shown));
        d.put("values", values);
        d.put("max", maxValue);
        d.put("mask", maskUpperTri);
        d.put("scale", Colors.BLUES);
        return "<script type=\"text/javascript\">\n(function (root, D) {\n" + JS + "\n})(document.getElementById(\""
                + id + "\"), " + Json.toJson(d) + ");\n</script>";
    }

    // The interaction, for trusted output; the HTML above is complete without it.
    private static final String JS = String.join("\n",
            "if (!root) return;",
            "var tables = root.querySelectorAll('table[data-head]');",
            "var strip = root.querySelectorAll('span[data-tok]');",
            "var info = root.querySelector('[data-info]');",
            "var pinned = false, head = 0, lastQ = -1, lastK = -1;",
            "var HI = '#ffe08a', EDGE = 'inset 0 1px 0 #e08000, inset 0 -1px 0 #e08000';",
            "function rgb(h) { var v = parseInt(h.slice(1), 16); return [v >> 16 & 255, v >> 8 & 255, v & 255]; }",
            "function color(t) {",
            "  t = Math.max(0, Math.min(1, t)); var x = t * (D.scale.length - 1), i = Math.min(Math.floor(x), D.scale.length - 2), f = x - i;",
            "  var a = rgb(D.scale[i]), b = rgb(D.scale[i + 1]), c = [0, 1, 2].map(function (j) { return Math.round(a[j] + f * (b[j] - a[j])); });",
            "  return { bg: 'rgb(' + c.join(',') + ')', fg: (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) < 128 ? '#ffffff' : '#000000' };",
            "}",
            "function fmt(v) { return v == null ? 'NaN' : v.toFixed(3); }",
            "function tok(i) { return JSON.stringify(D.tokens[i]); }",
            "function row(q, on) {",
            "  if (q < 0) return;",
            "  for (var t = 0; t < tables.length; t++) { var tr = tables[t].rows[q + 1]; if (!tr) continue;",
            "    tr.cells[0].style.backgroundColor = on ? HI : '';",
            "    for (var c = 1; c < tr.cells.length; c++) tr.cells[c].style.boxShadow = on ? EDGE : ''; }",
            "}",
            "function col(k, on) {",
            "  if (k < 0) return;",
            "  for (var t = 0; t < tables.length; t++) { var th = tables[t].rows[0].cells[k + 1]; if (th) th.style.backgroundColor = on ? HI : ''; }",
            "}",
            "function paint(q, k) {",
            "  for (var i = 0; i < strip.length; i++) {",
            "    var s = strip[i], v = q >= 0 ? D.values[head][q][i] : null, masked = D.mask && i > q;",
            "    if (q < 0 || v == null || masked) { s.style.backgroundColor = ''; s.style.color = ''; }",
            "    else { var c = color(v / D.max); s.style.backgroundColor = c.bg; s.style.color = c.fg; }",
            "    s.style.outline = i === q ? '2px solid #e08000' : '';",
            "    s.style.fontWeight = i === k ? 'bold' : '';",
            "  }",
            "}",
            "function focus(h, q, k) {",
            "  row(lastQ, false); col(lastK, false);",
            "  head = h; lastQ = q; lastK = k; row(q, true); col(k, true); paint(q, k);",
            "  if (q < 0 && k < 0) { info.textContent = hint; return; }",
            "  var text = D.heads[h] + ': ';",
            "  if (q >= 0) text += 'query ' + q + ' ' + tok(q);",
            "  if (k >= 0) text += (q >= 0 ? ' \\u2192 ' : '') + 'key ' + k + ' ' + tok(k);",
            "  if (q >= 0 && k >= 0) text += ' = ' + fmt(D.values[h][q][k]);",
            "  info.textContent = text + (pinned ? '  (pinned: click to release)' : '');",
            "}",
            "function argmax(a, q) { var best = 0; for (var i = 0; i < a.length && (!D.mask || i <= q); i++) if (a[i] != null && a[i] > (a[best] == null ? -1 : a[best])) best = i; return best; }",
            "var hint = 'Hover a cell or a token to highlight its query row in every head (the strip shows where it attends); click to pin.';",
            "info.textContent = hint;",
            "root.addEventListener('mouseover', function (e) {",
            "  if (pinned) return;",
            "  var span = e.target.closest('span[data-tok]');",
            "  if (span) { var q = +span.getAttribute('data-tok'); focus(head, q, argmax(D.values[head][q], q)); return; }",
            "  var cell = e.target.closest('td, th'), table = cell && cell.closest('table[data-head]');",
            "  if (!table) return;",
            "  var h = +table.getAttribute('data-head'), q = cell.parentNode.rowIndex - 1, k = cell.cellIndex - 1;",
            "  if (q >= 0 && k >= 0 && D.mask && k > q) k = -1;",
            "  focus(h, q, k);",
            "});",
            "root.addEventListener('click', function () { if (lastQ < 0 && lastK < 0) return; pinned = !pinned; focus(head, lastQ, lastK); });",
            "root.addEventListener('mouseleave', function () { if (!pinned) focus(head, -1, -1); });");

    /** Which key each head's last query attends to most (the IOI "END" position), one line per head. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        s.append("Attention view").append(title == null ? "" : " \"" + title + "\"").append(": ").append(heads.size())
                .append(heads.size() == 1 ? " head" : " heads").append(" over ").append(tokens.size()).append(" tokens");
        int q = tokens.size() - 1;
        for (int h = 0; h < heads.size(); h++) {
            float[] row = patterns.get(h)[q];
            int best = -1;
            for (int k = 0; k < row.length; k++)
                if (Float.isFinite(row[k]) && (best < 0 || row[k] > row[best])) best = k;
            s.append("\n  ").append(heads.get(h)).append(": ").append(quote(tokens.get(q)));
            if (best >= 0) s.append(" attends most to ").append(quote(tokens.get(best))).append(" (").append(best)
                    .append(", ").append(Numbers.format(row[best], 3)).append(")");
        }
        return s.toString();
    }

    private static String quote(String token) {
        return "'" + show(token) + "'";
    }
}
