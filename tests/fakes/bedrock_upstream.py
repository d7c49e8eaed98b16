"""A fake AWS Bedrock runtime (``bedrock-runtime.{region}.amazonaws.com``) following the published Converse and
ConverseStream APIs (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html,
..._ConverseStream.html) and AWS's SigV4 and event-stream formats.

Every request must be signed with SigV4 for service ``bedrock`` by a known access key (``keys``: access key →
secret key): the fake recomputes the signature with botocore's signer over the headers the request says it
signed, and refuses like AWS — 403 ``UnrecognizedClientException`` "The security token included in the request
is invalid." for an unknown key, 403 ``InvalidSignatureException`` for a wrong signature, 403 "Signature
expired" beyond 5 minutes of clock skew. Errors are ``{"message"}`` with the exception's name in the
``x-amzn-ErrorType`` header, as AWS's JSON protocols answer.

* ``POST /model/{modelId}/converse`` — checked as Converse documents it: known top-level fields only, ``messages``
  non-empty and alternating from ``user``, each content block exactly one of text / image / toolUse /
  toolResult, a ``toolResult`` answering an earlier ``toolUse``, ``toolConfig`` present when the history has
  tool blocks, ``inferenceConfig`` fields in range; an unknown model is a ValidationException. The answer is
  ``{output: {message}, stopReason, usage: {inputTokens, outputTokens, totalTokens}, metrics: {latencyMs}}``.
* ``POST /model/{modelId}/converse-stream`` — the same request, answered as ``application/vnd.amazon.eventstream``:
  messageStart, contentBlockStart (tool use), contentBlockDelta × n, contentBlockStop, messageStop, metadata;
  ``throttle_stream`` ends the next stream with a ``throttlingException`` message after its first delta.

Deterministic usage ("words" = whitespace-separated words): inputTokens = words of the system and every text
block (tool results included), outputTokens = words of the answer (of the tool input JSON for a call). The answer
is ``"echo: <last user text>"`` (``" (with N images)"`` when it had images), ``"tool said: <result>"`` after a tool
result, or — with tools and a last user text — one call of the first tool (or of the ``toolChoice`` tool) with
every string property set to the user's text. ``inferenceConfig.maxTokens`` cuts the answer (``max_tokens``).
* ``POST /model/{modelId}/invoke`` — InvokeModel for the embedding models (``EMBEDDING_MODELS``): Titan Text
  Embeddings ``{inputText, dimensions (256 | 512 | 1024, v2), normalize, embeddingTypes}`` → ``{embedding,
  inputTextTokenCount}``; Cohere Embed ``{texts (1-96), input_type, truncate, embedding_types,
  output_dimension (v4)}`` → ``{id, texts, response_type, embeddings}`` (``{float: [...]}`` by type when
  ``embedding_types`` is given); unknown fields are a ValidationException. Token counts also in the
  ``X-Amzn-Bedrock-Input-Token-Count`` header, as InvokeModel answers; a vector is a function of its text.
  ``throttle_invoke_after = n`` answers n calls, then 429 ThrottlingException.

Requests are recorded in ``requests`` before any check.
"""

from __future__ import annotations

import base64
import calendar
import json
import math
import struct
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.openai_upstream import count_words, split_text

MODELS = {"anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-haiku-20240307-v1:0",
          "meta.llama3-8b-instruct-v1:0", "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
          "mistral.mistral-large-2402-v1:0"}
FIELDS = {"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
          "additionalModelResponseFieldPaths", "promptVariables", "requestMetadata", "performanceConfig"}
TITAN_V1, TITAN_V2 = "amazon.titan-embed-text-v1", "amazon.titan-embed-text-v2:0"
COHERE_V3, COHERE_V4 = "cohere.embed-english-v3", "cohere.embed-v4:0"
EMBEDDING_MODELS = {TITAN_V1, TITAN_V2, COHERE_V3, "cohere.embed-multilingual-v3", COHERE_V4}
COHERE_INPUT_TYPES = {"search_document", "search_query", "classification", "clustering", "image"}
BLOCKS = {"text", "image", "document", "video", "toolUse", "toolResult", "guardContent", "cachePoint",
          "reasoningContent"}


