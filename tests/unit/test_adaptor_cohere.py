"""The Cohere adaptor's pure parts (oneapi/proxy/adaptors/cohere.py): golden JSON cases in
tests/unit/golden/cohere/ (request building, answers, SSE streams, errors), run by the harness of
test_adaptor_zhipu.py. Regenerate after an intended change with ``ONEAPI_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.base import Usage
from oneapi.proxy.adaptors.cohere import ADAPTOR, usage_of
from tests.unit.test_adaptor_zhipu import check_golden

GOLDEN = Path(__file__).parent / "golden" / "cohere"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    check_golden(ADAPTOR, 35, path)


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(35) is ADAPTOR and ADAPTOR.passthrough is False


@pytest.mark.parametrize(("usage", "expected"), [
    ({"billed_units": {"input_tokens": 5.0, "output_tokens": 2.0}, "tokens": {"input_tokens": 70}}, Usage(5, 2)),
    ({"tokens": {"input_tokens": 70, "output_tokens": 3}}, Usage(70, 3)),
    ({"billed_units": {}, "tokens": {"input_tokens": 7}}, Usage(7, 0)),
    ({"billed_units": {"input_tokens": True}}, None),
    ({}, None), (None, None),
])
def test_usage_prefers_billed_units(usage: object, expected: Usage | None) -> None:
    assert usage_of(usage) == expected
