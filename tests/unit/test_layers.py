"""The rooms of the architecture, as import-linter contracts (``[tool.importlinter]`` in pyproject.toml): who may
import whom, the adaptors as leaves, and no cycles between the relay's modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.fail("lint-imports is missing: install the dev extra (pip install -e '.[dev]')")
    return subprocess.run([command, "--no-cache", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_contract_is_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_door_importing_another_breaks_a_contract(tmp_path: Path) -> None:
    """The contracts really bite: a copy of the package where the relay imports the /api door fails."""
    shutil.copytree(ROOT / "oneapi", tmp_path / "oneapi", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    sse = tmp_path / "oneapi" / "proxy" / "sse.py"
    sse.write_text(sse.read_text() + "\nfrom oneapi.api import middleware  # noqa: E402\n")
    result = lint_imports(cwd=tmp_path)
    assert result.returncode != 0
    assert "oneapi.proxy.sse -> oneapi.api.middleware" in result.stdout
