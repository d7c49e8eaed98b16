"""The ``oneapi`` command (Typer): ``serve``, ``version``; later the TUI and admin subcommands.

Heavy modules are imported inside commands, so ``oneapi --help`` stays fast and each command loads only what
it needs. Errors become one line on stderr and an exit code: 2 for bad configuration or usage, 1 when the
server cannot start.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.main

from oneapi import __version__
from oneapi.commands.common import OneLineUsage

app = typer.Typer(
    name="oneapi",
    cls=OneLineUsage,
    help="One OpenAI-compatible endpoint in front of every large-model provider.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # Click's plain help: "--port INTEGER", not rich panels with "<int>" or "<bool>"
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oneapi {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """oneapi: keys, quotas, vouchers, users and logs in front of every LLM provider."""


def fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"oneapi: {message}", err=True)
    return typer.Exit(code)


@app.command()
def serve(
    port: Annotated[int | None, typer.Option("--port", help="TCP port (overrides PORT; default 3000).")] = None,
    log_dir: Annotated[str | None, typer.Option("--log-dir", help="Write rotating log files (oneapi.log) here.")]
    = None,
    config_file: Annotated[str | None, typer.Option("--config", help="YAML settings file "
                                                    "(default ./config.yaml when present).")] = None,
    admin_socket: Annotated[str | None, typer.Option("--admin-socket", help="Unix socket for the TUI and CLI "
                                                     "(default oneapi.sock in the data directory).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Processes serving the port together, one per "
                                                "core (overrides ONEAPI_WORKERS; default 1); more than 1 needs "
                                                "REDIS_CONN_STRING.")] = None,
) -> None:
    """Start the server: relay, /api, web page and the local admin socket; SQLite unless SQL_DSN is set."""
    from oneapi.config import ConfigError, load_process
    from oneapi.logsetup import setup_logging
    from oneapi.workers import serve as serve_workers

    try:
        config = load_process(config_file, {"port": port, "log_dir": log_dir, "admin_socket": admin_socket,
                                            "workers": workers})
    except ConfigError as exc:
        raise fail(f"configuration error: {exc}", 2) from None
    setup_logging(config.log_dir, config.debug, config.debug_sql)
    code = serve_workers(config)
    if code:
        raise typer.Exit(code)


def _add_admin_commands() -> None:
    from oneapi.commands import channel, log, option, token, user, voucher

    app.add_typer(channel.app, name="channel")
    app.add_typer(token.app, name="token")
    app.add_typer(voucher.app, name="voucher")
    app.add_typer(user.app, name="user")
    app.add_typer(option.app, name="option")
    app.add_typer(log.app, name="log")


_add_admin_commands()


@app.command()
def tui(
    admin_socket: Annotated[str | None, typer.Option("--admin-socket", envvar="ONEAPI_ADMIN_SOCKET",
                                                     help="Admin socket of the server (default: oneapi.sock in "
                                                          "ONEAPI_HOME or the working directory, else the server "
                                                          "this user runs).")] = None,
) -> None:
    """Open the terminal UI on the local server's admin socket (exit code 3 when no server answers, 4 when the
    socket is another user's)."""
    import asyncio

    from oneapi.client import AdminClient, AdminError, Located, locate

    async def ping() -> Located:
        found = locate(admin_socket)
        async with AdminClient(found.path, 5, found.trusted) as client:
            await client.ping()
        return found

    try:
        found = asyncio.run(ping())
    except AdminError as exc:
        raise fail(str(exc), exc.exit_code) from None
    from oneapi.tui import make_app

    make_app(found.path, found.trusted).run()


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"oneapi {__version__}")


# Click's usual metavars: "--port INTEGER", "TOKEN_ID" (typer would print "<int>", "{TOKEN_ID}").
METAVARS = {"str": "TEXT", "int": "INTEGER", "int range": "INTEGER", "float": "FLOAT", "path": "PATH"}


def plain_metavars(command: Any) -> Any:
    """Give every value option its type's usual name and every argument its name in capitals, recursively
    (``command`` is the Click command typer builds; typer vendors Click, so it is reached by duck typing).

    On the usage line an argument reads as Click writes it (``TOKEN_ID``, ``[USER]`` when optional): typer's
    own usage piece wraps a required argument in braces whenever it has a metavar (``{TOKEN_ID}``)."""
    for param in command.params:
        if param.param_type_name == "argument":
            name = param.metavar = param.metavar or (param.name or "").upper()
            piece = (name if param.required else f"[{name}]") + ("..." if param.nargs != 1 else "")
            param.get_usage_pieces = lambda ctx, piece=piece: [piece]
        elif param.metavar is None and not getattr(param, "is_flag", False) and param.type.name in METAVARS:
            param.metavar = METAVARS[param.type.name]
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)
    return command


def main() -> None:
    plain_metavars(typer.main.get_command(app)).main(prog_name="oneapi")


if __name__ == "__main__":
    main()
