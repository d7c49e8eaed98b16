"""AWS Bedrock (channel type 33): OpenAI chat completions ⇄ Bedrock's Converse and ConverseStream APIs, signed
with SigV4. Pure, no I/O.

Protocol (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html)
-----------------------------------------------------------------------------------------
* ``POST {base}/model/{modelId}/converse`` (``/converse-stream``) with ``{messages: [{role, content: [{text} |
  {image: {format, source: {bytes}}} | {toolUse: {toolUseId, name, input}} | {toolResult: {toolUseId,
  content}}]}], system: [{text}], inferenceConfig: {maxTokens, temperature, topP, stopSequences}, toolConfig:
  {tools: [{toolSpec: {name, description, inputSchema: {json}}}], toolChoice}, additionalModelRequestFields}``,
  signed with SigV4 (service ``bedrock``) by :mod:`.sigv4`. The base is ``https://bedrock-runtime.{region}
  .amazonaws.com`` unless the channel names one (a VPC endpoint, a proxy, a test server).
* The answer: ``{output: {message: {role, content: [{text} | {toolUse} | {reasoningContent: {reasoningText:
  {text}}}]}}, stopReason, usage: {inputTokens, outputTokens, cacheReadInputTokens?, cacheWriteInputTokens?}}``.
* ConverseStream answers ``application/vnd.amazon.eventstream`` (decoded by :mod:`.eventstream`): events
  messageStart, contentBlockStart (a tool call's id and name), contentBlockDelta (text, tool input fragments,
  reasoning), contentBlockStop, messageStop (stopReason), metadata (usage); or an exception message
  (``:message-type: exception``, ``:exception-type``) with ``{message}``.
* Errors: the HTTP status with ``{"message"}`` (the exception's name travels in a header).

Credentials: the key ``AK|SK|Region`` (``|session token`` may follow), or One API's channel config ``{"ak", "sk",
"region"}``. Models: One API's names map to Bedrock ids (``claude-3-5-sonnet-20241022`` →
``anthropic.claude-3-5-sonnet-20241022-v2:0``, ``llama3-8b-8192`` → ``meta.llama3-8b-instruct-v1:0``); any other
name is sent as it is (a Bedrock model id, an inference profile such as ``us.anthropic.claude-3-7-sonnet-…``).

The conversation is built as for Anthropic (:func:`.anthropic.conversation`: system merged, strictly alternating
turns, tool results paired with their calls, images from the bytes the relay fetched) and written in Converse's
blocks: all Bedrock models take the same shape. One API used Anthropic's body through InvokeModel for Claude and
a prompt template for Llama; Converse serves every model, streams with usage, and carries tools for all.
Refused with a 400: ``n`` > 1 and ``response_format`` other than text (Converse has neither).

Embeddings (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html,
.../model-parameters-embed.html) go through InvokeModel, ``POST {base}/model/{modelId}/invoke``, signed the same:

* Titan Text Embeddings (``amazon.titan-embed-text-v2:0``, ``-v1``) take one text per call: ``{inputText,
  dimensions (256 | 512 | 1024, v2 only), normalize: true}`` → ``{embedding, inputTextTokenCount}``. A list of
  inputs is one call per text, made in turn (at most :data:`MAX_TITAN_TEXTS`); the answers are collected and
  the usage is the sum of their token counts.
* Cohere Embed (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``, ``cohere.embed-v4:0``) take up to
  96 texts: ``{texts, input_type (the client's, default search_document), embedding_types: ["float"],
  output_dimension (v4)}`` → ``{embeddings: {float: [[...]]}}`` (or ``[[...]]``). The body has no token counts
  (Bedrock puts them in a header): the relay counts.
* Token arrays, an empty input and ``dimensions`` a model does not take are refused with a 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from oneapi.proxy.adaptors.anthropic import conversation
from oneapi.proxy.adaptors.base import (
    AdaptorBase,
    Collected,
    FollowUp,
    RelayRequest,
    TranslatingAdaptor,
    UpstreamCall,
    Usage,
)
from oneapi.proxy.adaptors.client_request import embedding_texts, is_number, requested_encoding
from oneapi.proxy.adaptors.common import (
    chat_completion,
    chunk,
    compact_json,
    completion_id,
    embedding_list,
    json_object,
    openai_error,
)
from oneapi.proxy.adaptors.eventstream import Decoder, Message
from oneapi.proxy.adaptors.sigv4 import Credentials, sign
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

SERVICE = "bedrock"
ERROR_TYPE = "aws_error"
# One API's model names → Bedrock model ids (relay/adaptor/aws/{claude,llama3}).
MODEL_IDS = {
    "claude-instant-1.2": "anthropic.claude-instant-v1", "claude-2.0": "anthropic.claude-v2",
    "claude-2.1": "anthropic.claude-v2:1", "claude-3-haiku-20240307": "anthropic.claude-3-haiku-20240307-v1:0",
    "claude-3-sonnet-20240229": "anthropic.claude-3-sonnet-20240229-v1:0",
    "claude-3-opus-20240229": "anthropic.claude-3-opus-20240229-v1:0",
    "claude-3-5-sonnet-20240620": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "claude-3-5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-sonnet-latest": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-haiku-20241022": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "llama3-8b-8192": "meta.llama3-8b-instruct-v1:0", "llama3-70b-8192": "meta.llama3-70b-instruct-v1:0",
}
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "guardrail_intervened": "content_filter", "content_filtered": "content_filter",
                  "model_context_window_exceeded": "length"}
# Bedrock's exceptions (stream exception types, lower camel case) → the status to report.
EXCEPTION_STATUS = {"validationException": 400, "accessDeniedException": 403, "resourceNotFoundException": 404,
                    "modelTimeoutException": 408, "modelErrorException": 424, "throttlingException": 429,
                    "modelNotReadyException": 429, "serviceQuotaExceededException": 429,
                    "internalServerException": 500, "modelStreamErrorException": 500,
                    "serviceUnavailableException": 503}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_BAD_CREDENTIALS = ("security token", "signature", "not authorized", "invalid access key")


def refusal(message: str) -> RelayError:
    return RelayError(message, status=400, code="invalid_request")


def aws_error(status: int, message: str, code: str = ERROR_TYPE) -> UpstreamError:
    """Bedrock's error in OpenAI's shape. A 403 over the credentials (an unknown key, a bad signature) is reported
    as 401 so that automatic disabling sees a bad key; a 403 over model access stays 403."""
    if status == 403 and any(phrase in message.lower() for phrase in _BAD_CREDENTIALS):
        return openai_error(401, message, ERROR_TYPE, "invalid_api_key")
    return openai_error(status, message or f"bad response status code {status}", ERROR_TYPE, code)


def credentials(channel: RouteChannel) -> tuple[Credentials, str]:
    """(credentials, region) from the key ``AK|SK|Region[|token]`` or the config ``{ak, sk, region}``."""
    parts = [p.strip() for p in channel.key.split("|")]
    config = channel.config
    if len(parts) in (3, 4) and all(parts[:3]):
        return Credentials(parts[0], parts[1], parts[3] if len(parts) == 4 else ""), parts[2]
    ak, sk, region = (str(config.get(k) or "").strip() for k in ("ak", "sk", "region"))
    if ak and sk and region:
        return Credentials(ak, sk), region
    raise openai_error(500, f"channel #{channel.id} (AWS) needs the key \"AK|SK|Region\" (or ak, sk and region in "
                            "its config)", "one_api_error", "channel_config_invalid")


def model_id(model: str) -> str:
    return MODEL_IDS.get(model, model)


# -- requests --------------------------------------------------------------------------------------------


def _block(block: dict[str, Any]) -> dict[str, Any] | None:
    """An Anthropic content block (from :func:`conversation`) in Converse's shape."""
    kind = block.get("type")
    if kind == "text":
        return {"text": block["text"]}
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") != "base64":
            raise refusal("AWS Bedrock takes images as bytes: the image URL could not be fetched")
        image_format = _IMAGE_FORMATS.get(str(source.get("media_type")))
        if image_format is None:
            raise refusal(f"AWS Bedrock takes png, jpeg, gif and webp images, not {source.get('media_type')}")
        return {"image": {"format": image_format, "source": {"bytes": source["data"]}}}
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block.get("input") or {}}}
    if kind == "tool_result":
        content = block.get("content")
        texts = [content] if isinstance(content, str) else [b["text"] for b in content or []
                                                            if isinstance(b, dict) and b.get("type") == "text"]
        return {"toolResult": {"toolUseId": block["tool_use_id"],
                               "content": [{"text": t} for t in texts] or [{"text": ""}]}}
    return None


