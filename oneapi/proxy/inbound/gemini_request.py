"""Gemini's generateContent request, read and checked, and translated into an OpenAI chat request. Pure.

:func:`parse` checks what the Gemini API checks before any model runs (a JSON object with ``contents`` of
``user`` / ``model`` turns made of parts; the types of ``systemInstruction``, ``generationConfig``, ``tools``
and ``toolConfig``) and answers a mistake with a 400 ``INVALID_ARGUMENT`` naming the field. Field names are
read in the REST API's camelCase and in the proto's snake_case, as the API accepts both.

:func:`openai_request` is the translation for channels that do not speak Gemini:

* ``systemInstruction`` → a first ``system`` message;
* user ``text`` and image ``inlineData`` (→ data URLs) / ``fileData`` (→ URLs) → a user message (a plain string
  when it is only text); ``functionResponse`` → ``tool`` messages (the response as JSON), paired with the
  model's calls by ``id``, else by name, else in order;
* model ``text`` → ``content``, ``functionCall`` → ``tool_calls`` (``id`` kept, else ``call_<turn>_<n>``);
  ``thought`` parts are the provider's own and are dropped;
* ``generationConfig``: temperature, topP, seed, penalties, ``maxOutputTokens`` → ``max_tokens``,
  ``stopSequences`` → ``stop``, ``candidateCount`` → ``n``, ``responseMimeType: application/json`` →
  ``response_format`` ``json_object``, or ``json_schema`` with ``responseJsonSchema`` / ``responseSchema``
  (Gemini's OpenAPI subset, types lower-cased);
* ``functionDeclarations`` → function tools (``parameters`` lower-cased likewise, ``parametersJsonSchema`` as
  it is); ``functionCallingConfig`` AUTO / ANY / NONE → auto / required (named when one function is allowed) /
  none. Safety settings and ``thinkingConfig`` have no OpenAI counterpart and are dropped.

What OpenAI cannot carry (Google Search and code execution tools, non-image files, executable code parts) is
reported in :attr:`Translation.untranslatable`: the relay refuses it with a 400 when the request would go to a
channel that needs the translation (a Gemini channel gets it natively).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from oneapi.proxy.errors import RelayError

ROLES = ("user", "model")
FUNCTION_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required", "VALIDATED": "auto"}


def invalid(message: str) -> RelayError:
    return RelayError(message, status=400, code="INVALID_ARGUMENT", error_type="INVALID_ARGUMENT")


def field(obj: dict[str, Any], camel: str) -> Any:
    """``obj[camel]``, or its snake_case spelling."""
    if camel in obj:
        return obj[camel]
    return obj.get("".join(f"_{c.lower()}" if c.isupper() else c for c in camel))


@dataclass(frozen=True)
class GenerateRequest:
    data: dict[str, Any]
    model: str
    stream: bool
    max_tokens: int


@dataclass(frozen=True)
class Translation:
    request: dict[str, Any]
    untranslatable: str | None


def parse(body: bytes, model: str, *, stream: bool) -> GenerateRequest:
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise invalid("Invalid JSON payload received.") from None
    except RecursionError:
        raise invalid("Invalid JSON payload received: nested too deeply.") from None
    if not isinstance(data, dict):
        raise invalid("Invalid JSON payload received: the request must be a JSON object.")
    _check_contents(field(data, "contents"))
    system = field(data, "systemInstruction")
    if system is not None and (not isinstance(system, dict) or not _parts_ok(field(system, "parts"))):
        raise invalid("systemInstruction: must be a content with parts")
    config = field(data, "generationConfig")
    max_tokens = 0
    if config is not None:
        if not isinstance(config, dict):
            raise invalid("generationConfig: must be an object")
        max_tokens = _check_config(config)
    tools = field(data, "tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise invalid("tools: must be a list of tools")
    for tool in tools or []:
        declarations = field(tool, "functionDeclarations")
        if declarations is not None and (not isinstance(declarations, list) or not all(
                isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"] for d in declarations)):
            raise invalid("tools.functionDeclarations: every declaration needs a name")
    tool_config = field(data, "toolConfig")
    if tool_config is not None and not isinstance(tool_config, dict):
        raise invalid("toolConfig: must be an object")
    return GenerateRequest(data, model, stream, max_tokens)


def _parts_ok(parts: Any) -> bool:
    return isinstance(parts, list) and all(isinstance(p, dict) for p in parts)


def _check_contents(contents: Any) -> None:
    if contents is None or contents == []:
        raise invalid("contents is not specified")
    if not isinstance(contents, list):
        raise invalid("contents: must be a list of contents")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise invalid(f"contents[{i}]: must be an object")
        role = content.get("role", "user")
        if role not in ROLES:
            raise invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not _parts_ok(parts) or not parts:
            raise invalid(f"contents[{i}].parts: must be a non-empty list of parts")
        for j, part in enumerate(parts):
            if isinstance(part.get("text"), str):
                continue
            inline = field(part, "inlineData")
            if inline is not None and (not isinstance(inline, dict) or not isinstance(inline.get("data"), str)):
                raise invalid(f"contents[{i}].parts[{j}].inlineData: needs data and a mimeType")
            call = field(part, "functionCall") or field(part, "functionResponse")
            if call is not None and (not isinstance(call, dict) or not isinstance(call.get("name"), str)):
                raise invalid(f"contents[{i}].parts[{j}]: a function part needs a name")
            if "text" in part:
                raise invalid(f"contents[{i}].parts[{j}].text: must be a string")


def _check_config(config: dict[str, Any]) -> int:
    for name in ("temperature", "topP", "presencePenalty", "frequencyPenalty"):
        value = field(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise invalid(f"generationConfig.{name}: must be a number")
    for name, low in (("maxOutputTokens", 1), ("candidateCount", 1), ("seed", -(1 << 31)), ("topK", 1)):
        value = field(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise invalid(f"generationConfig.{name}: must be an integer of at least {low}")
    stops = field(config, "stopSequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise invalid("generationConfig.stopSequences: must be a list of strings")
    value = field(config, "maxOutputTokens")
    return value if isinstance(value, int) else 0


# -- the translation -------------------------------------------------------------------------------------------

def openai_request(request: GenerateRequest) -> Translation:
    data = request.data
    problems: list[str] = []
    messages: list[dict[str, Any]] = []
    system = field(data, "systemInstruction")
    if isinstance(system, dict):
        text = "\n".join(p["text"] for p in field(system, "parts") if isinstance(p.get("text"), str) and p["text"])
        if text:
            messages.append({"role": "system", "content": text})
    pending: list[tuple[str, str]] = []  # (id, name) of the model's calls not answered yet
    for turn, content in enumerate(field(data, "contents")):
        if content.get("role") == "model":
            message = _model_turn(content["parts"], turn, problems)
            pending = [(c["id"], c["function"]["name"]) for c in message.get("tool_calls", [])]
            messages.append(message)
        else:
            messages += _user_turn(content["parts"], pending, problems)
    out: dict[str, Any] = {"model": request.model, "messages": messages}
    out.update(_generation(field(data, "generationConfig") or {}, problems))
    tools = _tools(field(data, "tools") or [], problems)
    if tools:
        out["tools"] = tools
        out.update(_tool_choice(field(data, "toolConfig")))
    if request.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    untranslatable = None
    if problems:
        untranslatable = (f"model {request.model} is served here by a channel of another protocol than Gemini's, "
                          f"which cannot take {', '.join(dict.fromkeys(problems))}")
    return Translation(out, untranslatable)


def _media(part: dict[str, Any], problems: list[str]) -> dict[str, Any] | None:
    """An image part as OpenAI's ``image_url``; anything else is reported."""
    inline, file = field(part, "inlineData"), field(part, "fileData")
    source = inline if isinstance(inline, dict) else file if isinstance(file, dict) else None
    if source is None:
        if any(field(part, k) is not None for k in ("executableCode", "codeExecutionResult")):
            problems.append("code execution parts")
        return None
    mime = str(field(source, "mimeType") or "")
    if not mime.startswith("image/"):
        problems.append(f"a part of type {mime or 'unknown'}")
        return None
    url = f"data:{mime};base64,{source['data']}" if source is inline else str(field(source, "fileUri") or "")
    return {"type": "image_url", "image_url": {"url": url}}


