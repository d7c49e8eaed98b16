"""The build's helpers (packaging/zipapp.py) on small trees and small files: merging the target Pythons'
installations, and the start-up guard that turns a Python the bundle cannot serve away in one line."""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
import sysconfig
import types
import zipfile
from pathlib import Path

import pytest

from tests.functional.server_process import ROOT


def load_helpers() -> types.ModuleType:
    """packaging/zipapp.py is a script, not a package (and ``packaging`` is a distribution's name)."""
    spec = importlib.util.spec_from_file_location("oneapi_build_helpers", ROOT / "packaging" / "zipapp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = load_helpers()


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# ------------------------------------------------------------------------------------------------- merge

def test_identical_files_are_kept_once_and_new_ones_are_added(tmp_path: Path) -> None:
    common = {"pkg/__init__.py": "VERSION = 1\n", "pkg/util.py": "def f(): pass\n"}
    first = tree(tmp_path / "py3.11", {**common, "pkg/_speed.cpython-311-x86_64-linux-gnu.so": "elf 311"})
    second = tree(tmp_path / "py3.12", {**common, "pkg/_speed.cpython-312-x86_64-linux-gnu.so": "elf 312",
                                        "pkg/__pycache__/util.cpython-312.pyc": "bytecode"})
    (second / "pkg/_speed.cpython-312-x86_64-linux-gnu.so").chmod(0o755)
    site = tmp_path / "site"
    helpers.merge(site, [first, second])
    assert sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()) == [
        "pkg/__init__.py", "pkg/_speed.cpython-311-x86_64-linux-gnu.so", "pkg/_speed.cpython-312-x86_64-linux-gnu.so",
        "pkg/util.py"]  # no bytecode: each Python compiles its own
    assert (site / "pkg/_speed.cpython-312-x86_64-linux-gnu.so").stat().st_mode & 0o111  # modes are kept
    helpers.merge(site, [first, second])  # twice is harmless: everything is there with the same bytes


def test_a_file_that_differs_between_the_trees_fails_the_build_naming_it(tmp_path: Path) -> None:
    first = tree(tmp_path / "py3.11", {"pkg/__init__.py": "VERSION = 1\n", "pkg/same.py": "x = 1\n"})
    second = tree(tmp_path / "py3.13", {"pkg/__init__.py": "VERSION = 2\n", "pkg/same.py": "x = 1\n"})
    with pytest.raises(SystemExit) as failed:
        helpers.merge(tmp_path / "site", [first, second])
    assert "differ" in str(failed.value) and "pkg/__init__.py (py3.13)" in str(failed.value)
    assert "same.py" not in str(failed.value)


def test_a_wheels_record_and_tags_are_merged_line_by_line(tmp_path: Path) -> None:
    def wheel(tag: str) -> dict[str, str]:
        return {"pkg-1.0.dist-info/RECORD": f"pkg/__init__.py,sha256=a,1\npkg/_s.cpython-{tag}-x86_64-linux-gnu.so,"
                                            f"sha256=b,2\npkg-1.0.dist-info/RECORD,,\n",
                "pkg-1.0.dist-info/WHEEL": f"Wheel-Version: 1.0\nTag: cp{tag}-cp{tag}-manylinux_2_28_x86_64\n",
                "pkg-1.0.dist-info/sboms/auditwheel.cdx.json": f'{{"wheel": "cp{tag}"}}',
                "pkg/__init__.py": ""}

    site = tmp_path / "site"
    helpers.merge(site, [tree(tmp_path / "py3.11", wheel("311")), tree(tmp_path / "py3.12", wheel("312"))])
    assert (site / "pkg-1.0.dist-info/RECORD").read_text().splitlines() == [
        "pkg/__init__.py,sha256=a,1", "pkg/_s.cpython-311-x86_64-linux-gnu.so,sha256=b,2",
        "pkg-1.0.dist-info/RECORD,,", "pkg/_s.cpython-312-x86_64-linux-gnu.so,sha256=b,2"]
    assert (site / "pkg-1.0.dist-info/WHEEL").read_text().splitlines() == [
        "Wheel-Version: 1.0", "Tag: cp311-cp311-manylinux_2_28_x86_64", "Tag: cp312-cp312-manylinux_2_28_x86_64"]
    assert (site / "pkg-1.0.dist-info/sboms/auditwheel.cdx.json").read_text() == '{"wheel": "cp311"}'


