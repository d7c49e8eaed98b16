"""Every registered adaptor is checked by mypy against the protocol the relay uses it through.

The registry's loaders (``adaptors/__init__.py``) are typed with the protocol the relay calls; each module also
ends with ``if TYPE_CHECKING: _CHECKED: <Protocol> = ADAPTOR``, and a method renamed in the adaptor
fails ``mypy oneapi``. This test keeps a new adaptor module from leaving that line out.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from oneapi.proxy.adaptors import TRANSLATING


def checked_protocols(module: str) -> set[str]:
    """The annotations of ``_CHECKED`` under ``if TYPE_CHECKING:`` in the module's source."""
    tree = ast.parse(Path(importlib.import_module(module).__file__ or "").read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                        and stmt.target.id == "_CHECKED":
                    found.add(ast.unparse(stmt.annotation))
    return found


def registered_modules() -> list[str]:
    """The modules the registry's loaders import (each loader returns its module's ``ADAPTOR``)."""
    return sorted({loader().__class__.__module__ for loader in TRANSLATING.values()} | {"oneapi.proxy.adaptors.openai"})


@pytest.mark.parametrize("module", registered_modules())
def test_every_adaptor_module_is_checked_against_a_protocol(module: str) -> None:
    protocols = checked_protocols(module)
    assert protocols, f"{module} has no `if TYPE_CHECKING: _CHECKED: <Protocol> = ADAPTOR` for mypy"
    assert all("Adaptor" in p for p in protocols), protocols
