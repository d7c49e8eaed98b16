"""Voucher exports (oneapi/exports.py) on a real filesystem: 0600, and a symlink at the target is replaced, never
followed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from oneapi.exports import save_vouchers

VOUCHERS = [{"key": "a" * 32, "name": "promo", "quota": 500_000}]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file\n")
    victim.chmod(0o644)
    link = tmp_path / "vouchers.csv"
    link.symlink_to(victim)
    save_vouchers(link, VOUCHERS)
    assert victim.read_text() == "someone else's file\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not link.is_symlink() and stat.S_IMODE(link.lstat().st_mode) == 0o600
    assert link.read_text().splitlines() == ["key,name,quota", f"{'a' * 32},promo,500000"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt", "vouchers.csv"]  # no temporary left


def test_a_dangling_symlink_does_not_create_its_target(tmp_path: Path) -> None:
    link = tmp_path / "keys.txt"
    link.symlink_to(tmp_path / "elsewhere.txt")
    save_vouchers(link, VOUCHERS)
    assert not (tmp_path / "elsewhere.txt").exists()
    assert link.read_text() == "a" * 32 + "\n" and stat.S_IMODE(link.lstat().st_mode) == 0o600


def test_an_existing_readable_file_is_replaced_by_a_private_one(tmp_path: Path) -> None:
    out = tmp_path / "keys.txt"
    out.write_text("old\n")
    out.chmod(0o644)
    save_vouchers(out, VOUCHERS)
    assert out.read_text() == "a" * 32 + "\n" and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "taken.csv").mkdir()
    with pytest.raises(OSError):
        save_vouchers(tmp_path / "taken.csv", VOUCHERS)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.csv"]
