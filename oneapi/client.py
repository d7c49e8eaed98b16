"""The admin-socket client used by the CLI subcommands and the TUI.

It speaks the server's ``/api`` (acting as root) and ``/admin`` routes over the Unix socket. Failures are
exceptions whose ``exit_code`` the CLI uses: :class:`AdminRefused` (1: the server said no; its message shown as
is), :class:`AdminAmbiguous` (2: several servers, say which), :class:`AdminUnavailable` (3: no server answers)
and :class:`AdminForbidden` (4: the socket is another user's, or is not owned by whom we expect).

Finding the socket (:func:`locate`): ``--admin-socket`` / ``ONEAPI_ADMIN_SOCKET`` when given (relative to the data
directory); else ``oneapi.sock`` in the data directory (``ONEAPI_HOME``, else the working directory), as
``oneapi serve`` places it; else the one server this user runs, as noted in the runtime directory
(:mod:`oneapi.runtime`). A ``./oneapi.sock`` nobody listens on (left by a crash) does not hide a running server
noted there.

Trusting it: the admin's commands carry keys and passwords, so before a byte is sent the socket file and the
process listening on it (SO_PEERCRED) must belong to the current user, or to the account that owns the place the
user named: the data directory given as ``ONEAPI_HOME``, the directory of a socket given as ``--admin-socket``
(the account a service runs as). The working directory is never trusted for its owner: anyone may own a shared
directory the admin happens to be in. A socket someone else planted there gets nothing. A server that runs as
another trusted account only answers its own uid, so the client says so ("run the command as OWNER") before
sending anything, rather than letting the server refuse the request.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import stat
import struct
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp

from oneapi import runtime

DEFAULT_SOCKET = "oneapi.sock"

Row = dict[str, Any]  # one record as the API answers it (a channel, a token, a user, a voucher, a log)
Resource = Literal["channel", "token", "user", "redemption"]  # the listed resources: /api/<resource>/


class AdminError(Exception):
    exit_code = 1


class AdminRefused(AdminError):
    """The server answered ``success: false``."""

    exit_code = 1


class AdminAmbiguous(AdminError):
    """Several servers could be meant; the user must choose one."""

    exit_code = 2


class AdminUnavailable(AdminError):
    """Nothing answers on the admin socket."""

    exit_code = 3


class AdminForbidden(AdminError):
    """The socket may not be used: permission denied, or it is not owned by whom we trust."""

    exit_code = 4


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("ONEAPI_HOME") or ".").expanduser()


def socket_path(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The socket named by ``--admin-socket`` or ONEAPI_ADMIN_SOCKET (relative to the data directory), or None."""
    environ = os.environ if environ is None else environ
    name = explicit or environ.get("ONEAPI_ADMIN_SOCKET")
    if not name:
        return None
    path = Path(name).expanduser()
    return path if path.is_absolute() else data_dir(environ) / path


def _is_socket(path: Path) -> bool:
    """True for a socket, and for a path we may not even look at (the connection then says why it fails)."""
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except PermissionError:
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Located:
    """The admin socket to use and the uids it may belong to."""

    path: Path
    trusted: frozenset[int]


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _trusted(*places: Path | None) -> frozenset[int]:
    """The current user and the owners of the places the user named."""
    owners = {_owner(place) for place in places if place is not None}
    return frozenset({os.getuid()} | {uid for uid in owners if uid is not None})


