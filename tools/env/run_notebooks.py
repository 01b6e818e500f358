#!/usr/bin/env python3
"""Executes notebooks headlessly with the IOI (Java) kernel: what `./ioi run` does.

    ./ioi run [--model gpt2|DIR] [--device cpu|gpu] [--timeout S] [--out DIR] [NOTEBOOK...]

Each notebook (default: notebooks/*.ipynb, sorted) runs in a fresh kernel under nbclient, in the
notebook's own directory, until its first failing cell. Written to --out (default out/):
NAME.ipynb (executed), NAME.html (nbconvert, lab template), NAME.kernel.log (the kernel's own
output: JVM start, startup-script errors), index.html and summary.json. Exit status: 0 if every
notebook ran without a cell error, 1 otherwise, 2 for bad arguments. Runs in the environment that
tools/env/setup.sh made (it needs nbclient, nbconvert, nbformat).
"""
import argparse
import atexit
import datetime
import html
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def log(msg=""):
    print(msg, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="./ioi run", description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help="notebooks to run (default: notebooks/*.ipynb, sorted)")
    p.add_argument("--model", help="IOI_MODEL for the notebooks: gpt2 (default), an org/name repo id, "
                                   "or a checkpoint directory (config.json, model.safetensors, tokenizer.json)")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], help="IOI_DEVICE (default: a GPU if DJL sees one)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="per-cell limit in seconds (default 1800; 0: none)")
    p.add_argument("--startup-timeout", type=float, default=180, help="seconds for the kernel to start (default 180)")
    p.add_argument("--out", type=Path, default=ROOT / "out", help="output directory (default out/)")
    p.add_argument("--kernel", default="ioi-java", help="kernelspec name (default ioi-java)")
    return p.parse_args(argv)


def model_setting(value):
    """A directory (even relative to where ./ioi run was called) becomes absolute: kernels run in notebooks/."""
    if value and Path(value).expanduser().is_dir():
        return str(Path(value).expanduser().resolve())
    return value


def find_notebook(name):
    """A path as given (relative to where ./ioi run was called), else a name in notebooks/, with or
    without .ipynb: `./ioi run 00_smoke` and `./ioi run 00_smoke.ipynb` both mean notebooks/00_smoke.ipynb."""
    candidates = [Path(name).expanduser(), ROOT / "notebooks" / name]
    if not name.endswith(".ipynb"):
        candidates += [Path(name + ".ipynb").expanduser(), ROOT / "notebooks" / (name + ".ipynb")]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    return None


def first_error(nb):
    """(1-based cell number, one-line message) of the first unexpected error output, or None."""
    for i, cell in enumerate(nb.cells, 1):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                # JJava: a compile error's traceback is the code (lines starting '|') then javac's
                # messages; an exception's is its toString() then the stack.
                lines = [ANSI.sub("", l).strip() for l in out.get("traceback", [])]
                lines = [l for l in lines if l and not l.startswith("|") and not l.startswith("at ")]
                detail = "; ".join(lines[:3]) or ANSI.sub("", out.get("evalue", ""))
                return i, f"{out.get('ename', 'error')}: {detail}"[:400]
    return None


def tail(path, lines=15):
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_one(nb_path, args, index, total):
    name = nb_path.stem
    out_nb, out_html, out_log = (args.out / f"{name}.ipynb", args.out / f"{name}.html", args.out / f"{name}.kernel.log")
    nb = nbformat.read(nb_path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for c in code_cells:
        c.outputs, c.execution_count = [], None
    log(f"[{index}/{total}] {nb_path.name}: running {len(code_cells)} code cells ...")

    done = {"n": 0}
    tty = sys.stdout.isatty()
    cell_started = {"t": time.monotonic()}

    def on_cell_start(cell, cell_index):
        cell_started["t"] = time.monotonic()

    def on_cell_executed(cell, cell_index, execute_reply):
        done["n"] += 1
        if tty:
            print(f"\r      cell {done['n']}/{len(code_cells)} ({time.monotonic() - cell_started['t']:.1f} s)   ",
                  end="", flush=True)

    client = NotebookClient(
        nb, kernel_name=args.kernel, timeout=args.timeout if args.timeout > 0 else None,
        startup_timeout=args.startup_timeout, interrupt_on_timeout=False, allow_errors=False,
        record_timing=True, resources={"metadata": {"path": str(nb_path.parent)}},
        on_cell_start=on_cell_start, on_cell_executed=on_cell_executed)
    status, error = "ok", None
    start = time.monotonic()
    with open(out_log, "w") as klog:
        try:
            client.execute(stdout=klog, stderr=klog)
        except CellTimeoutError as e:
            status, error = "timeout", f"a cell ran longer than {args.timeout:g} s ({str(e).strip().splitlines()[0]})"
        except CellExecutionError as e:
            status = "error"
            found = first_error(nb)
            error = f"cell {found[0]}: {found[1]}" if found else ANSI.sub("", str(e)).strip()[-500:]
        except DeadKernelError as e:
            status, error = "kernel died", str(e)
        except Exception as e:  # kernel did not start, and the like
            status, error = "failed", f"{type(e).__name__}: {e}"
        finally:
            # nbclient 0.11 leaves its atexit clean-up registered when the kernel fails to start; it
            # has cleaned up already, and the hook would only print an AssertionError at exit.
            atexit.unregister(client._cleanup_kernel)
    seconds = time.monotonic() - start
    if tty:
        print("\r" + " " * 40 + "\r", end="")
    if status == "ok" and first_error(nb):   # an error output that nbclient let through
        i, message = first_error(nb)
        status, error = "error", f"cell {i}: {message}"

    nbformat.write(nb, out_nb)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb, resources={"metadata": {"name": name}})
    out_html.write_text(body, encoding="utf-8")

    if status == "ok":
        log(f"[{index}/{total}] {nb_path.name}: ok ({seconds:.1f} s) -> {out_html}")
    else:
        log(f"[{index}/{total}] {nb_path.name}: FAILED ({status}, {seconds:.1f} s): {error}")
        log(f"      executed so far: {out_nb}; kernel log: {out_log}")
        if status in ("failed", "kernel died"):
            log("      kernel log tail:\n" + "\n".join("        " + l for l in tail(out_log).splitlines()))
    return {"notebook": nb_path.name, "status": status, "seconds": round(seconds, 1), "cells": len(code_cells),
            "executed": done["n"], "error": error, "html": out_html.name, "ipynb": out_nb.name, "log": out_log.name}


