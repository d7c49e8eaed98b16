"""The ledger's journal: an append-only local file of charges, so that a killed process loses none.

Why: the ledger writes charges to the database behind the hot path, in batches a fraction of a second apart.
A process killed between a settled request and its batch lost the charge and its log row, though the client
had its answer. Every settle is therefore appended here first, synchronously, before the answer can finish.

How it survives what:

- :meth:`Journal.append` writes one line with ``os.write`` on an ``O_APPEND`` descriptor. When it returns
  the bytes belong to the kernel, so SIGKILL, an OOM kill or a crash of the interpreter loses nothing. (One
  write per record, not one per event-loop iteration: aiohttp sends a short answer within the iteration that
  settles it, so a deferred write would leave a window in which the client has its answer and the charge
  exists nowhere.)
- :meth:`Journal.sync` fsyncs what was written since the last call; the ledger runs it every
  ``JOURNAL_FSYNC_INTERVAL`` seconds off the event loop. A power loss or kernel crash can lose at most that
  interval of charges. With ``fsync_each`` (an interval of 0) every append is fsynced before it returns.

Replay is idempotent: every record has a sequence number, and the database keeps per journal the highest
sequence number whose effect it holds (table ``oneapi_journal_marks``), written in the same transaction as
the batch that carries those records. At start the ledger applies, segment by segment, only what lies above
the marks; then the journal is emptied and takes a new identity (:meth:`reset`), so a data directory copied
elsewhere afterwards never shares marks with this one. Segment files rotate at ``SEGMENT_BYTES``; a segment is
deleted as soon as the marks have passed its last record (:meth:`forget_through`), and all of them when a
shutdown has written everything (:meth:`close` with ``everything_written``).

One process owns a journal directory (an ``flock`` on ``lock``): two servers on one data directory would
otherwise replay each other's charges.

Format: a segment starts with a header line, a JSON object (the writer's ``header``, such as the column names
of the values that follow, so that a newer build reads an older journal); every other line is a JSON array,
``[seq, *payload]``. Arrays, not objects: encoding is on the hot path, and an array of plain values encodes in
a third of the time of the same values keyed by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("oneapi.journal")

SEGMENT_BYTES = 16 * 1024 * 1024
ROTATE_RETRY_SECONDS = 1.0  # after the disk refused a write, how long before a new segment is tried
_SUFFIX = ".jsonl"
SET_ASIDE_FILE = "set-aside.jsonl"
_ID = re.compile(r"[0-9a-f]{32}")


class JournalError(RuntimeError):
    """The journal cannot be used (locked by another process, unreadable, not writable)."""


@dataclass
class _Segment:
    path: Path
    first: int
    last: int


@dataclass(frozen=True)
class Record:
    """One line an earlier run left: its sequence number, what was appended, and its segment's header."""

    seq: int
    payload: list[Any]
    header: dict[str, Any]


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)  # ASCII out: lone surrogates escaped


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")