def _answers(path: Path) -> bool:
    """False when nothing listens on the socket file (a crashed server's leftover). Connecting sends nothing, so
    this may be asked of any socket; one we may not open counts as answering (the real connection says why)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True
    return True


def locate(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Located:
    """The admin socket to use and whom to trust (see the module docstring); AdminUnavailable says where it
    looked."""
    environ = os.environ if environ is None else environ
    home = data_dir(environ) if environ.get("ONEAPI_HOME") else None
    named = socket_path(explicit, environ)
    if named is not None:
        named = named.absolute()
        return Located(named, _trusted(home, named.parent))
    default = (data_dir(environ) / DEFAULT_SOCKET).absolute()
    if home is not None and _is_socket(default):
        return Located(default, _trusted(home))
    servers = runtime.registered(environ)
    if _is_socket(default) and not (servers and not _answers(default)):
        return Located(default, _trusted())  # in the working directory: only our own socket is trusted
    if len(servers) == 1:
        return Located(servers[0], _trusted())
    if servers:
        raise AdminAmbiguous(f"several oneapi servers are running ({', '.join(map(str, servers))}); "
                             "choose one with --admin-socket")
    raise AdminUnavailable(f"no oneapi server answers: looked in {default} and "
                           f"{runtime.runtime_dir(environ)} (no running server noted there); start one with "
                           "'oneapi serve', or give --admin-socket or ONEAPI_HOME")


def _describe(uids: Iterable[int]) -> str:
    return " or ".join(sorted(user_name(u) for u in uids))


def _in_own_directory(path: Path, uid: int) -> bool:
    """True when the socket's directory belongs to ``uid`` and nobody else may create files in it: the socket
    is that account's (a service's data directory), not one planted in a shared directory."""
    try:
        info = path.parent.stat()
    except OSError:
        return False
    return info.st_uid == uid and info.st_mode & 0o022 == 0


def run_as(path: Path, uid: int) -> AdminForbidden:
    """The server on ``path`` runs as ``uid`` (not the current user) and answers only that uid."""
    owner = user_name(uid)
    return AdminForbidden(f"permission denied on {path} (owned by {owner}); run the command as {owner}, "
                          f"e.g. sudo -u {owner} oneapi ...")


def check_socket_file(path: Path, trusted: frozenset[int]) -> None:
    """Refuse a path that is not a socket, or a socket owned by someone we do not trust (told to run as its
    owner when it is in the owner's own directory)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AdminUnavailable(f"no oneapi server answers on {path} (no such socket); "
                               "start one with 'oneapi serve'") from None
    except PermissionError:
        raise AdminForbidden(f"permission denied on {path}: its directory is closed to "
                             f"{user_name(os.getuid())}") from None
    if not stat.S_ISSOCK(info.st_mode):
        raise AdminUnavailable(f"no oneapi server answers on {path} (it is not a socket)")
    if info.st_uid not in trusted:
        if _in_own_directory(path, info.st_uid):
            raise run_as(path, info.st_uid)
        raise AdminForbidden(f"refusing {path}: it is owned by {user_name(info.st_uid)}, not by "
                             f"{_describe(trusted)}; it may not be a oneapi server")


def check_listener(path: Path, uid: int, trusted: frozenset[int]) -> None:
    """Refuse the process listening on ``path`` (its uid from SO_PEERCRED) unless it is the current user: a
    trusted other account (a service) is told as "run the command as OWNER", since the server answers only its
    own uid; anyone else may be an impostor."""
    if uid == os.getuid():
        return
    if uid in trusted or _in_own_directory(path, uid):
        raise run_as(path, uid)
    raise AdminForbidden(f"refusing {path}: the process listening there runs as {user_name(uid)}, not as "
                         f"{_describe(trusted)}")


def peer_uid(sock: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


class TrustedUnixConnector(aiohttp.UnixConnector):
    """A Unix connector that sends nothing to a socket it does not trust: the file's owner is checked before
    connecting, the listening process's uid right after, and "permission denied" is told as such."""

    def __init__(self, path: Path, trusted: frozenset[int]) -> None:
        super().__init__(path=str(path))
        self._socket = path
        self._trusted = trusted

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        check_socket_file(self._socket, self._trusted)
        try:
            proto = await super()._create_connection(req, traces, timeout)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, PermissionError):
                raise run_as(self._socket, self._socket.stat().st_uid) from None
            raise
        transport = proto.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        uid = peer_uid(sock) if sock is not None else None
        if transport is not None and uid is not None:
            try:
                check_listener(self._socket, uid, self._trusted)
            except AdminForbidden:
                transport.close()
                raise
        return proto


