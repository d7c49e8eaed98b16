"""Database addresses: One API's ``SQL_DSN`` forms turned into one typed description.

Accepted, as One API does:

* ``""`` → SQLite (the caller supplies the file path);
* ``postgres://`` / ``postgresql://`` URLs → PostgreSQL;
* Go MySQL driver DSNs ``user:pass@tcp(host:port)/db?params`` (also ``unix(/path)``) and ``mysql://`` URLs
  → MySQL/MariaDB.

oneapi also accepts ``sqlite:///abs/path.db`` and ``sqlite:relative.db`` so ``LOG_SQL_DSN`` can put the logs
in a second SQLite file. Parsing is pure; a bad DSN raises :class:`DsnError` with the reason, never a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

Kind = Literal["sqlite", "mysql", "postgres"]

# Go driver parameters that only matter to Go (time parsing, location); we read times as integers anyway.
_GO_ONLY_PARAMS = {"parseTime", "loc", "timeout", "readTimeout", "writeTimeout", "collation",
                   "allowNativePasswords", "multiStatements", "interpolateParams"}


class DsnError(ValueError):
    """The DSN cannot be understood."""


@dataclass(frozen=True)
class DatabaseSpec:
    kind: Kind
    database: str                       # database name, or the SQLite file path
    user: str = ""
    password: str = field(default="", repr=False)
    host: str = ""
    port: int | None = None
    unix_socket: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """Where the data lives, safe to log (no password)."""
        if self.kind == "sqlite":
            return f"sqlite:{self.database}"
        where = self.unix_socket or f"{self.host}:{self.port or ''}".rstrip(":")
        return f"{self.kind}://{self.user + '@' if self.user else ''}{where}/{self.database}"


def parse(dsn: str, sqlite_path: str = "one-api.db") -> DatabaseSpec:
    dsn = dsn.strip()
    if not dsn:
        return DatabaseSpec("sqlite", sqlite_path)
    lowered = dsn.lower()
    if lowered.startswith("sqlite:"):
        path = dsn[len("sqlite:"):]
        if path.startswith("///"):
            path = path[2:]
        elif path.startswith("//"):
            raise DsnError("sqlite DSN must be sqlite:///absolute/path or sqlite:relative/path")
        if not path:
            raise DsnError("sqlite DSN has no file path")
        return DatabaseSpec("sqlite", path)
    if lowered.startswith(("postgres://", "postgresql://")):
        return _parse_url(dsn, "postgres", 5432)
    if lowered.startswith("mysql://"):
        return _parse_url(dsn, "mysql", 3306)
    if "://" in dsn:
        scheme = dsn.split("://", 1)[0]
        # name the scheme only if it is one: text before "://" may hold Go-style credentials
        shown = f" {scheme!r}" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) else ""
        raise DsnError(f"unsupported database scheme{shown} "
                       "(use postgres://, mysql:// or user:pass@tcp(host:port)/db)")
    return _parse_go_mysql(dsn)


def _parse_url(dsn: str, kind: Kind, default_port: int) -> DatabaseSpec:
    parts = urlsplit(dsn)
    try:
        port = parts.port
    except ValueError:
        raise DsnError("the port is not a number between 0 and 65535") from None
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise DsnError("no database name after the host (…/dbname)")
    params = tuple(parse_qsl(parts.query, keep_blank_values=True))
    socket = dict(params).get("host", "") if not parts.hostname else ""
    return DatabaseSpec(kind, database, user=unquote(parts.username or ""),
                        password=unquote(parts.password or ""), host=parts.hostname or ("" if socket else "localhost"),
                        port=port or default_port, unix_socket=socket,
                        params=tuple((k, v) for k, v in params if k != "host"))


def _parse_go_mysql(dsn: str) -> DatabaseSpec:
    # Go's mysql.ParseDSN: the last '/' separates the database; the last '@' before it the credentials.
    slash = dsn.rfind("/")
    if slash < 0:
        raise DsnError("not a DSN: expected user:pass@tcp(host:port)/dbname, mysql://… or postgres://…")
    head, tail = dsn[:slash], dsn[slash + 1:]
    database, _, query = tail.partition("?")
    if not database:
        raise DsnError("no database name after '/'")
    user = password = ""
    at = head.rfind("@")
    if at >= 0:
        user, _, password = head[:at].partition(":")
        head = head[at + 1:]
    net, addr = "tcp", "127.0.0.1:3306"
    if head:
        if "(" in head:
            if not head.endswith(")"):
                raise DsnError("address must look like tcp(host:port) or unix(/path/to/socket)")
            net, addr = head[:-1].split("(", 1)
        else:
            net = head
    params = tuple((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _GO_ONLY_PARAMS)
    if net == "unix":
        return DatabaseSpec("mysql", database, user=user, password=password, unix_socket=addr, params=params)
    if net not in ("tcp", "tcp6"):
        raise DsnError(f"unsupported network {net!r} (use tcp or unix)")
    host, port = addr, 3306
    if addr.startswith("["):  # [ipv6]:port
        host, _, rest = addr[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:])
    elif ":" in addr:
        host, _, port_text = addr.rpartition(":")
        port = _port(port_text)
    return DatabaseSpec("mysql", database, user=user, password=password, host=host or "127.0.0.1",
                        port=port, params=params)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise DsnError("the port is not a number between 1 and 65535")
    return int(text)
