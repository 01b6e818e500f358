#!/usr/bin/env python3
"""The exercise notebooks: made from the solved ones, checked for drift, and run with stubs and solutions.

    ./ioi exercises --make                  write notebooks/exercises/ from notebooks/*.ipynb
    ./ioi exercises --verify                exit 1 if notebooks/exercises/ is not what --make would write
    ./ioi exercises --check [--model DIR]   run the learner's copies (stubs) and the solved notebooks headless

The solved notebooks are the source (docs/exercises.md). A code cell tagged `solution` holds an exercise's
method; its body between `// BEGIN SOLUTION` and `// END SOLUTION` is the answer. In the learner's copy that
block becomes `throw Check.todo();`, the cell is tagged `exercise`, and a collapsed markdown cell tagged
`solution` after it shows the answer. Cells tagged `check` call a section's checks (`TaskChecks.*`, ...) and print one line
`check NAME: passed | not implemented yet | FAILED - ...`; everything else is copied unchanged.

--check passes when every check line of the stubs' run says "not implemented yet" or "FAILED" (and no cell
errors), and every one of the solutions' run says "passed". Its last line:
`exercises: N checks, N caught the stub, N passed with the solution`. Uses only the standard library except
for --check, which runs ./ioi run (the notebook environment of tools/env/setup.sh).
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "notebooks"
COPIES = SOURCES / "exercises"
BEGIN = re.compile(r"^(\s*)// BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*// END SOLUTION\s*$")
CHECK_LINE = re.compile(r"^check (\S+): (passed|not implemented yet|FAILED)\b")


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def source(cell):
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def lines(text):
    return text.splitlines(True)


def stub(text, where):
    """The solution text with each BEGIN/END SOLUTION block replaced by the stub line; the answer without the markers."""
    out, answer, inside, found = [], [], False, 0
    for line in text.splitlines():
        m = BEGIN.match(line)
        if m and not inside:
            inside, found = True, found + 1
            out.append(f"{m.group(1)}throw Check.todo(); // your code here")
            continue
        if END.match(line):
            if not inside:
                raise SystemExit(f"exercises: {where}: '// END SOLUTION' without '// BEGIN SOLUTION'")
            inside = False
            continue
        if not inside:
            out.append(line)
        answer.append(line)
    if inside:
        raise SystemExit(f"exercises: {where}: '// BEGIN SOLUTION' is never closed by '// END SOLUTION'")
    if not found:
        raise SystemExit(f"exercises: {where}: a cell tagged 'solution' needs a '// BEGIN SOLUTION' ... "
                         "'// END SOLUTION' block (the part the learner writes)")
    return "\n".join(out), "\n".join(answer)


def has_exercises(nb):
    return any("solution" in tags(c) for c in nb["cells"])


def learner_copy(nb, name):
    """The learner's copy of a solved notebook (a new dict; the source is untouched)."""
    out = copy.deepcopy(nb)
    cells = [{
        "cell_type": "markdown", "id": "exercises-copy", "metadata": {"tags": ["exercises-copy"]},
        "source": lines(f"*The exercise version of `notebooks/{name}`, made by `./ioi exercises --make`. "
                        "Write your answer in each cell tagged `exercise` (its body is `throw Check.todo();`) "
                        "and run the check cell after it. `./ioi lab --exercises` opens a copy of these "
                        "notebooks of your own, so `git pull` never touches your work.*")}]
    for i, cell in enumerate(out["cells"]):
        if "solution" not in tags(cell):
            cells.append(cell)
            continue
        if cell["cell_type"] != "code":
            raise SystemExit(f"exercises: {name} cell {i}: only code cells can be tagged 'solution'")
        stubbed, answer = stub(source(cell), f"{name} cell {i} ({cell.get('id')})")
        cell["source"] = lines(stubbed)
        cell["metadata"]["tags"] = ["exercise" if t == "solution" else t for t in tags(cell)]
        cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
        cells.append({
            "cell_type": "markdown", "id": f"{cell.get('id', i)}-solution", "metadata": {"tags": ["solution"]},
            "source": lines("<details><summary>Solution (click to show)</summary>\n\n```java\n" + answer
                            + "\n```\n\n</details>")})
    out["cells"] = cells
    return out


