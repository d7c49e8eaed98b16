"""What every admin subcommand shares: the socket option, running a client call, exit codes and output."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer

from oneapi.client import AdminClient, AdminRefused, AdminUnavailable, socket_path

SocketOption = Annotated[str | None, typer.Option("--admin-socket", envvar="ONEAPI_ADMIN_SOCKET",
                                                  help="Admin socket of the server (default: oneapi.sock in "
                                                       "ONEAPI_HOME or the working directory).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]

EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"oneapi: {message}", err=True)
    raise typer.Exit(code)


def usage(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


def run(socket: str | None, action: Callable[[AdminClient], Awaitable[Any]]) -> Any:
    """Run one client conversation and map failures to the documented exit codes."""
    async def main() -> Any:
        async with AdminClient(socket_path(socket)) as client:
            return await action(client)

    try:
        return asyncio.run(main())
    except AdminUnavailable as exc:
        fail(str(exc), EXIT_UNREACHABLE)
    except AdminRefused as exc:
        fail(str(exc), EXIT_REFUSED)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]],
                title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for _, header in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def emit(data: Any, as_json: bool, columns: Sequence[tuple[str, str]] | None = None, title: str | None = None) -> None:
    if as_json or columns is None:
        print_json(data)
    else:
        print_table(data if isinstance(data, list) else [data], columns, title)


def when(timestamp: Any) -> str:
    if not isinstance(timestamp, int) or timestamp <= 0:
        return "never" if timestamp == -1 else ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_expiry(text: str, now: float | None = None) -> int:
    """``never``, a Unix timestamp, a date (2026-12-31 or 2026-12-31T18:00), or a duration (30d, 12h)."""
    text = text.strip()
    now = time.time() if now is None else now
    if text in ("never", "-1"):
        return -1
    if text.isdigit():
        return int(text)
    if match := _DURATION.match(text):
        return int(now) + int(match.group(1)) * _UNITS[match.group(2)]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        usage(f"--expires: {text!r} is not 'never', a timestamp, a date like 2026-12-31 or a duration like 30d")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_quota(text: str, quota_per_unit: float = 500_000) -> int:
    """A quota in units (``500000``) or dollars (``$1.5``), never negative."""
    text = text.strip()
    try:
        value = float(text[1:]) * quota_per_unit if text.startswith("$") else float(text)
    except ValueError:
        usage(f"quota {text!r} is not a number (use 500000 or $1)")
    if value < 0 or value != value or value > 2**53:
        usage(f"quota {text!r} must be between 0 and 2^53")
    return round(value)


def money(quota: Any, status: dict[str, Any]) -> str:
    if not isinstance(quota, int):
        return str(quota)
    if status.get("display_in_currency"):
        return f"${quota / float(status.get('quota_per_unit') or 500_000):.4f}"
    return str(quota)


def parse_json_option(name: str, text: str | None) -> str | None:
    """A JSON-object option (--model-mapping, --config): checked here so a typo is exit 2, not a round trip."""
    if text is None:
        return None
    if text.strip() == "":
        return ""
    try:
        value = json.loads(text)
    except ValueError as exc:
        usage(f"{name}: not valid JSON ({exc})")
    if not isinstance(value, dict):
        usage(f"{name}: must be a JSON object")
    return text
