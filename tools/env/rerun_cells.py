#!/usr/bin/env python3
"""Re-runs a middle cell of a notebook many times, as a learner exploring does, and checks that the
kernel's native memory stays flat and that the rest of the notebook still runs.

    python rerun_cells.py NOTEBOOK CELL [--repeats 20] [--margin-mib 192] [--kernel ioi-java]

In one IOI (Java) kernel: the notebook's code cells up to CELL (the index in nb.cells), then CELL
again REPEATS times, then the remaining cells. A probe cell (not part of the notebook) reads, after a
garbage collection, the kernel's resident memory (VmRSS), the model's open caches and its live arrays:
once after two warm-up re-runs (the baseline: allocator pools and JIT settle there) and once at the
end. Passes when the open caches and live arrays equal the baseline's, RSS grew by less than
--margin-mib, and no cell failed.

Before that, a control: with the library's freeing of replaced values switched off
(Redefinitions.enabled(false)), three re-runs must leave three more open caches, so the probe can see
the leak this test guards against. Needs the notebook environment (nbclient) and IOI_MODEL.
"""
import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

PROBE = """System.gc(); System.gc(); Thread.sleep(300);
long ioiRssKiB = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream()
        .filter(l -> l.startsWith("VmRSS:")).mapToLong(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElse(-1);
System.out.println("PROBE rss_kib=" + ioiRssKiB + " open_caches=" + model.openCacheCount()
        + " live_arrays=" + model.liveArrayCount());
"""
PROBE_LINE = re.compile(r"PROBE rss_kib=(-?\d+) open_caches=(\d+) live_arrays=(\d+)")


def log(msg):
    print(f"rerun: {msg}", flush=True)


def main(argv):
    p = argparse.ArgumentParser(prog="rerun_cells.py", description=__doc__.split("\n\n")[0])
    p.add_argument("notebook", type=Path)
    p.add_argument("cell", type=int, help="index in the notebook's cells of the code cell to re-run")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--margin-mib", type=float, default=192,
                   help="RSS growth allowed over the re-runs (default 192: measured +29..54 MiB without a leak; one leaked cache of notebook 02 is ~140 MiB)")
    p.add_argument("--kernel", default="ioi-java")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args(argv)

    nb = nbformat.read(args.notebook, as_version=4)
    if not (0 <= args.cell < len(nb.cells)) or nb.cells[args.cell].cell_type != "code":
        log(f"cell {args.cell} of {args.notebook} is not a code cell (it has {len(nb.cells)} cells)")
        return 2
    client = NotebookClient(nb, kernel_name=args.kernel, timeout=args.timeout, allow_errors=False,
                            resources={"metadata": {"path": str(args.notebook.resolve().parent)}})
    extra = {"n": len(nb.cells)}

    def run(code_or_index):
        """Runs a notebook cell (by index) or a piece of code; returns its stdout."""
        if isinstance(code_or_index, int):
            cell = nb.cells[code_or_index]
            index = code_or_index
        else:
            cell = nbformat.v4.new_code_cell(code_or_index)
            nb.cells.append(cell)   # nbclient writes outputs into nb.cells[index]
            index = len(nb.cells) - 1
        client.execute_cell(cell, index)
        out = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        if not isinstance(code_or_index, int):
            nb.cells.pop()
        return out

    def probe():
        m = PROBE_LINE.search(run(PROBE))
        if not m:
            raise RuntimeError("the probe cell printed no PROBE line")
        return {"rss_kib": int(m[1]), "open_caches": int(m[2]), "live_arrays": int(m[3])}

    problems = []
    with client.setup_kernel():
        try:
            for i in range(args.cell + 1):
                if nb.cells[i].cell_type == "code":
                    run(i)
            log(f"{args.notebook.name}: ran cells 0..{args.cell}; re-running cell {args.cell}:")
            log("  " + nb.cells[args.cell].source.splitlines()[0][:100] + " ...")

            run("Redefinitions.enabled(false);")
            before = probe()
            for _ in range(3):
                run(args.cell)
            leaked = probe()
            run("Redefinitions.enabled(true);")
            run(args.cell)   # (the control's leaked caches stay: the baseline below is taken after them)
            log(f"control, freeing off: 3 re-runs, open caches {before['open_caches']} -> {leaked['open_caches']}, "
                f"RSS {before['rss_kib'] // 1024} -> {leaked['rss_kib'] // 1024} MiB")
            if leaked["open_caches"] < before["open_caches"] + 3:
                problems.append("the control saw no leak (open caches did not grow with freeing off): "
                                "this cell does not make a cache, or the probe cannot see one")

            for _ in range(2):
                run(args.cell)
            base = probe()
            for _ in range(args.repeats - 2):
                run(args.cell)
            end = probe()
            grown = (end["rss_kib"] - base["rss_kib"]) / 1024
            log(f"{args.repeats} re-runs: open caches {base['open_caches']} -> {end['open_caches']}, live arrays "
                f"{base['live_arrays']} -> {end['live_arrays']}, RSS {base['rss_kib'] // 1024} -> "
                f"{end['rss_kib'] // 1024} MiB ({grown:+.0f} MiB; margin {args.margin_mib:g})")
            for key in ("open_caches", "live_arrays"):
                if end[key] != base[key]:
                    problems.append(f"{key} grew from {base[key]} to {end[key]} over {args.repeats - 2} re-runs")
            if grown >= args.margin_mib:
                problems.append(f"RSS grew by {grown:.0f} MiB over {args.repeats - 2} re-runs "
                                f"(margin {args.margin_mib:g} MiB)")

            for i in range(args.cell + 1, extra["n"]):
                if nb.cells[i].cell_type == "code":
                    run(i)
            log(f"the remaining cells {args.cell + 1}..{extra['n'] - 1} ran after the re-runs")
        except CellExecutionError as e:
            problems.append("a cell failed: " + str(e).strip().splitlines()[-1][:400])
    for pr in problems:
        log("FAIL " + pr)
    log("passed" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
