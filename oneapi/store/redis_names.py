"""What the users of the Redis link name without loading the redis client.

Importing redis-py costs about 170 ms, and a server without ``REDIS_CONN_STRING`` never needs it: the link
(``redis_link``) and the services built on it are imported only when Redis is configured, and everything else
imports its key prefix and its error from here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

PREFIX = "oneapi:"


class RedisUnavailableError(RuntimeError):
    """Redis did not answer (at start: the server exits; while serving: the caller falls back)."""


def node_key(node_id: str) -> str:
    """The heartbeat key of a node (a process): present while it lives."""
    return f"{PREFIX}node:{node_id}"


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return parts.geturl()
