"""Table tests of oneapi.store.dsn.parse: One API's SQL_DSN forms (SPEC §3) and oneapi's sqlite: forms."""

from __future__ import annotations

import pytest

from oneapi.store.dsn import DatabaseSpec, DsnError, parse

CASES: list[tuple[str, DatabaseSpec]] = [
    # Go MySQL driver DSN as One API's docs show it: Go-only params dropped, charset kept.
    ("user:pass@tcp(db.example.com:3307)/oneapi?parseTime=true&charset=utf8mb4&loc=Local",
     DatabaseSpec("mysql", "oneapi", user="user", password="pass", host="db.example.com", port=3307,
                  params=(("charset", "utf8mb4"),))),
    # the last '@' before the database separates the credentials, so the password may hold '@' and ':'
    ("root:p@ss:w@rd@tcp(10.0.0.5:3306)/one-api",
     DatabaseSpec("mysql", "one-api", user="root", password="p@ss:w@rd", host="10.0.0.5", port=3306)),
    # ... and '/' too: only the last '/' starts the database name
    ("root:a/b@tcp(h:3306)/db",
     DatabaseSpec("mysql", "db", user="root", password="a/b", host="h", port=3306)),
    ("oneapi:secret@unix(/var/run/mysqld/mysqld.sock)/oneapi?charset=utf8mb4",
     DatabaseSpec("mysql", "oneapi", user="oneapi", password="secret",
                  unix_socket="/var/run/mysqld/mysqld.sock", params=(("charset", "utf8mb4"),))),
    ("tcp(h:1)/db", DatabaseSpec("mysql", "db", host="h", port=1)),
    ("root@tcp(127.0.0.1:3306)/oneapi_test",
     DatabaseSpec("mysql", "oneapi_test", user="root", host="127.0.0.1", port=3306)),
    # Go's defaults: tcp to 127.0.0.1:3306; a host without port gets 3306
    ("root:x@/oneapi",
     DatabaseSpec("mysql", "oneapi", user="root", password="x", host="127.0.0.1", port=3306)),
    ("root:x@tcp(mysql)/oneapi", DatabaseSpec("mysql", "oneapi", user="root", password="x", host="mysql",
                                              port=3306)),
    ("u@tcp([::1]:3307)/db", DatabaseSpec("mysql", "db", user="u", host="::1", port=3307)),
    # mysql:// URL with a percent-encoded password
    ("mysql://oneapi:p%40ss%3Aw%2Frd@db:3307/oneapi?charset=utf8mb4",
     DatabaseSpec("mysql", "oneapi", user="oneapi", password="p@ss:w/rd", host="db", port=3307,
                  params=(("charset", "utf8mb4"),))),
    ("mysql://root@db/oneapi", DatabaseSpec("mysql", "oneapi", user="root", host="db", port=3306)),
    ("MySQL://root@db/oneapi", DatabaseSpec("mysql", "oneapi", user="root", host="db", port=3306)),
    # PostgreSQL, both schemes, params (sslmode) kept for the driver, default port 5432
    ("postgres://postgres:123456@localhost:5432/oneapi?sslmode=disable",
     DatabaseSpec("postgres", "oneapi", user="postgres", password="123456", host="localhost", port=5432,
                  params=(("sslmode", "disable"),))),
    ("postgresql://u:p%20w@pg.internal/one?sslmode=require",
     DatabaseSpec("postgres", "one", user="u", password="p w", host="pg.internal", port=5432,
                  params=(("sslmode", "require"),))),
    ("postgres://u@pg:6543/db", DatabaseSpec("postgres", "db", user="u", host="pg", port=6543)),
    ("postgres://u@/db?host=/var/run/postgresql",
     DatabaseSpec("postgres", "db", user="u", port=5432, unix_socket="/var/run/postgresql")),
    # oneapi's own SQLite forms (LOG_SQL_DSN into a second file)
    ("sqlite:///var/lib/oneapi/logs.db", DatabaseSpec("sqlite", "/var/lib/oneapi/logs.db")),
    ("sqlite:logs.db", DatabaseSpec("sqlite", "logs.db")),
    ("sqlite:data/logs.db", DatabaseSpec("sqlite", "data/logs.db")),
    # empty (or blank) → SQLite at the default path
    ("", DatabaseSpec("sqlite", "one-api.db")),
    ("   ", DatabaseSpec("sqlite", "one-api.db")),
]


