"""Building OpenAI response objects, shared by the translating adaptors. Pure."""

from __future__ import annotations

import base64
import struct
import time
import uuid
from typing import Any

from oneapi.proxy.adaptors.base import Usage


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def tool_call_id() -> str:
    return "call_" + uuid.uuid4().hex


def usage_object(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


def chat_completion(response_id: str, model: str, message: dict[str, Any], finish_reason: str | None,
                    usage: Usage | None, created: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": response_id, "object": "chat.completion", "created": created or int(time.time()),
                            "model": model,
                            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]}
    if usage is not None:
        body["usage"] = usage_object(usage)
    return body


def chunk(response_id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
          created: int | None = None) -> dict[str, Any]:
    return {"id": response_id, "object": "chat.completion.chunk", "created": created or int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def usage_chunk(response_id: str, model: str, usage: Usage, created: int | None = None) -> dict[str, Any]:
    """The extra chunk of ``stream_options.include_usage``: no choices, only usage."""
    return {"id": response_id, "object": "chat.completion.chunk", "created": created or int(time.time()),
            "model": model, "choices": [], "usage": usage_object(usage)}


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