class AdminClient:
    def __init__(self, path: Path, timeout: float = 30.0, trusted: frozenset[int] | None = None) -> None:
        """``trusted``: the uids the socket may belong to (:func:`locate` says); by default only the current
        user."""
        self.path = path
        self._timeout = timeout
        self._trusted = trusted if trusted is not None else _trusted()
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def located(cls, explicit: str | None = None, timeout: float = 30.0) -> AdminClient:
        """A client of the socket :func:`locate` finds (``explicit``: ``--admin-socket``), trusting whom it says."""
        found = locate(explicit)
        return cls(found.path, timeout, found.trusted)

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _new_session(self, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=TrustedUnixConnector(self.path, self._trusted),
                                     base_url="http://oneapi", timeout=timeout)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._new_session(aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None,
                   envelope: bool = True) -> Any:
        """Call a route; return ``data`` (or the whole answer when ``envelope`` is False)."""
        query = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            async with self._open().request(method, path, json=json_body, params=query) as resp:
                text = await resp.text()
        except (aiohttp.ClientConnectorError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise AdminUnavailable(f"no oneapi server answers on {self.path} ({exc.__class__.__name__}); "
                                   "start one with 'oneapi serve'") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AdminUnavailable(f"the server on {self.path} did not answer: {exc}") from None
        try:
            answer = json.loads(text)
        except ValueError:
            raise AdminRefused(f"unexpected answer (HTTP {resp.status}): {text[:200]}") from None
        if not envelope:
            if isinstance(answer, dict) and answer.get("success") is False:
                raise AdminRefused(str(answer.get("message") or "refused"))
            return answer
        if not isinstance(answer, dict) or not answer.get("success"):
            message = answer.get("message") if isinstance(answer, dict) else None
            raise AdminRefused(str(message or f"HTTP {resp.status}"))
        return answer.get("data")

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any) -> Any:
        return await self.call("POST", path, json_body=body)

    async def put(self, path: str, body: Any, **params: Any) -> Any:
        return await self.call("PUT", path, json_body=body, params=params)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.call("DELETE", path, params=params)

    # -- typed calls: the /api routes the CLI and the TUI use, so that no caller writes a path by hand -------

    async def status(self) -> Row:
        """``/api/status``: the server's public settings (quota per unit, display in currency, ...)."""
        data: Row = await self.get("/api/status")
        return data

    async def page(self, resource: Resource, page: int, **params: Any) -> list[Row]:
        """One page (10 rows) of a resource's listing; ``params`` narrow it (``order`` for users)."""
        rows: list[Row] = await self.get(f"/api/{resource}/", p=page, **params)
        return rows

    async def search(self, resource: Resource, keyword: str = "", **params: Any) -> list[Row]:
        """A resource's rows matching ``keyword`` (or the given fields, e.g. ``username`` for users)."""
        rows: list[Row] = await self.get(f"/api/{resource}/search", keyword=keyword, **params)
        return rows

    async def record(self, resource: Resource, record_id: int) -> Row:
        row: Row = await self.get(f"/api/{resource}/{record_id}")
        return row

    async def create(self, resource: Resource, body: Row) -> Any:
        """Create a record; answers what the route gives (new channels' ids, new vouchers' keys, a token)."""
        return await self.post(f"/api/{resource}/", body)

    async def update(self, resource: Resource, body: Row) -> Any:
        """Update the record ``body["id"]`` names with the other fields of ``body``."""
        return await self.put(f"/api/{resource}/", body)

    async def set_status(self, resource: Resource, record_id: int, status: int) -> Any:
        """Enable or disable a record (tokens and vouchers change only their status; a channel takes it as an
        edit of that one field)."""
        if resource == "channel":
            return await self.put("/api/channel/", {"id": record_id, "status": status})
        return await self.put(f"/api/{resource}/", {"id": record_id, "status": status}, status_only=1)

    async def remove(self, resource: Resource, record_id: int) -> Any:
        return await self.delete(f"/api/{resource}/{record_id}")

    async def manage_user(self, username: str, action: str) -> Any:
        """``promote``, ``demote``, ``enable``, ``disable`` or ``delete`` a user."""
        return await self.post("/api/user/manage", {"username": username, "action": action})

    async def top_up(self, user_id: int, quota: int, remark: str = "") -> Any:
        return await self.post("/api/topup", {"user_id": user_id, "quota": quota, "remark": remark})

    async def test_channel(self, channel_id: int, model: str | None = None) -> Row:
        """One channel's test: One API's bare ``{success, message, time}`` answer (not enveloped)."""
        result: Row = await self.call("GET", f"/api/channel/test/{channel_id}", params={"model": model},
                                      envelope=False)
        return result

    async def test_all_channels(self) -> Any:
        """Start testing every channel (the results arrive as the channels' rows change)."""
        return await self.get("/api/channel/test", scope="all")

    async def update_balance(self, channel_id: int) -> Row:
        """One channel's balance, asked of its provider: One API's bare answer."""
        result: Row = await self.call("GET", f"/api/channel/update_balance/{channel_id}", envelope=False)
        return result

    async def update_all_balances(self) -> Any:
        return await self.get("/api/channel/update_balance")

    async def options(self) -> list[Row]:
        items: list[Row] = await self.get("/api/option/")
        return items

    async def set_option(self, key: str, value: str) -> Any:
        return await self.put("/api/option/", {"key": key, "value": value})

    async def logs(self, page: int = 0, **filters: Any) -> list[Row]:
        """One page of the logs, newest first; ``filters`` are One API's query parameters."""
        rows: list[Row] = await self.get("/api/log/", p=page, **filters)
        return rows

    async def log_stat(self, **filters: Any) -> Row:
        """The quota spent by the logs ``filters`` select."""
        stat: Row = await self.get("/api/log/stat", **filters)
        return stat

    async def stats(self) -> Row:
        """``/admin/stats``: the live counters (requests, tokens, quota, per model and channel)."""
        data: Row = await self.get("/admin/stats")
        return data

    async def channel_types(self) -> list[Row]:
        """``/admin/channel_types``: the channel types this server knows, with their defaults."""
        types: list[Row] = await self.get("/admin/channel_types")
        return types

    async def channel_tests(self) -> Row:
        """``/admin/channel_tests``: the batch test's progress (``running``, ``done``, ``total``)."""
        progress: Row = await self.get("/admin/channel_tests")
        return progress

    async def ping(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.get("/admin/ping")
        return data

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Live events (request logs, system logs, relay errors) until the server goes away, which raises
        :class:`AdminUnavailable` (a server that refuses the stream raises :class:`AdminRefused`). The first
        event, ``{"kind": "connected"}``, comes from this client once the server has accepted the stream, so a
        follower knows it is live (after a reconnection, say) before anything happens."""
        session = self._new_session(aiohttp.ClientTimeout(total=None))
        try:
            try:
                resp = await session.get("/admin/events")
            except (aiohttp.ClientConnectorError, FileNotFoundError, ConnectionRefusedError) as exc:
                raise AdminUnavailable(f"no oneapi server answers on {self.path} ({exc.__class__.__name__})") \
                    from None
            async with resp:
                if resp.status != 200:  # e.g. 503 "too many live event subscribers"
                    try:
                        message = (await resp.json(content_type=None)).get("message")
                    except (ValueError, AttributeError, aiohttp.ClientError):
                        message = None
                    raise AdminRefused(str(message or f"HTTP {resp.status}"))
                yield {"kind": "connected"}
                buffer = b""
                try:
                    async for chunk in resp.content.iter_any():
                        buffer += chunk
                        while b"\n\n" in buffer:
                            raw, buffer = buffer.split(b"\n\n", 1)
                            if raw.startswith(b"data: "):
                                yield json.loads(raw[6:])
                except (aiohttp.ClientError, ConnectionError) as exc:
                    raise AdminUnavailable(f"the server on {self.path} went away ({exc.__class__.__name__})") \
                        from None
            # The stream only ends when the server stops (its last event is {"kind": "shutdown"}).
            raise AdminUnavailable(f"the server on {self.path} stopped")
        finally:
            await session.close()