def write_index(results, args, model, device, started):
    rows = []
    for r in results:
        ok = r["status"] == "ok"
        colour = "#1a7f37" if ok else "#cf222e"
        rows.append(
            "<tr>"
            f"<td><a href=\"{html.escape(r['html'])}\">{html.escape(r['notebook'])}</a></td>"
            f"<td style=\"color:{colour};font-weight:600\">{html.escape(r['status'])}</td>"
            f"<td style=\"text-align:right\">{r['seconds']:.1f} s</td>"
            f"<td style=\"text-align:right\">{r['executed']}/{r['cells']}</td>"
            f"<td><a href=\"{html.escape(r['ipynb'])}\">ipynb</a> · <a href=\"{html.escape(r['log'])}\">kernel log</a></td>"
            f"<td><code>{html.escape(r['error'] or '')}</code></td>"
            "</tr>")
    passed = sum(r["status"] == "ok" for r in results)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>IOI notebooks: {passed}/{len(results)} ok</title></head>
<body style="font-family:system-ui,sans-serif;margin:2em">
<h1>IOI notebooks</h1>
<p>{passed} of {len(results)} ran without errors · model <code>{html.escape(model)}</code> ·
device <code>{html.escape(device)}</code> · kernel <code>{html.escape(args.kernel)}</code> · {html.escape(started)}</p>
<table style="border-collapse:collapse" cellpadding="6" border="1">
<tr><th>notebook</th><th>status</th><th>time</th><th>cells</th><th>files</th><th>first error</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    (args.out / "index.html").write_text(page, encoding="utf-8")
    (args.out / "summary.json").write_text(json.dumps(
        {"model": model, "device": device, "kernel": args.kernel, "started": started, "notebooks": results},
        indent=1) + "\n", encoding="utf-8")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.model:
        os.environ["IOI_MODEL"] = args.model
    if os.environ.get("IOI_MODEL"):
        os.environ["IOI_MODEL"] = model_setting(os.environ["IOI_MODEL"])
    if args.device:
        os.environ["IOI_DEVICE"] = args.device
    model = os.environ.get("IOI_MODEL") or "gpt2"
    device = os.environ.get("IOI_DEVICE") or "auto"

    if args.notebooks:
        notebooks = [find_notebook(n) for n in args.notebooks]
        missing = [n for n, found in zip(args.notebooks, notebooks) if found is None]
        if missing:
            known = ", ".join(p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb")))
            print(f"run: no such notebook: {', '.join(missing)} (a path, or a name in notebooks/: {known})",
                  file=sys.stderr)
            return 2
    else:
        notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
        if not notebooks:
            print("run: no notebooks in notebooks/", file=sys.stderr)
            return 2
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    started = datetime.datetime.now().isoformat(timespec="seconds")
    log(f"run: {len(notebooks)} notebook(s), model {model}, device {device}, kernel {args.kernel} -> {args.out}")
    t0 = time.monotonic()
    results = [run_one(nb, args, i, len(notebooks)) for i, nb in enumerate(notebooks, 1)]
    write_index(results, args, model, device, started)
    failed = [r for r in results if r["status"] != "ok"]
    log(f"run: {len(results) - len(failed)} ok, {len(failed)} failed in {time.monotonic() - t0:.1f} s; "
        f"report: {args.out / 'index.html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
