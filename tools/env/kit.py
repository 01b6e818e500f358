#!/usr/bin/env python3
"""The offline kit behind `./ioi kit OUT` and `./ioi setup --from-kit DIR` (docs/offline.md).

    kit.py make OUT --jar JAR --python VENV_PYTHON --fetch-json FILE --requirements REQ --root ROOT
    kit.py install KIT --jar JAR --python PYTHON --root ROOT   (checks, then installs jar and model)
    kit.py verify KIT                                          (checksums only)

A kit is a directory (copy it to a USB stick or a share as it is: no symlinks inside, so FAT/exFAT
sticks keep it):

    kit.json         what it is: format, platform, Python, the commit it was made from, the model
    SHA256SUMS       every other file's SHA-256 (`sha256sum -c SHA256SUMS` reads it too)
    README.txt       how to use it
    lib/             the library jar, with this platform's libtorch and plotly.js inside
    wheels/          a pip wheelhouse for tools/env/requirements.txt (every dependency, as wheels)
    model/hub/models--org--name/{refs/main, blobs/*, snapshots.json}
                     the model's files as the Hugging Face cache keeps them; snapshots.json maps
                     snapshots/{commit}/{file} to its blob, and install recreates the links

Standard library only: it runs with the machine's python3 before any venv exists. Hand-written
because no packaging tool bundles a Maven jar, a pip wheelhouse and a Hugging Face cache snapshot
into one checked directory; pip itself makes the wheelhouse (`pip wheel`) and installs from it
(setup.sh with IOI_WHEELHOUSE).
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

FORMAT = 1
PLOTLY_IN_JAR = "ioi/display/plotly.min.js"


class KitError(Exception):
    pass


def log(msg):
    print(f"kit: {msg}", file=sys.stderr, flush=True)


def this_platform():
    """DJL's platform names: linux-x86_64, linux-aarch64, osx-aarch64, osx-x86_64, win-x86_64."""
    system = {"Linux": "linux", "Darwin": "osx", "Windows": "win"}.get(platform.system(), platform.system().lower())
    if system.startswith(("mingw", "msys", "cygwin")):
        system = "win"
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return f"{system}-{machine}"


def python_info(python):
    """(major.minor, pip's platform tag) of a Python: the two things a wheelhouse depends on."""
    out = subprocess.run([python, "-c", "import sys, sysconfig; print(f'{sys.version_info[0]}.{sys.version_info[1]}');"
                          "print(sysconfig.get_platform())"], capture_output=True, text=True)
    if out.returncode != 0:
        raise KitError(f"could not run '{python}': {out.stderr.strip() or out.returncode}")
    version, tag = out.stdout.split()
    return version, tag


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit(root):
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True)
    except OSError:
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(dirty.stdout.strip())


def jar_libtorch(jar):
    """The platform of the libtorch inside the library jar (DJL's native/lib/pytorch.properties), checking
    that plotly.js is there too."""
    with zipfile.ZipFile(jar) as z:
        names = set(z.namelist())
        if PLOTLY_IN_JAR not in names:
            raise KitError(f"{jar} has no {PLOTLY_IN_JAR}: rebuild it (./ioi build)")
        if "native/lib/pytorch.properties" not in names:
            raise KitError(f"{jar} carries no libtorch (no native/lib/pytorch.properties): DJL would download "
                           "it at the first model cell, which fails offline; rebuild it (./ioi build)")
        props = dict(line.split("=", 1) for line in z.read("native/lib/pytorch.properties").decode().splitlines()
                     if "=" in line)
    return props.get("classifier", "?")


