package ioi.lens.hub;

import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The default {@link DownloadProgress}: in a terminal one line on stderr redrawn with a carriage
 * return at most five times a second; otherwise slf4j info lines at the start, about every 10% (for
 * files of 1 MB or more) and at the end.
 */
final class LogProgress implements DownloadProgress {
    private static final Logger LOG = LoggerFactory.getLogger(DownloadProgress.class);
    private static final long QUIET_BELOW = 1 << 20;

    private final boolean terminal;
    private String file = "";
    private long total = -1;
    private long have;
    private long lastDecile;
    private long lastDraw;

    LogProgress(boolean terminal) {
        this.terminal = terminal;
    }

    @Override
    public void start(String file, long totalBytes, long alreadyHave) {
        this.file = file;
        this.total = totalBytes;
        this.have = alreadyHave;
        this.lastDecile = decile();
        if (terminal) {
            draw();
        } else {
            LOG.info("Downloading {} ({}{})", file, total < 0 ? "size unknown" : bytes(total),
                    alreadyHave > 0 ? ", resuming at " + bytes(alreadyHave) : "");
        }
    }

    @Override
    public void advance(long bytes) {
        have += bytes;
        if (terminal) {
            long now = System.nanoTime();
            if (now - lastDraw > 200_000_000L) {
                lastDraw = now;
                draw();
            }
        } else if (total >= QUIET_BELOW && decile() > lastDecile && have < total) {
            lastDecile = decile();
            LOG.info("{}: {}% ({} of {})", file, have * 100 / total, bytes(have), bytes(total));
        }
    }

    @Override
    public void done(String file) {
        if (terminal) {
            draw();
            System.err.println();
        } else {
            LOG.info("Downloaded {} ({})", file, bytes(have));
        }
    }

    private long decile() {
        return total > 0 ? have * 10 / total : 0;
    }

    private void draw() {
        String pct = total > 0 ? String.format(Locale.ROOT, "%3d%%", have * 100 / total) : "  ?%";
        System.err.print("\r" + file + " " + pct + " " + bytes(have) + (total >= 0 ? " / " + bytes(total) : "") + "   ");
        System.err.flush();
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KB", "MB", "GB", "TB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
