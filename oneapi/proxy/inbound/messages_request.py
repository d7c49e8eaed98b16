"""Anthropic's Messages request, read and checked, and translated into an OpenAI chat request. Pure.

:func:`parse` checks what Anthropic's API checks before any model runs (a JSON object; ``model``; ``max_tokens``
for ``/v1/messages``; ``messages`` as user/assistant turns of a string or typed content blocks; the types of
``system``, ``stream``, ``tools``, ``tool_choice``, ``stop_sequences``, ``temperature``, ``top_p``, ``metadata``)
and answers a mistake with a 400 ``invalid_request_error`` naming the field, as Anthropic does.

:func:`openai_request` is the translation for channels that do not speak Messages:

* ``system`` (a string or text blocks) → a first ``system`` message;
* user text and images (base64 sources → data URLs, url sources → URLs) → a user message (a plain string when
  it is only text); ``tool_result`` blocks → ``tool`` messages (text joined, ``is_error`` prefixed "Error: "),
  put before the rest of their turn, as OpenAI wants them right after the assistant's calls; images inside a
  tool result follow in a user message; plain-text documents → text;
* assistant text → ``content``, ``tool_use`` → ``tool_calls`` (``input`` as JSON arguments, ids kept so the
  results pair); thinking blocks are the provider's own and are dropped;
* ``max_tokens``, ``stop_sequences`` → ``stop``, ``temperature``, ``top_p``, ``metadata.user_id`` → ``user``,
  custom ``tools`` → function tools, ``tool_choice`` auto/any/tool/none → auto/required/named/none with
  ``disable_parallel_tool_use`` → ``parallel_tool_calls: false``; ``output_config.format`` (structured
  output) → ``response_format`` ``json_schema``; ``stream`` with ``include_usage`` so the answer's usage is the
  provider's. ``top_k``, ``thinking``, ``output_config.effort``, ``cache_control`` and the like have no OpenAI
  counterpart every OpenAI-protocol model accepts, and are dropped.

What cannot be said in OpenAI's terms (Anthropic's server tools, PDF documents, search results...) is not
dropped silently: the translation reports it in :attr:`Translation.untranslatable`, and the relay refuses the
request with a 400 when it would go to a channel that needs the translation (an Anthropic channel still gets it
natively).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from oneapi.proxy.errors import RelayError

MAX_TOKENS_LIMIT = 1 << 30
ROLES = ("user", "assistant")
# Server tools run by Anthropic itself (web search, code execution...) have a versioned type of their own.
CUSTOM_TOOL_TYPES = (None, "custom")


def invalid(message: str) -> RelayError:
    """A request Anthropic would refuse: 400 ``invalid_request_error``, Anthropic's words where it has some."""
    return RelayError(message, status=400, code="invalid_request_error", error_type="invalid_request_error")


@dataclass(frozen=True)
class MessagesRequest:
    """A checked Messages request: the parsed body and the fields the relay needs."""

    data: dict[str, Any]
    model: str
    max_tokens: int  # 0 for count_tokens, which takes none
    stream: bool


@dataclass(frozen=True)
class Translation:
    request: dict[str, Any]          # the OpenAI chat request
    untranslatable: str | None       # why the request cannot go to a non-Anthropic channel, if it cannot


def parse(body: bytes, *, count_tokens: bool = False) -> MessagesRequest:
    """The request as Anthropic's API reads it; raises :func:`invalid` errors."""
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise invalid("the request body is not valid JSON") from None
    except RecursionError:
        raise invalid("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise invalid("the request body must be a JSON object")
    model = data.get("model")
    if model is None:
        raise invalid("model: Field required")
    if not isinstance(model, str) or not model.strip():
        raise invalid("model: Input should be a non-empty string")
    max_tokens = 0
    if not count_tokens:
        value = data.get("max_tokens")
        if value is None:
            raise invalid("max_tokens: Field required")
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid("max_tokens: Input should be a valid integer")
        if not 1 <= value <= MAX_TOKENS_LIMIT:
            raise invalid(f"max_tokens: Input should be between 1 and {MAX_TOKENS_LIMIT}")
        max_tokens = value
    _check_messages(data.get("messages"))
    _check_system(data.get("system"))
    stream = data.get("stream", False)
    if count_tokens:
        stream = False
    elif not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    for name in ("temperature", "top_p"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise invalid(f"{name}: Input should be a valid number")
    if data.get("top_k") is not None and (isinstance(data["top_k"], bool) or not isinstance(data["top_k"], int)):
        raise invalid("top_k: Input should be a valid integer")
    stops = data.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise invalid("stop_sequences: Input should be a list of strings")
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        raise invalid("metadata: Input should be an object")
    _check_tools(data.get("tools"), data.get("tool_choice"))
    _check_output_config(data.get("output_config"))
    return MessagesRequest(data, model, max_tokens, stream)


def _check_output_config(config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise invalid("output_config: Input should be an object")
    found = config.get("format")
    if found is not None and (not isinstance(found, dict) or found.get("type") != "json_schema"
                              or not isinstance(found.get("schema"), dict)):
        raise invalid("output_config.format: Input should be a json_schema format with a schema object")


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages.{i}: Input should be an object")
        if message.get("role") not in ROLES:
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise invalid(f"messages.{i}.content: Input should be a string or a list of content blocks")
        for j, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise invalid(f"messages.{i}.content.{j}: Input should be a content block with a type")
            _check_block(f"messages.{i}.content.{j}", block)


def _check_block(where: str, block: dict[str, Any]) -> None:
    kind = block["type"]
    if kind == "text" and not isinstance(block.get("text"), str):
        raise invalid(f"{where}.text: Input should be a valid string")
    if kind == "image":
        source = block.get("source")
        if not isinstance(source, dict) or source.get("type") not in ("base64", "url"):
            raise invalid(f"{where}.source: Input should be a base64 or url image source")
        field = "data" if source["type"] == "base64" else "url"
        if not isinstance(source.get(field), str) or not source[field]:
            raise invalid(f"{where}.source.{field}: Field required")
    if kind == "tool_use" and (not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str)
                               or not isinstance(block.get("input", {}), dict)):
        raise invalid(f"{where}: a tool_use block needs a string id and name and an object input")
    if kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise invalid(f"{where}.tool_use_id: Field required")
        content = block.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid(f"{where}.content: Input should be a string or a list of content blocks")


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list) or not all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) for b in system):
        raise invalid("system: Input should be a string or a list of text blocks")


