"""oneapi.store.journal: the append-only local file of charges (real files in a temporary directory)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from oneapi.store import journal as journal_module
from oneapi.store.journal import Journal, JournalError, Record


def records(journal: Journal) -> list[Record]:
    return [record for segment in journal.earlier_segments() for record in segment]


def test_records_are_numbered_and_read_back_in_order(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.set_header({"columns": ["q"]})
    numbers = [journal.append(["C", i]) for i in range(5)]
    assert numbers == [1, 2, 3, 4, 5]
    journal.close()
    again = Journal.open(tmp_path)
    assert [(r.seq, r.payload) for r in records(again)] == [(1, ["C", 0]), (2, ["C", 1]), (3, ["C", 2]),
                                                              (4, ["C", 3]), (5, ["C", 4])]
    assert all(r.header == {"columns": ["q"]} for r in records(again))
    assert again.id == journal.id  # the identity the database's marks refer to survives restarts
    assert again.append(["C", 9]) == 6  # numbering goes on
    again.close()


def test_a_record_is_in_the_file_when_append_returns(tmp_path: Path) -> None:
    """No buffering in the process: what append wrote survives a kill (the file is read behind its back)."""
    journal = Journal.open(tmp_path)
    journal.append(["C", 42, "你好", "\ud800"])  # a lone surrogate is escaped, not an encoding error
    (segment,) = [p for p in tmp_path.glob("*.jsonl")]
    header, line = segment.read_text(encoding="ascii").splitlines()
    assert json.loads(header) == {} and json.loads(line) == [1, "C", 42, "你好", "\ud800"]
    journal.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(["C", 1])
    journal.append(["C", 2])
    journal.close()
    (segment,) = tmp_path.glob("*.jsonl")
    with segment.open("ab") as fh:
        fh.write(b'[3, "C", 3')  # a power loss in the middle of a write
    again = Journal.open(tmp_path)
    assert [r.payload for r in records(again)] == [["C", 1], ["C", 2]]
    again.close()


def test_one_process_per_directory(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    with pytest.raises(JournalError, match="another oneapi process"):
        Journal.open(tmp_path)
    journal.close()
    Journal.open(tmp_path).close()  # released on close


def test_an_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="cannot use the journal directory"):
        Journal.open(blocker / "journal")


def test_segments_rotate_and_are_deleted_once_the_database_holds_them(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "SEGMENT_BYTES", 200)
    journal = Journal.open(tmp_path)
    for i in range(30):
        journal.append(["C", i, "x" * 40])
    journal.sync()
    segments = sorted(tmp_path.glob("*.jsonl"))
    assert len(segments) > 3
    journal.forget_through(10)
    left = sorted(tmp_path.glob("*.jsonl"))
    assert len(left) < len(segments)
    journal.close()
    # what is left still holds every record above 10
    again = Journal.open(tmp_path)
    assert {r.seq for r in records(again)} >= set(range(11, 31))
    again.close()


def test_reset_empties_the_journal_and_numbering_continues(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(["C", 1])
    journal.close()
    again = Journal.open(tmp_path)
    old_id = again.id
    assert again.reset(applied_through=500) != old_id  # a new identity: a copy of this directory shares no marks
    assert not list(tmp_path.glob("*.jsonl"))
    assert again.append(["C", 2]) == 501
    assert (tmp_path / "id").read_text().strip() == again.id
    again.close()


def test_set_aside_keeps_refused_changes_durably(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    path = journal.set_aside({"log": {"prompt_tokens": 2**70}}, "OverflowError: too large")
    record = json.loads(path.read_text().splitlines()[0])
    assert record["reason"] == "OverflowError: too large" and record["item"]["log"]["prompt_tokens"] == 2**70
    assert os.stat(path).st_mode & 0o777 == 0o600
    journal.close()
    # set-aside rows are not charges to replay
    again = Journal.open(tmp_path)
    assert records(again) == []
    again.close()


def test_close_is_idempotent(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(["C", 1])
    journal.close()
    journal.close()


def test_a_refused_write_raises_and_a_later_record_starts_a_new_segment(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal.open(tmp_path)
    (tmp_path / f"{1:020d}.jsonl").symlink_to("/dev/full")  # the first segment lands on a full disk
    with pytest.raises(OSError):
        journal.append(["C", 1])
    with pytest.raises(OSError):  # at once again: no new file per request while the disk refuses
        journal.append(["C", 2])
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    monkeypatch.setattr(journal_module, "ROTATE_RETRY_SECONDS", 0.0)  # a while later
    assert journal.append(["C", 3]) == 3  # a new file: the refused bytes cannot run into this record
    journal.close()
    (tmp_path / f"{1:020d}.jsonl").unlink()
    again = Journal.open(tmp_path)
    assert [(r.seq, r.payload) for r in records(again)] == [(3, ["C", 3])]
    again.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("fsync_each", [False, True])
def test_rotation_keeps_no_descriptor_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync_each: bool) -> None:
    monkeypatch.setattr(journal_module, "SEGMENT_BYTES", 100)
    journal = Journal.open(tmp_path, fsync_each=fsync_each)
    journal.append(["C", 0, "x" * 100])
    before = open_descriptors()
    for i in range(20):
        journal.append(["C", i, "x" * 100])  # every record starts a segment
        if not fsync_each:
            journal.sync()
    assert open_descriptors() == before
    journal.close()


def test_a_clean_close_with_everything_written_leaves_nothing_to_replay(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(["C", 1])
    journal.close(everything_written=True)
    assert not list(tmp_path.glob("0*.jsonl"))
    again = Journal.open(tmp_path)
    assert records(again) == []
    again.close()


def test_a_damaged_identity_is_replaced(tmp_path: Path) -> None:
    tmp_path.joinpath("id").write_text("")  # a crash while the first start wrote it
    journal = Journal.open(tmp_path)
    assert len(journal.id) == 32 and tmp_path.joinpath("id").read_text().strip() == journal.id
    journal.close()
