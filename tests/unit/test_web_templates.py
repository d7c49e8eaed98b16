"""The templates pass a strict Content-Security-Policy: no inline script, no inline style, no event handlers,
nothing loaded from another site; every form that changes something carries the CSRF token; every input has a
label."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

TEMPLATES = sorted(Path(str(resources.files("oneapi.web"))).joinpath("templates").glob("*.html"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_nothing_inline_and_nothing_from_outside(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline script"
    assert not re.search(r"\sstyle\s*=|<style", text), "inline style"
    assert not re.search(r"\son[a-z]+\s*=", text), "event handler attribute"
    assert not re.search(r"""(src|href)=["']https?://(?!github\.com/songquanpeng/one-api)""", text)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_posting_forms_carry_the_token(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for form in re.findall(r'<form method="post".*?</form>', text, re.S):
        assert 'name="csrf_token" value="{{ csrf }}"' in form, form[:200]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_visible_field_has_a_label(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for tag in re.findall(r"<(?:input|select)\b[^>]*>", text):
        if re.search(r'type="(hidden|submit)"|\shidden[\s>]', tag):
            continue
        ident = re.search(r'\sid="([^"]+)"', tag)
        wrapped = re.search(r'<label class="check">' + re.escape(tag), text)
        assert wrapped or (ident and f'for="{ident.group(1)}"' in text), tag