@pytest.mark.parametrize(("dsn", "expected"), CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_parse(dsn: str, expected: DatabaseSpec) -> None:
    spec = parse(dsn)
    assert spec == expected
    assert spec.password == expected.password  # password is excluded from repr, not from equality


def test_empty_dsn_uses_the_given_sqlite_path() -> None:
    assert parse("", "/data/one-api.db") == DatabaseSpec("sqlite", "/data/one-api.db")
    # the sqlite_path applies only to the empty DSN
    assert parse("sqlite:other.db", "/data/one-api.db").database == "other.db"


ERRORS: list[tuple[str, str]] = [
    ("root:pw@tcp(h:3306)/", "no database name"),
    ("root:pw@tcp(h:3306)/?charset=utf8mb4", "no database name"),
    ("postgres://u:pw@h:5432/", "no database name"),
    ("postgres://u:pw@h:5432", "no database name"),
    ("mysql://u:pw@h", "no database name"),
    ("root:pw@tcp(h:notaport)/db", "port"),
    ("root:pw@tcp(h:0)/db", "port"),
    ("root:pw@tcp(h:70000)/db", "port"),
    ("root:pw@tcp(h:)/db", "port"),
    ("postgres://u:pw@h:99999/db", "port"),
    ("mysql://u:pw@h:port/db", "port"),
    ("mongodb://u:pw@h/db", "unsupported database scheme 'mongodb'"),
    ("redis://h:6379/0", "unsupported database scheme 'redis'"),
    ("garbage", "not a DSN"),
    ("root:pw@udp(h:1)/db", "unsupported network 'udp'"),
    ("root:pw@tcp(h:1/db", "tcp(host:port)"),
    ("sqlite://relative.db", "sqlite:///absolute/path"),
    ("sqlite:", "no file path"),
]


@pytest.mark.parametrize(("dsn", "reason"), ERRORS, ids=[e[0] for e in ERRORS])
def test_parse_errors(dsn: str, reason: str) -> None:
    with pytest.raises(DsnError) as info:
        parse(dsn)
    assert reason in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("dsn", [
    "root:S3cretPw@tcp(h:bad)/db",
    "root:S3cretPw@udp(h:1)/db",
    "root:S3cretPw@tcp(h:1)/",
    "postgres://u:S3cretPw@h:99999/db",
    "u:S3cretPw@jdbc:mysql://h/db",  # a URL pasted after Go credentials: the "scheme" holds the password
    "root:S3cretPw@tcp(h:1)/db?next=http://x",
])
def test_errors_never_contain_the_password(dsn: str) -> None:
    with pytest.raises(DsnError) as info:
        parse(dsn)
    assert "S3cretPw" not in str(info.value)


@pytest.mark.parametrize(("dsn", "described"), [
    ("user:S3cretPw@tcp(db:3307)/oneapi?charset=utf8mb4", "mysql://user@db:3307/oneapi"),
    ("u:S3cretPw@unix(/run/mysqld.sock)/oneapi", "mysql://u@/run/mysqld.sock/oneapi"),
    ("mysql://u:S3cretPw@db/oneapi", "mysql://u@db:3306/oneapi"),
    ("postgres://postgres:S3cretPw@pg:5432/oneapi?sslmode=disable", "postgres://postgres@pg:5432/oneapi"),
    ("tcp(h:1)/db", "mysql://h:1/db"),
    ("sqlite:///srv/one-api.db", "sqlite:/srv/one-api.db"),
])
def test_describe_hides_the_password(dsn: str, described: str) -> None:
    spec = parse(dsn)
    assert spec.describe() == described
    assert "S3cretPw" not in spec.describe()
    assert "S3cretPw" not in repr(spec)