def hub_cache_dir(env=os.environ):
    """Where huggingface_hub (and the library's HubConfig) keep the cache: the same order of variables."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name, "").strip():
            return Path(env[name].strip()).expanduser()
    hf_home = env.get("HF_HOME", "").strip()
    if not hf_home:
        xdg = env.get("XDG_CACHE_HOME", "").strip()
        hf_home = str(Path(xdg if xdg else Path.home() / ".cache") / "huggingface")
    return Path(hf_home).expanduser() / "hub"


# ---------------------------------------------------------------- make

def make(args):
    out = Path(args.out).resolve()
    if out.exists() and any(out.iterdir()):
        raise KitError(f"{out} exists and is not empty: give a new directory (or remove it first)")
    fetched = json.loads(Path(args.fetch_json).read_text())
    if not fetched.get("repo_folder"):
        raise KitError(f"--model {fetched['model']} is a local directory ({fetched['dir']}): a kit carries a "
                       "Hugging Face model (gpt2 or org/name) in the cache layout. For a checkpoint directory, "
                       "copy it to the laptops yourself and set IOI_MODEL=DIR (or ./ioi run --model DIR)")
    jar = Path(args.jar)
    natives = jar_libtorch(jar)
    if natives != this_platform():
        raise KitError(f"{jar} carries libtorch for {natives}, not for this machine ({this_platform()}): a kit's "
                       "jar and wheels are for the machine that makes it; rebuild the jar here (./ioi build)")
    py_version, py_tag = python_info(args.python)
    commit, dirty = git_commit(args.root)

    tmp = out.with_name(out.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "lib").mkdir(parents=True)
    log(f"library jar ({jar.stat().st_size / 1e6:.0f} MB) -> lib/")
    shutil.copy2(jar, tmp / "lib" / jar.name)

    log(f"pip wheelhouse for {Path(args.requirements).name} (Python {py_version}, {py_tag}) -> wheels/ ...")
    wheels = tmp / "wheels"
    # `pip wheel`, not `pip download`: a package that PyPI has only as an sdist is built into a wheel
    # here, so installing from the kit never needs a build backend from the network.
    r = subprocess.run([args.python, "-m", "pip", "wheel", "--disable-pip-version-check", "--no-input", "-q",
                        "-r", args.requirements, "-w", str(wheels)], stdout=sys.stderr)
    if r.returncode != 0:
        raise KitError(f"pip wheel failed (exit {r.returncode}); is PyPI reachable (HTTPS_PROXY)?")
    shutil.copy2(args.requirements, wheels / "requirements.txt")

    # The model, as the cache holds it: real files (blobs) plus the map that recreates the links.
    src = Path(fetched["hub_cache"]) / fetched["repo_folder"]
    dst = tmp / "model" / "hub" / fetched["repo_folder"]
    (dst / "blobs").mkdir(parents=True)
    (dst / "refs").mkdir()
    (dst / "refs" / "main").write_text(fetched["commit"])
    snapshot = {}
    for f in fetched["files"]:
        blob = f["blob"] or f["sha256"]
        real = Path(fetched["dir"]) / f["name"]
        log(f"model {fetched['repo_folder']}: {f['name']} ({f['bytes'] / 1e6:.1f} MB) -> model/")
        shutil.copyfile(real, dst / "blobs" / blob)
        if sha256(dst / "blobs" / blob) != f["sha256"]:
            raise KitError(f"{real} changed while it was copied: run ./ioi kit again")
        snapshot[f["name"]] = blob
    (dst / "snapshots.json").write_text(json.dumps({fetched["commit"]: snapshot}, indent=1) + "\n")

    meta = {
        "format": FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": this_platform(),
        "python": py_version,
        "python_platform": py_tag,
        "git_commit": commit,
        "git_dirty": dirty,
        "jar": f"lib/{jar.name}",
        "jar_libtorch": natives,
        "plotly_js": f"inside lib/{jar.name} as {PLOTLY_IN_JAR}",
        "wheels": sorted(p.name for p in wheels.glob("*.whl")),
        "model": {
            "name": fetched["model"],
            "repo_folder": fetched["repo_folder"],
            "commit": fetched["commit"],
            "files": fetched["files"],
            "engine": fetched.get("forward", {}).get("engine"),
        },
    }
    (tmp / "kit.json").write_text(json.dumps(meta, indent=1) + "\n")
    (tmp / "README.txt").write_text(
        f"IOI offline kit for {meta['platform']}, Python {py_version}, made {meta['created']} from commit "
        f"{commit or 'unknown'}.\n\nOn each laptop (no network needed), in a clone of the project at that commit,"
        f" with a JDK 17+ and Python {py_version} installed:\n\n    ./ioi setup --from-kit /path/to/this/kit\n"
        "    ./ioi lab\n\nIt checks every file against SHA256SUMS first, then installs the library jar, the "
        "notebook environment (.venv/ from wheels/) and the model into the Hugging Face cache, and ends with "
        "an offline check that the model loads and runs.\n")
    sums = []
    for p in sorted(tmp.rglob("*")):
        if p.is_file() and p.name != "SHA256SUMS":
            sums.append(f"{sha256(p)}  {p.relative_to(tmp).as_posix()}")
    (tmp / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"wrote {out}: {len(sums)} files, {size / 1e6:.0f} MB (jar, {len(meta['wheels'])} wheels, "
        f"{fetched['model']} at {fetched['commit'][:12]})")
    print(out)


# ---------------------------------------------------------------- verify / install

def load_kit(kit):
    kit = Path(kit).resolve()
    meta_file = kit / "kit.json"
    if not meta_file.is_file():
        raise KitError(f"{kit} is not an offline kit (no kit.json): make one with ./ioi kit OUT on a machine online")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise KitError(f"{meta_file} has format {meta.get('format')!r}; this project reads format {FORMAT}: "
                       "make the kit with this version of the project")
    return kit, meta


def verify(kit):
    kit, meta = load_kit(kit)
    sums_file = kit / "SHA256SUMS"
    if not sums_file.is_file():
        raise KitError(f"{kit} has no SHA256SUMS: the kit is incomplete; copy it again")
    bad, missing, n = [], [], 0
    for line in sums_file.read_text().splitlines():
        if not line.strip():
            continue
        digest, rel = line.split("  ", 1)
        p = kit / rel
        n += 1
        if not p.is_file():
            missing.append(rel)
        elif sha256(p) != digest:
            bad.append(rel)
    if missing or bad:
        raise KitError(f"{kit} is damaged: " + "; ".join(
            ([f"missing {', '.join(missing[:5])}"] if missing else []) +
            ([f"wrong checksum: {', '.join(bad[:5])}"] if bad else [])) + ". Copy the kit again.")
    log(f"{kit}: all {n} files match SHA256SUMS")
    return kit, meta


def check_fits(meta, python, root):
    here = this_platform()
    if meta["platform"] != here:
        raise KitError(f"the kit is for {meta['platform']} but this machine is {here}: its jar carries "
                       f"{meta['platform']}'s libtorch and its wheels are {meta['python_platform']}. Make a kit "
                       "on a machine like this one (./ioi kit OUT), or one per platform")
    version, tag = python_info(python)
    if version != meta["python"]:
        raise KitError(f"the kit's wheels are for Python {meta['python']} but '{python}' is Python {version}: "
                       f"install Python {meta['python']} and set IOI_PYTHON to it, or make the kit with this Python")
    commit, _ = git_commit(root)
    if meta.get("git_commit") and commit and commit != meta["git_commit"]:
        log(f"warning: the kit was made from commit {meta['git_commit'][:12]} but this clone is at {commit[:12]}; "
            "its jar may not match these notebooks (git checkout the kit's commit, or make a new kit)")


def install_model(kit, meta):
    model = meta["model"]
    cache = hub_cache_dir()
    src = kit / "model" / "hub" / model["repo_folder"]
    dst = cache / model["repo_folder"]
    snapshots = json.loads((src / "snapshots.json").read_text())
    (dst / "blobs").mkdir(parents=True, exist_ok=True)
    (dst / "refs").mkdir(exist_ok=True)
    for commit, files in snapshots.items():
        snap = dst / "snapshots" / commit
        snap.mkdir(parents=True, exist_ok=True)
        for name, blob in files.items():
            target = dst / "blobs" / blob
            expected = next(f["sha256"] for f in model["files"] if f["name"] == name)
            if not target.is_file() or sha256(target) != expected:
                part = target.with_name(blob + ".kit-part")
                shutil.copyfile(src / "blobs" / blob, part)
                os.replace(part, target)
            link = snap / name
            if link.is_symlink() or link.exists():
                link.unlink()
            try:   # the cache's own layout: a relative link to the blob (huggingface_hub copies where links fail)
                os.symlink(os.path.relpath(target, snap), link)
            except OSError:
                shutil.copyfile(target, link)
    (dst / "refs" / "main").write_text(model["commit"])
    log(f"model {model['name']} ({model['repo_folder']} at {model['commit'][:12]}) -> {dst}")


def install(args):
    kit, meta = verify(args.kit)
    check_fits(meta, args.python, args.root)
    jar = Path(args.jar)
    if Path(meta["jar"]).name != jar.name:
        raise KitError(f"the kit's jar is {Path(meta['jar']).name} but this clone's launcher expects {jar.name}: "
                       "make the kit from the same version of the project")
    jar.parent.mkdir(parents=True, exist_ok=True)
    part = jar.with_name(jar.name + ".kit-part")
    shutil.copyfile(kit / meta["jar"], part)
    os.replace(part, jar)   # a fresh mtime: newer than the sources, so ./ioi does not rebuild it
    log(f"library jar -> {jar}")
    install_model(kit, meta)
    print(json.dumps({"wheels": str(kit / "wheels"), "model": meta["model"]["name"]}))


def main(argv=None):
    p = argparse.ArgumentParser(prog="kit.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    for a in ("--jar", "--python", "--fetch-json", "--requirements", "--root"):
        m.add_argument(a, required=True)
    i = sub.add_parser("install")
    i.add_argument("kit")
    for a in ("--jar", "--python", "--root"):
        i.add_argument(a, required=True)
    v = sub.add_parser("verify")
    v.add_argument("kit")
    args = p.parse_args(argv)
    try:
        if args.cmd == "make":
            make(args)
        elif args.cmd == "install":
            install(args)
        else:
            verify(args.kit)
    except KitError as e:
        print(f"kit: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
