"""Immutable catalogue of One API channel types and their built-in models.

One API (songquanpeng/one-api) identifies every upstream provider by a numeric *channel type* (SPEC 6.0,
ids 0..51). Each type has a default base URL, a key format shown in the channel editor, and the model list
of the adaptor that serves it. The same lists feed three endpoints:

* ``GET /api/models`` — channel type id -> model list, used by the channel editor (:func:`models_by_type`);
* ``GET /v1/models`` — every built-in model as an OpenAI model object whose ``owned_by`` is the adaptor's
  channel name (:func:`model_objects`, :func:`owner_of`); names that are not built in are ``"custom"``;
* ``GET /v1/models/:model`` — looks up only the built-in catalogue (:func:`find_model`).

Design
------
* Data lives in one table, ``_TYPE_ROWS``: one row per channel type with its display name, owner, default
  base URL, key hint and model tuple. Model lists are written as whitespace-separated strings (model ids
  never contain whitespace) to keep the tables compact; ``_ids`` turns them into tuples and ``_prefixed``
  expands ``"vendor/ a b"`` lines (OpenRouter's ``vendor/model`` ids).
* Everything is built once at import time into immutable structures: frozen dataclasses, tuples and
  :class:`types.MappingProxyType`. No module-level object can be mutated by a caller, and every public
  function returns freshly built lists/dicts, so mutating a result never affects the next call.
* ``models_by_type`` covers ids 1..51 like One API's ``/api/models`` (type 0, Unknown, is not offered).
* Like One API, types served by the generic OpenAI adaptor share the OpenAI list (Azure, Custom,
  OpenAI-Compatible and the old resellers), Coze and Proxy have no built-in models, and Gemini (24) and
  Gemini-OpenAI (51) share one list.
* The ``/v1/models`` catalogue follows One API's construction order: first the native adaptors (OpenAI,
  Anthropic, PaLM, Baidu, Zhipu, Ali, Xunfei, Tencent, Gemini, Ollama, AWS, Coze, Cohere, Cloudflare,
  DeepL, VertexAI, Proxy, Replicate), then the OpenAI-compatible vendors (360 ... XunfeiV2). The first owner
  of an id wins, so ``claude-3-5-sonnet-20241022`` belongs to ``anthropic`` rather than ``aws``. As in One
  API, OpenRouter, Ali Bailian and Gemini-OpenAI lists are offered in the editor but do not add model
  objects (their ids report ``owned_by: "custom"`` unless another adaptor owns them).
* Lists are One API's HEAD (early 2025) lists plus a few later ids (``o3-mini``, Claude 3.7,
  ``hunyuan-turbo``) and legacy ids from older One API lists that the adaptors still route (SPEC 5.2,
  6.6-6.8: ``SparkDesk*``, ``chatglm_*``, ``ERNIE-Bot*``). Those are appended after the HEAD ids.
* The 2025 update (issue 17) adds the Qwen3 family, ``qwen-flash`` and ``text-embedding-v4`` (Ali, Bailian),
  GLM-4.5/4.6 (Zhipu), ERNIE 4.5 and X1 (Qianfan V2), Gemini 2.5 and Claude 3.7/4 on Vertex, and replaces the
  lists of types whose providers retired HEAD's models: Cohere (Command A/R7B/R 08-2024 and Embed; Command,
  Command Light and the v1 ``-internet`` connector ids are gone), Cloudflare (the models Workers AI serves and
  prices), Groq (retired previews out). Ids that Ali never served (``qwen2.5-vl-2b/1b/0.5b-instruct``) and the
  expired ``gemini-exp-1206`` are dropped. Every model listed is priced in :mod:`.ratios` (a test checks it),
  except the menus of resellers (OpenRouter, Novita, SiliconFlow), which operators price in ModelRatio.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from oneapi.channel_types import ChannelType, known_type

__all__ = [
    "CHANNEL_TYPES",
    "CUSTOM_OWNER",
    "MODEL_CREATED",
    "ChannelTypeInfo",
    "channel_type",
    "find_model",
    "model_objects",
    "models_by_type",
    "owner_of",
]

MODEL_CREATED: Final = 1626777600
"""The fixed ``created`` timestamp One API puts on every model and permission object."""

CUSTOM_OWNER: Final = "custom"


@dataclass(frozen=True)
class ChannelTypeInfo:
    """One channel type: its id, display name, adaptor owner name, defaults and built-in models."""

    id: ChannelType
    name: str
    owner: str
    default_base_url: str
    key_hint: str
    models: tuple[str, ...]
    # What the channel editor shows for the base URL when the default is not one fixed URL: derived from the
    # key or config (Bedrock, Vertex AI), chosen by the key (DeepL), or required (Proxy). Empty: the default.
    base_url_hint: str = ""


def _ids(*chunks: str) -> tuple[str, ...]:
    """Split whitespace-separated model ids into a tuple, dropping duplicates but keeping order."""
    return tuple(dict.fromkeys(word for chunk in chunks for word in chunk.split()))


def _prefixed(*lines: str) -> tuple[str, ...]:
    """Expand lines of the form ``"vendor/ a b"`` into ``("vendor/a", "vendor/b")``, keeping order."""
    out: list[str] = []
    for line in lines:
        prefix, *names = line.split()
        out.extend(prefix + name for name in names)
    return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------------------------------
# Model lists (per adaptor)
# --------------------------------------------------------------------------------------------------

_OPENAI: Final = _ids(
    "gpt-3.5-turbo gpt-3.5-turbo-0301 gpt-3.5-turbo-0613 gpt-3.5-turbo-1106 gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-16k gpt-3.5-turbo-16k-0613 gpt-3.5-turbo-instruct",
    "gpt-4 gpt-4-0314 gpt-4-0613 gpt-4-1106-preview gpt-4-0125-preview",
    "gpt-4-32k gpt-4-32k-0314 gpt-4-32k-0613",
    "gpt-4-turbo-preview gpt-4-turbo gpt-4-turbo-2024-04-09",
    "gpt-4o gpt-4o-2024-05-13 gpt-4o-2024-08-06 gpt-4o-2024-11-20 chatgpt-4o-latest",
    "gpt-4o-mini gpt-4o-mini-2024-07-18 gpt-4-vision-preview",
    "text-embedding-ada-002 text-embedding-3-small text-embedding-3-large",
    "text-curie-001 text-babbage-001 text-ada-001 text-davinci-002 text-davinci-003",
    "text-moderation-latest text-moderation-stable text-davinci-edit-001 davinci-002 babbage-002",
    "dall-e-2 dall-e-3 whisper-1 tts-1 tts-1-1106 tts-1-hd tts-1-hd-1106",
    "o1 o1-2024-12-17 o1-preview o1-preview-2024-09-12 o1-mini o1-mini-2024-09-12",
    "o3-mini o3-mini-2025-01-31",
)

_ANTHROPIC: Final = _ids(
    "claude-instant-1.2 claude-2.0 claude-2.1 claude-3-haiku-20240307",
    "claude-3-5-haiku-20241022 claude-3-5-haiku-latest claude-3-sonnet-20240229 claude-3-opus-20240229",
    "claude-3-5-sonnet-20240620 claude-3-5-sonnet-20241022 claude-3-5-sonnet-latest",
    "claude-3-7-sonnet-20250219 claude-3-7-sonnet-latest",
)

_PALM: Final = _ids("PaLM-2")

_BAIDU: Final = _ids(
    "ERNIE-4.0-8K ERNIE-3.5-8K ERNIE-3.5-8K-0205 ERNIE-3.5-8K-1222 ERNIE-Bot-8K ERNIE-3.5-4K-0205",
    "ERNIE-Speed-8K ERNIE-Speed-128K ERNIE-Lite-8K-0922 ERNIE-Lite-8K-0308 ERNIE-Tiny-8K BLOOMZ-7B",
    "Embedding-V1 bge-large-zh bge-large-en tao-8k",
    # legacy ids still mapped to endpoints by the adaptor
    "ERNIE-4.0 ERNIE-Bot-4 ERNIE-Bot ERNIE-Bot-turbo ERNIE-Speed",
)

_ZHIPU: Final = _ids(
    "glm-4.6 glm-4.5 glm-4.5-air glm-4.5-x glm-4.5-airx glm-4.5-flash glm-4.5v",
    "glm-zero-preview glm-4-plus glm-4-0520 glm-4-airx glm-4-air glm-4-long glm-4-flashx glm-4-flash",
    "glm-4 glm-3-turbo glm-4v-plus glm-4v glm-4v-flash",
    "cogview-3-plus cogview-3 cogview-3-flash cogviewx cogviewx-flash",
    "charglm-4 emohaa codegeex-4 embedding-2 embedding-3",
    # legacy v3 (model-api) ids
    "chatglm_turbo chatglm_pro chatglm_std chatglm_lite",
)

_QWEN3: Final = (
    "qwen3-max qwen3-235b-a22b qwen3-32b qwen3-30b-a3b qwen3-14b qwen3-8b qwen3-4b qwen3-1.7b qwen3-0.6b "
    "qwen3-coder-plus qwen3-coder-flash qwen-flash"
)

_ALI: Final = _ids(
    "qwen-turbo qwen-turbo-latest qwen-plus qwen-plus-latest qwen-max qwen-max-latest qwen-max-longcontext",
    "qwen-vl-max qwen-vl-max-latest qwen-vl-plus qwen-vl-plus-latest qwen-vl-ocr qwen-vl-ocr-latest",
    "qwen-audio-turbo qwen-math-plus qwen-math-plus-latest qwen-math-turbo qwen-math-turbo-latest",
    "qwen-coder-plus qwen-coder-plus-latest qwen-coder-turbo qwen-coder-turbo-latest qwq-32b-preview",
    "qwen2.5-72b-instruct qwen2.5-32b-instruct qwen2.5-14b-instruct qwen2.5-7b-instruct",
    "qwen2.5-3b-instruct qwen2.5-1.5b-instruct qwen2.5-0.5b-instruct",
    "qwen2-72b-instruct qwen2-57b-a14b-instruct qwen2-7b-instruct qwen2-1.5b-instruct qwen2-0.5b-instruct",
    "qwen1.5-110b-chat qwen1.5-72b-chat qwen1.5-32b-chat qwen1.5-14b-chat qwen1.5-7b-chat",
    "qwen1.5-1.8b-chat qwen1.5-0.5b-chat",
    "qwen-72b-chat qwen-14b-chat qwen-7b-chat qwen-1.8b-chat qwen-1.8b-longcontext-chat qvq-72b-preview",
    "qwen2.5-vl-72b-instruct qwen2.5-vl-7b-instruct qwen2.5-vl-3b-instruct",
    "qwen2-vl-7b-instruct qwen2-vl-2b-instruct qwen-vl-v1 qwen-vl-chat-v1",
    "qwen2-audio-instruct qwen-audio-chat",
    "qwen2.5-math-72b-instruct qwen2.5-math-7b-instruct qwen2.5-math-1.5b-instruct",
    "qwen2-math-72b-instruct qwen2-math-7b-instruct qwen2-math-1.5b-instruct",
    "qwen2.5-coder-32b-instruct qwen2.5-coder-14b-instruct qwen2.5-coder-7b-instruct",
    "qwen2.5-coder-3b-instruct qwen2.5-coder-1.5b-instruct qwen2.5-coder-0.5b-instruct",
    "text-embedding-v1 text-embedding-v3 text-embedding-v2 text-embedding-async-v2 text-embedding-async-v1",
    "text-embedding-v4",
    "ali-stable-diffusion-xl ali-stable-diffusion-v1.5 wanx-v1 qwen-mt-plus qwen-mt-turbo",
    "deepseek-r1 deepseek-v3 deepseek-r1-distill-qwen-1.5b deepseek-r1-distill-qwen-7b",
    "deepseek-r1-distill-qwen-14b deepseek-r1-distill-qwen-32b deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-llama-70b",
    # 2025: the Qwen3 family (oneapi's additions)
    _QWEN3,
)

_XUNFEI: Final = _ids(
    "Spark-Lite Spark-Pro Spark-Pro-128K Spark-Max Spark-Max-32K Spark-4.0-Ultra",
    # legacy ids: the version is the text after the first '-'
    "SparkDesk SparkDesk-v1.1 SparkDesk-v2.1 SparkDesk-v3.1 SparkDesk-v3.1-128K SparkDesk-v3.5",
    "SparkDesk-v3.5-32K SparkDesk-v4.0",
)

_TENCENT: Final = _ids(
    "hunyuan-lite hunyuan-standard hunyuan-standard-256K hunyuan-pro hunyuan-vision hunyuan-embedding",
    "hunyuan-turbo",
)

_GEMINI: Final = _ids(
    "gemini-pro gemini-1.0-pro gemini-1.5-flash gemini-1.5-flash-8b",
    "gemini-1.5-pro gemini-1.5-pro-experimental",
    "text-embedding-004 aqa gemini-2.0-flash gemini-2.0-flash-exp gemini-2.0-flash-lite-preview-02-05",
    "gemini-2.0-flash-thinking-exp-01-21 gemini-2.0-pro-exp-02-05",
)

_OLLAMA: Final = _ids(
    "codellama:7b-instruct llama2:7b llama2:latest llama3:latest phi3:latest qwen:0.5b-chat qwen:7b"
)

_AWS: Final = _ids(
    "claude-instant-1.2 claude-2.0 claude-2.1 claude-3-haiku-20240307 claude-3-sonnet-20240229",
    "claude-3-opus-20240229 claude-3-5-sonnet-20240620 claude-3-5-sonnet-20241022 claude-3-5-sonnet-latest",
    "claude-3-5-haiku-20241022 llama3-8b-8192 llama3-70b-8192",
    "amazon.titan-embed-text-v2:0 amazon.titan-embed-text-v1 cohere.embed-english-v3 cohere.embed-multilingual-v3",
    "cohere.embed-v4:0",
)

_COHERE: Final = _ids(
    "command-a-03-2025 command-r7b-12-2024 command-r-plus-08-2024 command-r-08-2024 command-r-plus command-r",
    "embed-v4.0 embed-english-v3.0 embed-multilingual-v3.0 embed-english-light-v3.0",
    "embed-multilingual-light-v3.0",
)

_CLOUDFLARE: Final = _ids(
    "@cf/meta/llama-3.1-8b-instruct @cf/meta/llama-3.2-1b-instruct @cf/meta/llama-3.2-3b-instruct",
    "@cf/meta/llama-3.3-70b-instruct-fp8-fast @cf/meta/llama-4-scout-17b-16e-instruct",
    "@cf/mistral/mistral-7b-instruct-v0.1 @cf/google/gemma-3-12b-it @cf/qwen/qwq-32b",
    "@cf/qwen/qwen2.5-coder-32b-instruct @cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
    "@cf/baai/bge-base-en-v1.5 @cf/baai/bge-large-en-v1.5 @cf/baai/bge-small-en-v1.5 @cf/baai/bge-m3",
)

_DEEPL: Final = _ids("deepl-zh deepl-en deepl-ja deepl-en-us deepl-en-gb deepl-de deepl-fr deepl-es deepl-ko")

_VERTEXAI: Final = _ids(
    "claude-3-haiku@20240307 claude-3-sonnet@20240229 claude-3-opus@20240229 claude-3-5-sonnet@20240620",
    "claude-3-5-sonnet-v2@20241022 claude-3-5-haiku@20241022",
    "gemini-pro gemini-pro-vision gemini-1.5-pro-001 gemini-1.5-pro-002",
    "gemini-1.5-flash-001 gemini-1.5-flash-002 gemini-2.0-flash-exp gemini-2.0-flash-001",
    "gemini-2.0-flash-lite-preview-02-05 gemini-2.0-flash-thinking-exp-01-21",
    "gemini-2.5-pro gemini-2.5-flash claude-3-7-sonnet@20250219 claude-sonnet-4@20250514",
    "gemini-embedding-001",
)

_REPLICATE: Final = _ids(
    "black-forest-labs/flux-1.1-pro black-forest-labs/flux-1.1-pro-ultra black-forest-labs/flux-canny-dev",
    "black-forest-labs/flux-canny-pro black-forest-labs/flux-depth-dev black-forest-labs/flux-depth-pro",
    "black-forest-labs/flux-dev black-forest-labs/flux-dev-lora black-forest-labs/flux-fill-dev",
    "black-forest-labs/flux-fill-pro black-forest-labs/flux-pro black-forest-labs/flux-redux-dev",
    "black-forest-labs/flux-redux-schnell black-forest-labs/flux-schnell black-forest-labs/flux-schnell-lora",
    "ideogram-ai/ideogram-v2 ideogram-ai/ideogram-v2-turbo recraft-ai/recraft-v3 recraft-ai/recraft-v3-svg",
    "stability-ai/stable-diffusion-3 stability-ai/stable-diffusion-3.5-large",
    "stability-ai/stable-diffusion-3.5-large-turbo stability-ai/stable-diffusion-3.5-medium",
    "ibm-granite/granite-20b-code-instruct-8k ibm-granite/granite-3.0-2b-instruct",
    "ibm-granite/granite-3.0-8b-instruct ibm-granite/granite-8b-code-instruct-128k",
    "meta/llama-2-13b meta/llama-2-13b-chat meta/llama-2-70b meta/llama-2-70b-chat meta/llama-2-7b",
    "meta/llama-2-7b-chat meta/meta-llama-3.1-405b-instruct meta/meta-llama-3-70b",
    "meta/meta-llama-3-70b-instruct meta/meta-llama-3-8b meta/meta-llama-3-8b-instruct",
    "mistralai/mistral-7b-instruct-v0.2 mistralai/mistral-7b-v0.1 mistralai/mixtral-8x7b-instruct-v0.1",
)

_AI360: Final = _ids("360GPT_S2_V9 embedding-bert-512-v1 embedding_s1_v1 semantic_similarity_s1_v1")
_MOONSHOT: Final = _ids("moonshot-v1-8k moonshot-v1-32k moonshot-v1-128k")
_BAICHUAN: Final = _ids("Baichuan2-Turbo Baichuan2-Turbo-192k Baichuan-Text-Embedding")
_MINIMAX: Final = _ids(
    "abab6.5-chat abab6.5s-chat abab6-chat abab5.5-chat abab5.5s-chat MiniMax-VL-01 MiniMax-Text-01"
)
_DOUBAO: Final = _ids(
    "Doubao-pro-128k Doubao-pro-32k Doubao-pro-4k Doubao-lite-128k Doubao-lite-32k Doubao-lite-4k",
    "Doubao-embedding",
)
_MISTRAL: Final = _ids(
    "open-mistral-7b open-mixtral-8x7b mistral-small-latest mistral-medium-latest mistral-large-latest",
    "mistral-embed",
)
_GROQ: Final = _ids(
    "gemma2-9b-it llama-3.1-70b-versatile llama-3.1-8b-instant llama-3.2-11b-text-preview",
    "llama-3.2-11b-vision-preview llama-3.2-1b-preview llama-3.2-3b-preview llama-3.2-90b-text-preview",
    "llama-guard-3-8b llama3-70b-8192 llama3-8b-8192",
    "llama3-groq-70b-8192-tool-use-preview llama3-groq-8b-8192-tool-use-preview",
    "mixtral-8x7b-32768 whisper-large-v3 whisper-large-v3-turbo deepseek-r1-distill-llama-70b",
)
_LINGYIWANWU: Final = _ids("yi-34b-chat-0205 yi-34b-chat-200k yi-vl-plus")
_STEPFUN: Final = _ids(
    "step-1-8k step-1-32k step-1-128k step-1-256k step-1-flash step-2-16k",
    "step-1v-8k step-1v-32k step-1x-medium",
)
_DEEPSEEK: Final = _ids("deepseek-chat deepseek-reasoner")
_TOGETHERAI: Final = _ids(
    "meta-llama/Llama-3-70b-chat-hf deepseek-ai/deepseek-coder-33b-instruct",
    "mistralai/Mixtral-8x22B-Instruct-v0.1 Qwen/Qwen1.5-72B-Chat",
)
_NOVITA: Final = _ids(
    "meta-llama/llama-3-8b-instruct meta-llama/llama-3-70b-instruct nousresearch/hermes-2-pro-llama-3-8b",
    "nousresearch/nous-hermes-llama2-13b mistralai/mistral-7b-instruct",
    "cognitivecomputations/dolphin-mixtral-8x22b sao10k/l3-70b-euryale-v2.1",
    "sophosympatheia/midnight-rose-70b gryphe/mythomax-l2-13b Nous-Hermes-2-Mixtral-8x7B-DPO lzlv_70b",
    "teknium/openhermes-2.5-mistral-7b microsoft/wizardlm-2-8x22b",
)
_SILICONFLOW: Final = _ids(
    "deepseek-ai/deepseek-llm-67b-chat Qwen/Qwen1.5-14B-Chat Qwen/Qwen1.5-7B-Chat Qwen/Qwen1.5-110B-Chat",
    "Qwen/Qwen1.5-32B-Chat 01-ai/Yi-1.5-6B-Chat 01-ai/Yi-1.5-9B-Chat-16K 01-ai/Yi-1.5-34B-Chat-16K",
    "THUDM/chatglm3-6b deepseek-ai/DeepSeek-V2-Chat THUDM/glm-4-9b-chat Qwen/Qwen2-72B-Instruct",
    "Qwen/Qwen2-7B-Instruct Qwen/Qwen2-57B-A14B-Instruct deepseek-ai/DeepSeek-Coder-V2-Instruct",
    "Qwen/Qwen2-1.5B-Instruct internlm/internlm2_5-7b-chat BAAI/bge-large-en-v1.5 BAAI/bge-large-zh-v1.5",
    "Pro/Qwen/Qwen2-7B-Instruct Pro/Qwen/Qwen2-1.5B-Instruct Pro/Qwen/Qwen1.5-7B-Chat",
    "Pro/THUDM/glm-4-9b-chat Pro/THUDM/chatglm3-6b Pro/01-ai/Yi-1.5-9B-Chat-16K Pro/01-ai/Yi-1.5-6B-Chat",
    "Pro/google/gemma-2-9b-it Pro/internlm/internlm2_5-7b-chat Pro/meta-llama/Meta-Llama-3-8B-Instruct",
    "Pro/mistralai/Mistral-7B-Instruct-v0.2",
)
_XAI: Final = _ids(
    "grok-2 grok-vision-beta grok-2-vision-1212 grok-2-vision grok-2-vision-latest grok-2-1212",
    "grok-2-latest grok-beta",
)
_BAIDUV2: Final = _ids(
    "ernie-4.5-turbo-128k ernie-4.5-turbo-32k ernie-4.5-8k-preview ernie-x1-turbo-32k ernie-x1-32k-preview",
    "ernie-4.0-8k-latest ernie-4.0-8k-preview ernie-4.0-8k ernie-4.0-turbo-8k-latest",
    "ernie-4.0-turbo-8k-preview ernie-4.0-turbo-8k ernie-4.0-turbo-128k ernie-3.5-8k-preview ernie-3.5-8k",
    "ernie-3.5-128k ernie-speed-8k ernie-speed-128k ernie-speed-pro-128k ernie-lite-8k ernie-lite-pro-128k",
    "ernie-tiny-8k ernie-char-8k ernie-char-fiction-8k ernie-novel-8k",
    "deepseek-v3 deepseek-r1 deepseek-r1-distill-qwen-32b deepseek-r1-distill-qwen-14b",
)
_XUNFEIV2: Final = _ids("lite generalv3 pro-128k generalv3.5 max-32k 4.0Ultra")
_ALIBAILIAN: Final = _ids(
    "qwen-turbo qwen-plus qwen-long qwen-max qwen-coder-plus qwen-coder-plus-latest qwen-coder-turbo",
    "qwen-coder-turbo-latest qwen-mt-plus qwen-mt-turbo qwq-32b-preview deepseek-r1 deepseek-v3",
    _QWEN3, "text-embedding-v4",
)

# OpenRouter's catalogue. Each line starts with a vendor prefix (ending in '/') followed by model names.
_OPENROUTER: Final = _prefixed(
    "01-ai/ yi-large",
    "aetherwiing/ mn-starcannon-12b",
    "ai21/ jamba-1-5-large jamba-1-5-mini jamba-instruct",
    "aion-labs/ aion-1.0 aion-1.0-mini aion-rp-llama-3.1-8b",
    "allenai/ llama-3.1-tulu-3-405b",
    "alpindale/ goliath-120b magnum-72b",
    "amazon/ nova-lite-v1 nova-micro-v1 nova-pro-v1",
    "anthracite-org/ magnum-v2-72b magnum-v4-72b",
    "anthropic/ claude-2 claude-2.0 claude-2.0:beta claude-2.1 claude-2.1:beta claude-2:beta",
    "anthropic/ claude-3-haiku claude-3-haiku:beta claude-3-opus claude-3-opus:beta",
    "anthropic/ claude-3-sonnet claude-3-sonnet:beta claude-3.5-haiku claude-3.5-haiku-20241022",
    "anthropic/ claude-3.5-haiku-20241022:beta claude-3.5-haiku:beta claude-3.5-sonnet",
    "anthropic/ claude-3.5-sonnet-20240620 claude-3.5-sonnet-20240620:beta claude-3.5-sonnet:beta",
    "cognitivecomputations/ dolphin-mixtral-8x22b dolphin-mixtral-8x7b",
    "cohere/ command command-r command-r-03-2024 command-r-08-2024 command-r-plus",
    "cohere/ command-r-plus-04-2024 command-r-plus-08-2024 command-r7b-12-2024",
    "databricks/ dbrx-instruct",
    "deepseek/ deepseek-chat deepseek-chat-v2.5 deepseek-chat:free deepseek-r1",
    "deepseek/ deepseek-r1-distill-llama-70b deepseek-r1-distill-llama-70b:free",
    "deepseek/ deepseek-r1-distill-llama-8b deepseek-r1-distill-qwen-1.5b",
    "deepseek/ deepseek-r1-distill-qwen-14b deepseek-r1-distill-qwen-32b deepseek-r1:free",
    "eva-unit-01/ eva-llama-3.33-70b eva-qwen-2.5-32b eva-qwen-2.5-72b",
    "google/ gemini-2.0-flash-001 gemini-2.0-flash-exp:free",
    "google/ gemini-2.0-flash-lite-preview-02-05:free gemini-2.0-flash-thinking-exp-1219:free",
    "google/ gemini-2.0-flash-thinking-exp:free gemini-2.0-pro-exp-02-05:free",
    "google/ gemini-exp-1206:free gemini-flash-1.5 gemini-flash-1.5-8b gemini-flash-1.5-8b-exp",
    "google/ gemini-pro gemini-pro-1.5 gemini-pro-vision gemma-2-27b-it gemma-2-9b-it",
    "google/ gemma-2-9b-it:free gemma-7b-it learnlm-1.5-pro-experimental:free palm-2-chat-bison",
    "google/ palm-2-chat-bison-32k palm-2-codechat-bison palm-2-codechat-bison-32k",
    "gryphe/ mythomax-l2-13b mythomax-l2-13b:free",
    "huggingfaceh4/ zephyr-7b-beta:free",
    "infermatic/ mn-inferor-12b",
    "inflection/ inflection-3-pi inflection-3-productivity",
    "jondurbin/ airoboros-l2-70b",
    "liquid/ lfm-3b lfm-40b lfm-7b",
    "mancer/ weaver",
    "meta-llama/ llama-2-13b-chat llama-2-70b-chat llama-3-70b-instruct llama-3-8b-instruct",
    "meta-llama/ llama-3-8b-instruct:free llama-3.1-405b llama-3.1-405b-instruct",
    "meta-llama/ llama-3.1-70b-instruct llama-3.1-8b-instruct llama-3.2-11b-vision-instruct",
    "meta-llama/ llama-3.2-11b-vision-instruct:free llama-3.2-1b-instruct llama-3.2-3b-instruct",
    "meta-llama/ llama-3.2-90b-vision-instruct llama-3.3-70b-instruct llama-3.3-70b-instruct:free",
    "meta-llama/ llama-guard-2-8b",
    "microsoft/ phi-3-medium-128k-instruct phi-3-medium-128k-instruct:free",
    "microsoft/ phi-3-mini-128k-instruct phi-3-mini-128k-instruct:free phi-3.5-mini-128k-instruct",
    "microsoft/ phi-4 wizardlm-2-7b wizardlm-2-8x22b",
    "minimax/ minimax-01",
    "mistralai/ codestral-2501 codestral-mamba ministral-3b ministral-8b mistral-7b-instruct",
    "mistralai/ mistral-7b-instruct-v0.1 mistral-7b-instruct-v0.3 mistral-7b-instruct:free",
    "mistralai/ mistral-large mistral-large-2407 mistral-large-2411 mistral-medium mistral-nemo",
    "mistralai/ mistral-nemo:free mistral-small mistral-small-24b-instruct-2501",
    "mistralai/ mistral-small-24b-instruct-2501:free mistral-tiny mixtral-8x22b-instruct",
    "mistralai/ mixtral-8x7b mixtral-8x7b-instruct pixtral-12b pixtral-large-2411",
    "neversleep/ llama-3-lumimaid-70b llama-3-lumimaid-8b llama-3-lumimaid-8b:extended",
    "neversleep/ llama-3.1-lumimaid-70b llama-3.1-lumimaid-8b noromaid-20b",
    "nothingiisreal/ mn-celeste-12b",
    "nousresearch/ hermes-2-pro-llama-3-8b hermes-3-llama-3.1-405b hermes-3-llama-3.1-70b",
    "nousresearch/ nous-hermes-2-mixtral-8x7b-dpo nous-hermes-llama2-13b",
    "nvidia/ llama-3.1-nemotron-70b-instruct llama-3.1-nemotron-70b-instruct:free",
    "openai/ chatgpt-4o-latest gpt-3.5-turbo gpt-3.5-turbo-0125 gpt-3.5-turbo-0613",
    "openai/ gpt-3.5-turbo-1106 gpt-3.5-turbo-16k gpt-3.5-turbo-instruct gpt-4 gpt-4-0314",
    "openai/ gpt-4-1106-preview gpt-4-32k gpt-4-32k-0314 gpt-4-turbo gpt-4-turbo-preview gpt-4o",
    "openai/ gpt-4o-2024-05-13 gpt-4o-2024-08-06 gpt-4o-2024-11-20 gpt-4o-mini",
    "openai/ gpt-4o-mini-2024-07-18 gpt-4o:extended o1 o1-mini o1-mini-2024-09-12 o1-preview",
    "openai/ o1-preview-2024-09-12 o3-mini o3-mini-high",
    "openchat/ openchat-7b openchat-7b:free",
    "openrouter/ auto",
    "perplexity/ llama-3.1-sonar-huge-128k-online llama-3.1-sonar-large-128k-chat",
    "perplexity/ llama-3.1-sonar-large-128k-online llama-3.1-sonar-small-128k-chat",
    "perplexity/ llama-3.1-sonar-small-128k-online sonar sonar-reasoning",
    "pygmalionai/ mythalion-13b",
    "qwen/ qvq-72b-preview qwen-2-72b-instruct qwen-2-7b-instruct qwen-2-7b-instruct:free",
    "qwen/ qwen-2-vl-72b-instruct qwen-2-vl-7b-instruct qwen-2.5-72b-instruct",
    "qwen/ qwen-2.5-7b-instruct qwen-2.5-coder-32b-instruct qwen-max qwen-plus qwen-turbo",
    "qwen/ qwen-vl-plus:free qwen2.5-vl-72b-instruct:free qwq-32b-preview",
    "raifle/ sorcererlm-8x22b",
    "sao10k/ fimbulvetr-11b-v2 l3-euryale-70b l3-lunaris-8b l3.1-70b-hanami-x1 l3.1-euryale-70b",
    "sao10k/ l3.3-euryale-70b",
    "sophosympatheia/ midnight-rose-70b rogue-rose-103b-v0.2:free",
    "teknium/ openhermes-2.5-mistral-7b",
    "thedrummer/ rocinante-12b unslopnemo-12b",
    "undi95/ remm-slerp-l2-13b toppy-m-7b toppy-m-7b:free",
    "x-ai/ grok-2-1212 grok-2-vision-1212 grok-beta grok-vision-beta",
    "xwin-lm/ xwin-lm-70b",
)

# --------------------------------------------------------------------------------------------------
# Channel types (SPEC 6.0): id, display name, owner (adaptor channel name), default base URL, key hint, models
# --------------------------------------------------------------------------------------------------

_SK: Final = "sk-..."
_GOOGLE_KEY: Final = "AIza..."

_TYPE_ROWS: Final[tuple[tuple[ChannelType, str, str, str, str, tuple[str, ...]], ...]] = (
    (ChannelType.UNKNOWN, "Unknown", "openai", "", "", ()),
    (ChannelType.OPENAI, "OpenAI", "openai", "https://api.openai.com", _SK, _OPENAI),
    (ChannelType.API2D, "API2D", "openai", "https://oa.api2d.net", _SK, _OPENAI),
    (ChannelType.AZURE, "Azure OpenAI", "azure", "", "Azure api-key", _OPENAI),
    (ChannelType.CLOSEAI, "CloseAI", "openai", "https://api.closeai-proxy.xyz", _SK, _OPENAI),
    (ChannelType.OPENAI_SB, "OpenAI-SB", "openai", "https://api.openai-sb.com", _SK, _OPENAI),
    (ChannelType.OPENAI_MAX, "OpenAI Max", "openai", "https://api.openaimax.com", _SK, _OPENAI),
    (ChannelType.OHMYGPT, "OhMyGPT", "openai", "https://api.ohmygpt.com", _SK, _OPENAI),
    (ChannelType.CUSTOM, "Custom", "openai", "", _SK, _OPENAI),
    (ChannelType.AILS, "AI.LS", "openai", "https://api.caipacity.com", _SK, _OPENAI),
    (ChannelType.AIPROXY, "AI Proxy", "openai", "https://api.aiproxy.io", _SK, _OPENAI),
    (ChannelType.PALM, "Google PaLM2", "google palm", "https://generativelanguage.googleapis.com", _GOOGLE_KEY, _PALM),
    (ChannelType.API2GPT, "API2GPT", "openai", "https://api.api2gpt.com", _SK, _OPENAI),
    (ChannelType.AIGC2D, "AIGC2D", "openai", "https://api.aigc2d.com", _SK, _OPENAI),
    (ChannelType.ANTHROPIC, "Anthropic Claude", "anthropic", "https://api.anthropic.com", "sk-ant-...", _ANTHROPIC),
    (ChannelType.BAIDU, "Baidu Wenxin Qianfan", "baidu", "https://aip.baidubce.com", "AK|SK", _BAIDU),
    (ChannelType.ZHIPU, "Zhipu ChatGLM", "zhipu", "https://open.bigmodel.cn", "id.secret", _ZHIPU),
    (ChannelType.ALI, "Alibaba Tongyi Qianwen", "ali", "https://dashscope.aliyuncs.com", _SK, _ALI),
    (ChannelType.XUNFEI, "iFlytek Spark", "xunfei", "", "APPID|APISecret|APIKey", _XUNFEI),
    (ChannelType.AI360, "360 Zhinao", "360", "https://ai.360.cn", "API key", _AI360),
    (ChannelType.OPENROUTER, "OpenRouter", "openrouter", "https://openrouter.ai/api", "sk-or-...", _OPENROUTER),
    (ChannelType.AIPROXY_LIBRARY, "AI Proxy Library", "aiproxy", "https://api.aiproxy.io", "API key", _OPENAI),
    (ChannelType.FASTGPT, "FastGPT", "openai", "https://fastgpt.run/api/openapi", "APIKey-AppId", _OPENAI),
    (
        ChannelType.TENCENT,
        "Tencent Hunyuan",
        "tencent",
        "https://hunyuan.tencentcloudapi.com",
        "AppId|SecretId|SecretKey",
        _TENCENT,
    ),
    (ChannelType.GEMINI, "Google Gemini", "google gemini", "https://generativelanguage.googleapis.com", _GOOGLE_KEY,
     _GEMINI),
    (ChannelType.MOONSHOT, "Moonshot AI", "moonshot", "https://api.moonshot.cn", _SK, _MOONSHOT),
    (ChannelType.BAICHUAN, "Baichuan", "baichuan", "https://api.baichuan-ai.com", _SK, _BAICHUAN),
    (ChannelType.MINIMAX, "MiniMax", "minimax", "https://api.minimax.chat", "API key", _MINIMAX),
    (ChannelType.MISTRAL, "Mistral AI", "mistralai", "https://api.mistral.ai", "API key", _MISTRAL),
    (ChannelType.GROQ, "Groq", "groq", "https://api.groq.com/openai", "gsk_...", _GROQ),
    (ChannelType.OLLAMA, "Ollama", "ollama", "http://localhost:11434", "any (not checked)", _OLLAMA),
    (ChannelType.LINGYIWANWU, "01.AI (LingYiWanWu)", "lingyiwanwu", "https://api.lingyiwanwu.com", "API key",
     _LINGYIWANWU),
    (ChannelType.STEPFUN, "StepFun", "stepfun", "https://api.stepfun.com", "API key", _STEPFUN),
    (ChannelType.AWS_CLAUDE, "AWS Bedrock", "aws", "",
     'AK|SK|Region (|session token); or config {"ak", "sk", "region"}', _AWS),
    (ChannelType.COZE, "Coze", "coze", "https://api.coze.com",
     'pat_... (models: bot-<bot id>; config {"user_id"} optional)', ()),
    (ChannelType.COHERE, "Cohere", "Cohere", "https://api.cohere.com", "API key", _COHERE),
    (ChannelType.DEEPSEEK, "DeepSeek", "deepseek", "https://api.deepseek.com", _SK, _DEEPSEEK),
    (ChannelType.CLOUDFLARE, "Cloudflare", "cloudflare", "https://api.cloudflare.com",
     'API token; config {"user_id": account id}', _CLOUDFLARE),
    (ChannelType.DEEPL, "DeepL", "deepl", "https://api-free.deepl.com", "auth key (...:fx)", _DEEPL),
    (ChannelType.TOGETHERAI, "together.ai", "together.ai", "https://api.together.xyz", "API key", _TOGETHERAI),
    (ChannelType.DOUBAO, "Doubao (Volcengine Ark)", "doubao", "https://ark.cn-beijing.volces.com", "API key", _DOUBAO),
    (ChannelType.NOVITA, "Novita", "novita", "https://api.novita.ai/v3/openai", "API key", _NOVITA),
    (ChannelType.VERTEXAI, "VertexAI", "vertexai", "",
     'service account JSON; config {"region", "vertex_ai_project_id"}', _VERTEXAI),
    (ChannelType.PROXY, "Proxy", "proxy", "", "Authorization value (Bearer sk-...)", ()),
    (ChannelType.SILICONFLOW, "SiliconFlow", "siliconflow", "https://api.siliconflow.cn", _SK, _SILICONFLOW),
    (ChannelType.XAI, "xAI", "xai", "https://api.x.ai", "xai-...", _XAI),
    (ChannelType.REPLICATE, "Replicate", "replicate", "https://api.replicate.com/v1/models/", "r8_...", _REPLICATE),
    (ChannelType.BAIDU_V2, "Baidu Qianfan V2", "baiduv2", "https://qianfan.baidubce.com", "bce-v3/...", _BAIDUV2),
    (ChannelType.XUNFEI_V2, "iFlytek Spark V2", "xunfeiv2", "https://spark-api-open.xf-yun.com", "APIPassword",
     _XUNFEIV2),
    (ChannelType.ALI_BAILIAN, "Alibaba Bailian", "alibailian", "https://dashscope.aliyuncs.com", _SK, _ALIBAILIAN),
    (ChannelType.OPENAI_COMPATIBLE, "OpenAI-Compatible", "openai", "", _SK, _OPENAI),
    (
        ChannelType.GEMINI_OPENAI_COMPATIBLE,
        "Gemini (OpenAI-compatible)",
        "geminiv2",
        "https://generativelanguage.googleapis.com/v1beta/openai/",
        _GOOGLE_KEY,
        _GEMINI,
    ),
)


# The base URL the adaptor uses when the channel leaves it empty, where that is not the row's fixed default
# (kept true to oneapi/proxy/adaptors/{xunfei,aws,coze,deepl,vertex,proxy}.py).
_BASE_URL_HINTS: Final[Mapping[ChannelType, str]] = MappingProxyType({
    ChannelType.XUNFEI: "wss://spark-api.xf-yun.com",
    ChannelType.AWS_CLAUDE: "https://bedrock-runtime.{region}.amazonaws.com (the key's region)",
    ChannelType.COZE: "https://api.coze.com (https://api.coze.cn for Coze China)",
    ChannelType.DEEPL: "https://api-free.deepl.com for a :fx key, else https://api.deepl.com",
    ChannelType.VERTEXAI: "https://{region}-aiplatform.googleapis.com (config region, default us-central1; "
                          "global: https://aiplatform.googleapis.com)",
    ChannelType.PROXY: "(required: the API that /v1/oneapi/proxy/{channel}/... passes requests to)",
})


def _build_channel_types() -> Mapping[ChannelType, ChannelTypeInfo]:
    table = {row[0]: ChannelTypeInfo(*row, base_url_hint=_BASE_URL_HINTS.get(row[0], ""))
             for row in _TYPE_ROWS}
    return MappingProxyType(table)


CHANNEL_TYPES: Final[Mapping[ChannelType, ChannelTypeInfo]] = _build_channel_types()
"""Every One API channel type 0..51, keyed by its member (read-only)."""

# Channel types whose model lists become `/v1/models` objects, in One API's construction order: native
# adaptors by API type, then the OpenAI-compatible vendors. OpenAI stands for the generic OpenAI adaptor.
_CATALOGUE_ORDER: Final = (
    ChannelType.OPENAI, ChannelType.ANTHROPIC, ChannelType.PALM, ChannelType.BAIDU, ChannelType.ZHIPU,
    ChannelType.ALI, ChannelType.XUNFEI, ChannelType.TENCENT, ChannelType.GEMINI, ChannelType.OLLAMA,
    ChannelType.AWS_CLAUDE, ChannelType.COZE, ChannelType.COHERE, ChannelType.CLOUDFLARE, ChannelType.DEEPL,
    ChannelType.VERTEXAI, ChannelType.PROXY, ChannelType.REPLICATE,
    ChannelType.AI360, ChannelType.MOONSHOT, ChannelType.BAICHUAN, ChannelType.MINIMAX, ChannelType.DOUBAO,
    ChannelType.MISTRAL, ChannelType.GROQ, ChannelType.LINGYIWANWU, ChannelType.STEPFUN, ChannelType.DEEPSEEK,
    ChannelType.TOGETHERAI, ChannelType.NOVITA, ChannelType.SILICONFLOW, ChannelType.XAI, ChannelType.BAIDU_V2,
    ChannelType.XUNFEI_V2,
)


def _build_owner_index() -> Mapping[str, str]:
    owners: dict[str, str] = {}
    for type_id in _CATALOGUE_ORDER:
        ct = CHANNEL_TYPES[type_id]
        for model in ct.models:
            owners.setdefault(model, ct.owner)  # first owner wins
    return MappingProxyType(owners)


_OWNER_BY_MODEL: Final[Mapping[str, str]] = _build_owner_index()

_PERMISSION: Final[Mapping[str, object]] = MappingProxyType(
    {
        "id": "modelperm-LwHkVFn8AcMItP432fKKDIKJ",
        "object": "model_permission",
        "created": MODEL_CREATED,
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
)


def _model_object(model_id: str, owner: str) -> dict[str, object]:
    return {
        "id": model_id,
        "object": "model",
        "created": MODEL_CREATED,
        "owned_by": owner,
        "permission": [dict(_PERMISSION)],
        "root": model_id,
        "parent": None,
    }


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def channel_type(type_id: int) -> ChannelTypeInfo | None:
    """The channel type with this id, or ``None`` when One API has no such type."""
    kind = known_type(type_id)
    return None if kind is None else CHANNEL_TYPES[kind]


def models_by_type() -> dict[ChannelType, list[str]]:
    """Body of ``GET /api/models``: channel type id (1..51, as One API; Unknown is omitted) -> fresh model list."""
    return {type_id: list(ct.models) for type_id, ct in CHANNEL_TYPES.items() if type_id != ChannelType.UNKNOWN}


def model_objects() -> list[dict[str, object]]:
    """Every built-in model once, in catalogue order, as a freshly built OpenAI model object."""
    return [_model_object(model_id, owner) for model_id, owner in _OWNER_BY_MODEL.items()]


def find_model(model_id: str) -> dict[str, object] | None:
    """The model object for a built-in model id (for ``/v1/models/:model``), else ``None``."""
    owner = _OWNER_BY_MODEL.get(model_id)
    return None if owner is None else _model_object(model_id, owner)


def owner_of(model_id: str) -> str:
    """``owned_by`` of a built-in model; ``"custom"`` for names outside the catalogue."""
    return _OWNER_BY_MODEL.get(model_id, CUSTOM_OWNER)
