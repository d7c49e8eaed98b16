"""``oneapi token ...`` — the relay tokens of the root user (the identity the admin socket acts as)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from oneapi.client import AdminClient
from oneapi.commands.common import (
    JsonOption,
    OneLineUsage,
    SocketOption,
    emit,
    money,
    parse_expiry,
    parse_quota,
    print_json,
    run,
    usage,
    when,
)

LIMIT_MAX = 10**9  # the server's bound (services/token_limits.py; not imported: the CLI loads no services)

app = typer.Typer(help="Manage relay tokens (API keys) of the root user.", no_args_is_help=True, cls=OneLineUsage,
                  rich_markup_mode=None)

COLUMNS = [("id", "ID"), ("name", "Name"), ("status_text", "Status"), ("remaining", "Remaining"),
           ("used", "Used"), ("expires", "Expires"), ("rate", "Rate limits"), ("models", "Models"),
           ("subnet", "Subnet")]
STATUS = {1: "enabled", 2: "disabled", 3: "expired", 4: "exhausted"}

Name = Annotated[str | None, typer.Option("--name", help="Token name (at most 30 characters).")]
Quota = Annotated[str | None, typer.Option("--quota", help="Quota cap in units (500000) or dollars ($1).")]
Unlimited = Annotated[bool | None, typer.Option("--unlimited/--limited", help="No quota cap.")]
Expires = Annotated[str | None, typer.Option("--expires", help="never, a date (2026-12-31), a duration (30d).")]
Models = Annotated[str | None, typer.Option("--models", help="Comma-separated models it may use (empty: all).")]
Subnet = Annotated[str | None, typer.Option("--subnet", help="Comma-separated CIDRs it may be used from.")]
Rpm = Annotated[int | None, typer.Option("--rpm", min=0, max=LIMIT_MAX,
                                         help="Requests per minute it may make (0: no limit).")]
Tpm = Annotated[int | None, typer.Option("--tpm", min=0, max=LIMIT_MAX,
                                         help="Tokens (prompt + completion) per minute it may use (0: no limit).")]


async def _status(c: AdminClient) -> dict[str, Any]:
    data: dict[str, Any] = await c.status()
    return data


def _rows(tokens: list[dict[str, Any]], status: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**t, "status_text": STATUS.get(t["status"], str(t["status"])),
             "remaining": "unlimited" if t.get("unlimited_quota") else money(t.get("remain_quota"), status),
             "used": money(t.get("used_quota"), status), "expires": when(t.get("expired_time")),
             "rate": rate_limits(t)} for t in tokens]


def rate_limits(token: dict[str, Any]) -> str:
    """``60 rpm, 100000 tpm``; ``-`` when neither is set."""
    parts = [f"{token[name]} {unit}" for name, unit in (("rpm_limit", "rpm"), ("tpm_limit", "tpm"))
             if token.get(name)]
    return ", ".join(parts) or "-"


def _body(name: str | None, quota: str | None, unlimited: bool | None, expires: str | None, models: str | None,
          subnet: str | None, rpm: int | None, tpm: int | None, status: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if quota is not None:
        body["remain_quota"] = parse_quota(quota, float(status.get("quota_per_unit") or 500_000))
    if unlimited is not None:
        body["unlimited_quota"] = unlimited
    if expires is not None:
        body["expired_time"] = parse_expiry(expires)
    if models is not None:
        body["models"] = models
    if subnet is not None:
        body["subnet"] = subnet
    if rpm is not None:
        body["rpm_limit"] = rpm
    if tpm is not None:
        body["tpm_limit"] = tpm
    return body


@app.command("list")
def list_tokens(search: Annotated[str | None, typer.Option("--search", help="Name prefix.")] = None,
                page: Annotated[int, typer.Option("--page", min=0)] = 0,
                as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """List tokens."""
    async def action(c: AdminClient) -> Any:
        rows = await (c.search("token", search) if search else c.page("token", page))
        return rows, await _status(c)

    rows, status = run(socket, action)
    emit(rows if as_json else _rows(rows, status), as_json, COLUMNS)


@app.command()
def create(name: Name = None, quota: Quota = None, unlimited: Unlimited = None, expires: Expires = None,
           models: Models = None, subnet: Subnet = None, rpm: Rpm = None, tpm: Tpm = None,
           as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Create a token and print its key (sk-...; 'token list --json' shows every key again)."""
    if quota is None and not unlimited:
        usage("give --quota or --unlimited")

    async def action(c: AdminClient) -> Any:
        body = _body(name or "cli", quota, unlimited, expires, models, subnet, rpm, tpm, await _status(c))
        return await c.create("token", body)

    token = run(socket, action)
    if as_json:
        print_json({**token, "api_key": "sk-" + token["key"]})  # api_key: ready for an OpenAI SDK
    else:
        typer.echo(f"created token {token['id']} ({token['name']}): sk-{token['key']}")


@app.command()
def update(token_id: int, name: Name = None, quota: Quota = None, unlimited: Unlimited = None,
           expires: Expires = None, models: Models = None, subnet: Subnet = None, rpm: Rpm = None,
           tpm: Tpm = None,
           enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Switch the token on or off.")]
           = None, as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Change a token's fields (only those given), or enable/disable it."""
    async def action(c: AdminClient) -> Any:
        status = await _status(c)
        changes = _body(name, quota, unlimited, expires, models, subnet, rpm, tpm, status)
        if not changes and enable is None:
            usage("nothing to change: give at least one option")
        current = await c.record("token", token_id)
        result = current
        if changes:
            result = await c.update("token", {**current, **changes})
        if enable is not None:
            result = await c.set_status("token", token_id, 1 if enable else 2)
        return result, status

    token, status = run(socket, action)
    emit(token if as_json else _rows([token], status), as_json, COLUMNS)


@app.command()
def delete(token_id: int, socket: SocketOption = None) -> None:
    """Delete a token."""
    run(socket, lambda c: c.remove("token", token_id))
    typer.echo(f"deleted token {token_id}")
