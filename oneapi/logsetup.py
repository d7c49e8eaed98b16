"""Process logging: stderr always, plus a rotating ``oneapi.log`` when ``--log-dir`` is given."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_dir: str = "", debug: bool = False, debug_sql: bool = False) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler()
    stderr.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stderr)
    if log_dir:
        path = Path(log_dir).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(path / "oneapi.log", maxBytes=20 * 1024 * 1024,
                                                        backupCount=10, encoding="utf-8")
        rotating.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(rotating)
    logging.getLogger("peewee").setLevel(logging.DEBUG if debug_sql else logging.WARNING)
    logging.getLogger("oneapi.access").setLevel(logging.INFO if debug else logging.WARNING)