def _tool_config(data: Mapping[str, Any]) -> dict[str, Any] | None:
    tools = data.get("tools")
    if not isinstance(tools, list) or not tools:
        functions = data.get("functions")
        tools = [{"type": "function", "function": f} for f in functions] if isinstance(functions, list) else []
    specs = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        spec: dict[str, Any] = {"name": fn["name"]}
        if isinstance(fn.get("description"), str) and fn["description"]:
            spec["description"] = fn["description"]
        schema = fn.get("parameters")
        spec["inputSchema"] = {"json": schema if isinstance(schema, dict) else {"type": "object", "properties": {}}}
        specs.append({"toolSpec": spec})
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    choice = data.get("tool_choice", data.get("function_call"))
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        inner = choice.get("function")
        name = (inner if isinstance(inner, dict) else choice).get("name")
        if isinstance(name, str):
            config["toolChoice"] = {"tool": {"name": name}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    return config  # "none": Converse cannot forbid calls; the tools stay, as earlier calls in the history need them


def converse_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    n = data.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        raise refusal("AWS Bedrock's Converse API gives one answer per request: n must be 1")
    fmt = data.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise refusal("AWS Bedrock's Converse API has no JSON mode: response_format must be text")
    system, turns = conversation(data.get("messages") or [], request.images)
    if request.system_prompt:
        system = request.system_prompt
    messages = [{"role": role, "content": [b for b in map(_block, blocks) if b is not None]} for role, blocks in turns]
    body: dict[str, Any] = {"messages": messages}
    if system.strip():
        body["system"] = [{"text": system}]
    config: dict[str, Any] = {}
    limit = data.get("max_completion_tokens") or data.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        config["maxTokens"] = limit
    if is_number(data.get("temperature")):
        config["temperature"] = min(max(float(data["temperature"]), 0.0), 1.0)
    if is_number(data.get("top_p")):
        config["topP"] = min(max(float(data["top_p"]), 0.0), 1.0)
    stop = data.get("stop")
    stops = [s for s in ([stop] if isinstance(stop, str) else stop if isinstance(stop, list) else [])
             if isinstance(s, str) and s.strip()]
    if stops:
        config["stopSequences"] = stops
    if config:
        body["inferenceConfig"] = config
    tool_config = _tool_config(data)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    if isinstance(data.get("top_k"), int) and not isinstance(data["top_k"], bool):
        body["additionalModelRequestFields"] = {"top_k": data["top_k"]}
    return body


# -- answers ---------------------------------------------------------------------------------------------


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def usage_of(usage: Any) -> Usage | None:
    """Billable input: uncached input plus cache reads and writes; output as given."""
    if not isinstance(usage, dict) or not is_number(usage.get("inputTokens")):
        return None
    return Usage(sum(_count(usage, k) for k in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")),
                 _count(usage, "outputTokens"))


def finish_reason(reason: Any) -> str:
    return FINISH_REASONS.get(str(reason), "stop")


def parse_converse(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    output = data.get("output")
    found = output.get("message") if isinstance(output, dict) else None
    message: dict[str, Any] = found if isinstance(found, dict) else {}
    texts, thoughts, calls = [], [], []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            calls.append({"id": str(use.get("toolUseId") or ""), "type": "function",
                          "function": {"name": str(use.get("name") or ""),
                                       "arguments": json.dumps(use.get("input") or {}, ensure_ascii=False)}})
        elif isinstance(block.get("reasoningContent"), dict):
            reasoning = block["reasoningContent"].get("reasoningText")
            if isinstance(reasoning, dict) and isinstance(reasoning.get("text"), str):
                thoughts.append(reasoning["text"])
    answer: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thoughts:
        answer["reasoning_content"] = "".join(thoughts)
    if calls:
        answer["tool_calls"] = calls
    usage = usage_of(data.get("usage"))
    return chat_completion(completion_id(), request.upstream_model, answer, finish_reason(data.get("stopReason")),
                           usage, int(request.now)), usage


class ConverseStream:
    """ConverseStream's event-stream bytes → OpenAI chunks. An exception message raises UpstreamError — once
    the chunks decoded before it in the same read are handed over, as the line translators do."""

    def __init__(self, request: RelayRequest) -> None:
        self.usage: Usage | None = None
        self._decoder = Decoder()
        self._model = request.upstream_model
        self._created = int(request.now)
        self._id = completion_id()
        self._role_sent = False
        self._tools: dict[Any, int] = {}  # contentBlockIndex → OpenAI tool_calls index
        self._pending: UpstreamError | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if self._pending is not None:
            raise self._pending
        out: list[dict[str, Any]] = []
        try:
            for message in self._decoder.feed(data):
                out += self._message(message)
        except UpstreamError as exc:
            if not out:
                raise
            self._pending = exc
        return out

    def finish(self) -> list[dict[str, Any]]:
        if self._pending is not None:
            raise self._pending
        if self._decoder.pending:
            raise ValueError("the event stream ended inside a message")
        return []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return chunk(self._id, self._model, delta, finish, self._created)

    def _message(self, message: Message) -> list[dict[str, Any]]:
        payload = parse_json(message.payload) if message.payload else {}
        payload = payload if isinstance(payload, dict) else {}
        if message.headers.get(":message-type") == "exception":
            kind = str(message.headers.get(":exception-type") or "")
            raise aws_error(EXCEPTION_STATUS.get(kind, 500), str(payload.get("message") or kind), kind or ERROR_TYPE)
        event = message.headers.get(":event-type")
        if event == "contentBlockStart":
            start = payload.get("start")
            use = start.get("toolUse") if isinstance(start, dict) else None
            if not isinstance(use, dict):
                return []
            position = self._tools[payload.get("contentBlockIndex")] = len(self._tools)
            return [self._chunk({"tool_calls": [{"index": position, "id": str(use.get("toolUseId") or ""),
                                                 "type": "function", "function": {"name": str(use.get("name") or ""),
                                                                                  "arguments": ""}}]})]
        if event == "contentBlockDelta":
            return self._delta(payload.get("contentBlockIndex"), payload.get("delta"))
        if event == "messageStop":
            return [self._chunk({}, finish_reason(payload.get("stopReason")))]
        if event == "metadata":
            self.usage = usage_of(payload.get("usage")) or self.usage
        return []  # messageStart, contentBlockStop

    def _delta(self, index: Any, delta: Any) -> list[dict[str, Any]]:
        if not isinstance(delta, dict):
            return []
        if isinstance(delta.get("text"), str) and delta["text"]:
            return [self._chunk({"content": delta["text"]})]
        use = delta.get("toolUse")
        if isinstance(use, dict) and isinstance(use.get("input"), str) and use["input"] and index in self._tools:
            return [self._chunk({"tool_calls": [{"index": self._tools[index],
                                                 "function": {"arguments": use["input"]}}]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and isinstance(reasoning.get("text"), str) and reasoning["text"]:
            return [self._chunk({"reasoning_content": reasoning["text"]})]
        return []


# -- embeddings (InvokeModel) ----------------------------------------------------------------------------

MAX_TITAN_TEXTS: Final = 64  # Titan embeds one text per call: a longer list is refused rather than made slow
MAX_COHERE_TEXTS: Final = 96  # Bedrock's limit per call
TITAN_DIMENSIONS: Final = (256, 512, 1024)
COHERE_DIMENSIONS: Final = (256, 512, 1024, 1536)
COHERE_INPUT_TYPES: Final = ("search_document", "search_query", "classification", "clustering")


def embedding_family(model: str) -> str:
    """``titan`` or ``cohere`` for the Bedrock model id, or a refusal naming what is served."""
    if model.startswith("amazon.titan-embed-text-"):
        return "titan"
    if model.startswith("cohere.embed-"):
        return "cohere"
    raise refusal(f"AWS Bedrock channels embed with Titan Text Embeddings (amazon.titan-embed-text-*) and Cohere "
                  f"Embed (cohere.embed-*), not {model}")


def _dimensions(data: Mapping[str, Any]) -> int | None:
    value = data.get("dimensions")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def titan_body(model: str, text: str, dimensions: int | None) -> dict[str, Any]:
    if model.startswith("amazon.titan-embed-text-v1"):
        return {"inputText": text}
    body: dict[str, Any] = {"inputText": text, "normalize": True}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def embedding_texts_of(request: RelayRequest, family: str) -> list[str]:
    data = request.json or {}
    texts = embedding_texts(data, non_empty=True)
    if texts is None:
        raise refusal("AWS Bedrock embeddings take a non-empty string or list of non-empty strings "
                      "(not token arrays)")
    most = MAX_TITAN_TEXTS if family == "titan" else MAX_COHERE_TEXTS
    if len(texts) > most:
        raise refusal(f"AWS Bedrock's {family.title()} embeddings take at most {most} texts per request, "
                      f"not {len(texts)}")
    dimensions = _dimensions(data)
    model = model_id(request.upstream_model)
    if dimensions is None:
        return texts
    sized = not model.startswith("amazon.titan-embed-text-v1") if family == "titan" else "embed-v4" in model
    if not sized:
        raise refusal(f"{model} makes embeddings of one size: dimensions cannot be chosen")
    offered = TITAN_DIMENSIONS if family == "titan" else COHERE_DIMENSIONS
    if dimensions not in offered:
        raise refusal(f"{model} takes dimensions {', '.join(map(str, offered))}, not {dimensions}")
    return texts


def cohere_body(request: RelayRequest, texts: list[str]) -> dict[str, Any]:
    data = request.json or {}
    input_type = data.get("input_type", COHERE_INPUT_TYPES[0])
    if input_type not in COHERE_INPUT_TYPES:
        raise refusal(f"input_type must be one of {', '.join(COHERE_INPUT_TYPES)}")
    body: dict[str, Any] = {"texts": texts, "input_type": input_type, "embedding_types": ["float"]}
    dimensions = _dimensions(data)
    if dimensions is not None:
        body["output_dimension"] = dimensions
    return body


def invoke_call(url: str, body: dict[str, Any], creds: Credentials, region: str, now: float) -> UpstreamCall:
    raw = compact_json(body)
    headers = sign("POST", url, {"Content-Type": "application/json", "Accept": "application/json"}, raw, creds,
                   region, SERVICE, now)
    return UpstreamCall("POST", url, headers, raw)


def next_titan(url: str, bodies: tuple[dict[str, Any], ...], creds: Credentials, region: str, now: float,
               answers: tuple[bytes, ...], status: int, body: bytes) -> FollowUp | Collected | None:
    """After one Titan answer: the call for the next text, or every answer collected as a JSON array (None:
    an error, delivered as it is)."""
    if status != 200:
        return None
    answers = (*answers, body)
    if len(answers) == len(bodies):
        return Collected(b"[" + b",".join(answers) + b"]")
    call = invoke_call(url, bodies[len(answers)], creds, region, now)
    return FollowUp(UpstreamCall(call.method, call.url, call.headers, call.body,
                                 follow=partial(next_titan, url, bodies, creds, region, now, answers)))


def _vector(value: Any) -> list[float]:
    if not isinstance(value, list) or not all(is_number(v) for v in value):
        raise ValueError("an embedding is not a list of numbers")
    return [float(v) for v in value]


def parse_embeddings(request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
    model = model_id(request.upstream_model)
    data = parse_json(body)
    if embedding_family(model) == "titan":
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ValueError("the Titan answers are not a list of JSON objects")
        vectors = [_vector(d.get("embedding")) for d in data]
        counts = [d.get("inputTextTokenCount") for d in data]
        usage = Usage(sum(int(c) for c in counts), 0) if all(is_number(c) for c in counts) else None
    else:
        if not isinstance(data, dict):
            raise ValueError("the answer is not a JSON object")
        found = data.get("embeddings")
        found = found.get("float") if isinstance(found, dict) else found
        if not isinstance(found, list):
            raise ValueError("the answer has no float embeddings")
        vectors, usage = [_vector(v) for v in found], None
    return embedding_list(vectors, request.upstream_model, usage, requested_encoding(request)), usage


# -- the adaptor -----------------------------------------------------------------------------------------


class BedrockAdaptor(AdaptorBase):
    name = "aws"
    passthrough = False
    # Converse: one answer and no JSON mode; tools and images. Embeddings through InvokeModel.
    serves_tools = True
    serves_images = True
    inline_images = True  # Converse takes image bytes, not URLs

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode not in ("chat", "embeddings"):
            raise RelayError(f"AWS Bedrock channels serve chat completions and embeddings, not {request.mode}",
                             status=501, code="mode_not_supported")
        creds, region = credentials(channel)
        base = channel.base_url.rstrip("/") or f"https://bedrock-runtime.{region}.amazonaws.com"
        if request.mode == "embeddings":
            return self._embeddings(base, creds, region, request)
        action = "converse-stream" if request.stream else "converse"
        # ':' stays as it is: the HTTP client would send '%3A' as ':' anyway, and the path signed must be the
        # path sent ('/' in an inference profile ARN stays '%2F', which the client keeps).
        url = f"{base}/model/{quote(model_id(request.upstream_model), safe=':')}/{action}"
        body = compact_json(converse_body(request))
        accept = "application/vnd.amazon.eventstream" if request.stream else "application/json"
        headers = sign("POST", url, {"Content-Type": "application/json", "Accept": accept}, body, creds, region,
                       SERVICE, request.now)
        return UpstreamCall("POST", url, headers, body)

    @staticmethod
    def _embeddings(base: str, creds: Credentials, region: str, request: RelayRequest) -> UpstreamCall:
        model = model_id(request.upstream_model)
        family = embedding_family(model)
        texts = embedding_texts_of(request, family)
        url = f"{base}/model/{quote(model, safe=':')}/invoke"
        if family == "cohere":
            return invoke_call(url, cohere_body(request, texts), creds, region, request.now)
        bodies = tuple(titan_body(model, text, _dimensions(request.json or {})) for text in texts)
        first = invoke_call(url, bodies[0], creds, region, request.now)
        return UpstreamCall(first.method, first.url, first.headers, first.body,
                            follow=partial(next_titan, url, bodies, creds, region, request.now, ()))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        if request.mode == "embeddings":
            return parse_embeddings(request, body)
        return parse_converse(request, json_object(body))

    def stream_translator(self, request: RelayRequest) -> ConverseStream:
        return ConverseStream(request)

    def error(self, status: int, body: bytes) -> Exception:
        data = parse_json(body)
        message = (data.get("message") or data.get("Message")) if isinstance(data, dict) else None
        if isinstance(message, str) and message:
            return aws_error(status, message)
        return upstream_error(status, body)


ADAPTOR = BedrockAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
