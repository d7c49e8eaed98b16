"""Files oneapi writes for the operator. Voucher keys are money: exports are created 0600 (and an existing
file is narrowed to 0600 before the keys go in), for the CLI and the TUI alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from oneapi import humanize


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(text)
    finally:
        if fd != -1:
            os.close(fd)


def save_vouchers(path: Path, vouchers: list[dict[str, Any]]) -> None:
    """Write the vouchers as :func:`oneapi.humanize.voucher_export` formats them (ValueError: unknown suffix)."""
    write_private(path, humanize.voucher_export(path, vouchers))
