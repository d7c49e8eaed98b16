"""The operator's texts: ``HomePageContent``, ``About``, ``Notice`` and ``Footer``, as One API shows them.

A text is one of three forms: a URL (``http(s)://...`` alone) shown in a frame filling the window; HTML (it
starts with a tag) shown as given; else Markdown (CommonMark with tables and strikethrough, HTML inside allowed).
These options are written by root, so their HTML is trusted; user data never goes through here. The pages'
Content-Security-Policy still applies: scripts inside do not run, inline styles do (the page's policy admits
them only when such a text needs it).

Rendering is cached by text (a handful of entries), so pages follow option changes at once without re-parsing
the same text on every request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

Kind = Literal["empty", "url", "html", "markdown"]
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_TAG = re.compile(r"^<(!--|!doctype|[a-z][a-z0-9-]*)[\s>/]", re.IGNORECASE)
_INLINE_STYLE = re.compile(r"<style[\s>]|\sstyle\s*=", re.IGNORECASE)


@dataclass(frozen=True)
class Content:
    kind: Kind
    html: str = ""
    url: str = ""

    @property
    def frame_origin(self) -> str:
        """The origin the page's CSP must allow in frames (URL content only)."""
        if self.kind != "url":
            return ""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def inline_style(self) -> bool:
        return bool(self.html) and _INLINE_STYLE.search(self.html) is not None


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def markdown(text: str) -> str:
    return _markdown().render(text)


@lru_cache(maxsize=16)
def render(text: str) -> Content:
    stripped = text.strip()
    if not stripped:
        return Content("empty")
    if _URL.match(stripped):
        parts = urlsplit(stripped)
        if parts.netloc:
            return Content("url", url=stripped)
    if _TAG.match(stripped):
        return Content("html", html=stripped)
    return Content("markdown", html=markdown(stripped))
