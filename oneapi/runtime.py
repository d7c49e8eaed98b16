"""Where running servers note their admin sockets, so that ``oneapi tui`` and the CLI find the server that
``oneapi serve`` started in another data directory (``make run`` uses ./data) without being told where.

Each server writes ``server-<pid>`` (its socket's absolute path) into the user's runtime directory and removes it
on a clean stop. The runtime directory is ``$XDG_RUNTIME_DIR/oneapi``, else ``/tmp/oneapi-<uid>``; it must be a
directory of the current user that nobody else may write (created 0700): one that someone else made, or opened
up, is not used, so nobody can point another user's CLI at a socket of their choosing. Clients list the entries
whose process is alive and whose socket exists, and drop the others (left by a crash). Stdlib only: the server
and the client both use it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

PREFIX = "server-"


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "oneapi" if base else Path("/tmp") / f"oneapi-{os.getuid()}"


def _private(folder: Path) -> bool:
    """A directory of ours that nobody else can write (no symlink, no group or other access)."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077 == 0


def register(socket: Path, environ: Mapping[str, str] | None = None) -> Path | None:
    """Note ``socket`` for this process; return the entry to :func:`unregister`, or None when the runtime
    directory cannot be used (the caller logs it: clients then need ONEAPI_HOME or --admin-socket)."""
    folder = runtime_dir(environ)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    if not _private(folder):
        return None
    entry = folder / f"{PREFIX}{os.getpid()}"
    partial = folder / f".{PREFIX}{os.getpid()}.tmp"
    try:
        partial.write_text(str(socket.absolute()) + "\n", encoding="utf-8")
        partial.replace(entry)
    except OSError:
        return None
    return entry


def unregister(entry: Path | None) -> None:
    if entry is not None:
        entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def registered(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The admin sockets of this user's running servers (entries of dead servers are removed)."""
    folder = runtime_dir(environ)
    if not _private(folder):
        return []
    sockets: list[Path] = []
    for entry in sorted(folder.glob(f"{PREFIX}*")):
        pid = entry.name[len(PREFIX):]
        try:
            path = Path(entry.read_text(encoding="utf-8").strip())
            live = pid.isdigit() and _alive(int(pid)) and stat.S_ISSOCK(path.stat().st_mode)
        except OSError:
            live = False
        if live:
            sockets.append(path)
        else:
            entry.unlink(missing_ok=True)
    return sockets
