package ioi.notebook;

import java.util.Locale;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;

/**
 * The table each notebook ends with, "paper / ARENA reference vs this run": one row per quantity,
 * the paper's and ARENA's values as they print them (text: some are ranges, rankings or "> 95%"),
 * and this run's value. A blank where a source gives no number.
 *
 * <pre>{@code
 * new ReferenceTable("Name movers")
 *     .row("copy score of 9.9", "> 95%", "100.00%", ReferenceTable.percent(copying.positive(9, 9), 2))
 *     .table()
 * }</pre>
 */
public final class ReferenceTable {

    private final Table table;

    public ReferenceTable(String title) {
        table = Table.create("Paper / ARENA reference vs this run: " + title, StringColumn.create("quantity"),
                StringColumn.create("paper"), StringColumn.create("ARENA"), StringColumn.create("this run"));
    }

    /** Adds a row; null reference values are shown blank. */
    public ReferenceTable row(String quantity, String paper, String arena, String thisRun) {
        table.stringColumn("quantity").append(quantity);
        table.stringColumn("paper").append(paper == null ? "" : paper);
        table.stringColumn("ARENA").append(arena == null ? "" : arena);
        table.stringColumn("this run").append(thisRun == null ? "" : thisRun);
        return this;
    }

    /** The table (shown with {@code Tables.styled(...)} or directly). */
    public Table table() {
        return table;
    }

    /** {@code x} with {@code digits} decimals. */
    public static String number(double x, int digits) {
        return String.format(Locale.ROOT, "%." + digits + "f", x);
    }

    /** A fraction as a percentage with {@code digits} decimals: {@code percent(0.945, 1)} = "94.5%". */
    public static String percent(double fraction, int digits) {
        return String.format(Locale.ROOT, "%." + digits + "f%%", 100 * fraction);
    }
}
