"""What every admin subcommand shares: the socket option, running a client call, exit codes and output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from oneapi import humanize
from oneapi.client import AdminClient, AdminError

SocketOption = Annotated[str | None, typer.Option("--admin-socket", envvar="ONEAPI_ADMIN_SOCKET",
                                                  help="Admin socket of the server (default: oneapi.sock in "
                                                       "ONEAPI_HOME or the working directory, else the server "
                                                       "this user runs).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]

EXIT_USAGE = 2  # the other exit codes are the AdminError subclasses' exit_code (oneapi.client)


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"oneapi: {message}", err=True)
    raise typer.Exit(code)


def usage(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


# Click's UsageError (typer vendors Click in recent versions, so reach it through a public subclass).
_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OneLineUsage(TyperGroup):
    """A command group whose usage errors (unknown flag, bad value, missing argument) are one line on stderr and
    exit code 2, as the exit-code contract says, instead of Click's multi-line usage box."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: Click prints its help
                raise
            where = getattr(getattr(exc, "ctx", None), "command_path", None) or ctx.command_path
            message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
            typer.echo(f"{where}: {message} (see '{where} --help')", err=True)
            raise typer.Exit(EXIT_USAGE) from None


def run(socket: str | None, action: Callable[[AdminClient], Awaitable[Any]]) -> Any:
    """Run one client conversation and map failures to the documented exit codes."""
    async def main() -> Any:
        async with AdminClient.located(socket) as client:
            return await action(client)

    try:
        return asyncio.run(main())
    except AdminError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def print_json_line(data: Any) -> None:
    """One compact JSON object per line (JSON Lines), for streams of records such as log tails."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


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


RawOption = Annotated[bool, typer.Option("--raw", help="Quota in units instead of dollars.")]


def parse_expiry(text: str) -> int:
    try:
        return humanize.parse_future_expiry(text)
    except ValueError as exc:
        usage(f"--expires: {exc}")


def parse_quota(text: str, quota_per_unit: float = 500_000) -> int:
    try:
        return humanize.parse_quota(text, quota_per_unit)
    except ValueError as exc:
        usage(str(exc))


def money(quota: Any, status: dict[str, Any], raw: bool = False) -> str:
    """Quota as the TUI shows it (dollars when DisplayInCurrencyEnabled); units with ``raw``."""
    return humanize.money(quota, not raw and bool(status.get("display_in_currency", True)),
                          float(status.get("quota_per_unit") or 500_000))


when = humanize.when


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
