"""A fake Google Vertex AI (``{region}-aiplatform.googleapis.com``) with its OAuth token endpoint
(``oauth2.googleapis.com/token``), following Google's published formats: the JWT-bearer grant for service
accounts (https://developers.google.com/identity/protocols/oauth2/service-account#httprest), Gemini's
generateContent / streamGenerateContent on Vertex and Anthropic's Messages API through rawPredict /
streamRawPredict (https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude).

* ``POST /token`` — form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``. The JWT must
  be RS256-signed by the key of ``account`` (checked with google-auth against its public key) with ``aud`` =
  ``https://oauth2.googleapis.com/token`` (always, Google documents), ``scope`` = cloud-platform, and a live
  ``iat``/``exp``; the answer is ``{access_token, expires_in: 3599, token_type: Bearer}``, otherwise 400
  ``{error: invalid_grant, error_description}``. ``exchanges`` counts them; ``revoke_tokens()`` makes every token
  issued so far invalid.
* ``POST /v1/projects/{project}/locations/{region}/publishers/google/models/{model}:generateContent`` (and
  ``:streamGenerateContent?alt=sse``) — ``Authorization: Bearer <issued token>`` (else 401 UNAUTHENTICATED in
  Google's error shape), the project must be ``PROJECT``; Gemini's body (``contents`` with roles user/model and
  parts; ``systemInstruction``, ``generationConfig``, ``safetySettings``, ``tools``) → ``{candidates, usageMetadata,
  modelVersion}``; a stream is ``data: {...}`` events, the last with ``finishReason`` and the usage.
  With ``tools`` and a user text last, the answer is one ``functionCall`` of the first declaration (every
  property set to the user's text); after a ``functionResponse`` it is ``"tool said: <response JSON>"``.
* ``POST .../publishers/google/models/{embedding model}:predict`` — ``{instances: [{content}], parameters:
  {outputDimensionality?}}`` → ``{predictions: [{embeddings: {values, statistics: {token_count, truncated}}}]}``.
* ``POST .../publishers/anthropic/models/{model}:rawPredict`` (``:streamRawPredict``) — the Messages API body
  without ``model`` and with an ``anthropic_version`` (``vertex-2023-10-16`` in Google's documentation; the
  anthropic SDK sends its own API version) — else 400 in Anthropic's error shape →
  a Messages API answer, or its SSE events.

Deterministic usage ("words" = whitespace-separated words): prompt = words of the system text and every text
part; completion = words of the answer ``"echo: <last user text>"``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt as google_jwt

from tests.fakes.openai_upstream import count_words, split_text
from tests.fakes.zhipu_upstream import vector

PROJECT = "fake-project-4711"
EMAIL = "relay@fake-project-4711.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"  # "always", Google documents, wherever the token is asked for


def new_account(token_uri: str, project: str = PROJECT) -> tuple[dict[str, str], str]:
    """A service account's JSON key (with a fresh RSA key) and the PEM of its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    account = {"type": "service_account", "project_id": project, "private_key_id": uuid.uuid4().hex,
               "private_key": private, "client_email": EMAIL, "client_id": "1234567890",
               "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
               "universe_domain": "googleapis.com"}
    return account, public


def google_error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "status": kind}}, status=status)


def text_of(parts: Any) -> str:
    return " ".join(str(p.get("text", "")) for p in parts or [] if isinstance(p, dict) and "text" in p)


