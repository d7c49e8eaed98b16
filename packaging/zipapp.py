"""Helpers of build_zipapp.sh (stdlib only; run with the building interpreter).

``pins SITE``         print ``name==version`` for every distribution in SITE but oneapi (the versions the first
                      target Python resolved, used as constraints for the others);
``merge SITE TREE...`` merge the target Pythons' installations into SITE (:func:`merge`): new files are copied,
                      a file present already must have the same bytes, or the build fails naming it;
``prune SITE``        check the merged SITE holds one version of each distribution, then remove the distributions
                      named in $PRUNE and the files matching $PRUNE_FILES (each must exist: a stale name fails);
``guard PYZ V...``    put a check in front of shiv's bootstrap (:func:`unsupported`): on a Python the bundle has
                      no compiled modules for it says so in one line and exits 2, before anything is unpacked or
                      imported.
"""

from __future__ import annotations

import filecmp
import inspect
import os
import shutil
import sys
import zipfile
from collections import Counter
from importlib.metadata import Distribution, distributions
from pathlib import Path

# What follows unsupported()'s source at the top of the bundle's __main__.py. Python 2 must be able to parse all
# of it (and of unsupported()): it reads the whole file before running a line of it.
GUARD_CALL = """
_why = unsupported({supported!r}, {shown!r})
if _why:
    import sys
    sys.stderr.write(_why + "\\n")
    sys.exit(2)
del _why, unsupported
"""


def unsupported(supported, shown):
    """Why this Python cannot run the bundle, in one line, or None. The bundle holds compiled modules for CPython
    ``supported`` (a list of (major, minor)) built for the GIL, for Linux x86_64 with glibc 2.28 or newer
    (manylinux_2_28): not for musl (Alpine), an older glibc, or a free-threaded build (3.13t, whose modules are
    named cp313t). Copied into the .pyz as source: ASCII, no annotations, nothing newer than Python 2.7 can
    parse, and nothing that fails on an old Python before it has said what is wrong."""
    import platform
    import sys
    implementation = getattr(sys, "implementation", None)
    name = implementation.name if implementation is not None else platform.python_implementation().lower()
    this = "this is %s %d.%d.%d on %s %s (%s)" % (name, sys.version_info[0], sys.version_info[1],
                                                   sys.version_info[2], sys.platform, platform.machine(),
                                                   sys.executable)
    need = "oneapi: this file runs on CPython %s on Linux x86_64 with glibc 2.28 or newer; " % shown
    if (name != "cpython" or tuple(sys.version_info[:2]) not in supported or not sys.platform.startswith("linux")
            or platform.machine() not in ("x86_64", "AMD64")):
        return need + this
    libc, version = platform.libc_ver()
    try:
        glibc = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        glibc = (0, 0)
    if libc != "glibc":
        return need + this + " with another C library than glibc (musl?)"
    if glibc < (2, 28):
        return need + this + " with glibc " + version
    import sysconfig
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return need + this + ", a free-threaded build (the compiled modules are for the GIL build)"
    return None


def guard_code(versions: list[str]) -> str:
    """The Python (2-parseable, ASCII) put in front of shiv's __main__.py for the target ``versions``."""
    supported = sorted(tuple(int(p) for p in v.split(".")) for v in versions)
    shown = ", ".join("%d.%d" % v for v in supported)
    return inspect.getsource(unsupported) + GUARD_CALL.format(supported=supported, shown=shown)


def _name(dist: Distribution) -> str:
    return str(dist.metadata["Name"]).lower().replace("_", "-")


def pins(site: Path) -> None:
    for dist in sorted(distributions(path=[str(site)]), key=_name):
        if _name(dist) != "oneapi":
            print(f"{dist.metadata['Name']}=={dist.version}")


# Metadata files that describe one wheel (its files with their ABI-named compiled modules, its tags): merged line
# by line, so that the merged distribution lists every file and every tag.
MERGED_METADATA = ("RECORD", "WHEEL")