def _make_record_encoder() -> Callable[[Any, int], list[str]]:
    """The C encoder, built once: ``JSONEncoder.encode`` builds one per call, a third of its cost for a
    journal line. Same output as ``_ENCODER``; the pure-Python one where the accelerator is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return lambda value, _level: [_ENCODER.encode(value)]
    encoder: Callable[[Any, int], list[str]] = make(None, _refuse, json.encoder.encode_basestring_ascii, None,
                                                    ":", ",", False, False, True)
    return encoder


_encode_record = _make_record_encoder()


class Journal:
    """Create with :meth:`open`; the owner replays :meth:`earlier_segments`, calls :meth:`sync` periodically
    (unless ``fsync_each``) and :meth:`close` at the end."""

    def __init__(self, directory: Path, lock_fd: int, journal_id: str, earlier: list[Path],
                 fsync_each: bool) -> None:
        self.directory = directory
        self.id = journal_id
        self._fsync_each = fsync_each
        self._header = b"{}\n"
        self._lock_fd = lock_fd
        self._earlier = earlier  # segments earlier runs left, until reset()
        self._closed_segments: list[_Segment] = []  # rotated out by this run, until forget_through()
        self._seq = 0
        self._fd: int | None = None
        self._segment: _Segment | None = None
        self._size = 0
        self._refused_at = -ROTATE_RETRY_SECONDS
        self._appended = 0  # records appended so far; sync() compares it with what it last fsynced
        self._synced = 0
        self._retired: list[int] = []  # rotated-out descriptors, closed after their final fsync
        self._guard = threading.Lock()  # sync() runs on another thread

    # -- opening and replay ----------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, *, fsync_each: bool = False) -> Journal:
        """Take the journal directory (created 0700 if missing). ``fsync_each``: fsync every append."""
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot use the journal directory {directory}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock_fd)
            raise JournalError(f"another oneapi process is using the journal in {directory}; "
                               "each server needs its own data directory (ONEAPI_HOME)") from None
        try:
            journal_id = _read_id(directory)
        except OSError as exc:
            os.close(lock_fd)
            raise JournalError(f"cannot use the journal directory {directory}: {exc.strerror or exc}") from None
        earlier = sorted(p for p in directory.glob(f"*{_SUFFIX}") if p.name != SET_ASIDE_FILE)
        return cls(directory, lock_fd, journal_id, earlier, fsync_each)

    def set_header(self, header: dict[str, Any]) -> None:
        """What starts every segment written from now on (it comes back with each :class:`Record`)."""
        self._header = (_ENCODER.encode(header) + "\n").encode("ascii")

    def earlier_segments(self) -> Iterator[list[Record]]:
        """The records earlier runs left, one segment at a time and in order, so a long outage's journal is
        replayed in bounded memory (a line torn by a power loss is skipped)."""
        for path in self._earlier:
            records = _read_segment(path)
            if records:
                self._seq = max(self._seq, records[-1].seq)
            yield records

    def reset(self, applied_through: int) -> str:
        """Everything recorded so far is in the database: delete it, take a new identity (returned), and
        number on after ``applied_through`` (the database's marks may be ahead of what is on disk)."""
        for path in self._earlier:
            path.unlink(missing_ok=True)
        self._earlier = []
        self._seq = max(self._seq, applied_through)
        self.id = _write_id(self.directory)
        return self.id

    # -- writing ---------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._seq

    def append(self, payload: list[Any]) -> int:
        """Write ``payload`` (JSON-able values) as the next record; returns its sequence number. Raises
        OSError when the disk refuses (full, failing): the next record then starts a new segment, so a torn
        line never runs into the records after it (tried again at most every ROTATE_RETRY_SECONDS)."""
        self._seq += 1
        line = ("".join(_encode_record([self._seq, *payload], 0)) + "\n").encode("ascii")
        try:
            if self._fd is None or self._size >= SEGMENT_BYTES:
                if time.monotonic() - self._refused_at < ROTATE_RETRY_SECONDS:
                    raise OSError(28, "the journal's disk refused a write a moment ago")
                self._rotate()
            fd = self._fd
            assert fd is not None and self._segment is not None
            self._write(fd, line)
            if self._fsync_each:
                os.fsync(fd)
        except OSError:
            self._size = SEGMENT_BYTES
            self._refused_at = time.monotonic()
            raise
        self._segment.last = self._seq
        self._appended += 1  # no lock: one writer, and sync() only compares it
        return self._seq

    def _write(self, fd: int, line: bytes) -> None:
        written = os.write(fd, line)
        while written < len(line):  # a regular file takes it all, but never assume
            written += os.write(fd, line[written:])
        self._size += len(line)

    def _rotate(self) -> None:
        path = self.directory / f"{self._seq:020d}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with self._guard:
            old = self._fd
            if old is not None and self._segment is not None:
                self._closed_segments.append(self._segment)
                if self._fsync_each:  # already on disk: nothing for sync() to wait for
                    os.close(old)
                else:
                    self._retired.append(old)
            self._fd = fd
            self._segment = _Segment(path, self._seq, self._seq - 1)
            self._size = 0
        self._write(fd, self._header)

    def sync(self) -> None:
        """fsync what was appended since the last call (run off the event loop). Counting before the fsync
        means an append racing with it is fsynced again next time, never missed."""
        appended = self._appended
        with self._guard:
            current = self._fd
            retired, self._retired = self._retired, []
        for fd in retired:  # rotated out: their last records are fsynced before they close
            with contextlib.suppress(OSError):
                os.fsync(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        if current is not None and appended != self._synced:
            with self._guard:  # not closed under our feet by close()
                if self._fd == current:
                    with contextlib.suppress(OSError):
                        os.fsync(current)
        if retired or appended != self._synced:
            _fsync_directory(self.directory)  # new segment files' directory entries
        self._synced = appended

    def forget_through(self, seq: int) -> None:
        """The database holds every record up to ``seq``: delete the rotated-out segments it covers."""
        keep = []
        for segment in self._closed_segments:
            if segment.last <= seq:
                segment.path.unlink(missing_ok=True)
            else:
                keep.append(segment)
        self._closed_segments = keep

    # -- rows the database refused ---------------------------------------------------------------

    def set_aside(self, item: dict[str, Any], reason: str) -> Path:
        """Keep a change the database refused (a value out of its column's range, say) in
        ``set-aside.jsonl``, durably, so the batch it came with can be written without it. Rare: written
        for people, with a time and the reason."""
        path = self.directory / SET_ASIDE_FILE
        line = json.dumps({"at": int(time.time()), "journal": self.id, "reason": reason, "item": item},
                          default=str) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    def close(self, everything_written: bool = False) -> None:
        """fsync and close everything, and release the directory. ``everything_written``: the database holds
        every record, so the segments go too (the next start has nothing to replay). Idempotent."""
        if self._lock_fd < 0:
            return
        self.sync()
        with self._guard:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
        if everything_written:
            segments = [*self._closed_segments, *([self._segment] if self._segment else [])]
            for segment in segments:
                segment.path.unlink(missing_ok=True)
            self._closed_segments = []
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
        self._lock_fd = -1

    def unwritten_count(self, applied_through: int) -> int:
        """How many records lie above ``applied_through`` (for the shutdown report)."""
        return max(0, self._seq - applied_through)


def _read_id(directory: Path) -> str:
    """The journal's identity, created on first use; an unreadable one (a crash while writing it) is
    replaced, which is safe: only the records of a journal with its identity can be replayed, and a
    damaged identity file means nothing was journaled under it yet."""
    path = directory / "id"
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    return text if _ID.fullmatch(text) else _write_id(directory)


def _write_id(directory: Path) -> str:
    """A fresh identity, written atomically (temporary file, fsync, rename)."""
    journal_id = uuid.uuid4().hex
    temporary = directory / "id.new"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (journal_id + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, directory / "id")
    _fsync_directory(directory)
    return journal_id


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read_segment(path: Path) -> list[Record]:
    records: list[Record] = []
    header: dict[str, Any] = {}
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = json.loads(raw)
                if isinstance(line, dict):
                    header = line
                    continue
                records.append(Record(int(line[0]), line[1:], header))
            except (ValueError, IndexError, TypeError):
                log.warning("journal %s line %d is unreadable (torn by a crash?); skipped", path, number)
    records.sort(key=lambda r: r.seq)
    return records
