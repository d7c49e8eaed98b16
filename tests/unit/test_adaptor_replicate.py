"""The Replicate adaptor's pure parts (oneapi/proxy/adaptors/replicate.py): golden JSON cases in
tests/unit/golden/replicate/ (predictions for chat and images, answers, the pseudo-stream, problem details), run
by the harness of test_adaptor_zhipu.py. Regenerate after an intended change with ``ONEAPI_UPDATE_GOLDEN=1`` and
review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oneapi.proxy.adaptors import adaptor_for
from oneapi.proxy.adaptors.replicate import ADAPTOR, aspect_ratio
from tests.unit.test_adaptor_zhipu import check_golden

GOLDEN = Path(__file__).parent / "golden" / "replicate"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    check_golden(ADAPTOR, 46, path)


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(46) is ADAPTOR and ADAPTOR.passthrough is False


@pytest.mark.parametrize(("size", "ratio"), [
    ("1024x1024", "1:1"), ("1792x1024", "16:9"), ("1024x1792", "9:16"), ("1536x1024", "3:2"), ("512x640", "4:5"),
    ("2560x1080", "21:9"), ("auto", "1:1"), ("0x10", "1:1"), ("", "1:1"),
])
def test_aspect_ratio(size: str, ratio: str) -> None:
    assert aspect_ratio(size) == ratio