def _same(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    return filecmp.cmp(a, b, shallow=False)


def _merge_lines(source: Path, target: Path) -> None:
    lines = target.read_text(encoding="utf-8").splitlines()
    lines += [line for line in source.read_text(encoding="utf-8").splitlines() if line not in lines]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def merge(site: Path, trees: list[Path]) -> None:
    """Merge the installations of the same distributions for each target Python (``trees``, in order) into
    ``site``. A file only one tree has (a compiled module, named by its ABI) is copied; a file present already
    must have the same bytes, since one copy serves every Python: a pure-Python file that differs between the
    trees fails the build, naming it, rather than leaving one Python with another's code. Bytecode is left out
    (each Python compiles its own when unpacked). In ``*.dist-info``, RECORD and WHEEL are merged line by line;
    any other metadata that describes one wheel (auditwheel's SBOM) keeps the first tree's copy: nothing reads
    it at run time."""
    site.mkdir(parents=True, exist_ok=True)
    differing: list[str] = []
    for tree in trees:
        for source in sorted(tree.rglob("*")):
            relative = source.relative_to(tree)
            if "__pycache__" in relative.parts or (source.is_dir() and not source.is_symlink()):
                continue
            target = site / relative
            if not os.path.lexists(target):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target, follow_symlinks=False)
            elif _same(source, target):
                continue
            elif relative.parts[0].endswith(".dist-info"):
                if relative.name in MERGED_METADATA and len(relative.parts) == 2:
                    _merge_lines(source, target)
            else:
                differing.append(f"{relative} ({tree.name})")
    if differing:
        sys.exit(f"build_zipapp: the target Pythons' installations differ in {len(differing)} file(s) one copy "
                 f"must serve: {', '.join(differing[:10])}{' ...' if len(differing) > 10 else ''}")


def prune(site: Path) -> None:
    dists = list(distributions(path=[str(site)]))
    names = Counter(_name(d) for d in dists)
    twice = sorted(n for n, count in names.items() if count > 1)
    if twice:
        sys.exit(f"build_zipapp: the target Pythons resolved different versions of {', '.join(twice)}")
    wanted = {n.lower().replace("_", "-") for n in os.environ.get("PRUNE", "").split()}
    missing = sorted(wanted - set(names))
    if missing:
        sys.exit(f"build_zipapp: PRUNE names distributions that are not installed: {', '.join(missing)}")
    for dist in dists:
        if _name(dist) not in wanted:
            continue
        # Only what lies inside SITE: RECORD also lists console scripts as ../../bin/NAME.
        files = [f for f in (Path(str(f)) for f in dist.files or []) if ".." not in f.parts]
        for file in files:
            (site / file).unlink(missing_ok=True)
        for top in {f.parts[0] for f in files if len(f.parts) > 1}:
            shutil.rmtree(site / top, ignore_errors=True)
    for pattern in os.environ.get("PRUNE_FILES", "").split():
        found = list(site.glob(pattern))
        if not found:
            sys.exit(f"build_zipapp: PRUNE_FILES pattern {pattern} matches nothing")
        for path in found:
            path.unlink()
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def guard(pyz: Path, versions: list[str]) -> None:
    code = guard_code(versions)
    data = pyz.read_bytes()
    shebang = data[:data.index(b"\n") + 1]
    tmp = pyz.with_name(pyz.name + ".tmp")
    with zipfile.ZipFile(pyz) as source, tmp.open("wb") as fd:
        fd.write(shebang)
        with zipfile.ZipFile(fd, "w") as target:
            for info in source.infolist():
                content = source.read(info)
                if info.filename == "__main__.py":
                    content = code.encode() + content
                target.writestr(info, content)
    tmp.replace(pyz)


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "pins":
        pins(Path(args[0]))
    elif command == "merge":
        merge(Path(args[0]), [Path(a) for a in args[1:]])
    elif command == "prune":
        prune(Path(args[0]))
    elif command == "guard":
        guard(Path(args[0]), args[1:])
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
