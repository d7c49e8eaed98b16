"""The build's helpers (packaging/zipapp.py) on small trees: merging the target Pythons' installations."""

from __future__ import annotations

import importlib.util
import types
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