# ------------------------------------------------------------------------------------------------- guard

SUPPORTED = [(3, 11), (3, 12), (3, 13)]
SHOWN = "3.11, 3.12, 3.13"


def why() -> str | None:
    result: str | None = helpers.unsupported(SUPPORTED, SHOWN)
    return result


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64" or platform.libc_ver()[0] != "glibc",
                    reason="the bundle's own platform")
def test_this_python_is_let_through() -> None:
    assert why() is None


@pytest.mark.parametrize(("patch", "told"), [
    ({"libc_ver": ("", "")}, "with another C library than glibc (musl?)"),
    ({"libc_ver": ("glibc", "2.17")}, "with glibc 2.17"),
    ({"Py_GIL_DISABLED": 1}, "a free-threaded build"),
    ({"version_info": (3, 10, 13, "final", 0)}, "this is cpython 3.10.13 on linux"),
    ({"implementation": types.SimpleNamespace(name="pypy")}, "this is pypy 3."),
    ({"machine": "aarch64"}, "on linux aarch64"),
])
def test_what_the_bundle_cannot_serve_is_told_in_one_line(monkeypatch: pytest.MonkeyPatch, patch: dict[str, object],
                                                          told: str) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform, "machine", lambda: patch.get("machine", "x86_64"))
    monkeypatch.setattr(platform, "libc_ver", lambda *args: patch.get("libc_ver", ("glibc", "2.36")))
    config = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var",
                        lambda name: patch.get("Py_GIL_DISABLED", 0) if name == "Py_GIL_DISABLED" else config(name))
    for name in ("version_info", "implementation"):
        if name in patch:
            monkeypatch.setattr(sys, name, patch[name])
    message = why()
    assert message is not None and "\n" not in message, message
    assert message.startswith(f"oneapi: this file runs on CPython {SHOWN} on Linux x86_64 with glibc 2.28 or newer; ")
    assert told in message, message


def test_the_guard_is_ascii_and_python_2_can_read_it(tmp_path: Path) -> None:
    code = helpers.guard_code(["3.11", "3.12", "3.13"])
    assert code.isascii()
    pyz = tmp_path / "app.pyz"
    with pyz.open("wb") as fd:
        fd.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(fd, "w") as archive:
            archive.writestr("__main__.py", "# -*- coding: utf-8 -*-\nprint('bootstrapped')\n")
    helpers.guard(pyz, ["3.11", "3.12", "3.13"])
    ran = subprocess.run([sys.executable, str(pyz)], capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "bootstrapped\n", "")


def old_pythons() -> list[str]:
    """Interpreters of this machine the bundle must turn away (pyenv's), by version."""
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if subprocess.run(["which", "pyenv"], capture_output=True).returncode == 0 else ""
    found = []
    for version in ("2.7", "3.6", "3.10"):
        candidates = sorted(Path(root, "versions").glob(f"{version}.*/bin/python{version}")) if root else []
        if candidates:
            found.append(str(candidates[-1]))
    return found


@pytest.mark.parametrize("python", old_pythons() or [pytest.param("", marks=pytest.mark.skip(
    reason="no Python 2.7, 3.6 or 3.10 on this machine (pyenv)"))])
def test_an_old_python_is_told_in_one_line_even_python_2(tmp_path: Path, python: str) -> None:
    pyz = tmp_path / "app.pyz"
    with pyz.open("wb") as fd:
        fd.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(fd, "w") as archive:
            archive.writestr("__main__.py", "raise SystemExit('the bootstrap ran')\n")
    helpers.guard(pyz, ["3.11", "3.12", "3.13"])
    ran = subprocess.run([python, str(pyz)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2 and ran.stdout == "", ran
    [line] = ran.stderr.splitlines()
    assert line.startswith("oneapi: this file runs on CPython 3.11, 3.12, 3.13 ") and "Traceback" not in ran.stderr
