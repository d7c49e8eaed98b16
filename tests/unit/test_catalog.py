"""Unit tests for oneapi.services.catalog (channel types and built-in models, SPEC 1.6 / 6.0-6.10)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from oneapi.services import catalog
from oneapi.services.catalog import (
    CHANNEL_TYPES,
    ChannelTypeInfo,
    channel_type,
    find_model,
    model_objects,
    models_by_type,
    owner_of,
)

EXPECTED_PERMISSION: dict[str, object] = {
    "id": "modelperm-LwHkVFn8AcMItP432fKKDIKJ",
    "object": "model_permission",
    "created": 1626777600,
    "allow_create_engine": True,
    "allow_sampling": True,
    "allow_logprobs": True,
    "allow_search_indices": False,
    "allow_view": True,
    "allow_fine_tuning": False,
    "organization": "*",
    "group": None,
    "is_blocking": False,
}


# --------------------------------------------------------------------------------------------------
# Channel types
# --------------------------------------------------------------------------------------------------


def test_every_channel_type_id_0_to_51_is_present_and_keyed_by_its_id() -> None:
    assert sorted(CHANNEL_TYPES) == list(range(52))
    for type_id, ct in CHANNEL_TYPES.items():
        assert isinstance(ct, ChannelTypeInfo)
        assert ct.id == type_id
        assert ct.name
        assert isinstance(ct.models, tuple)


@pytest.mark.parametrize(
    ("type_id", "name", "base_url"),
    [
        (1, "OpenAI", "https://api.openai.com"),
        (3, "Azure OpenAI", ""),
        (11, "Google PaLM2", "https://generativelanguage.googleapis.com"),
        (14, "Anthropic Claude", "https://api.anthropic.com"),
        (15, "Baidu Wenxin Qianfan", "https://aip.baidubce.com"),
        (16, "Zhipu ChatGLM", "https://open.bigmodel.cn"),
        (17, "Alibaba Tongyi Qianwen", "https://dashscope.aliyuncs.com"),
        (18, "iFlytek Spark", ""),  # websocket; the host is derived from the model version
        (19, "360 Zhinao", "https://ai.360.cn"),
        (23, "Tencent Hunyuan", "https://hunyuan.tencentcloudapi.com"),
        (24, "Google Gemini", "https://generativelanguage.googleapis.com"),
    ],
)
def test_bold_types_have_spec_names_and_base_urls(type_id: int, name: str, base_url: str) -> None:
    ct = CHANNEL_TYPES[type_id]
    assert ct.name == name
    assert ct.default_base_url == base_url


@pytest.mark.parametrize(
    ("type_id", "base_url"),
    [
        (0, ""),
        (8, ""),
        (20, "https://openrouter.ai/api"),
        (25, "https://api.moonshot.cn"),
        (29, "https://api.groq.com/openai"),
        (30, "http://localhost:11434"),
        (33, ""),
        (36, "https://api.deepseek.com"),
        (42, ""),
        (43, ""),
        (45, "https://api.x.ai"),
        (48, "https://spark-api-open.xf-yun.com"),
        (50, ""),
        (51, "https://generativelanguage.googleapis.com/v1beta/openai/"),
    ],
)
def test_other_default_base_urls(type_id: int, base_url: str) -> None:
    assert CHANNEL_TYPES[type_id].default_base_url == base_url


@pytest.mark.parametrize(
    ("type_id", "owner"),
    [
        (0, "openai"),
        (1, "openai"),
        (3, "azure"),
        (8, "openai"),
        (11, "google palm"),
        (14, "anthropic"),
        (15, "baidu"),
        (16, "zhipu"),
        (17, "ali"),
        (18, "xunfei"),
        (19, "360"),
        (20, "openrouter"),
        (23, "tencent"),
        (24, "google gemini"),
        (25, "moonshot"),
        (28, "mistralai"),
        (29, "groq"),
        (33, "aws"),
        (35, "Cohere"),
        (36, "deepseek"),
        (39, "together.ai"),
        (45, "xai"),
        (50, "openai"),
        (51, "geminiv2"),
    ],
)
def test_channel_type_owner_names(type_id: int, owner: str) -> None:
    assert CHANNEL_TYPES[type_id].owner == owner


@pytest.mark.parametrize(
    ("type_id", "hint"),
    [
        (1, "sk-..."),
        (15, "AK|SK"),
        (16, "id.secret"),
        (18, "APPID|APISecret|APIKey"),
        (23, "AppId|SecretId|SecretKey"),
    ],
)
def test_key_hints(type_id: int, hint: str) -> None:
    assert CHANNEL_TYPES[type_id].key_hint == hint


@pytest.mark.parametrize("type_id", [0, 1, 24, 51])
def test_channel_type_lookup(type_id: int) -> None:
    assert channel_type(type_id) is CHANNEL_TYPES[type_id]


@pytest.mark.parametrize("type_id", [-1, 52, 53, 1000])
def test_channel_type_unknown_id_is_none(type_id: int) -> None:
    assert channel_type(type_id) is None


def test_catalogue_structures_are_immutable() -> None:
    with pytest.raises(TypeError):
        CHANNEL_TYPES[99] = CHANNEL_TYPES[1]  # type: ignore[index]
    with pytest.raises(TypeError):
        del CHANNEL_TYPES[1]  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        CHANNEL_TYPES[1].name = "changed"  # type: ignore[misc]
    assert isinstance(CHANNEL_TYPES[1].models, tuple)


# --------------------------------------------------------------------------------------------------
# Model lists per type
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_id", "required"),
    [
        (
            1,
            [
                "gpt-3.5-turbo", "gpt-4", "gpt-4-turbo", "gpt-4o", "gpt-4o-mini", "o1", "o1-mini",
                "o3-mini", "text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large",
                "dall-e-2", "dall-e-3", "whisper-1", "tts-1", "tts-1-hd", "text-moderation-latest",
                "text-moderation-stable",
            ],
        ),
        (
            14,
            [
                "claude-3-haiku-20240307", "claude-3-opus-20240229", "claude-3-5-sonnet-20241022",
                "claude-3-5-haiku-20241022", "claude-3-7-sonnet-20250219",
            ],
        ),
        (11, ["PaLM-2"]),
        (15, ["ERNIE-4.0-8K", "ERNIE-3.5-8K", "ERNIE-Speed-8K", "Embedding-V1"]),
        (16, ["glm-4", "glm-4-plus", "glm-4-flash", "glm-3-turbo", "glm-4v", "embedding-2", "chatglm_turbo"]),
        (17, ["qwen-turbo", "qwen-plus", "qwen-max", "text-embedding-v1", "text-embedding-v3"]),
        (18, ["Spark-Lite", "Spark-Pro", "Spark-Max", "Spark-4.0-Ultra", "SparkDesk", "SparkDesk-v3.5"]),
        (19, ["360GPT_S2_V9", "embedding-bert-512-v1", "embedding_s1_v1", "semantic_similarity_s1_v1"]),
        (23, ["hunyuan-lite", "hunyuan-standard", "hunyuan-pro", "hunyuan-embedding"]),
        (24, ["gemini-pro", "gemini-1.5-pro", "gemini-1.5-flash", "gemini-2.0-flash", "text-embedding-004"]),
        (25, ["moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"]),
        (28, ["mistral-large-latest", "mistral-embed"]),
        (29, ["llama3-8b-8192", "mixtral-8x7b-32768"]),
        (36, ["deepseek-chat", "deepseek-reasoner"]),
        (45, ["grok-2", "grok-beta"]),
        (51, ["gemini-1.5-pro", "text-embedding-004"]),
    ],
)  # fmt: skip
def test_type_model_lists_contain_built_in_ids(type_id: int, required: list[str]) -> None:
    models = CHANNEL_TYPES[type_id].models
    missing = [m for m in required if m not in models]
    assert missing == []


def test_model_lists_have_no_duplicates_or_blank_ids() -> None:
    for type_id, ct in CHANNEL_TYPES.items():
        counts = Counter(ct.models)
        assert [m for m, n in counts.items() if n > 1] == [], type_id
        assert all(m and m == m.strip() and " " not in m for m in ct.models), type_id


@pytest.mark.parametrize("type_id", [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 21, 22, 50])
def test_openai_protocol_types_share_the_openai_list(type_id: int) -> None:
    assert CHANNEL_TYPES[type_id].models == CHANNEL_TYPES[1].models


@pytest.mark.parametrize("type_id", [0, 34, 43])
def test_types_without_built_in_models(type_id: int) -> None:
    assert CHANNEL_TYPES[type_id].models == ()


def test_models_by_type_matches_channel_types_for_ids_1_to_51() -> None:
    body = models_by_type()
    assert sorted(body) == list(range(1, 52))
    for type_id, models in body.items():
        assert isinstance(models, list)
        assert models == list(CHANNEL_TYPES[type_id].models)


def test_models_by_type_returns_fresh_lists() -> None:
    first = models_by_type()
    first[1].append("my-model")
    first[14].clear()
    del first[24]
    second = models_by_type()
    assert "my-model" not in second[1]
    assert "claude-3-5-sonnet-20241022" in second[14]
    assert 24 in second
    assert second[1] is not models_by_type()[1]


# --------------------------------------------------------------------------------------------------
# Owners and model objects
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "owner"),
    [
        ("gpt-4o", "openai"),
        ("gpt-3.5-turbo", "openai"),
        ("o3-mini", "openai"),
        ("text-embedding-3-small", "openai"),
        ("claude-3-5-sonnet-20241022", "anthropic"),  # also on AWS: the first owner wins
        ("claude-3-7-sonnet-20250219", "anthropic"),
        ("PaLM-2", "google palm"),
        ("gemini-1.5-pro", "google gemini"),
        ("gemini-pro", "google gemini"),  # also on VertexAI
        ("text-embedding-004", "google gemini"),
        ("glm-4", "zhipu"),
        ("chatglm_pro", "zhipu"),
        ("ERNIE-4.0-8K", "baidu"),
        ("qwen-turbo", "ali"),
        ("text-embedding-v1", "ali"),
        ("deepseek-r1", "ali"),  # Ali lists it before BaiduV2 / Bailian
        ("Spark-Max", "xunfei"),
        ("SparkDesk-v3.5", "xunfei"),
        ("hunyuan-lite", "tencent"),
        ("llama3-8b-8192", "aws"),  # AWS comes before Groq in One API's order
        ("claude-3-5-sonnet-v2@20241022", "vertexai"),
        ("command-a-03-2025", "Cohere"),  # the -internet ids went with the v1 API (the v2 adaptor refuses them)
        ("360GPT_S2_V9", "360"),
        ("moonshot-v1-8k", "moonshot"),
        ("mistral-large-latest", "mistralai"),
        ("mixtral-8x7b-32768", "groq"),
        ("deepseek-chat", "deepseek"),
        ("deepseek-reasoner", "deepseek"),
        ("grok-2", "xai"),
        ("generalv3.5", "xunfeiv2"),
        ("ernie-4.0-8k", "baiduv2"),
        ("my-finetune", "custom"),
        ("GPT-4O", "custom"),  # lookups are case-sensitive
        ("", "custom"),
        ("openrouter/auto", "custom"),  # OpenRouter's list is not part of /v1/models (as One API)
        ("qwen-long", "custom"),  # nor is Ali Bailian's
    ],
)
def test_owner_of(model_id: str, owner: str) -> None:
    assert owner_of(model_id) == owner


def test_model_objects_have_unique_ids_and_one_api_shape() -> None:
    objects = model_objects()
    ids = [obj["id"] for obj in objects]
    assert len(ids) == len(set(ids))
    assert len(objects) > 300
    for obj in objects:
        assert set(obj) == {"id", "object", "created", "owned_by", "permission", "root", "parent"}
        assert isinstance(obj["id"], str) and obj["id"]
        assert obj["object"] == "model"
        assert obj["created"] == 1626777600
        assert obj["root"] == obj["id"]
        assert obj["parent"] is None
        assert obj["permission"] == [EXPECTED_PERMISSION]
        assert obj["owned_by"] == owner_of(str(obj["id"]))


def test_model_objects_order_and_coverage() -> None:
    ids = [obj["id"] for obj in model_objects()]
    assert ids[0] == "gpt-3.5-turbo"  # the OpenAI adaptor comes first
    assert ids.index("gpt-4o") < ids.index("claude-3-opus-20240229") < ids.index("PaLM-2")
    assert ids.index("hunyuan-lite") < ids.index("360GPT_S2_V9")  # native adaptors before compatible ones
    catalogue_types = [1, 11, 14, 15, 16, 17, 18, 19, 23, 24, 25, 28, 29, 33, 35, 36, 42, 45, 47, 48]
    for type_id in catalogue_types:
        missing = [m for m in CHANNEL_TYPES[type_id].models if m not in ids]
        assert missing == [], type_id


@pytest.mark.parametrize("model_id", ["gpt-4o", "claude-3-5-sonnet-20241022", "glm-4", "deepseek-chat"])
def test_find_model_returns_the_listed_object(model_id: str) -> None:
    found = find_model(model_id)
    assert found is not None
    listed = next(obj for obj in model_objects() if obj["id"] == model_id)
    assert found == listed
    assert found["owned_by"] == owner_of(model_id)


@pytest.mark.parametrize("model_id", ["no-such-model", "", "gpt-4o ", "custom", "openrouter/auto"])
def test_find_model_unknown_is_none(model_id: str) -> None:
    assert find_model(model_id) is None


def test_model_objects_and_find_model_return_copies() -> None:
    objects = model_objects()
    objects[0]["id"] = "hacked"
    objects[0]["owned_by"] = "hacked"
    permission = objects[0]["permission"]
    assert isinstance(permission, list)
    permission[0]["allow_fine_tuning"] = True
    permission.append({})
    objects.clear()

    fresh = model_objects()
    assert fresh[0]["id"] == "gpt-3.5-turbo"
    assert fresh[0]["owned_by"] == "openai"
    assert fresh[0]["permission"] == [EXPECTED_PERMISSION]
    assert fresh[0]["permission"] is not fresh[1]["permission"]

    found = find_model("gpt-4o")
    assert found is not None
    found["owned_by"] = "hacked"
    found_permission = found["permission"]
    assert isinstance(found_permission, list)
    found_permission[0]["organization"] = "hacked"
    again = find_model("gpt-4o")
    assert again is not None
    assert again["owned_by"] == "openai"
    assert again["permission"] == [EXPECTED_PERMISSION]
    assert owner_of("gpt-4o") == "openai"


def test_module_exports_the_documented_interface() -> None:
    for name in ("CHANNEL_TYPES", "ChannelTypeInfo", "channel_type", "models_by_type", "model_objects",
                 "find_model", "owner_of"):  # fmt: skip
        assert name in catalog.__all__
        assert hasattr(catalog, name)
    fields = [f.name for f in dataclasses.fields(ChannelTypeInfo)]
    assert fields == ["id", "name", "owner", "default_base_url", "key_hint", "models", "base_url_hint"]


def test_base_url_hints_say_what_the_adaptors_do_with_an_empty_base_url() -> None:
    from oneapi.proxy.adaptors import deepl, vertex, xunfei

    hints = {t.id: t.base_url_hint for t in CHANNEL_TYPES.values() if t.base_url_hint}
    assert set(hints) == {18, 33, 34, 38, 42, 43}
    assert hints[18] == xunfei.DEFAULT_BASE_URL
    assert "https://bedrock-runtime.{region}.amazonaws.com" in hints[33]
    assert CHANNEL_TYPES[34].default_base_url in hints[34]
    assert deepl.FREE_HOST in hints[38] and deepl.PRO_HOST in hints[38]
    assert f"default {vertex.DEFAULT_REGION}" in hints[42]
    assert hints[43].startswith("(required")
    # every other type without a fixed default needs a base URL (Azure's resource, Custom, OpenAI-Compatible)
    assert [t.id for t in CHANNEL_TYPES.values() if not t.default_base_url and not t.base_url_hint] == [0, 3, 8, 50]
