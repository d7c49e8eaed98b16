"""Helpers shared by the query modules."""

from __future__ import annotations

from typing import Any

import peewee as pw

from oneapi.store.database import Database

PAGE_SIZE = 10


def exact(db: Database, field: pw.Field, value: str) -> pw.Node:
    """``field = value``, compared byte for byte on every database.

    MySQL and MariaDB compare by the column's collation: case-insensitively by default (an adopted One API
    table keeps its collation), ignoring trailing spaces; ``BINARY`` makes the comparison exact. PostgreSQL's
    ``char(n)`` ignores trailing spaces; as ``text`` it does not. In both, the plain equality beside the exact
    one keeps the column's unique index in use. SQLite compares bytes already.
    """
    value = field.db_value(value)  # as the column sends it (a credential column marks it Secret)
    if db.kind == "mysql":
        return (field == value) & (pw.fn.BINARY(field) == value)
    if db.kind == "postgres":
        return (field == value) & (pw.Cast(field, "text") == value)
    return field == value


def like_prefix(value: str) -> str:
    """A LIKE pattern matching ``value`` as a literal prefix (wildcards in user input are escaped).

    '!' is the escape character because backslash means different things in MySQL and standard SQL.
    """
    escaped = value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return escaped + "%"


def prefix_match(field: pw.Field, value: str) -> pw.Node:
    # Spelled out rather than peewee's LIKE operator, which SQLite maps to GLOB (no ESCAPE clause).
    return pw.NodeList((field, pw.SQL("LIKE"), like_prefix(value), pw.SQL("ESCAPE '!'")))


def either(*conditions: pw.Node) -> pw.Node:
    """``(a OR b OR ...)`` for nodes peewee cannot combine with ``|``."""
    return pw.NodeList(conditions, " OR ", parens=True)


def as_id(text: str) -> int | None:
    """``text`` as a row id when it is plain ASCII digits that fit a BIGINT, else None.

    ``str.isdigit`` alone accepts '²' (which int() refuses) and numbers too long for the column."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def dicts(query: pw.Query) -> list[dict[str, Any]]:
    return list(query.dicts())


def first(query: pw.Query) -> dict[str, Any] | None:
    rows = list(query.limit(1).dicts())
    return rows[0] if rows else None
