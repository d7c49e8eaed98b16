"""The documentation stays true to ``oneapi/config.py``.

``config.example.yaml`` must list exactly the declared settings and load to the defaults; README.md's
configuration reference table must have one row per setting with its env var, YAML key and default, and no
row for a setting that no longer exists. Adding a field to ``Config`` without documenting it fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from oneapi.config import FLAG_KEYS, Config, load, settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
README = ROOT / "README.md"
TABLE_HEADER = ["Env var", "YAML key", "Default", "Meaning"]
NO_ENV = "—"  # the Env var cell of a setting that has no environment variable


def render_default(value: Any) -> str:
    """A default as the README's Default column spells it (inside backticks)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return '""'
    return str(value)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _unquote(cell: str) -> str:
    return cell[1:-1] if len(cell) >= 2 and cell.startswith("`") and cell.endswith("`") else cell


def reference_rows() -> list[dict[str, str]]:
    """The rows of README's configuration reference table, backticks removed."""
    lines = README.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and _cells(line) == TABLE_HEADER]
    assert len(starts) == 1, "README.md needs exactly one table headed | Env var | YAML key | Default | Meaning |"
    rows = []
    for line in lines[starts[0] + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == 4, f"README table row does not have 4 cells: {line}"
        rows.append(dict(zip(TABLE_HEADER, (_unquote(c) for c in cells), strict=True)))
    return rows


# -- (a) config.example.yaml ----------------------------------------------------------------------


def test_example_has_exactly_the_settings() -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    declared = [f.name for f in settings()]
    assert sorted(data) == sorted(declared), (
        f"missing from config.example.yaml: {sorted(set(declared) - set(data))}; "
        f"not settings: {sorted(set(data) - set(declared))}")


def test_example_loads_to_the_defaults() -> None:
    assert load(EXAMPLE.read_text(encoding="utf-8"), {}) == Config()


def test_example_comments_name_each_env_var() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for f in settings():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{f.name}:"))
        comment = lines[index - 1]
        assert comment.startswith("# "), f"{f.name} has no comment line above it"
        if f.metadata["env"]:
            assert re.search(rf"\b{f.metadata['env']}\b", comment), f"{f.name}'s comment omits its env var"


# -- (b) README table covers every setting --------------------------------------------------------


def test_readme_table_documents_every_setting() -> None:
    rows = {row["YAML key"]: row for row in reference_rows()}
    for f in settings():
        assert f.name in rows, f"README.md's configuration table has no row for {f.name}"
        row = rows[f.name]
        assert row["Env var"] == (f.metadata["env"] or NO_ENV), f"{f.name}: wrong env var in README"
        assert row["Default"] == render_default(f.default), f"{f.name}: wrong default in README"
        assert row["Meaning"] == f.metadata["doc"], f"{f.name}: README's Meaning differs from config.py's doc"


# -- (c) no stale rows ----------------------------------------------------------------------------


def test_readme_table_has_no_stale_rows() -> None:
    rows = reference_rows()
    envs = {f.metadata["env"] for f in settings() if f.metadata["env"]}
    names = {f.name for f in settings()}
    for row in rows:
        assert row["Env var"] == NO_ENV or row["Env var"] in envs, f"README names unknown env var {row['Env var']}"
        assert row["YAML key"] in names, f"README names unknown YAML key {row['YAML key']}"
    keys = [row["YAML key"] for row in rows]
    assert len(keys) == len(set(keys)), "README's configuration table repeats a row"


@pytest.mark.parametrize("flag", FLAG_KEYS)
def test_readme_mentions_each_cli_flag(flag: str) -> None:
    assert "--" + flag.replace("_", "-") in README.read_text(encoding="utf-8")
