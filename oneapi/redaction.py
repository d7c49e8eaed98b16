"""Secrets kept out of what leaves the process: log lines, client-facing errors, live events.

Two nets, because no single one catches everything:

* **Known values.** Channel keys (and each part of an ``AK|SK`` key), secret options, exchanged upstream
  credentials and the configuration's own secrets are registered as they become known (:data:`redactor`), and
  every occurrence is replaced, whatever the text around it (an upstream echoing its ``Authorization`` header, a
  Baidu token URL with ``client_secret=`` in an exception message).
* **Shapes.** Credentials oneapi mints or relays have recognisable forms: bcrypt hashes, relay keys (48
  alphanumerics), ``sk-`` keys, JWTs, ``Bearer`` values and credential-bearing URL parameters. These are masked
  without being registered, so a key that exists only on another node never reaches a log line either.

SQL parameters are a third case: a value bound for a secret column travels as :class:`Secret` (the store's
secret fields make it so), and the log filter prints it as :data:`MASK` (``DEBUG_SQL``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Final

MASK: Final = "[redacted]"
MIN_SECRET = 8  # shorter registered parts (an app id, a region) are not secrets and would mask ordinary words
MAX_KNOWN = 20_000  # bounded: the oldest registrations go first


class Secret(str):
    """A value bound for a secret column: drivers send it as the ``str`` it is; the log filter masks it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


_SHAPES = re.compile(
    r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"                                   # bcrypt hash
    r"|\beyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]{8,}"                              # JWT (Zhipu's signed tokens)
    r"|\bsk-[A-Za-z0-9_\-]{8,}"                                             # sk- keys (OpenAI, Anthropic, ours)
    r"|(?<![A-Za-z0-9])[A-Za-z0-9]{48}(?![A-Za-z0-9])"                      # relay keys as oneapi mints them
    r"|(?i:(?<=\bbearer )|(?<=\bbasic ))[^\s\"',;]{6,}"                      # Authorization values
    r"|(?P<name>(?i:(?<![\w-])(?:key|api_?key|access_token|client_secret|client_id|authorization|"
    r"signature|secret|token|password)=))[^&\s\"'#,]+"                       # credentials in URLs and pairs
)
"""32-hex values (access tokens, voucher codes) have no shape of their own here: journal ids look the same,
and the log must keep naming those. They reach the log only as SQL parameters, masked as :class:`Secret`."""


def _shape(match: re.Match[str]) -> str:
    name = match.group("name")
    return name + MASK if name else MASK


class Redactor:
    """The registry of known secret values, and the masking of text with it and with the shapes above."""

    def __init__(self) -> None:
        self._known: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._ordered: tuple[str, ...] = ()

    def register(self, *values: str | None) -> None:
        """Mask these values from now on (blank and short ones are ignored)."""
        added = False
        with self._lock:
            for value in values:
                value = (value or "").strip()
                if len(value) < MIN_SECRET:
                    continue
                if value in self._known:
                    self._known.move_to_end(value)
                    continue
                self._known[value] = None
                added = True
                while len(self._known) > MAX_KNOWN:
                    self._known.popitem(last=False)
            if added:  # longest first, so a whole key is masked before any part of it
                self._ordered = tuple(sorted(self._known, key=len, reverse=True))

    def register_key(self, key: str | None) -> None:
        """A channel key: the whole, each line of a multi-key text, and each part of ``AK|SK``-style keys."""
        if not key:
            return
        self.register(key, *re.split(r"[\s|,;:]+", key), *re.split(r"[\s|,;:.]+", key))

    def register_many(self, values: Iterable[str | None]) -> None:
        self.register(*values)

    def mask(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        return _SHAPES.sub(_shape, text) if text else text

    def mask_value(self, value: Any) -> Any:
        """``value`` with every string inside it masked (error objects passed on from an upstream)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.mask_value(v) for v in value]
        return value


redactor = Redactor()
"""The process's registry: log filters, client errors and events all mask with it."""


def _unbind(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, (list, tuple)):
        return type(value)(_unbind(v) for v in value) if isinstance(value, list) else tuple(_unbind(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Masks a record's message, exception and stack text before any handler formats it.

    Installed on each handler (a filter on a logger does not see its children's records). The message is
    rendered here, once; the record then carries the masked text without arguments."""

    def __init__(self, registry: Redactor = redactor) -> None:
        super().__init__()
        self._registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):  # a record passes through several handlers
            return True
        msg = record.msg
        if isinstance(msg, tuple) and len(msg) == 2:  # peewee's DEBUG_SQL records: (sql, params)
            msg = (msg[0], _unbind(msg[1]))
        try:
            text = (str(msg) % _unbind(record.args)) if record.args else str(msg)
        except (TypeError, ValueError, KeyError):
            text = f"{msg} {record.args!r}"
        record.msg, record.args = self._registry.mask(text), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:  # formatters use the text once it is there
            record.exc_text = self._registry.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._registry.mask(record.stack_info)
        record._redacted = True
        return True
