"""Process logging: stderr always, plus a rotating ``oneapi.log`` when ``--log-dir`` is given; every line masked
by :mod:`oneapi.redaction`."""

from __future__ import annotations

import logging
import logging.handlers
import time
from pathlib import Path

from aiohttp.http_exceptions import HttpProcessingError

from oneapi.redaction import RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MALFORMED_REPORT_SECONDS = 10.0


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a request that is not HTTP (a bad header byte, an encoding it cannot decode) as an error with
    its traceback, before any handler runs. That is the client's fault, and a hostile client can send thousands:
    one warning line instead, at most every MALFORMED_REPORT_SECONDS, with the number held back."""

    def __init__(self) -> None:
        super().__init__()
        self._last = -MALFORMED_REPORT_SECONDS
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        now = time.monotonic()
        if now - self._last < MALFORMED_REPORT_SECONDS:
            self._held += 1
            return False
        held, self._held, self._last = self._held, 0, now
        reason = " ".join(str(exc.message).split())[:200]
        record.msg = "malformed HTTP request refused with %d: %s%s"
        record.args = (exc.code, reason, f" ({held} more since the last report)" if held else "")
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_logging(log_dir: str = "", debug: bool = False, debug_sql: bool = False, worker: int | None = None) -> None:
    """``worker``: with ``--workers``, which one this process is: its lines say so, and its log file is its own
    (``oneapi.log`` for worker 0, ``oneapi.worker-N.log`` for the others: rotation is not safe across processes)."""
    line = FORMAT if worker is None else FORMAT.replace("%(levelname)s", f"w{worker} %(levelname)s", 1)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    # Every line is masked (known secrets and credential shapes, DEBUG_SQL's parameters included) before any
    # handler writes it.
    redacting = RedactingFilter()
    stderr = logging.StreamHandler()
    stderr.setFormatter(logging.Formatter(line))
    stderr.addFilter(redacting)
    root.addHandler(stderr)
    if log_dir:
        path = Path(log_dir).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        name = "oneapi.log" if not worker else f"oneapi.worker-{worker}.log"
        rotating = logging.handlers.RotatingFileHandler(path / name, maxBytes=20 * 1024 * 1024,
                                                        backupCount=10, encoding="utf-8")
        rotating.setFormatter(logging.Formatter(line))
        rotating.addFilter(redacting)
        root.addHandler(rotating)
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestFilter())
    logging.getLogger("peewee").setLevel(logging.DEBUG if debug_sql else logging.WARNING)
    logging.getLogger("oneapi.access").setLevel(logging.INFO if debug else logging.WARNING)