class AwsError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _validation(message: str) -> AwsError:
    return AwsError(400, "ValidationException", message)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message (prelude, string headers, payload, CRC32s)."""
    raw = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
                   for k, v in headers.items())
    prelude = struct.pack(">II", 12 + len(raw) + len(payload) + 4, len(raw))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(kind: str, data: dict[str, Any]) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(data).encode())


def block_text(block: dict[str, Any]) -> str:
    if "text" in block:
        return str(block["text"])
    if "toolResult" in block:
        return " ".join(str(c.get("text", "")) for c in block["toolResult"].get("content") or [])
    return ""


class FakeBedrock:
    stream_pieces = 3

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys = keys if keys is not None else {"AKIAFAKE": "fake-secret"}
        self.requests: list[Recorded] = []
        self.throttle_stream = False
        self.throttle_invoke_after: int | None = None  # InvokeModel calls answered before a ThrottlingException
        self.app = web.Application()
        self.app.router.add_post("/model/{model}/converse", self._guard(self._converse))
        self.app.router.add_post("/model/{model}/converse-stream", self._guard(self._converse_stream))
        self.app.router.add_post("/model/{model}/invoke", self._guard(self._invoke, converse=False))

    def _guard(self, handler: Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]],
               converse: bool = True) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.requests.append(Recorded(request.path, {k.lower(): v for k, v in request.headers.items()}, body))
            try:
                self._verify(request, body)
                try:
                    data = json.loads(body)
                except ValueError:
                    raise _validation("The request body is not valid JSON") from None
                if request.match_info["model"] not in (MODELS if converse else EMBEDDING_MODELS):
                    raise _validation("The provided model identifier is invalid.")
                return await handler(request, self._check(data) if converse else data)
            except AwsError as exc:
                return web.Response(body=json.dumps({"message": exc.message}).encode(), status=exc.status,
                                    content_type="application/json", headers={"x-amzn-ErrorType": exc.kind})
        return guarded

    def _verify(self, request: web.Request, body: bytes) -> None:
        auth = request.headers.get("Authorization", "")
        fields = dict(part.strip().split("=", 1) for part in auth.removeprefix("AWS4-HMAC-SHA256 ").split(",")
                      if "=" in part)
        credential = fields.get("Credential", "").split("/")
        if not auth.startswith("AWS4-HMAC-SHA256 ") or len(credential) != 5 or credential[3] != "bedrock":
            raise AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        access_key, _, region = credential[0], credential[1], credential[2]
        if access_key not in self.keys:
            raise AwsError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        stamp = request.headers.get("X-Amz-Date", "")
        try:
            signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise AwsError(403, "InvalidSignatureException", "X-Amz-Date is missing or malformed") from None
        if abs(signed_at - time.time()) > 300:
            raise AwsError(403, "InvalidSignatureException", "Signature expired")
        names = fields.get("SignedHeaders", "").split(";")
        signed = AWSRequest(method=request.method, url=f"http://{request.host}{request.raw_path}",
                            headers={name: request.headers.get(name, "") for name in names}, data=body)
        signed.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(access_key, self.keys[access_key]), "bedrock", region)
        expected = signer.signature(signer.string_to_sign(signed, signer.canonical_request(signed)), signed)
        if "host" not in names or expected != fields.get("Signature"):
            raise AwsError(403, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided. Check "
                           "your AWS Secret Access Key and signing method. Consult the service documentation for "
                           "details.")

    def _check(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _validation("The request body must be a JSON object")
        unknown = sorted(set(data) - FIELDS)
        if unknown:
            raise _validation(f"1 validation error detected: extraneous key [{unknown[0]}] is not permitted")
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _validation("A conversation must start with a user message.")
        tool_ids: set[str] = set()
        for number, message in enumerate(messages):
            role = "user" if number % 2 == 0 else "assistant"
            if not isinstance(message, dict) or message.get("role") != role:
                raise _validation("A conversation must alternate between user and assistant roles. Make sure the "
                                  "conversation alternates between user and assistant roles and try again.")
            content = message.get("content")
            if not isinstance(content, list) or not content:
                raise _validation("The content field in the Message object is empty.")
            for block in content:
                if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in BLOCKS:
                    raise _validation("A content block must have exactly one of its members set.")
                if "toolUse" in block:
                    tool_ids.add(block["toolUse"].get("toolUseId"))
                if "toolResult" in block and block["toolResult"].get("toolUseId") not in tool_ids:
                    raise _validation("The toolUseId in a toolResult block does not match any toolUse block.")
                if "image" in block:
                    image = block["image"]
                    if image.get("format") not in ("png", "jpeg", "gif", "webp"):
                        raise _validation("The image format is not supported.")
                    base64.b64decode(image["source"]["bytes"], validate=True)
        if tool_ids and "toolConfig" not in data:
            raise _validation("The toolConfig field must be defined when using toolUse and toolResult content "
                              "blocks.")
        config = data.get("inferenceConfig") or {}
        if not set(config) <= {"maxTokens", "temperature", "topP", "stopSequences"}:
            raise _validation("inferenceConfig has an unknown field")
        for name, low, high in (("temperature", 0, 1), ("topP", 0, 1), ("maxTokens", 1, 1_000_000)):
            value = config.get(name)
            if value is not None and not low <= value <= high:
                raise _validation(f"inferenceConfig.{name} is out of range")
        return data

    def _answer(self, data: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str, int, int]:
        """(text, tool call, stop reason, input tokens, output tokens)."""
        messages = data["messages"]
        texts = [s.get("text", "") for s in data.get("system") or []]
        texts += [block_text(b) for m in messages for b in m["content"]]
        prompt = sum(count_words(t) for t in texts)
        last = messages[-1]["content"]
        result = next((b for b in last if "toolResult" in b), None)
        tools = (data.get("toolConfig") or {}).get("tools") or []
        user_text = " ".join(b["text"] for b in last if "text" in b)
        if tools and result is None and user_text:
            choice = (data["toolConfig"].get("toolChoice") or {}).get("tool", {}).get("name")
            spec = next((t["toolSpec"] for t in tools if t["toolSpec"]["name"] == choice), tools[0]["toolSpec"])
            props = spec["inputSchema"]["json"].get("properties") or {}
            call = {"toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}", "name": spec["name"],
                    "input": {k: user_text for k, v in props.items() if (v or {}).get("type", "string") == "string"}}
            return "", call, "tool_use", prompt, count_words(json.dumps(call["input"]))
        images = sum(1 for b in last if "image" in b)
        text = f"tool said: {block_text(result)}" if result else f"echo: {user_text}" + (
            f" (with {images} images)" if images else "")
        limit = (data.get("inferenceConfig") or {}).get("maxTokens")
        words = text.split()
        if isinstance(limit, int) and len(words) > limit:
            return " ".join(words[:limit]), None, "max_tokens", prompt, limit
        return text, None, "end_turn", prompt, len(words)

    async def _converse(self, request: web.Request, data: dict[str, Any]) -> web.StreamResponse:
        text, call, stop, prompt, completion = self._answer(data)
        content = [{"toolUse": call}] if call else [{"text": text}]
        return web.json_response({"output": {"message": {"role": "assistant", "content": content}},
                                  "stopReason": stop, "metrics": {"latencyMs": 42},
                                  "usage": {"inputTokens": prompt, "outputTokens": completion,
                                            "totalTokens": prompt + completion}},
                                 headers={"x-amzn-RequestId": str(uuid.uuid4())})

    async def _converse_stream(self, request: web.Request, data: dict[str, Any]) -> web.StreamResponse:
        text, call, stop, prompt, completion = self._answer(data)
        out = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream",
                                          "x-amzn-RequestId": str(uuid.uuid4())})
        await out.prepare(request)
        await out.write(event("messageStart", {"role": "assistant"}))
        if call:
            await out.write(event("contentBlockStart", {"contentBlockIndex": 0, "start": {
                "toolUse": {"toolUseId": call["toolUseId"], "name": call["name"]}}}))
            arguments = json.dumps(call["input"])
            for piece in (arguments[:len(arguments) // 2], arguments[len(arguments) // 2:]):
                await out.write(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {
                    "input": piece}}}))
        else:
            for number, piece in enumerate(split_text(text, self.stream_pieces)):
                await out.write(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
                if self.throttle_stream and number == 0:
                    self.throttle_stream = False
                    await out.write(frame({":exception-type": "throttlingException",
                                           ":content-type": "application/json", ":message-type": "exception"},
                                          b'{"message":"Too many requests, please wait before trying again."}'))
                    await out.write_eof()
                    return out
        await out.write(event("contentBlockStop", {"contentBlockIndex": 0}))
        await out.write(event("messageStop", {"stopReason": stop}))
        await out.write(event("metadata", {"usage": {"inputTokens": prompt, "outputTokens": completion,
                                                     "totalTokens": prompt + completion},
                                           "metrics": {"latencyMs": 42}}))
        await out.write_eof()
        return out


    async def _invoke(self, request: web.Request, data: Any) -> web.StreamResponse:
        """InvokeModel for the embedding models, validated and answered as their model-parameter pages say."""
        model = request.match_info["model"]
        if self.throttle_invoke_after is not None:
            if self.throttle_invoke_after <= 0:
                raise AwsError(429, "ThrottlingException", "Too many requests, please wait before trying again.")
            self.throttle_invoke_after -= 1
        if not isinstance(data, dict):
            raise _validation("Malformed input request, please reformat your input and try again.")
        if model.startswith("amazon.titan"):
            allowed = {"inputText"} if model == TITAN_V1 else {"inputText", "dimensions", "normalize",
                                                                 "embeddingTypes"}
            text = data.get("inputText")
            if set(data) - allowed or not isinstance(text, str) or not text:
                raise _validation("Malformed input request: #: required key [inputText] not found or extraneous "
                                  f"key [{next(iter(sorted(set(data) - allowed)), 'inputText')}], please "
                                  "reformat your input and try again.")
            size = data.get("dimensions", 1536 if model == TITAN_V1 else 1024)
            if size not in ((1536,) if model == TITAN_V1 else (256, 512, 1024)):
                raise _validation("Malformed input request: #/dimensions: must be one of 256, 512, 1024")
            vector = embed_vector(text, size)
            answer: dict[str, Any] = {"embedding": vector, "inputTextTokenCount": count_words(text)}
            if "embeddingTypes" in data:
                answer["embeddingsByType"] = {"float": vector}
            return web.json_response(answer, headers={"X-Amzn-Bedrock-Input-Token-Count": str(count_words(text))})
        texts = data.get("texts")
        allowed = {"texts", "images", "input_type", "truncate", "embedding_types"} | (
            {"output_dimension", "max_tokens"} if model == COHERE_V4 else set())
        if set(data) - allowed or not isinstance(texts, list) or not 0 < len(texts) <= 96 or \
                not all(isinstance(t, str) for t in texts) or data.get("input_type") not in COHERE_INPUT_TYPES:
            raise _validation("Malformed input request, please reformat your input and try again.")
        size = data.get("output_dimension", 1536 if model == COHERE_V4 else 1024)
        if size not in (256, 512, 1024, 1536):
            raise _validation("Malformed input request: output_dimension must be one of 256, 512, 1024, 1536")
        vectors = [embed_vector(t, size) for t in texts]
        tokens = sum(count_words(t) for t in texts)
        body: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": texts, "response_type": "embeddings_floats",
                                "embeddings": vectors}
        if "embedding_types" in data:
            body.update(response_type="embeddings_by_type", embeddings={"float": vectors})
        return web.json_response(body, headers={"X-Amzn-Bedrock-Input-Token-Count": str(tokens)})


def embed_vector(text: str, size: int) -> list[float]:
    """A deterministic vector for ``text``: the same text, the same vector."""
    seed = zlib.crc32(text.encode())
    return [round(math.sin(seed + i), 6) for i in range(size)]


async def start_fake(fake: FakeBedrock) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
