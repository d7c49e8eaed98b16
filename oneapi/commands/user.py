"""``oneapi user ...``"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from oneapi.client import AdminClient, AdminRefused
from oneapi.commands.common import (
    JsonOption,
    OneLineUsage,
    RawOption,
    SocketOption,
    emit,
    money,
    parse_quota,
    print_json,
    run,
    usage,
)

app = typer.Typer(help="Manage users.", no_args_is_help=True, cls=OneLineUsage,
                  rich_markup_mode=None)

COLUMNS = [("id", "ID"), ("username", "Username"), ("display_name", "Name"), ("role_text", "Role"),
           ("status_text", "Status"), ("group", "Group"), ("balance", "Quota"), ("used", "Used"),
           ("request_count", "Requests")]
ROLES = {1: "common", 10: "admin", 100: "root"}
STATUS = {1: "enabled", 2: "disabled", 3: "deleted"}


def _rows(users: list[dict[str, Any]], status: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**u, "role_text": ROLES.get(u["role"], str(u["role"])), "status_text": STATUS.get(u["status"], ""),
             "balance": money(u.get("quota"), status), "used": money(u.get("used_quota"), status)} for u in users]


async def _named(c: AdminClient, username: str) -> dict[str, Any]:
    """The user called exactly ``username`` (AdminRefused when there is none). A name of digits is a name: an id
    is given as --id, so ``topup 1`` never tops up the user whose id is 1 when a user is called "1"."""
    found: list[dict[str, Any]] = await c.search("user", username=username)
    if found:
        return found[0]
    hint = f" (for the user with id {username}, use --id {username})" if username.isascii() and username.isdigit() \
        else ""
    raise AdminRefused(f"no user named {username!r}{hint}")


async def _user(c: AdminClient, who: str | None, user_id: int | None) -> dict[str, Any]:
    if user_id is not None:
        user: dict[str, Any] = await c.record("user", user_id)
        return user
    return await _named(c, str(who))


def _one_of(who: str | None, user_id: int | None) -> None:
    if (who is None) == (user_id is None):
        usage("give a username or --id ID (not both)")


UserArgument = Annotated[str | None, typer.Argument(help="The user's name (a name of digits is a name too; an id "
                                                         "is given as --id).", show_default=False)]
IdOption = Annotated[int | None, typer.Option("--id", metavar="ID", help="The user's id instead of the username.")]


@app.command("list")
def list_users(search: Annotated[str | None, typer.Option("--search", help="Username, e-mail or name prefix.")]
               = None, page: Annotated[int, typer.Option("--page", min=0)] = 0,
               order: Annotated[str, typer.Option("--order", help="quota, used_quota or request_count")] = "",
               as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """List users."""
    async def action(c: AdminClient) -> Any:
        rows = await (c.search("user", search) if search
                      else c.page("user", page, order=order))
        return rows, await c.status()

    rows, status = run(socket, action)
    emit(rows if as_json else _rows(rows, status), as_json, COLUMNS)


@app.command()
def create(username: Annotated[str, typer.Option("--username", help="At most 12 characters.")] = "",
           password: Annotated[str, typer.Option("--password", help="8 to 20 characters.")] = "",
           display_name: Annotated[str | None, typer.Option("--display-name")] = None,
           admin: Annotated[bool, typer.Option("--admin", help="Create an admin (role 10).")] = False,
           as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Create a user (with --json: print it as the API returns it)."""
    if not username or not password:
        usage("--username and --password are required")
    body: dict[str, Any] = {"username": username, "password": password, "role": 10 if admin else 1}
    if display_name is not None:
        body["display_name"] = display_name

    async def action(c: AdminClient) -> dict[str, Any]:
        await c.create("user", body)
        return await _named(c, username)

    user = run(socket, action)
    if as_json:
        print_json(user)
    else:
        typer.echo(f"created user {username} (id {user['id']})")


@app.command()
def update(user_id: int,
           username: Annotated[str | None, typer.Option("--username")] = None,
           display_name: Annotated[str | None, typer.Option("--display-name")] = None,
           group: Annotated[str | None, typer.Option("--group")] = None,
           quota: Annotated[str | None, typer.Option("--quota", help="New balance: units or $dollars.")] = None,
           password: Annotated[str | None, typer.Option("--password")] = None,
           promote: Annotated[bool | None, typer.Option("--promote/--demote", help="Make admin / common.")] = None,
           as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Change a user's fields (only those given)."""
    async def action(c: AdminClient) -> Any:
        status = await c.status()
        current = await c.record("user", user_id)
        changes: dict[str, Any] = {k: v for k, v in {"username": username, "display_name": display_name,
                                                      "group": group, "password": password}.items()
                                   if v is not None}
        if quota is not None:
            changes["quota"] = parse_quota(quota, float(status.get("quota_per_unit") or 500_000))
        if not changes and promote is None:
            usage("nothing to change: give at least one option")
        if changes:
            await c.update("user", {"id": user_id, **changes})
        if promote is not None:
            await c.manage_user(str(changes.get("username", current["username"])), "promote" if promote else "demote")
        return await c.record("user", user_id), status

    user, status = run(socket, action)
    emit(user if as_json else _rows([user], status), as_json, COLUMNS)


@app.command()
def topup(user: UserArgument = None, user_id: IdOption = None,
          quota: Annotated[str, typer.Option("--quota", help="Units or $dollars to add.")] = "",
          remark: Annotated[str, typer.Option("--remark")] = "", raw: RawOption = False,
          as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Add quota to a user, named or by --id (writes a top-up log)."""
    _one_of(user, user_id)
    if not quota:
        usage("--quota is required")

    async def action(c: AdminClient) -> Any:
        status = await c.status()
        amount = parse_quota(quota, float(status.get("quota_per_unit") or 500_000))
        target = await _user(c, user, user_id)
        await c.top_up(target["id"], amount, remark)
        return amount, await c.record("user", target["id"]), status

    amount, after, status = run(socket, action)
    if as_json:
        print_json({"added": amount, "user": after})
        return
    typer.echo(f"added {money(amount, status, raw)} to {after['username']} (id {after['id']}); "
               f"balance {money(after['quota'], status, raw)}")


def _manage(who: str | None, user_id: int | None, action_name: str, socket: str | None) -> None:
    _one_of(who, user_id)

    async def action(c: AdminClient) -> str:
        username = str((await _user(c, who, user_id))["username"])
        await c.manage_user(username, action_name)
        return username

    username = run(socket, action)
    typer.echo(f"user {username}: {action_name}d")


@app.command()
def enable(user: UserArgument = None, user_id: IdOption = None, socket: SocketOption = None) -> None:
    """Enable a user, named or by --id."""
    _manage(user, user_id, "enable", socket)


@app.command()
def disable(user: UserArgument = None, user_id: IdOption = None, socket: SocketOption = None) -> None:
    """Disable a user, named or by --id."""
    _manage(user, user_id, "disable", socket)