def _user_turn(parts: list[dict[str, Any]], pending: list[tuple[str, str]],
               problems: list[str]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in parts:
        response = field(part, "functionResponse")
        if isinstance(response, dict):
            tools.append({"role": "tool", "tool_call_id": _pair(response, pending),
                          "content": json.dumps(response.get("response", {}), ensure_ascii=False)})
        elif isinstance(part.get("text"), str):
            content.append({"type": "text", "text": part["text"]})
        else:
            media = _media(part, problems)
            if media is not None:
                content.append(media)
    if content:
        text_only = all(p["type"] == "text" for p in content)
        tools.append({"role": "user", "content": "\n".join(p["text"] for p in content) if text_only else content})
    return tools


def _pair(response: dict[str, Any], pending: list[tuple[str, str]]) -> str:
    """The call a function response answers: its id, else the first unanswered call of its name, else the first
    unanswered call."""
    wanted = response.get("id")
    chosen = next((p for p in pending if p[0] == wanted), None) if isinstance(wanted, str) and wanted else None
    chosen = chosen or next((p for p in pending if p[1] == response["name"]), None) or (pending[0] if pending else None)
    if chosen is None:
        return wanted if isinstance(wanted, str) and wanted else f"call_{response['name']}"
    pending.remove(chosen)
    return chosen[0]


def _model_turn(parts: list[dict[str, Any]], turn: int, problems: list[str]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        call = field(part, "functionCall")
        if isinstance(call, dict):
            call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else f"call_{turn}_{len(calls)}"
            calls.append({"id": call_id, "type": "function", "function": {
                "name": call["name"], "arguments": json.dumps(call.get("args") or {}, ensure_ascii=False)}})
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
        elif not isinstance(part.get("text"), str):
            _media(part, problems)  # reported when it is not an image; an image the model made is not replayed
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        out["tool_calls"] = calls
    return out


def json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI schema subset as JSON Schema: ``type`` lower-cased at every level."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: json_schema(v) for k, v in schema.items() if k not in ("nullable", "propertyOrdering")}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
        if schema.get("nullable") is True:
            out["type"] = [out["type"], "null"]
    return out


def _generation(config: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for gemini_name, openai_name in (("temperature", "temperature"), ("topP", "top_p"), ("seed", "seed"),
                                     ("presencePenalty", "presence_penalty"),
                                     ("frequencyPenalty", "frequency_penalty"), ("maxOutputTokens", "max_tokens"),
                                     ("stopSequences", "stop")):
        value = field(config, gemini_name)
        if value is not None and value != []:
            out[openai_name] = value
    count = field(config, "candidateCount")
    if isinstance(count, int) and count > 1:
        out["n"] = count
    schema = field(config, "responseJsonSchema")
    if schema is None and field(config, "responseSchema") is not None:
        schema = json_schema(field(config, "responseSchema"))
    if schema is not None:
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    elif field(config, "responseMimeType") == "application/json":
        out["response_format"] = {"type": "json_object"}
    elif field(config, "responseMimeType") not in (None, "text/plain"):
        problems.append(f"responseMimeType {field(config, 'responseMimeType')}")
    return out


def _tools(tools: list[dict[str, Any]], problems: list[str]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        for name in tool:
            if name not in ("functionDeclarations", "function_declarations"):
                problems.append(f"the {name} tool")
        for declaration in field(tool, "functionDeclarations") or []:
            function: dict[str, Any] = {"name": declaration["name"]}
            if isinstance(declaration.get("description"), str) and declaration["description"]:
                function["description"] = declaration["description"]
            schema = field(declaration, "parametersJsonSchema")
            if schema is None:
                schema = json_schema(declaration.get("parameters") or {"type": "object", "properties": {}})
            function["parameters"] = schema
            out.append({"type": "function", "function": function})
    return out


def _tool_choice(tool_config: Any) -> dict[str, Any]:
    calling = field(tool_config, "functionCallingConfig") if isinstance(tool_config, dict) else None
    if not isinstance(calling, dict):
        return {}
    choice = FUNCTION_MODES.get(str(calling.get("mode") or "AUTO").upper(), "auto")
    allowed = field(calling, "allowedFunctionNames")
    if choice == "required" and isinstance(allowed, list) and len(allowed) == 1 and isinstance(allowed[0], str):
        return {"tool_choice": {"type": "function", "function": {"name": allowed[0]}}}
    return {"tool_choice": choice}
