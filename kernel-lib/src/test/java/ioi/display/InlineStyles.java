package ioi.display;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A test's model of what JupyterLab's HTML sanitizer (packages/apputils/src/sanitizer.ts) keeps of
 * inline styles in untrusted output: an allow-list of CSS properties, each with a value pattern. The
 * patterns are a simplified subset of JupyterLab's (same shapes: lengths, #hex / rgb() colours,
 * keywords), covering the properties this package writes.
 */
final class InlineStyles {
    private InlineStyles() {}

    private static final String NUM = "[+-]?([0-9]*[.])?[0-9]+";
    private static final String LEN = "(" + NUM + "(px|em|rem|ex|in|cm|mm|pt|pc)|0)";
    private static final String LEN_PCT = "(0|" + NUM + "(px|em|rem|ex|in|cm|mm|pt|pc|%))";
    private static final String COLOR = "(#(0x)?[0-9a-f]+|rgb\\(\\s*\\d{1,3}\\s*,\\s*\\d{1,3}\\s*,\\s*\\d{1,3}\\s*\\)|black|white|gray|red|blue|transparent)";
    private static final String BORDER_STYLE = "(none|hidden|dotted|dashed|solid|double|groove|ridge|inset|outset)";
    private static final String BORDER_WIDTH = "(thin|medium|thick|" + LEN + ")";
    private static final String IDENT = "-?[_a-z][_a-z0-9-]*";

    static final Map<String, Pattern> ALLOWED = new LinkedHashMap<>();

    static {
        allow("color|background-color|border-color|border-bottom-color", COLOR);
        allow("border|border-bottom|border-top|border-left|border-right|outline",
                "((" + BORDER_WIDTH + "|" + BORDER_STYLE + "|" + COLOR + ")\\s*){1,3}");
        allow("border-collapse", "collapse|separate");
        allow("border-radius", "(" + LEN_PCT + "\\s*){1,4}");
        allow("padding|margin", "((" + LEN_PCT + "|auto)\\s*){1,4}");
        allow("padding-top|padding-bottom|padding-left|padding-right|margin-top|margin-bottom|margin-left|margin-right",
                LEN_PCT + "|auto");
        allow("width|height|min-width|min-height|max-width|max-height", LEN_PCT + "|auto|none");
        allow("text-align", "left|right|center|justify");
        allow("vertical-align", "baseline|sub|super|top|text-top|middle|bottom|text-bottom|" + LEN_PCT);
        allow("white-space", "normal|pre|nowrap|pre-wrap|pre-line");
        allow("font-weight", "normal|bold|bolder|lighter|[1-9]00");
        allow("font-style", "normal|italic|oblique");
        allow("font-size", LEN_PCT + "|small|medium|large|smaller|larger");
        allow("font-family", "((\"[^\"]*\"|'[^']*'|(" + IDENT + "\\s*)+))(,\\s*(\"[^\"]*\"|'[^']*'|(" + IDENT + "\\s*)+))*");
        allow("line-height", "normal|" + NUM + "|" + LEN_PCT);
        allow("caption-side", "top|bottom");
        allow("display", "inline|block|inline-block|flex|inline-flex|grid|table|table-cell|none");
        allow("flex-wrap", "nowrap|wrap|wrap-reverse");
        allow("align-items", "flex-start|flex-end|center|baseline|stretch");
        allow("overflow|overflow-x|overflow-y", "visible|hidden|scroll|auto");
        allow("cursor", "auto|default|pointer|crosshair|text|wait|help|progress");
    }

    private static void allow(String properties, String value) {
        for (String p : properties.split("\\|"))
            ALLOWED.put(p, Pattern.compile("^(" + value + ")$", Pattern.CASE_INSENSITIVE));
    }

    private static final Pattern STYLE_ATTR = Pattern.compile("style=\"([^\"]*)\"");

    /** Every style attribute's declarations as {@code property: value}. */
    static List<String[]> declarations(String html) {
        List<String[]> out = new ArrayList<>();
        Matcher m = STYLE_ATTR.matcher(html);
        while (m.find())
            for (String decl : m.group(1).split(";")) {
                if (decl.isBlank()) continue;
                int colon = decl.indexOf(':');
                out.add(new String[] {decl.substring(0, colon).trim(), decl.substring(colon + 1).trim()});
            }
        return out;
    }

    /** The declarations the sanitizer would drop, as {@code property: value} strings. */
    static Set<String> dropped(String html) {
        Set<String> bad = new TreeSet<>();
        for (String[] d : declarations(html)) {
            Pattern p = ALLOWED.get(d[0]);
            if (p == null || !p.matcher(d[1]).matches()) bad.add(d[0] + ": " + d[1]);
        }
        return bad;
    }

    /** The properties of the dropped declarations. */
    static Set<String> droppedProperties(String html) {
        Set<String> props = new TreeSet<>();
        for (String s : dropped(html)) props.add(s.substring(0, s.indexOf(':')));
        return props;
    }
}
