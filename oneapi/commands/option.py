"""``oneapi option get|set``"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from oneapi.commands.common import JsonOption, OneLineUsage, SocketOption, emit, print_json, run, usage

app = typer.Typer(help="Read and change system options (secrets are write-only).", no_args_is_help=True,
                  cls=OneLineUsage, rich_markup_mode=None)


@app.command()
def get(key: Annotated[str | None, typer.Argument(help="One option; all when omitted.")] = None,
        as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Show options."""
    items: list[dict[str, Any]] = run(socket, lambda c: c.options())
    if key is not None:
        found = [i for i in items if i["key"] == key]
        if not found:
            usage(f"unknown or write-only option {key!r}")
        if as_json:
            print_json(found[0])
        else:
            typer.echo(found[0]["value"])
        return
    emit(items, as_json, [("key", "Key"), ("value", "Value")])


@app.command("set")
def set_option(key: str, value: str, socket: SocketOption = None) -> None:
    """Set an option (the server validates it: ratios must be JSON maps, toggles true/false, ...)."""
    run(socket, lambda c: c.set_option(key, value))
    typer.echo(f"{key} updated")
