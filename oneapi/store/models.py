"""peewee models with One API's table and column names, so an existing One API database opens as is.

The classes below are *unbound* schemas. :func:`bind_tables` makes per-database subclasses, so two stores
(tests, or a logs table in its own database) never share global binding state.

Index names follow GORM's ``idx_<table>_<column>`` convention: opening a database that One API created finds
its indexes already there instead of adding duplicates (see ``migrations.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import peewee as pw

from oneapi.redaction import Secret


def _as_secret(value: Any) -> Any:
    """Values bound for a credential column travel as :class:`Secret`: drivers send the string, the log
    filter prints it masked (``DEBUG_SQL``)."""
    return Secret(value) if type(value) is str else value


class SecretField(pw.CharField):
    """A ``CHAR(n)`` column holding a credential, compared as the exact string given.

    peewee's ``FixedCharField`` strips and cuts a value to the column's length before sending it, so a
    lookup of ``KEY`` + any junk found ``KEY`` (issue: one token, many spellings, many balances). This field
    sends values unchanged; lookups go through ``queries.common.exact`` for a byte-wise comparison whatever
    the collation. Values read back lose the blank padding PostgreSQL's ``char(n)`` adds.
    """

    field_type = "CHAR"

    def db_value(self, value: Any) -> Any:
        return _as_secret(super().db_value(value))

    def python_value(self, value: object) -> object:
        return value.rstrip(" ") if isinstance(value, str) else value


class SecretCharField(pw.CharField):
    """A ``VARCHAR`` credential (password hashes): only its values' marking differs."""

    def db_value(self, value: Any) -> Any:
        return _as_secret(super().db_value(value))


class SecretTextField(pw.TextField):
    """A ``TEXT`` credential (channel keys, one per line when several)."""

    def db_value(self, value: Any) -> Any:
        return _as_secret(super().db_value(value))


class _Schema(pw.Model):
    class Meta:
        legacy_table_names = False


class User(_Schema):
    id = pw.AutoField()
    username = pw.CharField(max_length=191)
    password = SecretCharField(max_length=255)
    display_name = pw.CharField(max_length=191, default="")
    role = pw.IntegerField(default=1)
    status = pw.IntegerField(default=1)
    email = pw.CharField(max_length=191, default="")
    github_id = pw.CharField(max_length=191, default="")
    wechat_id = pw.CharField(max_length=191, default="")
    lark_id = pw.CharField(max_length=191, default="")
    oidc_id = pw.CharField(max_length=191, default="")
    access_token = SecretField(32, null=True)
    quota = pw.BigIntegerField(default=0)
    used_quota = pw.BigIntegerField(default=0)
    request_count = pw.IntegerField(default=0)
    group = pw.CharField(max_length=32, default="default")
    aff_code = pw.CharField(max_length=32, null=True)
    inviter_id = pw.IntegerField(default=0)

    class Meta:
        table_name = "users"


class Token(_Schema):
    id = pw.AutoField()
    user_id = pw.IntegerField(default=0)
    key = SecretField(48)
    status = pw.IntegerField(default=1)
    name = pw.CharField(max_length=191, default="")
    created_time = pw.BigIntegerField(default=0)
    accessed_time = pw.BigIntegerField(default=0)
    expired_time = pw.BigIntegerField(default=-1)
    remain_quota = pw.BigIntegerField(default=0)
    unlimited_quota = pw.BooleanField(default=False)
    used_quota = pw.BigIntegerField(default=0)
    models = pw.TextField(null=True)
    subnet = pw.CharField(max_length=1024, null=True, default="")
    # oneapi's own (0004_token_limits): requests and tokens per minute, 0 = no limit. A default in the schema
    # too, so a One API binary sharing the database still inserts tokens without naming these columns.
    rpm_limit = pw.IntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")])
    tpm_limit = pw.IntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")])

    class Meta:
        table_name = "tokens"