def dumps(nb):
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def expected_copies():
    """{path of a learner's copy: its text} for every solved notebook with exercises."""
    want = {}
    for path in sorted(SOURCES.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if has_exercises(nb):
            want[COPIES / path.name] = dumps(learner_copy(nb, path.name))
    return want


def make():
    want = expected_copies()
    COPIES.mkdir(exist_ok=True)
    for path in COPIES.glob("*.ipynb"):
        if path not in want:
            path.unlink()
            print(f"exercises: removed {path.relative_to(ROOT)} (its notebook has no exercises any more)")
    for path, text in want.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"exercises: wrote {path.relative_to(ROOT)}")
    print(f"exercises: {len(want)} notebooks with exercises in {COPIES.relative_to(ROOT)}/")
    return 0


def verify():
    want = expected_copies()
    have = set(COPIES.glob("*.ipynb")) if COPIES.is_dir() else set()
    drift = [f"{p.relative_to(ROOT)} is missing" for p in want if p not in have]
    drift += [f"{p.relative_to(ROOT)} has no solved notebook with exercises" for p in have if p not in want]
    drift += [f"{p.relative_to(ROOT)} differs from what its solved notebook makes" for p in want
              if p in have and p.read_text(encoding="utf-8") != want[p]]
    for d in drift:
        print(f"exercises: {d}")
    if drift:
        print("exercises: the learner's copies drifted from the solved notebooks; run ./ioi exercises --make and commit")
        return 1
    print(f"exercises: {len(want)} learner's copies match their solved notebooks")
    return 0


def check_lines(executed):
    """(check lines of cells tagged check, cell errors) of an executed notebook."""
    nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    found, errors = [], []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                errors.append(f"cell {i}: {o.get('ename')}: {str(o.get('evalue'))[:200]}")
            if "check" not in tags(cell):
                continue
            raw = o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
            text = "".join(raw) if isinstance(raw, list) else raw
            for line in text.splitlines():
                m = CHECK_LINE.match(line.strip().strip('"'))
                if m:
                    found.append((m.group(1), m.group(2), line.strip()))
    return found, errors


def run(notebooks, out, model, timeout):
    cmd = [str(ROOT / "ioi"), "run", "--out", str(out), "--timeout", str(timeout)]
    if model:
        cmd += ["--model", model]
    return subprocess.run(cmd + [str(p) for p in notebooks]).returncode


def check(model, out, timeout):
    solved = {p: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SOURCES.glob("*.ipynb"))}
    sources = [p for p, nb in solved.items() if has_exercises(nb)]
    if not sources:
        print("exercises: no notebook has exercises")
        return 1
    if verify() != 0:
        return 1
    expected = sum(sum(1 for c in solved[p]["cells"] if "check" in tags(c)) for p in sources)
    caught = passed = 0
    problems = []
    for label, notebooks, good in (("stubs", [COPIES / p.name for p in sources], {"not implemented yet", "FAILED"}),
                                   ("solutions", sources, {"passed"})):
        print(f"exercises: running the {label} ({len(notebooks)} notebooks)", flush=True)
        rc = run(notebooks, out / label, model, timeout)
        for nb in notebooks:
            executed = out / label / nb.name
            if not executed.is_file():
                problems.append(f"{label}: {nb.name} did not run (./ioi run exited {rc})")
                continue
            found, errors = check_lines(executed)
            problems += [f"{label}: {nb.name} {e}" for e in errors]
            for name, verdict, line in found:
                if verdict in good:
                    caught += label == "stubs"
                    passed += label == "solutions"
                else:
                    problems.append(f"{label}: {nb.name}: {line}")
    for p in problems:
        print(f"exercises: {p}")
    print(f"exercises: {expected} checks, {caught} caught the stub, {passed} passed with the solution")
    return 0 if caught == expected and passed == expected and not problems else 1


def main(argv):
    p = argparse.ArgumentParser(prog="./ioi exercises", description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--make", action="store_true", help="write notebooks/exercises/ from the solved notebooks")
    g.add_argument("--verify", action="store_true", help="fail if notebooks/exercises/ drifted from them")
    g.add_argument("--check", action="store_true", help="run stubs and solutions headless and count the checks")
    p.add_argument("--model", help="IOI_MODEL for --check (gpt2, org/name, or a checkpoint directory)")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "exercises", help="--check's output (default out/exercises)")
    p.add_argument("--timeout", type=float, default=1800, help="--check's per-cell limit in seconds (default 1800)")
    a = p.parse_args(argv)
    if a.make:
        return make()
    if a.verify:
        return verify()
    model = a.model
    if model and Path(model).expanduser().is_dir():
        model = str(Path(model).expanduser().resolve())
    return check(model, a.out.resolve(), a.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
