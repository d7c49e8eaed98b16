"""Write-behind accounting: applying a batch of charges and log rows in one go, exactly once.

Every change is relative (``quota = quota + ?``), so batches from several nodes and admin edits interleave
without losing an update.

Exactly once: a batch carries the journal's sequence numbers up to which it holds the charges (``seq``) and
the log rows (``log_seq``). The same transaction that applies it raises the journal's marks in
``oneapi_journal_marks`` (the log mark lives in the logs database, which ``LOG_SQL_DSN`` may separate), after
reading them under a row lock: a batch whose mark is already there is not applied again. So a replay after a
crash applies exactly what the database lacks (see ``store/journal.py``), and so does a retry after a commit
whose acknowledgement was lost (the connection dropped after COMMIT reached the server).

One bad row never blocks the others: a batch first runs whole inside a savepoint; if the database refuses a
value (out of a column's range, text it cannot store), each change is retried in a savepoint of its own and
the ones still refused are handed to ``set_aside`` — kept in a file and reported, never dropped silently —
while the rest commit. When every change of a batch is refused one by one, the fault is not in the rows: the
batch fails instead. Connection and lock errors are not row problems either: they fail the batch, which the
ledger retries whole. (A retry after a failed commit may set the same change aside again: every entry names
its batch, so an operator applies each batch's entries once.)
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from oneapi.store.database import Database
from oneapi.store.journal import Record
from oneapi.store.queries.common import exact, first

ACCOUNTS, LOGS = "accounts", "logs"

INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
TEXT_MAX = 16_384  # characters of a log's content: far below MySQL TEXT's 65,535 bytes in any script

# What the database says when a value, not the connection, is the problem. sqlite3 raises OverflowError for
# an int beyond 64 bits and every driver a UnicodeEncodeError for a lone surrogate; neither is a DB-API error.
# ValueError too: psycopg2 refuses a NUL character with it. (A bug that raised it for every row would fail the
# batch instead: see _apply_deltas.)
ROW_ERRORS: tuple[type[BaseException], ...] = (pw.DataError, pw.IntegrityError, OverflowError, UnicodeError,
                                               ValueError)

SetAside = Callable[[dict[str, Any], str], None]


@dataclass(slots=True)
class LogRow:
    """One row of the ``logs`` table (SPEC 3). Consume logs come from the relay, the others from services."""

    user_id: int
    type: int
    content: str = ""
    username: str = ""
    token_name: str = ""
    model_name: str = ""
    quota: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    channel_id: int = 0
    request_id: str = ""
    elapsed_time: int = 0
    is_stream: bool = False
    system_prompt_reset: bool = False
    created_at: int = field(default_factory=lambda: int(time.time()))

    def checked(self) -> LogRow:
        """The row with every value fit for its column: integers clamped to their SQL type, text cut to
        the column's length and made encodable (a lone surrogate from a client becomes U+FFFD). The row itself
        when it fits already (the common case, on the hot path)."""
        if self._fits():
            return self
        return LogRow(user_id=_clamp(self.user_id, INT32_MAX), type=_clamp(self.type, INT32_MAX),
                      content=_text(self.content, TEXT_MAX), username=_text(self.username, 191),
                      token_name=_text(self.token_name, 191), model_name=_text(self.model_name, 191),
                      quota=_clamp(self.quota, INT64_MAX), prompt_tokens=_clamp(self.prompt_tokens, INT32_MAX),
                      completion_tokens=_clamp(self.completion_tokens, INT32_MAX),
                      channel_id=_clamp(self.channel_id, INT32_MAX), request_id=_text(self.request_id, 64),
                      elapsed_time=_clamp(self.elapsed_time, INT64_MAX), is_stream=bool(self.is_stream),
                      system_prompt_reset=bool(self.system_prompt_reset),
                      created_at=_clamp(self.created_at, INT64_MAX))

    def _fits(self) -> bool:
        # Straight-line on purpose: this runs for every settled request. A value of another type fails it.
        try:
            return self._within_columns()
        except TypeError:
            return False

    def _within_columns(self) -> bool:
        return (-INT32_MAX <= self.user_id <= INT32_MAX and -INT32_MAX <= self.type <= INT32_MAX
                and -INT32_MAX <= self.prompt_tokens <= INT32_MAX
                and -INT32_MAX <= self.completion_tokens <= INT32_MAX
                and -INT32_MAX <= self.channel_id <= INT32_MAX and -INT64_MAX <= self.quota <= INT64_MAX
                and -INT64_MAX <= self.elapsed_time <= INT64_MAX and -INT64_MAX <= self.created_at <= INT64_MAX
                and len(self.username) <= 191 and len(self.token_name) <= 191 and len(self.model_name) <= 191
                and len(self.request_id) <= 64 and len(self.content) <= TEXT_MAX
                and _storable(self.username + self.token_name + self.model_name + self.request_id + self.content)
                and type(self.is_stream) is bool and type(self.system_prompt_reset) is bool)

    def values(self) -> tuple[Any, ...]:
        """The values in ``LOG_COLUMNS`` order (the journal's and the INSERT's)."""
        return (self.user_id, self.type, self.content, self.username, self.token_name, self.model_name,
                self.quota, self.prompt_tokens, self.completion_tokens, self.channel_id, self.request_id,
                self.elapsed_time, self.is_stream, self.system_prompt_reset, self.created_at)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(LOG_COLUMNS, self.values(), strict=True))

    @classmethod
    def from_values(cls, columns: Iterable[str], values: Iterable[Any]) -> LogRow:
        """A row written by a journal whose header named ``columns`` (a column this build lacks is dropped)."""
        return cls(**{c: v for c, v in zip(columns, values, strict=True) if c in LOG_COLUMNS})


LOG_COLUMNS = tuple(f.name for f in dataclasses.fields(LogRow))


def _clamp(value: Any, high: int) -> int:
    number = int(value)
    return max(-high - 1, min(high, number))


def _storable(text: str) -> bool:
    """Text every database stores: encodable as UTF-8, no NUL (PostgreSQL's text refuses it)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: Any, limit: int) -> str:
    text = str(value)[:limit].replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


@dataclass
class Batch:
    """Deltas keyed by id. users: [quota, used_quota, request_count]; tokens: [remain_quota, used_quota,
    accessed_time (absolute, max wins)] keyed by (id, key) and applied only to the row that still has that key
    (an id SQLite gave to a new token after the old one was deleted is not charged for the old one's requests);
    channels: used_quota. ``seq`` / ``log_seq``: the journal's sequence numbers up to which this batch holds
    the charges and the log rows (0: none journaled).

    ``generation`` is set by the ledger when it submits the batch; ``deltas_in_db`` / ``logs_in_db`` by the
    store's writer thread once the database holds them (the ledger reads them to know what a reload saw)."""

    users: dict[int, list[int]] = field(default_factory=dict)
    tokens: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    channels: dict[int, int] = field(default_factory=dict)
    logs: list[LogRow] = field(default_factory=list)
    seq: int = 0
    log_seq: int = 0
    generation: int = 0
    deltas_in_db: bool = False
    logs_in_db: bool = False

    def empty(self) -> bool:
        return not (self.users or self.tokens or self.channels or self.logs or self.seq or self.log_seq)

    def charge(self, user_id: int, token_id: int, token_key: str, limited: bool, channel_id: int, quota: int,
               accessed: int) -> None:
        """One settled request: the user pays ``quota`` and counts a request, the token too (its remaining
        quota only when it is limited), the channel records the use. (Inlined: one call per settled request.)"""
        row = self.users.get(user_id)
        if row is None:
            self.users[user_id] = [-quota, quota, 1]
        else:
            row[0] -= quota
            row[1] += quota
            row[2] += 1
        row = self.tokens.get((token_id, token_key))
        if row is None:
            self.tokens[token_id, token_key] = [-quota if limited else 0, quota, accessed]
        else:
            if limited:
                row[0] -= quota
            row[1] += quota
            if accessed > row[2]:
                row[2] = accessed
        if quota:
            self.channels[channel_id] = self.channels.get(channel_id, 0) + quota

    def user(self, user_id: int, quota: int, used: int = 0, count: int = 0) -> None:
        row = self.users.setdefault(user_id, [0, 0, 0])
        row[0] += quota
        row[1] += used
        row[2] += count

    def token(self, token_id: int, key: str, remain: int, used: int, accessed: int = 0) -> None:
        row = self.tokens.setdefault((token_id, key), [0, 0, 0])
        row[0] += remain
        row[1] += used
        row[2] = max(row[2], accessed)

    def log_rows_only(self) -> Batch:
        """What is left to write of a batch whose deltas the database already holds."""
        return Batch(logs=self.logs, log_seq=self.log_seq, generation=self.generation, deltas_in_db=True)


class LogsNotWrittenError(Exception):
    """The batch's deltas were committed but its log rows were not (only with a separate LOG_SQL_DSN
    database): the caller retries the log rows alone (``Batch.log_rows_only``)."""


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_batch` did: changes set aside, and whether the marks showed a part already applied
    (by an earlier attempt whose acknowledgement was lost)."""

    set_aside: int = 0
    deltas_were_there: bool = False
    logs_were_there: bool = False


# -- applying a batch ----------------------------------------------------------------------------


def apply_batch(db: Database, batch: Batch, journal_id: str, set_aside: SetAside) -> Applied:
    """Commit the deltas and the log rows and raise the journal's marks, skipping a part the marks show is
    already in. With the logs in the main database it is one transaction (all or nothing, so a failed batch
    can be retried whole); otherwise see :class:`LogsNotWrittenError`."""
    same_db = db.logs is db.main
    refused = 0
    deltas_there = logs_there = False
    if not batch.deltas_in_db:
        with db.main.atomic():
            deltas_there = bool(batch.seq) and _locked_mark(db, db.main, journal_id, ACCOUNTS) >= batch.seq
            if not deltas_there:
                refused += _apply_deltas(db, batch, set_aside)
                if batch.seq:
                    _raise_mark(db, db.main, journal_id, ACCOUNTS, batch.seq)
            if same_db:
                logs_there, refused_logs = _write_logs(db, db.main, batch, journal_id, set_aside)
                refused += refused_logs
        batch.deltas_in_db = True
        batch.logs_in_db = same_db
    if not batch.logs_in_db:
        try:
            with db.logs.atomic():
                logs_there, refused_logs = _write_logs(db, db.logs, batch, journal_id, set_aside)
        except Exception as exc:
            raise LogsNotWrittenError(f"{type(exc).__name__}: {exc}") from exc
        refused += refused_logs
        batch.logs_in_db = True
    return Applied(refused, deltas_there, logs_there)


def _write_logs(db: Database, database: pw.Database, batch: Batch, journal_id: str,
                set_aside: SetAside) -> tuple[bool, int]:
    """Insert the batch's log rows and raise the logs mark, unless the mark shows they are in already.
    Returns (whether they were, how many rows were set aside)."""
    if batch.log_seq and _locked_mark(db, database, journal_id, LOGS) >= batch.log_seq:
        return True, 0
    refused = _insert_logs_checked(db, batch.logs, set_aside)
    if batch.log_seq:
        _raise_mark(db, database, journal_id, LOGS, batch.log_seq)
    return False, refused


def _delta_updates(db: Database, batch: Batch) -> list[tuple[dict[str, Any], Callable[[], object]]]:
    """Each account's change as (what it is, how to apply it)."""
    t = db.tables
    updates: list[tuple[dict[str, Any], Callable[[], object]]] = []
    for user_id, (quota, used, count) in batch.users.items():
        if quota or used or count:
            query = t.user.update(quota=t.user.quota + quota, used_quota=t.user.used_quota + used,
                                  request_count=t.user.request_count + count).where(t.user.id == user_id)
            updates.append(({"user_id": user_id, "quota": quota, "used_quota": used, "request_count": count},
                            query.execute))
    for (token_id, key), (remain, used, accessed) in batch.tokens.items():
        fields: dict[Any, Any] = {}
        if remain:
            fields[t.token.remain_quota] = t.token.remain_quota + remain
        if used:
            fields[t.token.used_quota] = t.token.used_quota + used
        if accessed:
            fields[t.token.accessed_time] = accessed
        if fields:
            query = t.token.update(fields).where(t.token.id == token_id, exact(db, t.token.key, key))
            updates.append(({"token_id": token_id, "remain_quota": remain, "used_quota": used}, query.execute))
    for channel_id, used in batch.channels.items():
        if used:
            query = t.channel.update(used_quota=t.channel.used_quota + used).where(t.channel.id == channel_id)
            updates.append(({"channel_id": channel_id, "used_quota": used}, query.execute))
    return updates


def _apply_deltas(db: Database, batch: Batch, set_aside: SetAside) -> int:
    updates = _delta_updates(db, batch)
    try:
        with db.main.atomic():
            for _, apply in updates:
                apply()
        return 0
    except ROW_ERRORS as exc:
        first_error: BaseException = exc
    refused: list[tuple[dict[str, Any], str]] = []
    for what, apply in updates:  # one savepoint each: only the changes the database refuses are set aside
        try:
            with db.main.atomic():
                apply()
        except ROW_ERRORS as exc:
            refused.append(({"change": what, "batch": batch.seq}, _reason(exc)))
    if len(refused) == len(updates) > 1:
        raise first_error  # every change refused: the fault is not in the rows
    for item, reason in refused:
        set_aside(item, reason)
    return len(refused)


def _insert_logs_checked(db: Database, rows: list[LogRow], set_aside: SetAside) -> int:
    """Insert ``rows``; a slice the database refuses is halved until the refused rows stand alone."""
    if not rows:
        return 0
    try:
        with db.logs.atomic():
            insert_logs(db, rows)
        return 0
    except ROW_ERRORS as exc:
        if len(rows) == 1:
            set_aside({"log": rows[0].as_dict()}, _reason(exc))
            return 1
        first_error: BaseException = exc
    refused = []
    for row in rows:
        try:
            with db.logs.atomic():
                insert_logs(db, [row])
        except ROW_ERRORS as exc:
            refused.append((row, _reason(exc)))
    if len(refused) == len(rows):
        raise first_error  # every row refused: the fault is not in the rows
    for row, reason in refused:
        set_aside({"log": row.as_dict()}, reason)
    return len(refused)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


# Rows in one INSERT: within every driver's bound on parameters (SQLite before 3.32: 999; PostgreSQL: 65,535) and
# small enough for MySQL's packet size with long contents.
LOG_ROWS_PER_INSERT = 500


def insert_logs(db: Database, rows: Iterable[LogRow]) -> None:
    """Insert log rows, many per statement. Built as SQL once per size: peewee's per-row query building costs more
    than the insert itself at relay rates. Many rows per statement, not ``executemany``: the drivers let go of the
    GIL for each statement they run, and taking it back from an event loop busy with requests can take a switch
    interval (5 ms), so that a row per statement kept the writer thread from keeping up with ~2,500 requests a
    second (the ledger's backlog grew until requests were refused). The caller owns the transaction."""
    logs = db.logs
    values = [row.checked().values() for row in rows]
    if not values:
        return
    per_statement = min(LOG_ROWS_PER_INSERT, _max_parameters(logs) // len(LOG_COLUMNS))
    columns = ", ".join(c.join(logs.quote) for c in LOG_COLUMNS)
    one_row = "(" + ", ".join([logs.param] * len(LOG_COLUMNS)) + ")"
    head = f"INSERT INTO {'logs'.join(logs.quote)} ({columns}) VALUES "
    # the driver's errors as peewee's, as execute_sql raises them (the wrapper is not in peewee's stubs)
    with pw.__exception_wrapper__:  # type: ignore[attr-defined]
        cursor = logs.cursor()
        for start in range(0, len(values), per_statement):
            chunk = values[start:start + per_statement]
            cursor.execute(head + ", ".join([one_row] * len(chunk)), [value for row in chunk for value in row])


def _max_parameters(db: pw.Database) -> int:
    if isinstance(db, pw.SqliteDatabase):
        return 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
    return 65535


def log_in_transaction(db: Database, rows: Iterable[LogRow]) -> list[LogRow]:
    """Write the log rows of a money move inside the caller's transaction on the main database, so the
    balance and its record commit together or not at all. When the logs live in another database
    (LOG_SQL_DSN) they cannot join the transaction: they are returned for the ledger's journaled queue."""
    checked = [row.checked() for row in rows]
    if db.logs is db.main:
        insert_logs(db, checked)
        return []
    return checked


# -- journal marks -------------------------------------------------------------------------------


def _mark_table(db: Database, database: pw.Database) -> Any:
    return db.tables.journal_mark if database is db.main else db.tables.log_journal_mark


def _locked_mark(db: Database, database: pw.Database, journal_id: str, part: str) -> int:
    """The mark, read under a row lock that holds until the transaction ends (SQLite's IMMEDIATE
    transaction locks the whole database already)."""
    t = _mark_table(db, database)
    query = t.select(t.seq).where(t.journal == journal_id, t.part == part)
    kind = db.spec.kind if database is db.main else db.log_spec.kind
    row = first(query if kind == "sqlite" else query.for_update())
    return int(row["seq"]) if row else 0


def _raise_mark(db: Database, database: pw.Database, journal_id: str, part: str, seq: int) -> None:
    t = _mark_table(db, database)
    now = int(time.time())
    updated = t.update(seq=pw.fn.GREATEST(t.seq, seq) if db.kind != "sqlite" else pw.fn.MAX(t.seq, seq),
                       updated_at=now).where(t.journal == journal_id, t.part == part).execute()
    if not updated:
        t.insert(journal=journal_id, part=part, seq=seq, updated_at=now).execute()


def forget_marks(db: Database, journal_id: str) -> None:
    """A journal replayed and renamed: its marks are of no more use."""
    for table in {db.tables.journal_mark, db.tables.log_journal_mark}:
        table.delete().where(table.journal == journal_id).execute()


def read_marks(db: Database, journal_id: str) -> dict[str, int]:
    """The journal's marks: the highest sequence numbers whose charges and log rows the database holds."""
    marks = {ACCOUNTS: 0, LOGS: 0}
    for table, part in ((db.tables.journal_mark, ACCOUNTS), (db.tables.log_journal_mark, LOGS)):
        row = first(table.select(table.seq).where(table.journal == journal_id, table.part == part))
        if row is not None:
            marks[part] = int(row["seq"])
    return marks


# -- replay --------------------------------------------------------------------------------------


# Journal payloads (``services/ledger.py`` writes them): a settled request, and a log row alone.
CHARGE, LOG_ONLY = "C", "L"
JOURNAL_HEADER = {"journal": 1, "log_columns": list(LOG_COLUMNS)}


def charge_payload(user_id: int, token_id: int, token_key: str, limited: bool, channel_id: int, quota: int,
                   accessed: int, log: LogRow | None) -> list[Any]:
    """A settled request, as the journal keeps it (its request id is in its log row, when it has one)."""
    return [CHARGE, user_id, token_id, token_key, limited, channel_id, quota, accessed,
            log.values() if log is not None else None]


def log_payload(log: LogRow) -> list[Any]:
    return [LOG_ONLY, log.values()]


def batch_from_records(records: Iterable[Record], marks: dict[str, int]) -> Batch:
    """The part of the journal's records the database lacks, as one batch: charges above the accounts mark,
    log rows above the logs mark."""
    batch = Batch()
    for record in records:
        payload, columns = record.payload, record.header.get("log_columns", LOG_COLUMNS)
        log_values = None
        if payload[0] == CHARGE:
            _, user_id, token_id, token_key, limited, channel_id, quota, accessed, log_values = payload
            if record.seq > marks[ACCOUNTS]:
                batch.charge(int(user_id), int(token_id), str(token_key), bool(limited), int(channel_id), int(quota),
                             int(accessed))
                batch.seq = max(batch.seq, record.seq)
        elif payload[0] == LOG_ONLY:
            log_values = payload[1]
        if log_values is not None and record.seq > marks[LOGS]:
            batch.logs.append(LogRow.from_values(columns, log_values))
            batch.log_seq = max(batch.log_seq, record.seq)
    return batch


def charges_in(records: Iterable[Record], above: int) -> int:
    return sum(1 for r in records if r.payload[0] == CHARGE and r.seq > above)


# -- loading accounts ----------------------------------------------------------------------------


def load_user(db: Database, user_id: int) -> dict[str, Any] | None:
    t = db.tables.user
    return first(t.select(t.id, t.username, t.group, t.status, t.role, t.quota, t.used_quota, t.request_count)
                 .where(t.id == user_id))