class Channel(_Schema):
    id = pw.AutoField()
    type = pw.IntegerField(default=0)
    key = SecretTextField(default="")
    status = pw.IntegerField(default=1)
    name = pw.CharField(max_length=191, default="")
    weight = pw.BigIntegerField(null=True, default=0)
    created_time = pw.BigIntegerField(default=0)
    test_time = pw.BigIntegerField(default=0)
    response_time = pw.IntegerField(default=0)
    base_url = pw.CharField(max_length=1024, null=True, default="")
    other = pw.TextField(null=True)
    balance = pw.DoubleField(default=0)
    balance_updated_time = pw.BigIntegerField(default=0)
    models = pw.TextField(default="")
    group = pw.CharField(max_length=32, default="default")
    used_quota = pw.BigIntegerField(default=0)
    model_mapping = pw.CharField(max_length=1024, null=True, default="")
    priority = pw.BigIntegerField(null=True, default=0)
    config = pw.TextField(default="")
    system_prompt = pw.TextField(null=True)

    class Meta:
        table_name = "channels"


class Ability(_Schema):
    group = pw.CharField(max_length=32)
    model = pw.CharField(max_length=191)
    channel_id = pw.IntegerField()
    enabled = pw.BooleanField(default=True)
    priority = pw.BigIntegerField(null=True, default=0)

    class Meta:
        table_name = "abilities"
        primary_key = pw.CompositeKey("group", "model", "channel_id")


class Redemption(_Schema):
    id = pw.AutoField()
    user_id = pw.IntegerField(default=0)
    key = SecretField(32)
    status = pw.IntegerField(default=1)
    name = pw.CharField(max_length=191, default="")
    quota = pw.BigIntegerField(default=100)
    created_time = pw.BigIntegerField(default=0)
    redeemed_time = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "redemptions"


class Log(_Schema):
    id = pw.AutoField()
    user_id = pw.IntegerField(default=0)
    created_at = pw.BigIntegerField(default=0)
    type = pw.IntegerField(default=0)
    content = pw.TextField(default="")
    username = pw.CharField(max_length=191, default="")
    token_name = pw.CharField(max_length=191, default="")
    model_name = pw.CharField(max_length=191, default="")
    quota = pw.BigIntegerField(default=0)
    prompt_tokens = pw.IntegerField(default=0)
    completion_tokens = pw.IntegerField(default=0)
    channel_id = pw.IntegerField(default=0)
    request_id = pw.CharField(max_length=64, default="")
    elapsed_time = pw.BigIntegerField(default=0)
    is_stream = pw.BooleanField(default=False)
    system_prompt_reset = pw.BooleanField(default=False)

    class Meta:
        table_name = "logs"


class Option(_Schema):
    key = pw.CharField(max_length=191, primary_key=True)
    value = pw.TextField(default="")

    class Meta:
        table_name = "options"


class Migration(_Schema):
    """oneapi's own record of applied migrations (One API has none; GORM auto-migrates)."""

    name = pw.CharField(max_length=191, primary_key=True)
    applied_at = pw.BigIntegerField()

    class Meta:
        table_name = "oneapi_migrations"


class JournalMark(_Schema):
    """oneapi's own: per local journal (``store/journal.py``) and part (``accounts`` in the main database,
    ``logs`` in the logs database), the highest sequence number whose effect this database holds."""

    journal = pw.CharField(max_length=64)
    part = pw.CharField(max_length=16)
    seq = pw.BigIntegerField(default=0)
    updated_at = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "oneapi_journal_marks"
        primary_key = pw.CompositeKey("journal", "part")


class Session(_Schema):
    """oneapi's own: the web sessions alive (issue 11). The signed cookie names one by ``sid``; a session ends
    when its row goes (logout, a password change, a ban), on every node that shares the database. The row keeps
    the SHA-256 of the sid, not the sid: a copy of the table lets nobody in."""

    digest = pw.CharField(max_length=64, primary_key=True)
    user_id = pw.IntegerField()
    created_at = pw.BigIntegerField()
    expires_at = pw.BigIntegerField()

    class Meta:
        table_name = "oneapi_sessions"
        indexes = ((("user_id",), False), (("expires_at",), False))


