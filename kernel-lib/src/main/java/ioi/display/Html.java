package ioi.display;

/**
 * HTML helpers for the renderers of this package. Every piece of user text (column names, cells,
 * tokens, titles) goes through {@link #escape}; styles are inline {@code style} attributes only,
 * limited to the CSS properties JupyterLab's sanitizer keeps for untrusted output.
 */
public final class Html {
    private Html() {}

    /** Escapes {@code & < > " '} so the text is inert both as element content and in a quoted attribute. */
    public static String escape(String text) {
        if (text == null) return "";
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String rep = switch (c) {
                case '&' -> "&amp;";
                case '<' -> "&lt;";
                case '>' -> "&gt;";
                case '"' -> "&quot;";
                case '\'' -> "&#39;";
                default -> null;
            };
            if (rep == null) {
                if (out != null) out.append(c);
            } else {
                if (out == null) out = new StringBuilder(text.length() + 16).append(text, 0, i);
                out.append(rep);
            }
        }
        return out == null ? text : out.toString();
    }

    /** Escapes text for Plotly's label mini-markup (titles, tick labels, hover): it reads {@code <...>} as tags. */
    static String plotlyText(String text) {
        if (text == null) return "";
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    /** Makes an element id for scripts of one output; JupyterLab keeps ids on trusted output. */
    static String newId(String prefix) {
        return prefix + "-" + java.util.UUID.randomUUID().toString().replace("-", "").substring(0, 16);
    }
}
