"""The Ali DashScope adaptor's pure parts (oneapi/proxy/adaptors/ali.py): golden JSON cases in
tests/unit/golden/ali/ (request building, answers, SSE streams, errors), run by the harness of
test_adaptor_zhipu.py. Regenerate after an intended change with ``ONEAPI_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.ali import ADAPTOR, error_object, split_model, status_for
from tests.unit.test_adaptor_zhipu import check_golden

GOLDEN = Path(__file__).parent / "golden" / "ali"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    check_golden(ADAPTOR, 17, path)


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(17) is ADAPTOR and ADAPTOR.passthrough is False


@pytest.mark.parametrize(("model", "expected"), [
    ("qwen-plus-internet", ("qwen-plus", True)), ("qwen-plus", ("qwen-plus", False)),
    ("qwen-internet-x", ("qwen-internet-x", False)),
])
def test_internet_suffix(model: str, expected: tuple[str, bool]) -> None:
    assert split_model(model) == expected


@pytest.mark.parametrize(("code", "status"), [
    ("InvalidApiKey", 401), ("Throttling", 429), ("Throttling.RateQuota", 429), ("Throttling.AllocationQuota", 429),
    ("Arrearage", 403), ("AccessDenied.Unpurchased", 403), ("InvalidParameter", 400), ("DataInspectionFailed", 400),
    ("InternalError", 500), ("", 500),
])
def test_status_for_errors_inside_a_200(code: str, status: int) -> None:
    assert status_for(code) == status


def test_error_object_from_json_or_sse() -> None:
    assert error_object(b'{"code":"X","message":"m"}') == {"code": "X", "message": "m"}
    sse = b'id:1\nevent:error\n:HTTP_STATUS/401\ndata:{"code":"InvalidApiKey","message":"m","request_id":"r"}\n\n'
    assert error_object(sse) == {"code": "InvalidApiKey", "message": "m", "request_id": "r"}
    assert error_object(b"<html>502</html>") is None
