"""English and Simplified Chinese: one catalogue per language, one translator per request.

``messages/en.json`` and ``messages/zh.json`` hold every string the pages show, under the same keys (a test
fails on a key missing from either, or on a template or module using a key neither has). The language is the
``lang`` cookie written by the switch, else the first supported one in ``Accept-Language``, else English.

Services speak English (a few, as One API does, "中文 (English)"). :meth:`Translator.error` turns those messages
into the reader's language: a bilingual message gives the half in that language; an English one is matched
against the ``err.*`` templates of the English catalogue and rewritten with the same key's template of the
other language (field names inside go through ``field.*``); anything else is shown as the service said it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("en", "zh")
DEFAULT = "en"
HTML_LANG = {"en": "en", "zh": "zh-CN"}
COOKIE = "lang"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_BILINGUAL = re.compile(r"^(?P<zh>[^()]*[\u3400-\u9fff][^()]*?)\s*[(（](?P<en>[^()（）]*[A-Za-z][^()（）]*)[)）]$")


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("oneapi.web").joinpath("messages", f"{lang}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {str(k): str(v) for k, v in data.items()}


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


@cache
def _error_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """English ``err.*`` templates as anchored patterns (longest first, so the most specific wins)."""
    patterns = []
    for key, template in catalogue("en").items():
        if not key.startswith("err."):
            continue
        parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ...
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        patterns.append((re.compile(f"^{regex}$", re.DOTALL), key))
    patterns.sort(key=lambda item: -len(item[0].pattern))
    return tuple(patterns)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The page language: the switch's cookie, else the best of Accept-Language we speak, else English."""
    if cookie in LANGUAGES:
        return str(cookie)
    choices = []
    for position, item in enumerate((accept_language or "")[:512].split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, position, primary))
    return min(choices)[2] if choices else DEFAULT


class Translator:
    """``t("key", name=value)``: the message of ``key`` in this language with its placeholders filled."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self.html_lang = HTML_LANG[self.lang]
        self._messages = catalogue(self.lang)

    def __call__(self, key: str, **params: Any) -> str:
        text = self._messages[key]  # a missing key is a bug the catalogue test catches
        return text.format_map(params) if params else text

    def has(self, key: str) -> bool:
        return key in self._messages

    def field(self, name: str) -> str:
        key = "field." + name
        return self._messages.get(key, name)

    def error(self, message: str) -> str:
        """A service's message in this language (see the module docstring)."""
        message = message.strip()
        bilingual = _BILINGUAL.match(message)
        if bilingual:
            return bilingual.group(self.lang if self.lang in ("zh", "en") else "en").strip()
        for pattern, key in _error_patterns():
            match = pattern.match(message)
            if match:
                params = match.groupdict()
                if "field" in params:
                    params["field"] = self.field(params["field"])
                return self._messages[key].format_map(params)
        return message