class FakeVertex:
    stream_pieces = 3

    def __init__(self) -> None:
        self.public_key = ""
        self.token_uri = ""
        self.exchanges = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._tokens: set[str] = set()
        self.app = web.Application()
        self.app.router.add_post("/token", self._token)
        self.app.router.add_post("/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{call}",
                                 self._predict)

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = parse_qs((await request.read()).decode())
        refused = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if form.get("grant_type") != [GRANT] or len(form.get("assertion", [])) != 1:
            return web.json_response({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
                                     status=400)
        try:
            claims = google_jwt.decode(form["assertion"][0], certs=self.public_key, audience=AUDIENCE)
        except ValueError as exc:
            return web.json_response({**refused, "error_description": f"Invalid JWT: {exc}"}, status=400)
        if claims.get("iss") != EMAIL or claims.get("scope") != SCOPE or claims["exp"] - claims["iat"] > 3600:
            return web.json_response({**refused, "error_description": "Invalid JWT claims."}, status=400)
        self.exchanges += 1
        token = f"ya29.{uuid.uuid4().hex}"
        self._tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def _predict(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.path_qs, {k.lower(): v for k, v in request.headers.items()}, body))
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self._tokens:
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                     "token, login cookie or other valid authentication credential.",
                                "UNAUTHENTICATED")
        if request.match_info["project"] != PROJECT:
            return google_error(403, f"Permission denied on project {request.match_info['project']}",
                                "PERMISSION_DENIED")
        model, _, action = request.match_info["call"].partition(":")
        try:
            data = json.loads(body)
        except ValueError:
            return google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if request.match_info["publisher"] == "google" and action == "predict":
            return self._embed(model, data)
        if request.match_info["publisher"] == "google" and action in ("generateContent", "streamGenerateContent"):
            return await self._gemini(request, model, data, action == "streamGenerateContent")
        if request.match_info["publisher"] == "anthropic" and action in ("rawPredict", "streamRawPredict"):
            return await self._claude(request, model, data, action == "streamRawPredict")
        return google_error(404, f"Publisher model {model} was not found or your project does not have access to "
                                 "it.", "NOT_FOUND")

    # -- Gemini
    async def _gemini(self, request: web.Request, model: str, data: Any, stream: bool) -> web.StreamResponse:
        contents = data.get("contents") if isinstance(data, dict) else None
        if not isinstance(contents, list) or not contents or not all(
                isinstance(c, dict) and c.get("role") in ("user", "model") and isinstance(c.get("parts"), list)
                for c in contents):
            return google_error(400, "Please ensure that multiturn requests alternate between user and model, and "
                                     "every content has a role.", "INVALID_ARGUMENT")
        if stream and request.query.get("alt") != "sse":
            return google_error(400, "this fake streams only with alt=sse", "INVALID_ARGUMENT")
        system = text_of((data.get("systemInstruction") or {}).get("parts"))
        prompt = count_words(system) + sum(count_words(text_of(c["parts"])) for c in contents)
        last = contents[-1]["parts"]
        result = next((p["functionResponse"] for p in last if isinstance(p, dict) and "functionResponse" in p), None)
        declarations = [d for t in data.get("tools") or [] for d in t.get("functionDeclarations") or []]
        call = None
        if result is not None:
            text = f"tool said: {json.dumps(result.get('response'))}"
        elif declarations and text_of(last):
            props = (declarations[0].get("parameters") or {}).get("properties") or {}
            call = {"name": declarations[0]["name"], "args": {k: text_of(last) for k in props}}
            text = json.dumps(call["args"])
        else:
            text = f"echo: {text_of(last)}"
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": count_words(text),
                 "totalTokenCount": prompt + count_words(text)}

        def answer(piece: str, last: bool) -> dict[str, Any]:
            parts: list[dict[str, Any]] = [{"functionCall": call}] if call else [{"text": piece}]
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            out: dict[str, Any] = {"candidates": [candidate], "modelVersion": model,
                                   "createTime": "2026-01-01T00:00:00Z", "responseId": uuid.uuid4().hex}
            if last:
                candidate["finishReason"] = "STOP"
                out["usageMetadata"] = usage
            return out

        if not stream:
            return web.json_response(answer(text, True))
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        pieces = [text] if call else split_text(text, self.stream_pieces)
        for number, piece in enumerate(pieces):
            await out.write(f"data: {json.dumps(answer(piece, number == len(pieces) - 1))}\r\n\r\n".encode())
        await out.write_eof()
        return out

    # -- embeddings
    def _embed(self, model: str, data: Any) -> web.StreamResponse:
        instances = data.get("instances") if isinstance(data, dict) else None
        if not model.startswith(("text-embedding", "text-multilingual-embedding", "gemini-embedding")) or \
                not isinstance(instances, list) or not instances or \
                not all(isinstance(i, dict) and isinstance(i.get("content"), str) for i in instances):
            return google_error(400, "instances must be a list of {content} for an embedding model",
                                "INVALID_ARGUMENT")
        size = (data.get("parameters") or {}).get("outputDimensionality") or 8
        return web.json_response({"predictions": [
            {"embeddings": {"values": vector(i["content"], size),
                            "statistics": {"token_count": count_words(i["content"]), "truncated": False}}}
            for i in instances], "metadata": {"billableCharacterCount": sum(len(i["content"]) for i in instances)}})

    # -- Claude
    async def _claude(self, request: web.Request, model: str, data: Any, stream: bool) -> web.StreamResponse:
        def invalid(message: str) -> web.Response:
            return web.json_response({"type": "error", "error": {"type": "invalid_request_error",
                                                                 "message": message}}, status=400)
        if not isinstance(data, dict) or not isinstance(data.get("anthropic_version"), str):
            return invalid("anthropic_version: Field required")  # Google documents vertex-2023-10-16
        if "model" in data:
            return invalid("model: Extra inputs are not permitted")
        messages = data.get("messages")
        if not isinstance(data.get("max_tokens"), int) or not isinstance(messages, list) or not messages:
            return invalid("max_tokens and messages are required")
        def words(content: Any) -> str:
            return content if isinstance(content, str) else text_of(content)
        system = data.get("system") if isinstance(data.get("system"), str) else ""
        prompt = count_words(system or "") + sum(count_words(words(m.get("content"))) for m in messages)
        text = f"echo: {words(messages[-1].get('content'))}"
        message_id = f"msg_vrtx_{uuid.uuid4().hex[:24]}"
        if not stream:
            return web.json_response({"id": message_id, "type": "message", "role": "assistant", "model": model,
                                      "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                                      "stop_sequence": None,
                                      "usage": {"input_tokens": prompt, "output_tokens": count_words(text)}})
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)

        async def send(kind: str, payload: dict[str, Any]) -> None:
            await out.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode())

        await send("message_start", {"message": {"id": message_id, "type": "message", "role": "assistant",
                                                 "model": model, "content": [], "stop_reason": None,
                                                 "usage": {"input_tokens": prompt, "output_tokens": 1}}})
        await send("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for piece in split_text(text, self.stream_pieces):
            await send("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
        await send("content_block_stop", {"index": 0})
        await send("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                     "usage": {"output_tokens": count_words(text)}})
        await send("message_stop", {})
        await out.write_eof()
        return out


async def start_fake(fake: FakeVertex) -> tuple[str, dict[str, str], Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL, a service account whose token_uri is the
    fake's, and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    fake.token_uri = f"{url}/token"
    account, fake.public_key = new_account(fake.token_uri)
    return url, account, runner.cleanup
