"""``oneapi log tail|stats``"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from oneapi.client import AdminClient, AdminError
from oneapi.commands.common import (
    JsonOption,
    OneLineUsage,
    RawOption,
    SocketOption,
    emit,
    fail,
    money,
    print_json,
    print_json_line,
    run,
    when,
)

app = typer.Typer(help="Read logs.", no_args_is_help=True, cls=OneLineUsage,
                  rich_markup_mode=None)

COLUMNS = [("time", "Time"), ("type_text", "Type"), ("username", "User"), ("token_name", "Token"),
           ("model_name", "Model"), ("channel", "Ch"), ("prompt_tokens", "In"), ("completion_tokens", "Out"),
           ("quota_text", "Quota"), ("content", "Content")]
TYPES = {0: "unknown", 1: "topup", 2: "consume", 3: "manage", 4: "system", 5: "test"}
TYPE_IDS = {v: k for k, v in TYPES.items()}

Type = Annotated[str | None, typer.Option("--type", help="topup, consume, manage, system or test.")]
User = Annotated[str | None, typer.Option("--user", help="Username.")]
Token = Annotated[str | None, typer.Option("--token", help="Token name.")]
Model = Annotated[str | None, typer.Option("--model", help="Model name.")]
Channel = Annotated[int | None, typer.Option("--channel", help="Channel id.")]


def _filters(type_: str | None, user: str | None, token: str | None, model: str | None,
             channel: int | None) -> dict[str, Any]:
    if type_ is not None and type_ not in TYPE_IDS:
        raise typer.BadParameter(f"unknown log type {type_!r}", param_hint="--type")
    return {"type": TYPE_IDS.get(type_ or ""), "username": user, "token_name": token, "model_name": model,
            "channel": channel}


def _matches(row: dict[str, Any], f: dict[str, Any]) -> bool:
    return ((f["type"] is None or row.get("type") == f["type"]) and (not f["username"] or row.get("username") ==
            f["username"]) and (not f["token_name"] or row.get("token_name") == f["token_name"]) and
            (not f["model_name"] or row.get("model_name") == f["model_name"]) and
            (not f["channel"] or row.get("channel") == f["channel"]))


def _row(row: dict[str, Any], status: dict[str, Any], raw: bool) -> dict[str, Any]:
    return {**row, "time": when(row.get("created_at")), "type_text": TYPES.get(row.get("type", 0), "?"),
            "quota_text": money(row.get("quota", 0), status, raw)}


@app.command()
def tail(follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new logs.")] = False,
         limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many recent logs.")] = 10,
         type_: Type = None, user: User = None, token: Token = None, model: Model = None,
         channel: Channel = None, raw: RawOption = False, as_json: JsonOption = False,
         socket: SocketOption = None) -> None:
    """Show the most recent logs; with --follow, keep printing them as they happen."""
    f = _filters(type_, user, token, model, channel)

    async def recent(c: AdminClient) -> Any:
        return (await c.logs(0, **{k: v for k, v in f.items() if v is not None}),
                await c.status())

    rows, status = run(socket, recent)
    rows = list(reversed(rows[:limit]))
    if as_json:
        for row in rows:
            print_json_line(row)
    else:
        emit([_row(r, status, raw) for r in rows], False, COLUMNS)
    if not follow:
        return

    async def stream() -> None:
        async with AdminClient.located(socket) as client:
            async for event in client.events():
                row = event.get("log")
                if event.get("kind") != "log" or not isinstance(row, dict) or not _matches(row, f):
                    continue
                if as_json:
                    print_json_line(row)
                else:
                    r = _row(row, status, raw)
                    typer.echo("  ".join(str(r.get(k, "")) for k, _ in COLUMNS))

    try:
        asyncio.run(stream())
    except AdminError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        pass


@app.command()
def stats(type_: Type = None, user: User = None, token: Token = None, model: Model = None, channel: Channel = None,
          raw: RawOption = False, as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Quota spent (consume logs matching the filters) and the server's live figures."""
    f = _filters(type_, user, token, model, channel)

    async def action(c: AdminClient) -> Any:
        spent = await c.log_stat(**{k: v for k, v in f.items() if v is not None and k != "type"})
        return {"quota": spent["quota"], **await c.stats()}

    data = run(socket, action)
    if as_json:
        print_json(data)
        return
    typer.echo(f"spent (matching logs): {money(data['quota'], data, raw)}")
    typer.echo(f"last minute, per second on average: {data['requests_per_second']:.2f} requests, "
               f"{data['tokens_per_second']:.1f} tokens; error rate {data['error_rate']:.1%}")
    typer.echo(f"since start: {data['total_requests']} requests, {data['total_errors']} errors, "
               f"{money(data['total_quota'], data, raw)} spent")
