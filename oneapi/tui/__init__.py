"""``oneapi tui``: the administrator's terminal UI (Textual), talking to the server only through the admin
socket client (``oneapi/client.py``). Workers do the I/O; widgets render; errors become notifications."""

from __future__ import annotations

from pathlib import Path

from oneapi.tui.app import OneAPIApp


def make_app(socket: Path, trusted: frozenset[int] | None = None) -> OneAPIApp:
    """The app on the admin socket ``socket``, which may belong to ``trusted`` uids (default: the current
    user; ``oneapi tui`` passes what :func:`oneapi.client.locate` found)."""
    return OneAPIApp(socket, trusted)


__all__ = ["OneAPIApp", "make_app"]
