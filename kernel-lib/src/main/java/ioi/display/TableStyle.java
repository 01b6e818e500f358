package ioi.display;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.IntPredicate;

/**
 * How {@link Tables} renders a Tablesaw table. Immutable: each method returns a changed copy, so
 * {@code TableStyle.defaults().digits(2).diverging("logit_diff").maxRows(50)} reads as one value.
 *
 * <ul>
 *   <li>{@link #digits(int)}: decimals for floating columns (default 3; integer columns print whole);
 *       {@link #digits(String, int)} per column.</li>
 *   <li>{@link #maxRows(int)}: rows shown (default 20, 0 = all); the rest is announced as
 *       "showing 20 of 144 rows".</li>
 *   <li>{@link #signColors(boolean)}: negative floating values in red, positive in blue (default on).</li>
 *   <li>{@link #diverging(String...)}: a red/blue background scale (RdBu, midpoint 0) on those numeric
 *       columns, scaled to the column's largest |value| or to {@link #divergingLimit(double)}.</li>
 *   <li>{@link #highlightRows(int...)}, {@link #highlightRows(IntPredicate)},
 *       {@link #highlightCell(int, String)}: highlighted rows (background) and cells (bold, outlined).</li>
 *   <li>{@link #title(String)} and {@link #rowNumbers(boolean)}.</li>
 * </ul>
 */
public final class TableStyle {
    private int digits = 3;
    private Map<String, Integer> columnDigits = Map.of();
    private int maxRows = 20;
    private boolean signColors = true;
    private Set<String> diverging = Set.of();
    private double divergingLimit = Double.NaN;
    private IntPredicate highlightRows = null;
    private Set<String> highlightCells = Set.of(); // "row\u0000column"
    private String highlightColor = "#fff2a8";
    private String title = null;
    private boolean rowNumbers = false;

    private TableStyle() {}

    private TableStyle(TableStyle o) {
        digits = o.digits;
        columnDigits = o.columnDigits;
        maxRows = o.maxRows;
        signColors = o.signColors;
        diverging = o.diverging;
        divergingLimit = o.divergingLimit;
        highlightRows = o.highlightRows;
        highlightCells = o.highlightCells;
        highlightColor = o.highlightColor;
        title = o.title;
        rowNumbers = o.rowNumbers;
    }

    public static TableStyle defaults() {
        return new TableStyle();
    }

    public TableStyle digits(int digits) {
        if (digits < 0 || digits > 12) throw new IllegalArgumentException("digits must be in [0, 12], got " + digits);
        TableStyle s = new TableStyle(this);
        s.digits = digits;
        return s;
    }

    public TableStyle digits(String column, int digits) {
        if (digits < 0 || digits > 12) throw new IllegalArgumentException("digits must be in [0, 12], got " + digits);
        TableStyle s = new TableStyle(this);
        Map<String, Integer> m = new LinkedHashMap<>(columnDigits);
        m.put(Objects.requireNonNull(column), digits);
        s.columnDigits = Collections.unmodifiableMap(m);
        return s;
    }

    public TableStyle maxRows(int maxRows) {
        if (maxRows < 0) throw new IllegalArgumentException("maxRows must be >= 0 (0 = all), got " + maxRows);
        TableStyle s = new TableStyle(this);
        s.maxRows = maxRows;
        return s;
    }

    public TableStyle signColors(boolean on) {
        TableStyle s = new TableStyle(this);
        s.signColors = on;
        return s;
    }

    /** Red/blue background scale on these numeric columns (added to those already set). */
    public TableStyle diverging(String... columns) {
        TableStyle s = new TableStyle(this);
        Set<String> set = new LinkedHashSet<>(diverging);
        for (String c : columns) set.add(Objects.requireNonNull(c));
        s.diverging = Collections.unmodifiableSet(set);
        return s;
    }

    /** The |value| that gets the darkest colour of the diverging scale (default: each column's max |value|). */
    public TableStyle divergingLimit(double limit) {
        if (!(limit > 0) || Double.isInfinite(limit))
            throw new IllegalArgumentException("divergingLimit must be finite and > 0, got " + limit);
        TableStyle s = new TableStyle(this);
        s.divergingLimit = limit;
        return s;
    }

    /** Highlights these rows (0-based row indices of the table). */
    public TableStyle highlightRows(int... rows) {
        Set<Integer> set = new LinkedHashSet<>();
        for (int r : rows) set.add(r);
        return highlightRows(set::contains);
    }

    /** Highlights the rows whose index matches, e.g. {@code i -> table.doubleColumn("p").get(i) < 0.5}. */
    public TableStyle highlightRows(IntPredicate rows) {
        TableStyle s = new TableStyle(this);
        s.highlightRows = highlightRows == null ? rows : highlightRows.or(rows);
        return s;
    }

    public TableStyle highlightCell(int row, String column) {
        TableStyle s = new TableStyle(this);
        Set<String> set = new LinkedHashSet<>(highlightCells);
        set.add(row + "\u0000" + Objects.requireNonNull(column));
        s.highlightCells = Collections.unmodifiableSet(set);
        return s;
    }

    /** Background of highlighted rows, as {@code #rrggbb}. */
    public TableStyle highlightColor(String hex) {
        if (hex == null || !hex.matches("#[0-9a-fA-F]{6}"))
            throw new IllegalArgumentException("highlightColor must be #rrggbb, got " + hex);
        TableStyle s = new TableStyle(this);
        s.highlightColor = hex.toLowerCase(java.util.Locale.ROOT);
        return s;
    }

    public TableStyle title(String title) {
        TableStyle s = new TableStyle(this);
        s.title = title;
        return s;
    }

    /** Adds a first column with the 0-based row index. */
    public TableStyle rowNumbers(boolean on) {
        TableStyle s = new TableStyle(this);
        s.rowNumbers = on;
        return s;
    }

    public int digits() { return digits; }
    public int digitsFor(String column) { return columnDigits.getOrDefault(column, digits); }
    public int maxRows() { return maxRows; }
    public boolean signColors() { return signColors; }
    public Set<String> divergingColumns() { return diverging; }
    public double divergingLimit() { return divergingLimit; }
    public boolean isHighlighted(int row) { return highlightRows != null && highlightRows.test(row); }
    public boolean isHighlighted(int row, String column) { return highlightCells.contains(row + "\u0000" + column); }
    public String highlightColor() { return highlightColor; }
    /** Column names used by {@link #highlightCell(int, String)}, to check against a table. */
    public Set<String> highlightedCellColumns() {
        Set<String> out = new LinkedHashSet<>();
        for (String k : highlightCells) out.add(k.substring(k.indexOf('\u0000') + 1));
        return out;
    }
    public String title() { return title; }
    public boolean rowNumbers() { return rowNumbers; }
}