# (table, index name, columns, unique) — GORM's names, so One API databases already have them.
INDEXES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("users", "idx_users_username", ("username",), True),
    ("users", "idx_users_display_name", ("display_name",), False),
    ("users", "idx_users_email", ("email",), False),
    ("users", "idx_users_github_id", ("github_id",), False),
    ("users", "idx_users_wechat_id", ("wechat_id",), False),
    ("users", "idx_users_lark_id", ("lark_id",), False),
    ("users", "idx_users_oidc_id", ("oidc_id",), False),
    ("users", "idx_users_access_token", ("access_token",), True),
    ("users", "idx_users_aff_code", ("aff_code",), True),
    ("users", "idx_users_inviter_id", ("inviter_id",), False),
    ("tokens", "idx_tokens_key", ("key",), True),
    ("tokens", "idx_tokens_name", ("name",), False),
    ("tokens", "idx_tokens_user_id", ("user_id",), False),
    ("channels", "idx_channels_name", ("name",), False),
    ("abilities", "idx_abilities_channel_id", ("channel_id",), False),
    ("abilities", "idx_abilities_priority", ("priority",), False),
    ("redemptions", "idx_redemptions_key", ("key",), True),
    ("redemptions", "idx_redemptions_name", ("name",), False),
    ("logs", "idx_created_at_type", ("created_at", "type"), False),
    ("logs", "idx_logs_user_id", ("user_id",), False),
    ("logs", "index_username_model_name", ("model_name", "username"), False),
    ("logs", "idx_logs_token_name", ("token_name",), False),
    ("logs", "idx_logs_model_name", ("model_name",), False),
    ("logs", "idx_logs_channel_id", ("channel_id",), False),
)

M = TypeVar("M", bound=pw.Model)


MYSQL_TABLE_SETTINGS = ("DEFAULT CHARSET=utf8mb4",)
"""Every table oneapi creates on MySQL/MariaDB is utf8mb4, whatever the database's default: a latin1 default
(MariaDB's own) cannot store Chinese log text, and the insert fails as "database error"."""


def _bound(schema: type[M], database: pw.Database) -> type[M]:
    meta: dict[str, Any] = {"database": database, "table_name": schema._meta.table_name}
    if isinstance(database, pw.MySQLDatabase):
        meta["table_settings"] = MYSQL_TABLE_SETTINGS
    if isinstance(schema._meta.primary_key, pw.CompositeKey):
        meta["primary_key"] = pw.CompositeKey(*schema._meta.primary_key.field_names)
    return type(schema.__name__, (schema,), {"Meta": type("Meta", (), meta), "__module__": __name__})


@dataclass(frozen=True)
class Tables:
    """The models bound to one store's databases (logs may live in a second database)."""

    user: type[User]
    token: type[Token]
    channel: type[Channel]
    ability: type[Ability]
    redemption: type[Redemption]
    log: type[Log]
    option: type[Option]
    migration: type[Migration]
    journal_mark: type[JournalMark]  # in the main database: the accounts mark
    log_journal_mark: type[JournalMark]  # in the logs database (the same table unless LOG_SQL_DSN)
    session: type[Session]

    def main(self) -> list[type[pw.Model]]:
        return [self.user, self.token, self.channel, self.ability, self.redemption, self.option]


def bind_tables(db: pw.Database, log_db: pw.Database | None = None) -> Tables:
    return Tables(
        user=_bound(User, db), token=_bound(Token, db), channel=_bound(Channel, db),
        ability=_bound(Ability, db), redemption=_bound(Redemption, db),
        log=_bound(Log, log_db or db), option=_bound(Option, db), migration=_bound(Migration, db),
        journal_mark=_bound(JournalMark, db), log_journal_mark=_bound(JournalMark, log_db or db),
        session=_bound(Session, db),
    )
