"""Reading caller-supplied JSON: ``Fields``, ``check_int`` and ``parse_query_int`` (oneapi/services/inputs.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from oneapi.errors import InvalidInputError
from oneapi.services.inputs import MAX_SAFE_INT, Fields, check_int, parse_query_int


def bad(message: str) -> Any:
    return pytest.raises(InvalidInputError, match=message)


@pytest.mark.parametrize("data", [None, [], "x", 1, True, [{"a": 1}]])
def test_fields_needs_an_object(data: Any) -> None:
    with bad("request body must be a JSON object"):
        Fields(data)
    with bad("channel must be a JSON object"):
        Fields(data, what="channel")


def test_has() -> None:
    f = Fields({"a": 0, "b": None, "c": "", "d": False})
    assert f.has("a") and f.has("c") and f.has("d")
    assert not f.has("b") and not f.has("missing")


class TestStr:
    def test_values_defaults_and_strip(self) -> None:
        f = Fields({"name": "  Bob  ", "raw": "  x ", "empty": "", "null": None})
        assert f.str("name") == "Bob"
        assert f.str("raw", strip=False) == "  x "
        assert f.str("missing") == "" and f.str("missing", default="d") == "d"
        assert f.str("null", default="d") == "d"
        assert f.str("empty", default="d") == ""  # present and empty is not missing

    def test_required(self) -> None:
        f = Fields({"blank": "   ", "empty": "", "null": None})
        for name in ("blank", "empty", "null", "missing"):
            with bad(f"{name} is required"):
                f.str(name, required=True)
        assert Fields({"x": " y "}).str("x", required=True) == "y"

    @pytest.mark.parametrize("value", [1, 1.5, True, [], {}, ["a"]])
    def test_wrong_type(self, value: Any) -> None:
        with bad("name must be a string"):
            Fields({"name": value}).str("name")

    def test_lengths(self) -> None:
        assert Fields({"s": "x" * 30}).str("s", max_len=30) == "x" * 30
        with bad("s must be at most 30 characters"):
            Fields({"s": "x" * 31}).str("s", max_len=30)
        assert Fields({"s": "  " + "x" * 30 + "  "}).str("s", max_len=30) == "x" * 30  # checked after strip
        with bad("s must be at most 30"):
            Fields({"s": "  " + "x" * 29 + "  "}).str("s", max_len=30, strip=False)
        assert Fields({"s": "é" * 30}).str("s", max_len=30) == "é" * 30  # characters, not bytes
        with bad("s must be at least 8 characters"):
            Fields({"s": "1234567"}).str("s", min_len=8)
        assert Fields({"s": ""}).str("s", min_len=8) == ""  # min_len applies only to a value given
        assert Fields({}).str("s") == ""
        assert len(Fields({"s": "x" * 255}).str("s")) == 255
        with bad("at most 255"):
            Fields({"s": "x" * 256}).str("s")  # default max_len


class TestInt:
    def test_values(self) -> None:
        f = Fields({"a": 5, "b": 1.0, "c": -3, "d": 0, "e": 2.0**52, "n": None})
        assert f.int("a") == 5 and isinstance(f.int("b"), int) and f.int("b") == 1
        assert f.int("c") == -3 and f.int("d") == 0 and f.int("e") == 2**52
        assert f.int("missing") == 0 and f.int("missing", default=-1) == -1 and f.int("n", default=7) == 7

    def test_required(self) -> None:
        for body in ({}, {"id": None}):
            with bad("id is required"):
                Fields(body).int("id", required=True)
        assert Fields({"id": 0}).int("id", required=True) == 0

    @pytest.mark.parametrize("value", [True, False, 1.5, -0.5, "5", "", [1], {"a": 1}, math.nan, math.inf])
    def test_not_integers(self, value: Any) -> None:
        with bad("q must be an integer"):
            Fields({"q": value}).int("q")

    def test_bounds(self) -> None:
        assert Fields({"q": 1}).int("q", low=1, high=100) == 1
        assert Fields({"q": 100}).int("q", low=1, high=100) == 100
        with bad(r"q must be an integer >= 1"):
            Fields({"q": 0}).int("q", low=1, high=100)
        with bad(r"q must be an integer <= 100"):
            Fields({"q": 101}).int("q", low=1, high=100)
        assert Fields({"q": MAX_SAFE_INT}).int("q") == MAX_SAFE_INT
        with bad("<="):
            Fields({"q": MAX_SAFE_INT + 1}).int("q")
        with bad(">="):
            Fields({"q": -MAX_SAFE_INT - 1}).int("q")
        with bad("<="):
            Fields({"q": 10**30}).int("q")
        with bad("<="):
            Fields({"q": 1e300}).int("q")

    def test_default_is_not_range_checked(self) -> None:
        assert Fields({}).int("expired_time", default=-1, low=0) == -1


class TestBool:
    def test_values(self) -> None:
        f = Fields({"t": True, "f": False, "n": None})
        assert f.bool("t") is True and f.bool("f") is False
        assert f.bool("missing") is False and f.bool("missing", default=True) is True and f.bool("n", default=True)

    @pytest.mark.parametrize("value", [1, 0, "true", "false", "", [], 1.0])
    def test_wrong_type(self, value: Any) -> None:
        with bad("b must be true or false"):
            Fields({"b": value}).bool("b")


class TestFloat:
    def test_values(self) -> None:
        f = Fields({"a": 1, "b": 2.5, "c": -0.25})
        assert f.float("a") == 1.0 and isinstance(f.float("a"), float)
        assert f.float("b") == 2.5 and f.float("c") == -0.25 and f.float("missing", default=3.0) == 3.0

    @pytest.mark.parametrize("value", [True, "1.5", math.nan, math.inf, -math.inf, [1.0]])
    def test_wrong_type(self, value: Any) -> None:
        with bad("x must be a number"):
            Fields({"x": value}).float("x")

    def test_bounds(self) -> None:
        assert Fields({"x": 0}).float("x", low=0, high=1) == 0.0
        with bad("x must be between 0 and 1"):
            Fields({"x": 1.01}).float("x", low=0, high=1)
        with bad("x must be between"):
            Fields({"x": -0.01}).float("x", low=0, high=1)


class TestCheckInt:
    def test_accepts(self) -> None:
        assert check_int("n", 3) == 3
        assert check_int("n", 3.0) == 3 and type(check_int("n", 3.0)) is int
        assert check_int("n", -0.0) == 0
        assert check_int("n", 5, 5, 5) == 5

    @pytest.mark.parametrize("value", [True, False, 1.5, "1", None, b"1", 1j])
    def test_rejects(self, value: Any) -> None:
        with bad("n must be an integer$"):
            check_int("n", value)

    def test_bounds_message(self) -> None:
        with bad("count must be an integer >= 1"):
            check_int("count", 0, 1, 100)
        with bad("count must be an integer <= 100"):
            check_int("count", 101, 1, 100)
        with bad("<= 9007199254740991"):
            check_int("n", 2**53)
        assert check_int("n", -(2**53) + 1) == -(2**53) + 1


class TestParseQueryInt:
    def test_missing_or_empty_is_default(self) -> None:
        assert parse_query_int("p", None) == 0
        assert parse_query_int("p", "") == 0
        assert parse_query_int("p", None, default=7) == 7
        assert parse_query_int("p", "", default=-1) == -1  # the default is not range-checked

    def test_values(self) -> None:
        assert parse_query_int("p", "0") == 0
        assert parse_query_int("p", "42") == 42
        assert parse_query_int("t", "-5", low=-10) == -5
        assert parse_query_int("p", "1000000", high=1_000_000) == 1_000_000

    @pytest.mark.parametrize("raw", ["abc", "1.5", "1.0", "1e3", "0x10", "--1", "²", "true", " "])
    def test_not_integers(self, raw: str) -> None:
        with bad("p must be an integer$"):
            parse_query_int("p", raw)

    def test_bounds(self) -> None:
        with bad("p must be an integer >= 0"):
            parse_query_int("p", "-1")
        with bad("type must be an integer <= 5"):
            parse_query_int("type", "6", low=0, high=5)
        with bad("<="):
            parse_query_int("ts", "99999999999999999999999")
