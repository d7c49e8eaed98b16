"""``oneapi voucher ...`` — redemption codes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from oneapi import exports, humanize
from oneapi.client import AdminClient, AdminError
from oneapi.commands.common import (
    JsonOption,
    OneLineUsage,
    SocketOption,
    emit,
    fail,
    money,
    parse_quota,
    print_json,
    run,
    usage,
    when,
)

app = typer.Typer(help="Manage vouchers (redemption codes).", no_args_is_help=True, cls=OneLineUsage,
                  rich_markup_mode=None)

COLUMNS = [("id", "ID"), ("name", "Name"), ("status_text", "Status"), ("amount", "Quota"), ("created", "Created"),
           ("redeemed", "Redeemed"), ("key", "Key")]
STATUS = {1: "unused", 2: "disabled", 3: "used"}
BATCH = 100  # the API creates at most 100 per call


@app.command()
def create(count: Annotated[int, typer.Option("--count", min=1, max=10_000, help="How many vouchers.")] = 1,
           quota: Annotated[str, typer.Option("--quota", help="Quota each: units (500000) or dollars ($1).")] = "",
           name: Annotated[str, typer.Option("--name", help="Name of the batch (at most 20 characters).")] = "cli",
           out: Annotated[Path | None, typer.Option("--out", help="Write the keys to a .txt file (one a line) or a "
                                                    ".csv file (key,name,quota), readable only by you.")] = None,
           as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """Generate vouchers (in batches of 100) and print or export their keys."""
    if not quota:
        usage("--quota is required")
    if out is not None and os.path.isdir(out):
        usage(f"--out: {out} is a directory")
    if out is not None:
        try:
            humanize.check_export_path(out)
        except ValueError as exc:
            usage(f"--out: {exc}")
    if out is not None and not os.access(out.parent, os.W_OK):  # checked first: keys are shown only once
        usage(f"--out: cannot write to the directory {out.parent}")

    async def action(c: AdminClient) -> Any:
        status = await c.status()
        amount = parse_quota(quota, float(status.get("quota_per_unit") or 500_000))
        keys: list[str] = []
        left = count
        while left:
            batch = min(BATCH, left)
            try:
                keys += await c.create("redemption", {"name": name, "quota": amount, "count": batch})
            except AdminError:
                if keys:  # earlier batches exist: show their keys (shown only now) before failing
                    for key in keys:
                        typer.echo(key)
                    typer.echo(f"oneapi: created {len(keys)} of {count} vouchers before the error below", err=True)
                raise
            left -= batch
        return [{"key": k, "name": name, "quota": amount} for k in keys]

    vouchers = run(socket, action)
    if out is not None:
        try:
            exports.save_vouchers(out, vouchers)
        except OSError as exc:  # the vouchers exist now: print their keys rather than lose them
            for voucher in vouchers:
                typer.echo(voucher["key"])
            fail(f"--out: could not write {out} ({exc.strerror or exc}); the keys are printed above", 1)
        typer.echo(f"wrote {len(vouchers)} vouchers to {out}")
    elif as_json:
        print_json(vouchers)
    else:
        for voucher in vouchers:
            typer.echo(voucher["key"])


@app.command("list")
def list_vouchers(search: Annotated[str | None, typer.Option("--search", help="Id or name prefix.")] = None,
                  page: Annotated[int, typer.Option("--page", min=0)] = 0,
                  as_json: JsonOption = False, socket: SocketOption = None) -> None:
    """List vouchers."""
    async def action(c: AdminClient) -> Any:
        rows = await (c.search("redemption", search) if search
                      else c.page("redemption", page))
        return rows, await c.status()

    rows, status = run(socket, action)
    if not as_json:
        rows = [{**r, "status_text": STATUS.get(r["status"], str(r["status"])), "amount": money(r["quota"], status),
                 "created": when(r.get("created_time")), "redeemed": when(r.get("redeemed_time")) or ""}
                for r in rows]
    emit(rows, as_json, COLUMNS)


@app.command()
def disable(voucher_id: int, socket: SocketOption = None) -> None:
    """Disable an unused voucher."""
    run(socket, lambda c: c.set_status("redemption", voucher_id, 2))
    typer.echo(f"voucher {voucher_id} disabled")


@app.command()
def delete(voucher_id: int, socket: SocketOption = None) -> None:
    """Delete a voucher."""
    run(socket, lambda c: c.remove("redemption", voucher_id))
    typer.echo(f"deleted voucher {voucher_id}")
