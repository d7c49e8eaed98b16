"""The Coze adaptor's pure parts (oneapi/proxy/adaptors/coze.py): golden JSON cases in tests/unit/golden/coze/
(request building, the v3 event stream read whole and chunk by chunk, errors), run by the harness of
test_adaptor_zhipu.py. Regenerate after an intended change with ``ONEAPI_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.coze import ADAPTOR, bot_id, status_for
from tests.unit.test_adaptor_zhipu import check_golden

GOLDEN = Path(__file__).parent / "golden" / "coze"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    check_golden(ADAPTOR, 34, path)


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(34) is ADAPTOR and ADAPTOR.passthrough is False


def test_bot_id_from_the_model() -> None:
    assert (bot_id("bot-7428"), bot_id("7428"), bot_id("my-bot-1")) == ("7428", "7428", "my-bot-1")


@pytest.mark.parametrize(("code", "status"), [(4100, 401), (4101, 403), (4013, 429), (4200, 404), (4000, 400),
                                              (4999, 400), (5000, 500), (0, 500), (702242, 500)])
def test_status_for(code: int, status: int) -> None:
    assert status_for(code) == status


def test_a_stream_cut_before_the_chat_completed_is_unreadable() -> None:
    from tests.unit.test_adaptor_zhipu import golden_request

    request = golden_request({"model": "bot-1", "json": {"model": "bot-1", "messages": []}}, 0.0)
    body = b'event:conversation.chat.created\ndata:{"id":"1"}\n\nevent:conversation.message.delta\n' \
           b'data:{"id":"m","type":"answer","content":"Hel"}\n\n'
    with pytest.raises(ValueError, match="before the chat completed"):
        ADAPTOR.parse_response(request, body)
