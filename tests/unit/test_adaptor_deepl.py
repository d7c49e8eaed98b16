"""The DeepL adaptor's pure parts (oneapi/proxy/adaptors/deepl.py): golden JSON cases in tests/unit/golden/deepl/
(request building, answers, the pseudo-stream, errors), run by the harness of test_adaptor_zhipu.py. Regenerate
after an intended change with ``ONEAPI_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oneapi.proxy.adaptors import adaptor_for, deepl
from oneapi.proxy.adaptors.deepl import ADAPTOR, target_language
from tests.unit.test_adaptor_zhipu import check_golden

GOLDEN = Path(__file__).parent / "golden" / "deepl"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # DeepL's answers carry no id: the adaptor makes a random one, fixed here so that the answers compare.
    monkeypatch.setattr(deepl, "completion_id", lambda: "chatcmpl-golden")
    check_golden(ADAPTOR, 38, path)


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(38) is ADAPTOR and ADAPTOR.passthrough is False


@pytest.mark.parametrize(("model", "target"), [
    ("deepl-zh", "ZH"), ("deepl-en-us", "EN-US"), ("deepl-pt-br", "PT-BR"), ("deepl", "ZH"), ("deepl-", "ZH"),
    ("custom-de", "DE"),
])
def test_target_language_from_the_model_name(model: str, target: str) -> None:
    assert target_language(model) == target
