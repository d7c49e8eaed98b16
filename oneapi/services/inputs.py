"""Reading caller-supplied JSON safely: every door hands services plain values checked here.

A :class:`Fields` wraps one decoded JSON object; its readers return typed values or raise
``InvalidInputError`` naming the field and the problem ("quota must be an integer >= 0").
"""

from __future__ import annotations

import builtins
import math
from typing import Any

from oneapi.errors import InvalidInputError

MAX_SAFE_INT = (1 << 53) - 1  # beyond this, JavaScript clients (the web UI) silently lose precision
MAX_NESTING = 64  # levels of arrays and objects in a request body: far beyond any real one


def check_json_value(value: Any) -> None:
    """Refuse what a decoded JSON body may hold that nothing behind the door can handle: nesting deeper than
    MAX_NESTING (recursion in any later walk of it) and text with a lone surrogate (JSON's ``"\\ud800"``,
    which no database stores). Iterative, so a deep value cannot exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_storable_text(item):
                raise InvalidInputError("request body holds text no database stores (a NUL, or a lone surrogate "
                                        "such as \\ud800)")
        elif isinstance(item, dict | list):
            if depth > MAX_NESTING:
                raise InvalidInputError(f"request body is JSON nested too deeply (at most {MAX_NESTING} levels)")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


class Fields:
    def __init__(self, data: Any, what: str = "request body") -> None:
        if not isinstance(data, dict):
            raise InvalidInputError(f"{what} must be a JSON object")
        self.data: dict[str, Any] = data

    def has(self, name: builtins.str) -> builtins.bool:
        return name in self.data and self.data[name] is not None

    def str(self, name: builtins.str, *, max_len: builtins.int = 255, required: builtins.bool = False,
            default: builtins.str = "", min_len: builtins.int = 0, strip: builtins.bool = True) -> builtins.str:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InvalidInputError(f"{name} is required")
            return default
        if not isinstance(value, str):
            raise InvalidInputError(f"{name} must be a string")
        if not is_storable_text(value):
            raise InvalidInputError(f"{name} holds characters no database stores (a NUL or a lone surrogate)")
        if strip:
            value = value.strip()
        if required and not value:
            raise InvalidInputError(f"{name} is required")
        if len(value) > max_len:
            raise InvalidInputError(f"{name} must be at most {max_len} characters")
        if value and len(value) < min_len:
            raise InvalidInputError(f"{name} must be at least {min_len} characters")
        return value

    def int(self, name: builtins.str, *, required: builtins.bool = False, default: builtins.int = 0,
            low: builtins.int = -MAX_SAFE_INT, high: builtins.int = MAX_SAFE_INT) -> builtins.int:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InvalidInputError(f"{name} is required")
            return default
        return check_int(name, value, low, high)

    def bool(self, name: builtins.str, *, default: builtins.bool = False) -> builtins.bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidInputError(f"{name} must be true or false")
        return value

    def float(self, name: builtins.str, *, default: builtins.float = 0.0, low: builtins.float = -math.inf,
              high: builtins.float = math.inf) -> builtins.float:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInputError(f"{name} must be a number")
        if not low <= value <= high:
            raise InvalidInputError(f"{name} must be between {low:g} and {high:g}")
        return float(value)


def is_unicode_text(text: str) -> bool:
    """False for a string no database can store: JSON's ``"\\ud800"`` decodes to a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_storable_text(text: str) -> bool:
    """Text every database stores: valid Unicode (no lone surrogate) and no NUL (PostgreSQL refuses it)."""
    return "\x00" not in text and (text.isascii() or is_unicode_text(text))


def check_int(name: str, value: Any, low: int = -MAX_SAFE_INT, high: int = MAX_SAFE_INT) -> int:
    """An integer (a JSON number with no fraction; never a bool) within [low, high]."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidInputError(f"{name} must be an integer")
        value = int(value)
    if not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer")
    if value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}")
    if value > high:
        raise InvalidInputError(f"{name} must be an integer <= {high}")
    return value


def parse_query_int(name: str, raw: str | None, default: int = 0, low: int = 0,
                    high: int = MAX_SAFE_INT) -> int:
    """An integer from a query string (``?p=2``)."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer") from None
    return check_int(name, value, low, high)