def _check_tools(tools: Any, choice: Any) -> None:
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
                raise invalid(f"tools.{i}.name: Field required")
            if tool.get("type") in CUSTOM_TOOL_TYPES and not isinstance(tool.get("input_schema"), dict):
                raise invalid(f"tools.{i}.input_schema: Field required")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            raise invalid("tool_choice: Input should be an object of type auto, any, tool or none")
        if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
            raise invalid("tool_choice.name: Field required")


# -- the translation -------------------------------------------------------------------------------------------

def openai_request(request: MessagesRequest) -> Translation:
    """The OpenAI chat request for ``request`` (see the module docstring)."""
    data = request.data
    problems: list[str] = []
    messages: list[dict[str, Any]] = []
    system = system_text(data.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in data["messages"]:
        messages += _messages(message, problems)
    out: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.max_tokens:
        out["max_tokens"] = request.max_tokens
    if data.get("stop_sequences"):
        out["stop"] = list(data["stop_sequences"])
    for name in ("temperature", "top_p"):
        if data.get(name) is not None:
            out[name] = data[name]
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        out["user"] = metadata["user_id"]
    tools = []
    for tool in data.get("tools") or []:
        if tool.get("type") not in CUSTOM_TOOL_TYPES:
            problems.append(f"the server tool {tool['name']!r} ({tool['type']})")
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str) and tool["description"]:
            function["description"] = tool["description"]
        function["parameters"] = tool["input_schema"]
        tools.append({"type": "function", "function": function})
    if tools:
        out["tools"] = tools
        out.update(_tool_choice(data.get("tool_choice")))
    output_format = (data.get("output_config") or {}).get("format")
    if output_format:  # structured output: the answer's text is JSON following the schema
        out["response_format"] = {"type": "json_schema",
                                  "json_schema": {"name": "output", "schema": output_format["schema"]}}
    if request.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    untranslatable = None
    if problems:
        untranslatable = (f"model {request.model} is served here by a channel of another protocol than Anthropic's, "
                          f"which cannot take {', '.join(dict.fromkeys(problems))}")
    return Translation(out, untranslatable)


def system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "\n".join(b["text"] for b in system or [] if b["text"])


def _tool_choice(choice: Any) -> dict[str, Any]:
    if not isinstance(choice, dict):
        return {}
    kind = choice["type"]
    out: dict[str, Any] = {"tool_choice": {"auto": "auto", "any": "required", "none": "none"}.get(kind) or
                           {"type": "function", "function": {"name": choice.get("name")}}}
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False
    return out


def _messages(message: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    """The OpenAI messages of one Messages turn."""
    role, content = message["role"], message["content"]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "assistant":
        return [_assistant(content, problems)]
    tools: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if block["type"] == "tool_result":
            text, images = _tool_result(block, problems)
            tools.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
            tool_images += images
        else:
            parts += _user_part(block, problems)
    out = tools
    if tool_images:
        out.append({"role": "user", "content": tool_images})
    if parts:
        out.append({"role": "user", "content": _content(parts)})
    elif not tools:
        out.append({"role": "user", "content": ""})
    return out


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Parts as OpenAI content: a plain string when they are all text (what every OpenAI-protocol vendor
    accepts), else the list."""
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _user_part(block: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        return [{"type": "text", "text": block["text"]}]
    if kind == "image":
        source = block["source"]
        url = source["url"] if source["type"] == "url" else \
            f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"
        return [{"type": "image_url", "image_url": {"url": url}}]
    if kind == "document":
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
            return [{"type": "text", "text": source["data"]}]
    problems.append(f"a {kind} content block" if kind != "document" else "a document that is not plain text")
    return []


def _tool_result(block: dict[str, Any], problems: list[str]) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        for translated in _user_part(part, problems):
            if translated["type"] == "text":
                texts.append(translated["text"])
            else:
                images.append(translated)
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return text, images


def _assistant(content: list[dict[str, Any]], problems: list[str]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append({"id": block["id"], "type": "function",
                          "function": {"name": block["name"],
                                       "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}})
        elif kind not in ("thinking", "redacted_thinking"):
            problems.append(f"a {kind} content block")
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        out["tool_calls"] = calls
    return out
