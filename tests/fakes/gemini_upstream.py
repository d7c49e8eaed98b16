"""A fake Google Generative Language API (Gemini, and PaLM 2's ``generateMessage``) following the published format.

Routes: ``POST /{v1|v1beta}/models/{model}:generateContent``, ``:countTokens`` (``{"totalTokens"}``, counted as
``promptTokenCount``), ``:streamGenerateContent`` (``?alt=sse``: SSE events
``data: {...}\\r\\n\\r\\n``; without it a JSON array), ``:batchEmbedContents``, ``:embedContent``,
``GET /{version}/models``, and ``POST /v1beta2/models/{model}:generateMessage`` (PaLM). The key comes from
``x-goog-api-key`` (or ``?key=``): none → 403 PERMISSION_DENIED; unknown (``keys`` given) → 400
INVALID_ARGUMENT "API key not valid. Please pass a valid API key.". Errors are Google's
``{"error": {"code", "message", "status"}}``.

It rejects what the real API rejects: unknown fields anywhere in the request (top level, ``generationConfig``,
parts, tool schemas such as ``additionalProperties``); roles other than ``user`` / ``model`` ("Please use a
valid role: user, model."); empty ``contents``, empty ``parts`` and empty text; a part without data; a
``functionResponse.response`` that is not an object; ``enum`` on non-string schemas; an OBJECT ``parameters``
without properties; more than 5 ``stopSequences``; duplicate or unknown safety categories / thresholds; on
Gemini 3 models, a replayed ``functionCall`` without ``thoughtSignature``. ``v1`` also refuses
``systemInstruction``, ``tools``, ``toolConfig`` and the JSON-mode / thinking fields of ``generationConfig``,
and preview / experimental models. PaLM refuses unknown fields and messages whose authors do not alternate.

Answers are deterministic ("words" = ``len(text.split())``):

* text: ``reply_text``'s, else after ``functionResponse`` parts ``"tool result: <name>=<response JSON>"`` (joined
  by ``"; "``), else with tools (mode not NONE) one ``functionCall`` per declaration (only the allowed names for
  ANY), whose args fill every property (strings get the user text, integers 1, numbers 1.5, booleans true,
  enums their first value), else ``"echo: <last user text>"`` plus ``" [images: <mime>, ...]"`` when the last
  user turn has inline data. JSON mode answers ``{"echo": "<last user text>"}`` (or schema-filled JSON).
* ``maxOutputTokens`` cuts the answer to that many words (``MAX_TOKENS``); a stop sequence cuts before it.
  ``candidateCount`` candidates, each the same. A user text containing ``BLOCKME`` is blocked
  (``promptFeedback.blockReason: SAFETY``, no candidates).
* ``usageMetadata``: ``promptTokenCount`` = words of every text part (system instruction included) + words of
  every functionCall args / functionResponse response JSON + 258 per inline data part;
  ``candidatesTokenCount`` = answer words (calls: words of their args JSON) × candidates;
  ``thoughtsTokenCount`` = 3 on 2.5 and 3 models. Streams carry ``promptTokenCount`` on every event and the full
  usage on the last one only. Embeddings report no usage (``embedding_usage = True`` adds it).
* Embeddings are :func:`tests.fakes.openai_upstream.embedding_vector` (``outputDimensionality``, default 8).
* PaLM answers ``"echo: <last message>"`` with ``candidateCount`` candidates; ``BLOCKME`` gets ``filters`` only.

Scripting: ``fail_next(status, message)`` answers the next API call with a Google error, ``reply_text`` sets the
next answer, ``delay`` stalls every answer, ``chunk_delay`` separates stream events. Every request is recorded
in ``requests`` (``Recorded`` from the OpenAI fake) before anything else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import Headers, Recorded, count_words, embedding_vector, split_text

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
DEFAULT_MESSAGES = {429: "Resource has been exhausted (e.g. check quota).",
                    500: "An internal error has occurred. Please retry or report in "
                         "https://developers.generativeai.google/guide/troubleshooting",
                    503: "The model is overloaded. Please try again later."}
BAD_KEY = "API key not valid. Please pass a valid API key."
NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
          "or other form of API consumer identity to call this API.")
CHAT_MODELS = ("gemini-pro", "gemini-1.0-pro", "gemini-1.5-flash", "gemini-1.5-pro", "gemini-2.0-flash",
               "gemini-2.0-flash-exp", "gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview")
EMBEDDING_MODELS = ("text-embedding-004", "gemini-embedding-001")
IMAGE_TOKENS = 258
THOUGHT_TOKENS = 3
TOP_LEVEL = {"contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig",
             "cachedContent", "model"}
V1BETA_ONLY = {"systemInstruction", "tools", "toolConfig", "cachedContent"}
GENERATION_V1 = {"stopSequences", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed",
                 "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs"}
GENERATION_V1BETA = GENERATION_V1 | {"responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
                                     "thinkingConfig", "speechConfig", "mediaResolution", "imageConfig",
                                     "enableEnhancedCivicAnswers"}
PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
             "codeExecutionResult")
PART_KEYS = {*PART_DATA, "thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution"}
SCHEMA_KEYS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
               "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example",
               "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
SCHEMA_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
HARM_CATEGORIES = {"HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                   "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY"}
THRESHOLDS = {"HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH",
              "BLOCK_NONE", "OFF"}
FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-:]{0,63}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class GoogleError(Exception):
    """A Google API error answer."""

    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.status, "message": self.message,
                                 "status": STATUS_NAMES.get(self.status, "UNKNOWN")}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> web.Response:
        return web.Response(body=json.dumps(self.body(), indent=2).encode(), status=self.status,
                            content_type="application/json", charset="UTF-8")


def bad(message: str) -> GoogleError:
    return GoogleError(400, message)


def unknown_field(name: str, where: str = "") -> GoogleError:
    at = f" at '{where}'" if where else ""
    return bad(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')


def _check_keys(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise unknown_field(key, where)


def json_answer(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json",
                        charset="UTF-8")


# ---------------------------------------------------------------------------------------------- validation

def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def check_schema(schema: Any, where: str, *, top: bool = False) -> None:
    if not isinstance(schema, dict):
        raise bad(f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Schema)")
    _check_keys(schema, SCHEMA_KEYS, where)
    kind = str(schema.get("type", "TYPE_UNSPECIFIED"))
    if kind.upper() not in SCHEMA_TYPES:
        raise bad(f"Invalid value at '{where}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "
                  f'"{kind}"')
    if "enum" in schema and kind.upper() != "STRING":
        raise bad(f"* GenerateContentRequest.{where}.enum: only allowed for STRING type")
    if "enum" in schema and not all(isinstance(v, str) for v in schema["enum"]):
        raise bad(f"Invalid value at '{where}.enum' (TYPE_STRING)")
    props = schema.get("properties")
    if kind.upper() == "OBJECT" and top and not props:
        raise bad(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type")
    if isinstance(props, dict):
        for name, sub in props.items():
            check_schema(sub, f"{where}.properties[{name}].value")
    for name in schema.get("required") or []:
        if not isinstance(props, dict) or name not in props:
            raise bad(f"* GenerateContentRequest.{where}.required[0]: property is not defined")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items")
    for i, sub in enumerate(schema.get("anyOf") or []):
        check_schema(sub, f"{where}.any_of[{i}]")


def _check_base64(data: Any, where: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True) if isinstance(data, str) else b""
    except (binascii.Error, ValueError):
        raise bad(f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed for \"{str(data)[:20]}\"") from None


def check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise bad(f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part)")
    _check_keys(part, PART_KEYS, where)
    data = [k for k in PART_DATA if k in part]
    if not data:
        raise bad(f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized "
                  "field")
    if len(data) > 1:
        raise bad(f"Invalid value at '{where}': oneof field 'data' is already set. Cannot set '{_snake(data[1])}'")
    if "text" in part and (not isinstance(part["text"], str) or not part["text"]):
        raise bad("Unable to submit request because it has an empty text parameter. Add a value to the parameter "
                  "and try again.")
    if "inlineData" in part:
        inline = part["inlineData"]
        if not isinstance(inline, dict) or not inline.get("mimeType") or not inline.get("data"):
            raise bad(f"* GenerateContentRequest.{where}.inline_data: mime_type and data are required")
        _check_base64(inline["data"], f"{where}.inline_data.data")
    if "functionCall" in part:
        call = part["functionCall"]
        if not isinstance(call, dict) or not call.get("name"):
            raise bad(f"* GenerateContentRequest.{where}.function_call.name: Name cannot be empty.")
        _check_keys(call, {"id", "name", "args"}, f"{where}.function_call")
        if "args" in call and not isinstance(call["args"], dict):
            raise bad(f"Invalid value at '{where}.function_call.args' (type.googleapis.com/google.protobuf.Struct)")
    if "functionResponse" in part:
        response = part["functionResponse"]
        if not isinstance(response, dict) or not response.get("name"):
            raise bad(f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty.")
        _check_keys(response, {"id", "name", "response", "willContinue", "scheduling", "parts"},
                    f"{where}.function_response")
        if not isinstance(response.get("response"), dict):
            raise bad(f"Invalid value at '{where}.function_response.response' "
                      f"(type.googleapis.com/google.protobuf.Struct), {json.dumps(response.get('response'))}")


def check_contents(contents: Any, model: str) -> None:
    if not isinstance(contents, list) or not contents:
        raise bad("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise bad(f"Invalid value at 'contents[{i}]' (type.googleapis.com/google.ai.generativelanguage.Content)")
        _check_keys(content, {"role", "parts"}, f"contents[{i}]")
        if content.get("role", "user") not in ("user", "model"):
            raise bad("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise bad(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        for j, part in enumerate(parts):
            check_part(part, f"contents[{i}].parts[{j}]")
    if model.startswith("gemini-3"):
        last_text_turn = max((i for i, c in enumerate(contents) if c.get("role", "user") == "user"
                              and any("text" in p for p in c["parts"])), default=-1)
        for i, content in enumerate(contents[last_text_turn + 1:], start=last_text_turn + 1):
            calls = [p for p in content["parts"] if "functionCall" in p]
            if content.get("role") == "model" and calls and "thoughtSignature" not in calls[0]:
                raise bad("Function call is missing a thought_signature in functionCall parts. This is required "
                          "for tools to work correctly, and missing thought_signature may lead to degraded model "
                          "performance. Additional data, function call "
                          f"`default_api:{calls[0]['functionCall']['name']}` , position {i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-"
                          "signatures for more details.")


def check_generation(config: Any, version: str) -> None:
    if not isinstance(config, dict):
        raise bad("Invalid value at 'generation_config'")
    _check_keys(config, GENERATION_V1BETA if version == "v1beta" else GENERATION_V1, "generation_config")
    stops = config.get("stopSequences")
    if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
        raise bad("* GenerateContentRequest.generation_config.stop_sequences: exceeds maximum number of 5")
    temperature = config.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        raise bad("* GenerateContentRequest.generation_config.temperature: must be in the range [0.0, 2.0]")
    count = config.get("candidateCount")
    if count is not None and not 1 <= count <= 8:
        raise bad("* GenerateContentRequest.generation_config.candidate_count: must be in the range [1, 8]")
    mime = config.get("responseMimeType")
    if mime is not None and mime not in ("text/plain", "application/json", "text/x.enum"):
        raise bad("* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are "
                  "`text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`.")
    if "responseSchema" in config:
        if mime != "application/json":
            raise bad("* GenerateContentRequest.generation_config.response_schema: response_mime_type must be "
                      "application/json or text/x.enum")
        check_schema(config["responseSchema"], "generation_config.response_schema")


def check_tools(tools: Any, config: Any) -> list[dict[str, Any]]:
    """Function declarations of a request's ``tools`` (validated)."""
    if not isinstance(tools, list):
        raise bad("Invalid value at 'tools'")
    decls: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad(f"Invalid value at 'tools[{i}]'")
        _check_keys(tool, {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution",
                           "urlContext"}, f"tools[{i}]")
        for j, decl in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            if not isinstance(decl, dict):
                raise bad(f"Invalid value at '{where}'")
            _check_keys(decl, {"name", "description", "parameters", "parametersJsonSchema", "response",
                               "responseJsonSchema", "behavior"}, where)
            if not FUNCTION_NAME.match(str(decl.get("name") or "")):
                raise bad(f"* GenerateContentRequest.{where}.name: Invalid function name. Must start with a letter "
                          "or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons "
                          "(:), or dashes (-), with a maximum length of 64.")
            if "parameters" in decl:
                check_schema(decl["parameters"], f"{where}.parameters", top=True)
            decls.append(decl)
    if config is not None:
        if not isinstance(config, dict):
            raise bad("Invalid value at 'tool_config'")
        _check_keys(config, {"functionCallingConfig", "retrievalConfig"}, "tool_config")
        calling = config.get("functionCallingConfig") or {}
        _check_keys(calling, {"mode", "allowedFunctionNames"}, "tool_config.function_calling_config")
        mode = calling.get("mode", "AUTO")
        if mode not in ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"):
            raise bad(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")
        if calling.get("allowedFunctionNames") and mode not in ("ANY", "VALIDATED"):
            raise bad("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: only "
                      "allowed when mode is ANY or VALIDATED")
    return decls


def check_safety(settings: Any) -> None:
    if not isinstance(settings, list):
        raise bad("Invalid value at 'safety_settings'")
    seen: set[str] = set()
    for i, setting in enumerate(settings):
        if not isinstance(setting, dict):
            raise bad(f"Invalid value at 'safety_settings[{i}]'")
        _check_keys(setting, {"category", "threshold", "method"}, f"safety_settings[{i}]")
        category, threshold = setting.get("category"), setting.get("threshold")
        if category not in HARM_CATEGORIES:
            raise bad(f"Invalid value at 'safety_settings[{i}].category' "
                      f"(type.googleapis.com/google.ai.generativelanguage.v1beta.HarmCategory), \"{category}\"")
        if threshold not in THRESHOLDS:
            raise bad(f"Invalid value at 'safety_settings[{i}].threshold' "
                      f"(type.googleapis.com/google.ai.generativelanguage.v1beta.SafetySetting.HarmBlockThreshold), "
                      f"\"{threshold}\"")
        if category in seen:
            raise bad("* GenerateContentRequest.safety_settings: duplicate category")
        seen.add(category)


# ---------------------------------------------------------------------------------------------- answers

def _sample(schema: Any, user_text: str) -> Any:
    schema = schema if isinstance(schema, dict) else {}
    kind = str(schema.get("type", "string")).lower()
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        return {name: _sample(sub, user_text) for name, sub in (schema.get("properties") or {}).items()}
    return {"string": user_text, "integer": 1, "number": 1.5, "boolean": True, "array": []}.get(kind)


def prompt_tokens(body: dict[str, Any]) -> int:
    contents = list(body.get("contents") or [])
    if isinstance(body.get("systemInstruction"), dict):
        contents.append(body["systemInstruction"])
    total = 0
    for content in contents:
        for part in content.get("parts") or []:
            if isinstance(part.get("text"), str):
                total += count_words(part["text"])
            if "inlineData" in part:
                total += IMAGE_TOKENS
            if "functionCall" in part:
                total += count_words(json.dumps(part["functionCall"].get("args") or {}))
            if "functionResponse" in part:
                total += count_words(json.dumps(part["functionResponse"].get("response")))
    return total


def _last_user(contents: list[dict[str, Any]]) -> dict[str, Any]:
    return next((c for c in reversed(contents) if c.get("role", "user") == "user"), {"parts": []})


def _user_text(content: dict[str, Any]) -> str:
    return " ".join(p["text"] for p in content["parts"] if isinstance(p.get("text"), str))


class FakeGemini:
    """The fake Gemini / PaLM API on an aiohttp app; see the module docstring."""

    stream_chunks: int = 3
    chunk_delay: float = 0.0
    delay: float = 0.0
    embedding_usage: bool = False

    def __init__(self, *, keys: set[str] | None = None) -> None:
        self.keys = keys
        self.requests: list[Recorded] = []
        self._script: deque[GoogleError] = deque()
        self._replies: deque[str] = deque()
        self.app = self._make_app()

    # -- scripting
    def fail_next(self, status: int, message: str | None = None, times: int = 1) -> None:
        text = message or DEFAULT_MESSAGES.get(status, f"Fake failure {status}.")
        self._script.extend(GoogleError(status, text) for _ in range(times))

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    def last_json(self) -> Any:
        return self.requests[-1].json()

    # -- app
    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{version}/models/{target}", self._post)
        app.router.add_get("/{version}/models", self._list)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        headers = Headers((k.lower(), v) for k, v in request.headers.items())
        self.requests.append(Recorded(request.method, request.path, dict(request.query), headers, body))
        try:
            return await handler(request)
        except GoogleError as exc:
            return exc.response()
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            return GoogleError(exc.status, f"Invalid URL ({request.method} {request.path})").response()

    async def _guard(self, request: web.Request) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        key = request.headers.get("x-goog-api-key") or request.query.get("key", "")
        if not key:
            raise GoogleError(403, NO_KEY)
        if self.keys is not None and key not in self.keys:
            raise GoogleError(400, BAD_KEY, [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                              "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                                              "metadata": {"service": "generativelanguage.googleapis.com"}}])
        if self._script:
            raise self._script.popleft()

    async def _list(self, request: web.Request) -> web.StreamResponse:
        await self._guard(request)
        models = [{"name": f"models/{m}", "supportedGenerationMethods": ["generateContent", "countTokens"]}
                  for m in CHAT_MODELS]
        models += [{"name": f"models/{m}", "supportedGenerationMethods": ["embedContent"]} for m in EMBEDDING_MODELS]
        return json_answer({"models": models})

    async def _post(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        model, _, action = request.match_info["target"].partition(":")
        await self._guard(request)
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise bad("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(body, dict):
            raise bad("Invalid JSON payload received. Expected an object.")
        if version == "v1beta2" and action == "generateMessage":
            return self._palm(model, body)
        if version not in ("v1", "v1beta"):
            raise GoogleError(404, f"Invalid URL ({request.method} {request.path})")
        chat = action in ("generateContent", "streamGenerateContent", "countTokens")
        known = CHAT_MODELS if chat else EMBEDDING_MODELS if action in ("batchEmbedContents", "embedContent") else ()
        if model not in known or (version == "v1" and ("preview" in model or "exp" in model)):
            raise GoogleError(404, f"models/{model} is not found for API version {version}, or is not supported for "
                                   f"{action}. Call ListModels to see the list of available models and their "
                                   "supported methods.")
        if action == "batchEmbedContents":
            return self._batch_embed(model, body)
        if action == "embedContent":
            return json_answer({"embedding": {"values": self._embed(model, body, "")}})
        if action == "countTokens":
            return json_answer(self._count_tokens(version, model, body))
        answer = self._generate(version, model, body)
        if action == "generateContent":
            return json_answer(answer)
        return await self._stream(request, answer)

    def _count_tokens(self, version: str, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """``countTokens``: ``contents``, or a whole ``generateContentRequest`` (system instruction and tools
        counted too); ``totalTokens`` as ``promptTokenCount`` would be."""
        _check_keys(body, {"contents", "generateContentRequest"}, "")
        request = body.get("generateContentRequest")
        if request is None:
            check_contents(body.get("contents"), model)
            return {"totalTokens": prompt_tokens({"contents": body["contents"]})}
        if not isinstance(request, dict):
            raise bad("* CountTokensRequest.generate_content_request: must be an object")
        self._generate(version, model, {k: v for k, v in request.items() if k != "model"})  # checked as one
        return {"totalTokens": prompt_tokens(request)}

    # -- generateContent
    def _generate(self, version: str, model: str, body: dict[str, Any]) -> dict[str, Any]:
        _check_keys(body, TOP_LEVEL, "")
        if version == "v1":
            for key in V1BETA_ONLY & body.keys():
                raise unknown_field(key)
        check_contents(body.get("contents"), model)
        system = body.get("systemInstruction")
        if system is not None:
            if not isinstance(system, dict) or not system.get("parts"):
                raise bad("* GenerateContentRequest.system_instruction.parts: contents.parts must not be empty.")
            for j, part in enumerate(system["parts"]):
                check_part(part, f"system_instruction.parts[{j}]")
        config = body.get("generationConfig") or {}
        check_generation(config, version)
        decls = check_tools(body.get("tools") or [], body.get("toolConfig"))
        check_safety(body.get("safetySettings") or [])
        contents: list[dict[str, Any]] = body["contents"]
        last = _last_user(contents)
        prompt = prompt_tokens(body)
        if "BLOCKME" in _user_text(last):
            return {"promptFeedback": {"blockReason": "SAFETY"},
                    "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt}, "modelVersion": model}
        parts, finish = self._answer(contents, config, decls, body.get("toolConfig"))
        words = sum(count_words(p["text"]) if "text" in p else count_words(json.dumps(p["functionCall"]["args"]))
                    for p in parts)
        count = int(config.get("candidateCount") or 1)
        usage: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": words * count}
        if "2.5" in model or model.startswith("gemini-3"):
            usage["thoughtsTokenCount"] = THOUGHT_TOKENS
        usage["totalTokenCount"] = sum(usage.values())
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        candidates = [{"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": i,
                       "safetyRatings": [{"category": c, "probability": "NEGLIGIBLE"} for c in sorted(HARM_CATEGORIES)
                                         if c != "HARM_CATEGORY_CIVIC_INTEGRITY"]}
                      for i in range(count)]
        return {"candidates": candidates, "usageMetadata": usage, "modelVersion": model,
                "responseId": uuid.uuid4().hex[:22]}

    def _answer(self, contents: list[dict[str, Any]], config: dict[str, Any], decls: list[dict[str, Any]],
                tool_config: Any) -> tuple[list[dict[str, Any]], str]:
        last = contents[-1]
        user_text = _user_text(_last_user(contents))
        calling = (tool_config or {}).get("functionCallingConfig") or {}
        mode = calling.get("mode", "AUTO")
        responses = [p["functionResponse"] for p in last["parts"] if "functionResponse" in p]
        if self._replies:
            text = self._replies.popleft()
        elif responses:
            text = "tool result: " + "; ".join(f"{r['name']}={json.dumps(r['response'], sort_keys=True)}"
                                               for r in responses)
        elif decls and mode != "NONE" and user_text:
            allowed = calling.get("allowedFunctionNames") if mode == "ANY" else None
            calls = [{"functionCall": {"name": d["name"], "args": _sample(d.get("parameters"), user_text) or {}}}
                     for d in decls if not allowed or d["name"] in allowed]
            if calls:
                return calls, "STOP"
            text = f"echo: {user_text}"
        elif config.get("responseMimeType") == "application/json":
            schema = config.get("responseSchema")
            text = json.dumps(_sample(schema, user_text) if schema else {"echo": user_text})
        else:
            text = f"echo: {user_text}"
            mimes = [p["inlineData"]["mimeType"] for p in _last_user(contents)["parts"] if "inlineData" in p]
            if mimes:
                text += f" [images: {', '.join(mimes)}]"
        finish = "STOP"
        for stop in config.get("stopSequences") or []:
            if stop in text:
                text = text[:text.index(stop)]
        limit = config.get("maxOutputTokens")
        if isinstance(limit, int) and count_words(text) > limit:
            text, finish = " ".join(text.split()[:limit]), "MAX_TOKENS"
        return [{"text": text}], finish

    async def _stream(self, request: web.Request, answer: dict[str, Any]) -> web.StreamResponse:
        events = self._events(answer)
        if request.query.get("alt") != "sse":
            return json_answer(events)
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        for event in events:
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await out.write(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
        await out.write_eof()
        return out

    def _events(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        """A whole answer as stream events: text split into pieces, full usage on the last event only."""
        if "candidates" not in answer:
            return [answer]
        usage = answer["usageMetadata"]
        partial = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
        first = answer["candidates"][0]["content"]["parts"]
        pieces = split_text(first[0]["text"], self.stream_chunks) if "text" in first[0] else [None]
        events = []
        for n, piece in enumerate(pieces or [""]):
            final = n == len(pieces or [""]) - 1
            candidates = []
            for candidate in answer["candidates"]:
                parts = candidate["content"]["parts"] if piece is None else [{"text": piece}]
                entry: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": candidate["index"]}
                if final:
                    entry["finishReason"] = candidate["finishReason"]
                candidates.append(entry)
            events.append({"candidates": candidates, "usageMetadata": usage if final else partial,
                           "modelVersion": answer["modelVersion"], "responseId": answer["responseId"]})
        return events

    # -- embeddings
    def _embed(self, model: str, request: Any, where: str) -> list[float]:
        if not isinstance(request, dict):
            raise bad(f"Invalid value at '{where or 'content'}'")
        _check_keys(request, {"model", "content", "taskType", "title", "outputDimensionality"}, where)
        if "model" in request and request["model"] != f"models/{model}":
            raise bad(f"* BatchEmbedContentsRequest.{where}.model: Model names should start with `models/` and "
                      f"match the batch model `models/{model}`")
        content = request.get("content")
        if not isinstance(content, dict) or not content.get("parts"):
            raise bad(f"* BatchEmbedContentsRequest.{where}.content.parts: contents.parts must not be empty.")
        for j, part in enumerate(content["parts"]):
            check_part(part, f"{where}.content.parts[{j}]")
        text = " ".join(p.get("text", "") for p in content["parts"])
        return embedding_vector(text, int(request.get("outputDimensionality") or 8))

    def _batch_embed(self, model: str, body: dict[str, Any]) -> web.Response:
        _check_keys(body, {"requests"}, "")
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise bad("* BatchEmbedContentsRequest.requests: at least one request is required")
        answer: dict[str, Any] = {"embeddings": [{"values": self._embed(model, r, f"requests[{i}]")}
                                                 for i, r in enumerate(requests)]}
        if self.embedding_usage:
            tokens = sum(count_words(p.get("text", "")) for r in requests for p in r["content"]["parts"])
            answer["usageMetadata"] = {"promptTokenCount": tokens, "totalTokenCount": tokens}
        return json_answer(answer)

    # -- PaLM
    def _palm(self, model: str, body: dict[str, Any]) -> web.Response:
        if not model.startswith("chat-bison"):
            raise GoogleError(404, f"models/{model} is not found for API version v1beta2, or is not supported for "
                                   "generateMessage.")
        _check_keys(body, {"prompt", "temperature", "candidateCount", "topP", "topK"}, "")
        prompt = body.get("prompt")
        if not isinstance(prompt, dict):
            raise bad("* GenerateMessageRequest.prompt: prompt is required")
        _check_keys(prompt, {"context", "examples", "messages"}, "prompt")
        messages = prompt.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad("* GenerateMessageRequest.prompt.messages: at least one message is required")
        authors = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise bad(f"* GenerateMessageRequest.prompt.messages[{i}].content: content is required")
            _check_keys(message, {"author", "content", "citationMetadata"}, f"prompt.messages[{i}]")
            authors.append(message.get("author", ""))
        if any(a == b for a, b in itertools.pairwise(authors)):
            raise bad("Messages must alternate between authors.")
        count = body.get("candidateCount", 1)
        if not isinstance(count, int) or not 1 <= count <= 8:
            raise bad("* GenerateMessageRequest.candidate_count: must be in the range [1, 8]")
        top_k = body.get("topK")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1 or top_k > 40):
            raise bad("* GenerateMessageRequest.top_k: must be in the range [1, 40]")
        last = messages[-1]["content"]
        if "BLOCKME" in last:
            return json_answer({"messages": messages, "filters": [{"reason": "OTHER"}]})
        text = self._replies.popleft() if self._replies else f"echo: {last}"
        return json_answer({"candidates": [{"author": "1", "content": text} for _ in range(count)],
                            "messages": messages})


async def start_fake(fake: FakeGemini) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the coroutine function that stops it."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}", runner.cleanup
