package ioi.lens.hub;

/**
 * Receives the progress of checkpoint downloads, one file at a time, on the downloading thread.
 * The default reporter ({@link #defaultReporter()}) logs; a notebook can plug in a progress bar.
 */
public interface DownloadProgress {

    /**
     * A download of {@code file} begins. Called again for the same file when a cut connection is
     * resumed or restarted; the counters then restart at {@code alreadyHave}.
     *
     * @param totalBytes size of the whole file, or -1 if the server did not say
     * @param alreadyHave bytes already on disk from an earlier (interrupted) attempt
     */
    void start(String file, long totalBytes, long alreadyHave);

    /** {@code bytes} more bytes of the current file were written. */
    void advance(long bytes);

    /** The current file is complete and verified. */
    void done(String file);

    /**
     * The download of {@code file} broke off (a cut connection, or no byte for the stall timeout) and
     * is about to resume from {@code keptBytes}; {@link #start} follows. The downloader also logs a
     * warning, so the default does nothing.
     *
     * @param reason what happened, e.g. {@code StallException: no data for 30 s at byte 1000000 ...}
     */
    default void retry(String file, long keptBytes, String reason) {}

    /** Reports nothing. */
    DownloadProgress NONE = new DownloadProgress() {
        @Override
        public void start(String file, long totalBytes, long alreadyHave) {}

        @Override
        public void advance(long bytes) {}

        @Override
        public void done(String file) {}
    };

    /**
     * A carriage-return progress line on stderr when running in a terminal, otherwise slf4j log
     * lines at about every 10%.
     */
    static DownloadProgress defaultReporter() {
        return new LogProgress(System.console() != null);
    }
}
