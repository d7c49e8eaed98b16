"""The address guard when a URL starts at a public host (issue 11, section 4): a redirect from a public host to
loopback is refused, a rebinding name (public when first resolved, loopback after) never reaches loopback, and a
private host is refused by default and fetched with USER_CONTENT_REQUEST_ALLOW_PRIVATE.

A public address cannot be served from this machine's loopback, and a guard that works connects to it, so the
scenarios run in ``user_content_netns.py`` inside a network namespace of their own whose lo carries a public and a
private address: nothing leaves the machine, whatever the guard does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.functional.netns import isolation
from tests.functional.server_process import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def found() -> dict[str, Any]:
    prefix, why_not = isolation()
    if not prefix:
        pytest.skip(f"needs a network namespace of its own: {why_not}")
    run = subprocess.run([*prefix, sys.executable, "-m", "tests.functional.user_content_netns"], cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["isolated"] is True, "the namespace reaches the outside"
    return result


def refused(outcome: dict[str, Any], kind: str) -> bool:
    return (outcome["status"] == 400 and outcome["code"] == "image_url_not_allowed"
            and f"leads to a {kind} address" in outcome["message"])


def test_a_public_host_is_fetched(found: dict[str, Any]) -> None:
    assert found["public"] == {"status": 200, "content": "echo: what is it"}
    assert found["redirect_to_public"] == {"status": 200, "content": "echo: what is it"}


def test_a_redirect_from_a_public_host_to_loopback_is_refused(found: dict[str, Any]) -> None:
    assert refused(found["redirect_to_loopback"], "loopback"), found["redirect_to_loopback"]
    assert found["hits"]["public"]["/redirect"] == 2  # followed once to loopback (refused), once to itself
    assert found["hits"]["loopback"] == {}


def test_a_rebinding_name_never_reaches_loopback(found: dict[str, Any]) -> None:
    """The first answer (public) is the one connected to; the second (loopback) is refused: the address checked
    is the address connected to, so a name cannot pass the check with one answer and connect with another."""
    assert found["rebinding_first"] == {"status": 200, "content": "echo: what is it"}
    assert refused(found["rebinding_second"], "loopback"), found["rebinding_second"]
    assert found["dns_queries"] == 2
    assert found["hits"]["loopback"] == {}  # listening on the very port the URL names


def test_a_private_host_is_refused_by_default_and_fetched_when_allowed(found: dict[str, Any]) -> None:
    assert refused(found["private_refused"], "private"), found["private_refused"]
    assert found["private_allowed"] == {"status": 200, "content": "echo: what is it"}
    assert found["hits"]["private"] == {"/cat.png": 1}
