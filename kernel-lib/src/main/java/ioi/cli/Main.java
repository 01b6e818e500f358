package ioi.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The command line behind {@code ./ioi}: one subcommand per task. */
@Command(name = "ioi", mixinStandardHelpOptions = true,
        description = "IOI circuit toolkit: GPT-2 with TransformerLens hooks on DJL.",
        subcommands = {CacheCommand.class, BenchCommand.class, DatasetCommand.class, ReplicateCommand.class,
                FetchCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit code (for tests). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, line, parsed) -> {
            line.getErr().println("ioi: " + e.getMessage());
            return 1;
        });
        return cli.execute(args);
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }
}
