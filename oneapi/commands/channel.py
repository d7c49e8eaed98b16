"""``oneapi channel ...``"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from oneapi.channel_types import ChannelType
from oneapi.client import AdminClient
from oneapi.commands.common import (
    JsonOption,
    OneLineUsage,
    SocketOption,
    emit,
    parse_json_option,
    print_json,
    run,
    usage,
)

app = typer.Typer(help="Manage channels (upstream accounts).", no_args_is_help=True, cls=OneLineUsage,
                  rich_markup_mode=None)

COLUMNS = [("id", "ID"), ("name", "Name"), ("type", "Type"), ("status_text", "Status"), ("priority", "Priority"),
           ("weight", "Weight"), ("models", "Models"), ("group", "Group"), ("balance", "Balance"),
           ("response_time", "ms"), ("used_quota", "Used")]
STATUS = {0: "unknown", 1: "enabled", 2: "disabled", 3: "auto-disabled"}

Name = Annotated[str | None, typer.Option("--name", help="Display name.")]
Type = Annotated[int | None, typer.Option("--type", help="Channel type id (1 OpenAI, 3 Azure, 14 Claude, ...).")]
Key = Annotated[str | None, typer.Option("--key", help="Upstream key (several lines: one channel each).")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="Upstream base URL (empty: the type's default).")]
Models = Annotated[str | None, typer.Option("--models", help="Comma-separated model names.")]
Group = Annotated[str | None, typer.Option("--group", help="Comma-separated user groups (default: default).")]
Priority = Annotated[int | None, typer.Option("--priority", help="Higher is preferred.")]
Weight = Annotated[int | None, typer.Option("--weight", help="Share within its priority tier (0 = equal share).")]
Mapping = Annotated[str | None, typer.Option("--model-mapping", help='JSON object, e.g. {"gpt-4": "gpt-4o"}.')]
Config = Annotated[str | None, typer.Option("--config", help='JSON object, e.g. {"api_version": "2024-06-01"}.')]
SystemPrompt = Annotated[str | None, typer.Option("--system-prompt", help="System prompt this channel enforces.")]


def _decorate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "status_text": STATUS.get(r.get("status", 0), str(r.get("status")))} for r in rows]


def _fields(name: str | None, type_: int | None, key: str | None, base_url: str | None, models: str | None,
            group: str | None, priority: int | None, weight: int | None, mapping: str | None, config: str | None,
            system_prompt: str | None) -> dict[str, Any]:
    fields = {"name": name, "type": type_, "key": key, "base_url": base_url, "models": models, "group": group,
              "priority": priority, "weight": weight, "model_mapping": parse_json_option("--model-mapping", mapping),
              "config": parse_json_option("--config", config), "system_prompt": system_prompt}
    return {k: v for k, v in fields.items() if v is not None}


@app.command("list")
def list_channels(search: Annotated[str | None, typer.Option("--search", help="Id or name prefix.")] = None,
                  page: Annotated[int, typer.Option("--page", min=0)] = 0,
                  as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """List channels (keys are never shown)."""
    async def action(c: AdminClient) -> Any:
        if search:
            return await c.search("channel", search)
        return await c.page("channel", page)

    emit(_decorate(run(socket, action)), as_json, COLUMNS)


@app.command()
def add(name: Name = None, type_: Type = None, key: Key = None, base_url: BaseUrl = None, models: Models = None,
        group: Group = None, priority: Priority = None, weight: Weight = None, model_mapping: Mapping = None,
        config: Config = None, system_prompt: SystemPrompt = None, as_json: JsonOption = False,
        socket: SocketOption = None) -> None:
    """Add a channel (or one per key line)."""
    if not key:
        usage("--key is required")
    body = _fields(name, type_ if type_ is not None else ChannelType.OPENAI, key, base_url, models, group, priority,
                   weight, model_mapping, config, system_prompt)
    ids = run(socket, lambda c: c.create("channel", body))
    if as_json:
        print_json({"ids": ids})
    else:
        typer.echo(f"created channel{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}")


@app.command()
def update(channel_id: int, name: Name = None, type_: Type = None, key: Key = None, base_url: BaseUrl = None,
           models: Models = None, group: Group = None, priority: Priority = None, weight: Weight = None,
           model_mapping: Mapping = None, config: Config = None, system_prompt: SystemPrompt = None,
           as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Change the given fields of a channel."""
    body = _fields(name, type_, key, base_url, models, group, priority, weight, model_mapping, config,
                   system_prompt)
    if not body:
        usage("nothing to change: give at least one option")
    result = run(socket, lambda c: c.update("channel", {"id": channel_id, **body}))
    emit(_decorate([result]), as_json, COLUMNS)


def _set_status(channel_id: int, status: int, socket: str | None) -> None:
    run(socket, lambda c: c.set_status("channel", channel_id, status))
    typer.echo(f"channel {channel_id} {STATUS[status]}")


@app.command()
def enable(channel_id: int, socket: SocketOption = None) -> None:
    """Enable a channel."""
    _set_status(channel_id, 1, socket)


@app.command()
def disable(channel_id: int, socket: SocketOption = None) -> None:
    """Disable a channel."""
    _set_status(channel_id, 2, socket)


@app.command()
def delete(channel_id: int, socket: SocketOption = None) -> None:
    """Delete a channel."""
    run(socket, lambda c: c.remove("channel", channel_id))
    typer.echo(f"deleted channel {channel_id}")


@app.command()
def test(channel_id: Annotated[int | None, typer.Argument()] = None,
         model: Annotated[str | None, typer.Option("--model")] = None,
         all_: Annotated[bool, typer.Option("--all", help="Test every channel (in the background).")] = False,
         as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Send a test request to a channel (not billed), or start testing all."""
    if all_ == (channel_id is not None):
        usage("give a channel id or --all")
    if all_:
        run(socket, lambda c: c.test_all_channels())
        typer.echo("testing every channel in the background; see 'oneapi channel list' for results")
        return
    assert channel_id is not None  # given: checked above
    target = channel_id
    result = run(socket, lambda c: c.test_channel(target, model))
    if as_json:
        print_json(result)
    else:
        typer.echo(f"channel {channel_id} ({result.get('modelName')}): ok in {result.get('time')} s — "
                   f"{result.get('message')}")


@app.command()
def balance(channel_id: Annotated[int | None, typer.Argument()] = None,
            all_: Annotated[bool, typer.Option("--all", help="Update every enabled channel.")] = False,
            as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Ask the upstream for a channel's balance (USD)."""
    if all_ == (channel_id is not None):
        usage("give a channel id or --all")
    if all_:
        count = run(socket, lambda c: c.update_all_balances())
        typer.echo(f"updated {count} channel balances")
        return
    assert channel_id is not None  # given: checked above
    target = channel_id
    result = run(socket, lambda c: c.update_balance(target))
    if as_json:
        print_json(result)
    else:
        typer.echo(f"channel {channel_id}: balance {result.get('balance')}")

