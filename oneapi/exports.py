"""Files oneapi writes for the operator. Voucher keys are money: exports are written to a new file created 0600
in the target's directory (O_EXCL and O_NOFOLLOW, so nothing that already lies there is opened), then renamed
into place. A symlink at the target is replaced, never followed: a link planted in a shared directory cannot
make the keys land in a file of someone else's choosing, or widen who reads them. The CLI and the TUI alike."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

from oneapi import humanize


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable only by the owner, replacing (not following) what is there."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def save_vouchers(path: Path, vouchers: list[dict[str, Any]]) -> None:
    """Write the vouchers as :func:`oneapi.humanize.voucher_export` formats them (ValueError: unknown suffix)."""
    write_private(path, humanize.voucher_export(path, vouchers))
