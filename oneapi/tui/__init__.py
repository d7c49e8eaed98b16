"""``oneapi tui``: the administrator's terminal UI (Textual), talking to the server only through the admin
socket client (``oneapi/client.py``). Workers do the I/O; widgets render; errors become notifications."""

from __future__ import annotations

from pathlib import Path

from oneapi.tui.app import OneAPIApp


def make_app(socket: Path) -> OneAPIApp:
    return OneAPIApp(socket)


__all__ = ["OneAPIApp", "make_app"]
