package ioi.experiments;

/**
 * Progress of a long computation (an activation-patching grid), reported in units of work (grid
 * cells): {@code start(total)} once, {@code step(n)} as units finish, {@code done()} at the end,
 * also after an exception. Every method defaults to doing nothing; {@link #NONE} is that default.
 * A notebook plugs a progress bar in here.
 */
public interface Progress {

    /** Reports nothing. */
    Progress NONE = new Progress() {};

    /** The computation starts and will do {@code total} units of work. */
    default void start(long total) {}

    /** {@code n} more units are done. */
    default void step(long n) {}

    /** The computation finished (or failed). */
    default void done() {}
}
