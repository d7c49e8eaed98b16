"""OpenAI's side of every translation, shared by the translating adaptors: the JSON sent upstream, and the
answers, chunks, usage and errors handed back. Pure.

Key order in the objects built here is part of the contract: clients and golden files see them as they are.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from typing import Any

from oneapi.proxy.adaptors.base import Usage
from oneapi.wire.errors import UpstreamError


def compact_json(obj: Any) -> bytes:
    """The body of an upstream request: UTF-8 JSON without spaces, non-ASCII text kept as it is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_object(body: bytes) -> dict[str, Any]:
    """A provider's answer as a JSON object; ValueError when it is not JSON or not an object."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    return data


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def tool_call_id() -> str:
    return "call_" + uuid.uuid4().hex


def arguments_json(value: Any) -> str:
    """A tool call's ``arguments`` as OpenAI's JSON string: a string as it is, anything else (None: ``{}``) dumped."""
    return value if isinstance(value, str) else json.dumps(value if value is not None else {}, ensure_ascii=False)


def openai_error(status: int, message: str, error_type: str, code: Any, param: str = "") -> UpstreamError:
    """A provider's failure as OpenAI's error object ``{message, type, param, code}``, with the status to report."""
    return UpstreamError(status, {"message": message, "type": error_type, "param": param, "code": code})


# -- usage -------------------------------------------------------------------------------------------------------

def usage_object(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


def counted_usage(data: Any, prompt: str, completion: str) -> Usage | None:
    """The two token counts of ``data`` (under the provider's key names): either may be missing (0), not both."""
    if not isinstance(data, dict):
        return None
    prompt_tokens, completion_tokens = data.get(prompt), data.get(completion)
    if not isinstance(prompt_tokens, int) and not isinstance(completion_tokens, int):
        return None
    return Usage(prompt_tokens if isinstance(prompt_tokens, int) else 0,
                 completion_tokens if isinstance(completion_tokens, int) else 0)


def usage_with_total(data: Any, prompt: str, completion: str, total: str) -> Usage | None:
    """The token counts of ``data`` (under the provider's key names): the prompt count is required; a missing
    completion count is total − prompt (0 without a total), never below 0."""
    if not isinstance(data, dict) or not isinstance(data.get(prompt), int):
        return None
    prompt_tokens = data[prompt]
    completion_tokens = data.get(completion)
    if not isinstance(completion_tokens, int):
        total_tokens = data.get(total)
        completion_tokens = total_tokens - prompt_tokens if isinstance(total_tokens, int) else 0
    return Usage(prompt_tokens, max(0, completion_tokens))


# -- answers and chunks ------------------------------------------------------------------------------------------

def schema_choice(choice: dict[str, Any]) -> dict[str, Any]:
    """A translated choice with every field OpenAI's schema requires, in OpenAI's order: ``logprobs`` (no
    provider we translate gives them: null) and the message's ``refusal`` (null unless the adaptor set one)."""
    message = choice.get("message")
    if isinstance(message, dict) and "refusal" not in message:
        message = {"role": message.get("role", "assistant"), "content": message.get("content"), "refusal": None,
                   **message}
    out = {"index": choice.get("index", 0), "message": message, "logprobs": choice.get("logprobs"),
           "finish_reason": choice.get("finish_reason")}
    out.update(choice)
    out["message"] = message
    return out


def completion_body(response_id: str, model: str, choices: list[dict[str, Any]], usage: Usage | None,
                    created: int) -> dict[str, Any]:
    """A ``chat.completion`` with every choice given (completed to OpenAI's schema: :func:`schema_choice`);
    ``usage`` in OpenAI's shape when known."""
    body: dict[str, Any] = {"id": response_id, "object": "chat.completion", "created": created, "model": model,
                            "choices": [schema_choice(c) for c in choices]}
    if usage is not None:
        body["usage"] = usage_object(usage)
    return body


def chat_completion(response_id: str, model: str, message: dict[str, Any], finish_reason: str | None,
                    usage: Usage | None, created: int | None = None) -> dict[str, Any]:
    """A ``chat.completion`` of one choice."""
    return completion_body(response_id, model, [{"index": 0, "message": message, "finish_reason": finish_reason}],
                           usage, created or int(time.time()))


def chunk(response_id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
          created: int | None = None, index: int = 0) -> dict[str, Any]:
    return {"id": response_id, "object": "chat.completion.chunk", "created": created or int(time.time()),
            "model": model, "choices": [{"index": index, "delta": delta, "logprobs": None,
                                         "finish_reason": finish_reason}]}


def delta_chunks(response_id: str, model: str, delta: dict[str, Any], finish_reason: str | None,
                 created: int | None = None) -> list[dict[str, Any]]:
    """One delta and its finish reason as chunks: content and finish_reason apart, as OpenAI sends them."""
    if finish_reason is not None and delta.get("content"):
        return [chunk(response_id, model, delta, None, created), chunk(response_id, model, {}, finish_reason, created)]
    return [chunk(response_id, model, delta, finish_reason, created)]


def usage_chunk(response_id: str, model: str, usage: Usage, created: int | None = None) -> dict[str, Any]:
    """The extra chunk of ``stream_options.include_usage``: no choices, only usage."""
    return {"id": response_id, "object": "chat.completion.chunk", "created": created or int(time.time()),
            "model": model, "choices": [], "usage": usage_object(usage)}


# -- embeddings --------------------------------------------------------------------------------------------------

def encode_embedding(values: list[float], encoding_format: str | None) -> list[float] | str:
    """OpenAI's ``encoding_format``: ``base64`` is little-endian float32 (the SDK's default), else floats."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


def embedding_list(vectors: list[list[float]], model: str, usage: Usage | None,
                   encoding_format: str | None) -> dict[str, Any]:
    return {"object": "list", "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": encode_embedding(v, encoding_format)}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": usage.prompt_tokens if usage else 0,
                      "total_tokens": usage.prompt_tokens if usage else 0}}
