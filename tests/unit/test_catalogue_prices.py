"""The built-in catalogue and its prices agree: every model a channel type offers is priced (a model ratio for
that type and a completion ratio), every type's models are model objects of /v1/models, and the ids the 2025
update added are there. Channel types whose lists are a reseller's menu (OpenRouter, Novita, SiliconFlow) are
left to the operator's ModelRatio, as One API leaves them: their prices change with the reseller's.
"""

from __future__ import annotations

import math

import pytest

from oneapi.services import catalog, pricing, ratios

RESELLER_MENUS = {20: "OpenRouter", 41: "Novita", 44: "SiliconFlow"}
# Types whose lists One API offers in the channel editor without adding model objects (catalog's docstring).
EDITOR_ONLY = {20, 49, 51}
TABLES = pricing.PriceTables({}, {}, {"default": 1})


def priced_types() -> list[int]:
    return [t for t in catalog.models_by_type() if t not in RESELLER_MENUS]


@pytest.mark.parametrize("type_id", priced_types(), ids=lambda t: f"{t}-{catalog.CHANNEL_TYPES[t].name}")
def test_every_model_of_the_type_has_a_ratio_and_a_completion_ratio(type_id: int) -> None:
    unpriced = [m for m in catalog.models_by_type()[type_id] if not pricing.model_ratio(TABLES, m, type_id)[1]]
    assert unpriced == [], f"{catalog.CHANNEL_TYPES[type_id].name}: no ratio for {unpriced}"
    for model in catalog.models_by_type()[type_id]:
        completion = pricing.completion_ratio(TABLES, model, type_id)
        assert math.isfinite(completion) and completion >= 0, model


@pytest.mark.parametrize("type_id", sorted(set(catalog.models_by_type()) - EDITOR_ONLY))
def test_every_types_models_are_in_the_catalogue(type_id: int) -> None:
    missing = [m for m in catalog.models_by_type()[type_id] if catalog.find_model(m) is None]
    assert missing == []


@pytest.mark.parametrize(("type_id", "models"), [
    (17, ["qwen3-max", "qwen3-235b-a22b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-8b", "qwen3-coder-plus",
          "qwen-flash", "text-embedding-v4"]),
    (49, ["qwen3-max", "qwen3-235b-a22b", "text-embedding-v4"]),
    (16, ["glm-4.5", "glm-4.5-air", "glm-4.5-flash", "glm-4.5v", "glm-4.6"]),
    (47, ["ernie-4.5-turbo-128k", "ernie-4.5-8k-preview", "ernie-x1-turbo-32k"]),
    (35, ["command-a-03-2025", "command-r7b-12-2024", "embed-v4.0"]),
    (37, ["@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/baai/bge-m3"]),
    (38, ["deepl-zh", "deepl-en-us"]),
    (42, ["gemini-2.5-pro", "claude-sonnet-4@20250514"]),
    (33, ["claude-3-5-sonnet-20241022", "llama3-8b-8192"]),
    (46, ["black-forest-labs/flux-schnell", "meta/meta-llama-3-8b-instruct"]),
])
def test_current_ids_are_offered_and_priced(type_id: int, models: list[str]) -> None:
    offered = catalog.models_by_type()[type_id]
    for model in models:
        assert model in offered and pricing.model_ratio(TABLES, model, type_id)[1], model


@pytest.mark.parametrize(("model", "type_id", "usd_in", "usd_out"), [
    ("command-a-03-2025", 35, 2.5, 10), ("command-r7b-12-2024", 35, 0.0375, 0.15), ("glm-4.5", 16, 0.6, 2.2),
    ("@cf/meta/llama-3.1-8b-instruct", 37, 0.282, 0.827), ("embed-v4.0", 35, 0.12, 0.12),
])
def test_published_dollar_prices_become_ratios(model: str, type_id: int, usd_in: float, usd_out: float) -> None:
    """$ per 1M tokens → ratio: 1 ratio = $2 per 1M tokens (SPEC 5.2)."""
    assert pricing.model_ratio(TABLES, model, type_id)[0] == pytest.approx(usd_in / 2)
    assert pricing.completion_ratio(TABLES, model, type_id) == pytest.approx(usd_out / usd_in)


def test_yuan_prices_use_one_apis_rate() -> None:
    assert pricing.model_ratio(TABLES, "qwen3-max", 17)[0] == pytest.approx(2.5 / 1000 * ratios.RMB)
    assert pricing.completion_ratio(TABLES, "qwen3-max", 17) == 4


def test_cohere_offers_no_model_its_adaptor_refuses() -> None:
    assert not [m for m in catalog.models_by_type()[35] if m.endswith("-internet")]
